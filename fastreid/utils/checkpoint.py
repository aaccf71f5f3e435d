"""Saving and loading training state.

A checkpoint is a ``torch.save``d dict: ``"model"`` (state_dict without a DDP ``module.`` prefix), one
entry per extra checkpointable (optimizer, scheduler, grad_scaler, ...: anything with
``state_dict()`` / ``load_state_dict()``), ``"rng"`` (python, numpy and torch generator states) and the
caller's extras (``epoch``, ``iteration``, ``best_metric``, ...). Files are written atomically (a temp
file in the same folder, then ``os.replace``), and ``last_checkpoint`` names the newest one, so a crash
mid-save never leaves a truncated checkpoint behind.

Every checkpoint, weight or pretrained file is read by :func:`load_torch_file`: ``torch.load`` with
``weights_only=True`` (tensors, plain containers and numbers; numpy arrays and scalars as data only),
so a crafted file cannot run code; a file that needs more, or is not a checkpoint at all, stops
with one line naming it.
"""

from __future__ import annotations

import logging
import os
import pickle
import random
import re
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

from .comm import unwrap_model
from .errors import UserError
from .file_io import atomic_open

__all__ = ["Checkpointer", "CheckpointError", "load_torch_file", "split_state_dict", "strip_prefix",
           "snapshot_to_cpu", "rename_module_keys", "upgrade_legacy_keys", "state_mismatch",
           "mismatch_summary", "load_matching", "LoadReport", "num_classes_in_checkpoint"]

logger = logging.getLogger(__name__)

LAST_CHECKPOINT = "last_checkpoint"


class CheckpointError(UserError, RuntimeError):
    """A checkpoint does not match the model it is loaded into (strict loading)."""


def _numpy_data_globals() -> List[Any]:
    """The numpy callables a pickled array, scalar or RNG state needs: they build numeric data only
    (the objects inside are still read by the restricted unpickler). Old numpy 1.x pickles name the
    same functions under ``numpy.core``."""
    core = getattr(np, "_core", None) or np.core
    out: List[Any] = [np.ndarray, np.dtype, core.multiarray._reconstruct, core.multiarray.scalar]
    out += [(core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
            (core.multiarray.scalar, "numpy.core.multiarray.scalar")]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        out += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return out


def load_torch_file(path: str, what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, with one-line errors.

    Raises ``FileNotFoundError`` for a missing file and :class:`CheckpointError` for an empty,
    truncated or non-PyTorch file, and for a file holding Python objects beyond tensors, containers,
    numbers and numpy data (loading those could run code; the message names the first such object).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    size = os.path.getsize(path)
    if size == 0:
        raise CheckpointError(f"{what} {path} is empty (0 bytes); expected a file written by torch.save")
    try:
        with torch.serialization.safe_globals(_numpy_data_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL (\S+)", str(e))
        if found:
            raise CheckpointError(
                f"{what} {path} holds the Python object {found.group(1)}, which is not loaded because "
                "unpickling it could run code; expected tensors, containers and numbers (re-save it from a "
                "trusted session with torch.save({'model': model.state_dict()}, path))") from None
        raise CheckpointError(f"{what} {path} is not a PyTorch checkpoint ({_first_line(e)}); expected a file "
                              "written by torch.save") from None
    except Exception as e:  # any failure to parse untrusted bytes means "not a readable checkpoint"
        raise CheckpointError(f"{what} {path} ({size} bytes) is truncated or not a PyTorch checkpoint "
                              f"({_first_line(e)}); expected a file written by torch.save") from None


def num_classes_in_checkpoint(path: str) -> int:
    """The class count (MODEL.HEADS.NUM_CLASSES) a checkpoint records under ``num_classes``, as the
    trainer and the converters write it; 0 when it records none (a bare state_dict) or ``path`` is empty."""
    data = load_torch_file(path) if path else {}
    return int(data.get("num_classes", 0) or 0) if isinstance(data, Mapping) else 0


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:200]


def strip_prefix(state: Dict[str, Any], prefix: str = "module.") -> Dict[str, Any]:
    """Remove ``prefix`` from every key when all keys carry it (DDP / DataParallel state dicts)."""
    if state and all(k.startswith(prefix) for k in state):
        return OrderedDict((k[len(prefix):], v) for k, v in state.items())
    return state


def rename_module_keys(state: Dict[str, Any], prefix: str, renames: Dict[str, str]) -> None:
    """In place: keys ``prefix + old + "." + rest`` become ``prefix + new + "." + rest`` for each
    ``old -> new`` of ``renames`` (a module's child renamed since a state dict was written)."""
    for key in [k for k in state if k.startswith(prefix)]:
        head, _, rest = key[len(prefix):].partition(".")
        if head in renames and rest:
            state[f"{prefix}{renames[head]}.{rest}"] = state.pop(key)


def upgrade_legacy_keys(model: nn.Module, state: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of ``state`` with the keys of older layouts renamed: every sub-module with a
    ``legacy_key_renames`` dict (old child name -> new, e.g. ``{"0": "conv"}`` for a block that was a
    plain ``nn.Sequential``) has its keys renamed, outer modules first. The loaders call this before
    matching names and shapes, so an older checkpoint is compared with the model key by key."""
    state = dict(state)
    for name, module in model.named_modules():
        renames = getattr(module, "legacy_key_renames", None)
        if renames:
            rename_module_keys(state, f"{name}." if name else "", renames)
    return state


def split_state_dict(data: Any, source: str = "checkpoint") -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``(state_dict, rest)`` of a loaded file, the one rule for every loader of the toolbox: the
    tensors stored under ``"model"`` (this toolbox, detectron2) or ``"state_dict"`` (the authors',
    torchreid, Lightning), else the whole dict (a bare state_dict), with a DataParallel / DDP
    ``module.`` prefix removed; ``rest`` is what the file holds beside them (epoch, optimizer, ...).
    Raises ``CheckpointError`` naming ``source`` when there is no dict of tensors."""
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{source}: holds a {type(data).__name__}; expected a dict saved by torch.save")
    rest = dict(data)
    for key in ("model", "state_dict"):
        if isinstance(rest.get(key), Mapping):
            state = rest.pop(key)
            break
    else:
        state, rest = rest, {}
    return strip_prefix(OrderedDict(state)), rest


def _compared(model: nn.Module, state: Mapping[str, Any]):
    """``(state, own, shapes)``: ``state`` with its prefix and legacy keys mended, ``model``'s state dict,
    and ``{key: (file shape, model shape)}`` for the keys both hold with different shapes."""
    state = upgrade_legacy_keys(model, strip_prefix(dict(state)))
    own = model.state_dict()
    shapes = {k: (tuple(v.shape), tuple(own[k].shape)) for k, v in state.items()
              if k in own and isinstance(v, torch.Tensor) and v.shape != own[k].shape}
    return state, own, shapes


def _shape_lines(shapes: Mapping[str, Tuple[Tuple[int, ...], Tuple[int, ...]]]) -> List[str]:
    return [f"{k}: checkpoint {a} vs model {b}" for k, (a, b) in shapes.items()]


def state_mismatch(model: nn.Module, state: Mapping[str, Any]) -> Tuple[List[str], List[str], List[str]]:
    """``(missing, unexpected, shape_mismatched)`` keys of ``state`` (a state dict, ``module.`` prefix and
    older key layouts allowed) against ``model``'s, without loading anything; a shape-mismatched entry
    reads ``"key: checkpoint (a, b) vs model (c, d)"``. A BatchNorm's ``num_batches_tracked`` is not
    missing (BatchNorm fills it in when a state dict lacks it, as older ones do)."""
    state, own, shapes = _compared(model, state)
    missing = [k for k in own if k not in state and not k.endswith(".num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    return missing, unexpected, _shape_lines(shapes)


class LoadReport(NamedTuple):
    """What :func:`load_matching` left out: model keys not in the file (they keep their initialisation),
    file keys the model has no name for, and keys in both whose shapes differ (skipped), with
    ``shapes[key] = (file shape, model shape)``; ``loaded`` of the model's ``total`` tensors loaded."""

    missing: List[str]
    unexpected: List[str]
    mismatched: List[str]
    shapes: Dict[str, Tuple[Tuple[int, ...], Tuple[int, ...]]]
    loaded: int
    total: int


def load_matching(model: nn.Module, state: Mapping[str, Any]) -> LoadReport:
    """Load every tensor of ``state`` whose name and shape match ``model``'s (a ``module.`` prefix and
    older key layouts allowed, see :func:`upgrade_legacy_keys`): the one non-strict rule of every
    loader (checkpoints, ImageNet weights). Reports what did not load; logs and raises nothing, so the
    caller decides what a mismatch means."""
    state, own, shapes = _compared(model, state)
    result = model.load_state_dict({k: v for k, v in state.items() if k not in shapes}, strict=False)
    missing = [k for k in result.missing_keys if k not in shapes]
    return LoadReport(missing, list(result.unexpected_keys), list(shapes), shapes,
                      len(own) - len(result.missing_keys), len(own))


def snapshot_to_cpu(obj: Any) -> Any:
    """A deep copy of nested dicts/lists of tensors with every tensor cloned to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, OrderedDict):
        return OrderedDict((k, snapshot_to_cpu(v)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: snapshot_to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(snapshot_to_cpu(v) for v in obj)
    return obj


def _rng_state() -> Dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


class Checkpointer:
    """Saves and restores a model plus any ``state_dict()``-capable objects.

    Args:
        model: the model (a DDP wrapper is unwrapped).
        save_dir: folder of the ``.pth`` files and the ``last_checkpoint`` pointer.
        save_to_disk: False on non-main processes (they load but never write).
        **checkpointables: named objects with ``state_dict``/``load_state_dict`` (None values skipped).
    """

    def __init__(self, model: nn.Module, save_dir: str = "", *, save_to_disk: bool = True,
                 **checkpointables: Any) -> None:
        self.model = unwrap_model(model)
        self.save_dir = save_dir
        self.save_to_disk = save_to_disk
        self.checkpointables = {k: v for k, v in checkpointables.items() if v is not None}

    def add(self, name: str, obj: Any) -> None:
        """Save and restore ``obj`` (anything with ``state_dict`` / ``load_state_dict``) as ``name`` in
        every checkpoint from now on; a trainer extension registers its own state this way."""
        if not (callable(getattr(obj, "state_dict", None)) and callable(getattr(obj, "load_state_dict", None))):
            raise TypeError(f"Checkpointer.add: '{name}' is a {type(obj).__name__}; expected an object with "
                            "state_dict() and load_state_dict()")
        if name == "model" or name in self.checkpointables:
            raise ValueError(f"Checkpointer.add: '{name}' is already saved; expected a new name")
        self.checkpointables[name] = obj

    # ------------------------------------------------------------------ saving
    def collect(self, **extra: Any) -> Dict[str, Any]:
        """The full state as a dict of CPU copies (safe to keep while training goes on)."""
        data: Dict[str, Any] = {"model": strip_prefix(self.model.state_dict())}
        for name, obj in self.checkpointables.items():
            data[name] = obj.state_dict()
        data["rng"] = _rng_state()
        data.update(extra)
        return snapshot_to_cpu(data)

    def write(self, name: str, data: Dict[str, Any], tag_last: bool = True) -> Optional[str]:
        """Atomically write ``data`` to ``save_dir/name.pth``; returns the path (None if not saving)."""
        if not self.save_to_disk or not self.save_dir:
            return None
        os.makedirs(self.save_dir, exist_ok=True)
        path = os.path.join(self.save_dir, f"{name}.pth")
        _atomic_save(data, path)
        logger.info("Saved checkpoint to %s", path)
        if tag_last:
            self.tag_last_checkpoint(os.path.basename(path))
        return path

    def save(self, name: str, tag_last: bool = True, **extra: Any) -> Optional[str]:
        """Save the current state (plus ``extra``) as ``save_dir/name.pth``."""
        if not self.save_to_disk or not self.save_dir:
            return None
        return self.write(name, self.collect(**extra), tag_last=tag_last)

    def tag_last_checkpoint(self, basename: str) -> None:
        with atomic_open(os.path.join(self.save_dir, LAST_CHECKPOINT)) as f:
            f.write(basename)

    # ------------------------------------------------------------------ loading
    def has_checkpoint(self) -> bool:
        return bool(self.save_dir) and os.path.isfile(os.path.join(self.save_dir, LAST_CHECKPOINT))

    def get_checkpoint_file(self) -> str:
        """Path of the checkpoint named by ``last_checkpoint`` ("" if there is none). An empty
        ``last_checkpoint`` raises :class:`CheckpointError` naming it."""
        if not self.has_checkpoint():
            return ""
        pointer = os.path.join(self.save_dir, LAST_CHECKPOINT)
        with open(pointer) as f:
            name = f.read().strip()
        if not name:
            saved = sorted(n for n in os.listdir(self.save_dir) if n.endswith(".pth"))
            raise CheckpointError(
                f"{pointer} is empty; expected the name of the checkpoint to resume from, one of the files "
                f"beside it ({', '.join(saved) or 'there is none'}): write that name into it, or start anew "
                "with --overwrite")
        return os.path.join(self.save_dir, name)

    def load(self, path: str, checkpointables: Optional[Iterable[str]] = None, *, strict: bool = False,
             restore_rng: bool = False, min_loaded: float = 0.0, what: str = "checkpoint") -> Dict[str, Any]:
        """Load ``path`` into the model and the named checkpointables (default: all of them).

        Missing, unexpected and shape-mismatched model keys are logged; with ``strict`` any of them
        raises ``CheckpointError`` listing the keys, and so does a file from which fewer than
        ``min_loaded`` (a fraction) of the model's tensors load (``what`` names the file in that line).
        Returns what the file holds beyond those entries (``epoch``, ``iteration``, ``best_metric``,
        ...). An empty ``path`` loads nothing.
        """
        if not path:
            logger.info("No checkpoint given; the model keeps its initialisation")
            return {}
        logger.info("Loading checkpoint from %s", path)
        state, data = split_state_dict(load_torch_file(path), path)
        self._load_model(state, path, strict, min_loaded, what)
        names = self.checkpointables.keys() if checkpointables is None else checkpointables
        for name in names:
            if name not in data:  # e.g. a CPU run's checkpoint has no grad_scaler state
                logger.warning("%s: has no '%s' state (saved entries: %s); it keeps its current state",
                               path, name, ", ".join(sorted(data)))
                continue
            self.checkpointables[name].load_state_dict(data.pop(name))
            logger.info("Restored %s from %s", name, path)
        rng = data.pop("rng", None)
        if restore_rng and rng is not None:
            _set_rng_state(rng)
        for name in self.checkpointables:
            data.pop(name, None)
        return data

    def _load_model(self, state: Dict[str, torch.Tensor], path: str, strict: bool, min_loaded: float = 0.0,
                    what: str = "checkpoint") -> None:
        report = load_matching(self.model, state)
        mismatched = _shape_lines(report.shapes)
        problems = _describe(report.missing, report.unexpected, mismatched)
        if problems and strict:
            raise CheckpointError(f"{path} does not match the model (strict loading): " + "; ".join(problems))
        if report.loaded < min_loaded * report.total:
            kinds = mismatch_summary(report.missing, report.unexpected, mismatched)
            raise CheckpointError(f"{what} {path}: only {report.loaded} of the model's {report.total} tensors load "
                                  f"from it ({kinds}); it holds the weights of another architecture; expected a "
                                  "checkpoint of this model")
        for line in problems:
            logger.warning("%s: %s", path, line)

    def resume_or_load(self, path: str, *, resume: bool = True, min_loaded: float = 0.0,
                       what: str = "checkpoint") -> Dict[str, Any]:
        """Resume everything from ``last_checkpoint`` when ``resume`` and it exists; else load only
        the model weights from ``path`` (non-strict, mismatches logged; fewer than ``min_loaded`` of the
        model's tensors loaded is a ``CheckpointError`` naming ``what``)."""
        if resume and self.has_checkpoint():
            return self.load(self.get_checkpoint_file(), restore_rng=True)
        return self.load(path, checkpointables=[], min_loaded=min_loaded, what=what)


def _first(keys: List[str], n: int = 5) -> str:
    return ", ".join(keys[:n]) + (f", ... ({len(keys) - n} more)" if len(keys) > n else "")


def mismatch_summary(missing: List[str], unexpected: List[str], mismatched: List[str]) -> str:
    """``"481 missing keys, e.g. a; 324 unexpected keys, e.g. b"``: each kind of mismatch, counted, with its
    first key."""
    kinds = [(missing, "missing"), (unexpected, "unexpected"),
             ([m.split(":")[0] for m in mismatched], "shape-mismatched")]
    counted = [f"{len(keys)} {name} keys, e.g. {keys[0]}" for keys, name in kinds if keys]
    return "; ".join(counted) or "no key differs"


def _describe(missing: List[str], unexpected: List[str], mismatched: List[str]) -> List[str]:
    """Readable lines: the count of each kind of mismatch and its first few keys."""
    out = []
    if missing:
        out.append(f"missing keys ({len(missing)}, kept at init): {_first(missing)}")
    if unexpected:
        out.append(f"unexpected keys ({len(unexpected)}, ignored): {_first(unexpected)}")
    if mismatched:
        out.append(f"shape-mismatched keys ({len(mismatched)}, skipped): {_first(mismatched, 3)}")
    return out


def _atomic_save(data: Dict[str, Any], path: str) -> None:
    """torch.save to a temp file beside ``path`` then rename it over ``path`` in one step."""
    with atomic_open(path, "wb") as f:
        torch.save(data, f)
