"""Can a checkpoint be resumed by the run of a config? What a checkpoint records of its run and the
checks ``DefaultTrainer.resume_or_load(resume=True)`` makes before anything loads.

Every checkpoint of a training run records ``solver`` (:func:`solver_signature`: the SOLVER values) and
``model_config`` (:func:`model_signature`: the MODEL values). A resume whose model does not fit the
checkpoint's weights, or whose optimizer cannot take its state, stops with one line that names what
changed; a changed schedule is only warned about (it applies from the saved iteration on).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List

import torch.nn as nn

from fastreid.utils.checkpoint import load_torch_file, mismatch_summary, split_state_dict, state_mismatch
from fastreid.utils.errors import ConfigValueError

__all__ = ["solver_signature", "model_signature", "check_resumable", "check_resumed_model", "check_resumed_solver"]

logger = logging.getLogger(__name__)

_SOLVER_KEYS = ("OPT", "BASE_LR", "MOMENTUM", "WEIGHT_DECAY", "SCHED", "STEPS", "GAMMA", "MAX_EPOCH",
                "WARMUP_METHOD", "WARMUP_FACTOR", "WARMUP_EPOCHS", "WARMUP_ITERS", "WARMUP_STEPPING", "DELAY_EPOCHS",
                "ETA_MIN_LR")


def solver_signature(cfg) -> Dict[str, Any]:
    """The SOLVER values a checkpoint records, so a resume can tell what changed."""
    return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in
            ((k, getattr(cfg.SOLVER, k)) for k in _SOLVER_KEYS if k in cfg.SOLVER)}


_UNRECORDED_MODEL_KEYS = ("MODEL.WEIGHTS", "MODEL.DEVICE")


def model_signature(cfg) -> Dict[str, Any]:
    """The MODEL values a checkpoint records (all but MODEL.WEIGHTS and MODEL.DEVICE, flattened: the
    backbone's name, a genotype, ...), so a resume whose model does not fit can say what changed."""
    flat: Dict[str, Any] = {}
    todo = [("MODEL", cfg.MODEL)]
    while todo:
        prefix, node = todo.pop()
        for k, v in node.items():
            key = f"{prefix}.{k}"
            if isinstance(v, dict):
                todo.append((key, v))
            elif key not in _UNRECORDED_MODEL_KEYS:
                flat[key] = list(v) if isinstance(v, (list, tuple)) else v
    return flat


def _changed_model_keys(saved: Any, now: Dict[str, Any]) -> List[str]:
    """``"KEY old -> new"`` for every MODEL key both signatures hold with different values."""
    if not isinstance(saved, dict):
        return []  # a checkpoint written before the model was recorded
    return [f"{k} {saved[k]} -> {now[k]}" for k in sorted(now) if k in saved and saved[k] != now[k]]


def check_resumable(path: str, model: nn.Module, cfg) -> None:
    """The checkpoint ``path`` fits ``model`` (unwrapped) and the optimizer of ``cfg`` (see the two
    checks); raises ``ConfigValueError`` in one line otherwise."""
    data = load_torch_file(path)
    check_resumed_model(path, data, model, cfg)
    check_resumed_solver(path, data, cfg)


def check_resumed_model(path: str, data: Any, model: nn.Module, cfg) -> None:
    """A checkpoint (``data``, read from ``path``) whose weights do not fit ``model``, the model of
    ``cfg`` (another backbone, genotype or class count), cannot be resumed: one line with the MODEL keys
    that changed (when the checkpoint records them) and the counts of missing, unexpected and
    shape-mismatched keys."""
    state, rest = split_state_dict(data, path)
    missing, unexpected, mismatched = state_mismatch(model, state)
    if not (missing or unexpected or mismatched):
        return
    changed = _changed_model_keys(rest.get("model_config"), model_signature(cfg))
    raise ConfigValueError(
        f"--resume: {path} does not fit the model of the config ("
        + "; ".join(changed + [mismatch_summary(missing, unexpected, mismatched)])
        + "); expected the model the run was trained with (its config.yaml), or a new run started from "
        f"its weights (MODEL.WEIGHTS {path} with --overwrite or another OUTPUT_DIR)")


def check_resumed_solver(path: str, data: Any, cfg) -> None:
    """A checkpoint (``data``, read from ``path``) written with another SOLVER.OPT than ``cfg``'s cannot
    be resumed (its state does not fit the new optimizer): one line. A changed schedule is taken from the
    saved iteration on: a warning lists it."""
    saved = data.get("solver") if isinstance(data, dict) else None
    if not isinstance(saved, dict):
        return  # written before the solver was recorded
    now = solver_signature(cfg)
    if saved.get("OPT") != now["OPT"]:
        raise ConfigValueError(
            f"--resume: {path} was trained with SOLVER.OPT {saved.get('OPT')}, the config now says {now['OPT']}, "
            "whose state cannot be restored from it; expected the same SOLVER.OPT, or a new run started from "
            f"its weights (MODEL.WEIGHTS {path} with --overwrite or another OUTPUT_DIR)")
    # a key the checkpoint lacks was not recorded yet when it was written: not a change
    changed = [f"{k} {saved[k]} -> {v}" for k, v in now.items() if k in saved and saved[k] != v]
    if changed:
        logger.warning("--resume with a changed solver (%s): the new values apply from the saved iteration on",
                       "; ".join(f"SOLVER.{c}" for c in changed))
