"""SyntheticReID and SyntheticDusk: generated (synthetic) pedestrians, the toolbox's embedded demo and
test datasets, rendered in two domains (``day`` and ``dusk``; see ``fastreid.data.synthetic``) for
synthetic -> synthetic domain adaptation. No real person appears in them.

Which folder a name reads (``<Name>`` is ``SyntheticReID`` or ``SyntheticDusk``):

* no size / seed / domain arguments (the way ``DATASETS.NAMES`` builds it): ``<root>/<Name>/`` as it
  was generated, whatever its recorded sizes (``tools/generate_synthetic.py --output <root>/<Name>
  --train-ids 16`` is then usable by name), or, when absent, the default size generated there;
* arguments that agree with what ``<root>/<Name>/synthetic.json`` records: that folder too;
* other arguments: ``<root>/<Name>-<hash>/``, generated on first use, except that asking for the
  default values while ``<root>/<Name>/`` holds another size is an error (both would live there).

The images are read with the Market-1501 parser.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Dict, Optional, Set, Tuple

from ..synthetic import DOMAIN_SEEDS, META_FILE, SyntheticSpec, generate_synthetic_reid, read_spec
from .bases import DatasetLayoutError, ImageDataset
from .market1501 import parse_market_style
from .registry import DATASET_REGISTRY

__all__ = ["SyntheticDusk", "SyntheticReID", "synthetic_dir"]

logger = logging.getLogger(__name__)

_ANNOUNCED: Set[Path] = set()  # folders whose recorded parameters were logged already (once per process)


def synthetic_dir(root: str, spec: SyntheticSpec, name: str = "SyntheticReID",
                  defaults: SyntheticSpec = SyntheticSpec()) -> Path:
    """Folder of the dataset generated for ``spec`` under ``root``: ``<root>/<name>`` for ``defaults``,
    else ``<root>/<name>-<hash of spec>`` (a ``day`` spec hashes without its domain, so folders written
    before domains existed keep their names)."""
    if spec == defaults:
        return Path(root) / name
    params = asdict(spec)
    if spec.domain == "day":
        del params["domain"]
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return Path(root) / f"{name}-{digest}"


def _layout_error(name: str, folder: Path, detail: str) -> DatasetLayoutError:
    """The one-line error for a folder that is not the generator's output for the asked spec."""
    return DatasetLayoutError(f"{name}: {folder} exists but {META_FILE} is missing or records other "
                              "generation parameters; expected a folder written by generate_synthetic_reid "
                              f"(delete it to regenerate) [{detail}]")


def _check_folder(name: str, folder: Path, spec: SyntheticSpec) -> None:
    """Raise the layout error unless ``folder`` records exactly ``spec``."""
    try:
        recorded = read_spec(str(folder))
    except ValueError as e:
        raise _layout_error(name, folder, str(e)) from None
    if recorded != spec:
        raise _layout_error(name, folder, f"records {recorded}, expected {spec}")


def _readable_record(folder: Path) -> Optional[SyntheticSpec]:
    """The spec recorded in ``folder``, or None when the folder is absent or has no generator record."""
    try:
        return read_spec(str(folder)) if folder.is_dir() else None
    except ValueError:
        return None


def _conflict(name: str, folder: Path, asked: Dict[str, Any], recorded: SyntheticSpec) -> DatasetLayoutError:
    """The error for arguments that name the by-name folder but differ from what it records."""
    diff = ", ".join(f"{k}={getattr(recorded, k)!r} (asked {v!r})" for k, v in sorted(asked.items())
                     if getattr(recorded, k) != v)
    return DatasetLayoutError(
        f"{name}: {folder} was generated with other parameters: {diff}; omit those arguments to read it as "
        f"it is, or regenerate it (tools/generate_synthetic.py --output {folder} --overwrite ...) or move it "
        "away to get the asked set")


def resolve_synthetic(name: str, root: str, defaults: SyntheticSpec,
                      asked: Dict[str, Any]) -> Tuple[Path, SyntheticSpec]:
    """The folder ``name`` reads for the explicitly ``asked`` spec fields, and the spec to find (or
    generate) there; see the module docstring for the rules."""
    by_name = Path(root) / name
    recorded = _readable_record(by_name)
    if recorded is not None and all(getattr(recorded, k) == v for k, v in asked.items()):
        return by_name, recorded
    spec = replace(defaults, **asked)
    if spec == defaults and recorded is not None:
        raise _conflict(name, by_name, asked, recorded)
    return synthetic_dir(root, spec, name, defaults), spec


def _announce(name: str, folder: Path, spec: SyntheticSpec) -> None:
    """Log the parameters of the folder being read, once per folder and process."""
    if folder.resolve() in _ANNOUNCED:
        return
    _ANNOUNCED.add(folder.resolve())
    logger.info("%s: reading %s (synthetic): %d train + %d test identities, %d cameras, "
                "%d images per camera, %dx%d, seed %d, domain %s", name, folder, spec.num_train_ids,
                spec.num_test_ids, spec.num_cameras, spec.images_per_camera, spec.height, spec.width, spec.seed,
                spec.domain)


@DATASET_REGISTRY.register(aliases=("Synthetic",))
class SyntheticReID(ImageDataset):
    """Synthetic (generated) pedestrians in the Market-1501 layout, ``day`` domain; generated on first use.

    Keyword arguments are the fields of ``SyntheticSpec`` (identities, cameras, images per camera,
    image size, distractors, junk boxes, seed, domain); the ones left out (None) are not asked for, so
    ``<root>/SyntheticReID`` is read whatever size it was generated with (see the module docstring).
    """

    dataset_name = "synthetic"
    _junk_pids = (0, -1)
    synthetic = True
    defaults = SyntheticSpec(seed=DOMAIN_SEEDS["day"], domain="day")

    def __init__(self, root: str = "datasets", *, num_train_ids: Optional[int] = None,
                 num_test_ids: Optional[int] = None, num_cameras: Optional[int] = None,
                 images_per_camera: Optional[int] = None, height: Optional[int] = None,
                 width: Optional[int] = None, num_distractors: Optional[int] = None,
                 num_junk: Optional[int] = None, seed: Optional[int] = None, domain: Optional[str] = None,
                 combineall: bool = False, verbose: bool = True):
        name = type(self).__name__
        asked = {k: v for k, v in dict(
            num_train_ids=num_train_ids, num_test_ids=num_test_ids, num_cameras=num_cameras,
            images_per_camera=images_per_camera, height=height, width=width, num_distractors=num_distractors,
            num_junk=num_junk, seed=seed, domain=domain).items() if v is not None}
        d, spec = resolve_synthetic(name, root, self.defaults, asked)
        if not d.exists():
            logger.info("%s (synthetic): %s absent, generating it", name, d)
            generate_synthetic_reid(str(d), spec)
        _check_folder(name, d, spec)
        if verbose:
            _announce(name, d, spec)
        self.spec = spec
        self.dataset_dir, train, query, gallery = parse_market_style(name, str(d), ("",), pid_max=1501,
                                                                     cam_max=6)
        super().__init__(self.prefixed(train), query, gallery, combineall=combineall, verbose=verbose)


@DATASET_REGISTRY.register()
class SyntheticDusk(SyntheticReID):
    """The ``dusk`` rendering of synthetic pedestrians (other people: another default seed), for
    day -> dusk domain adaptation; folder ``<root>/SyntheticDusk``, same rules and arguments as
    ``SyntheticReID``."""

    dataset_name = "synthetic_dusk"
    defaults = SyntheticSpec(seed=DOMAIN_SEEDS["dusk"], domain="dusk")
