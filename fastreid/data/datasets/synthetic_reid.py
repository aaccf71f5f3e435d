"""SyntheticReID: generated (synthetic) pedestrians, the toolbox's embedded demo and test dataset.

On first use the images are rendered by ``fastreid.data.synthetic.generate_synthetic_reid`` into
``<root>/SyntheticReID/`` (default sizes) or ``<root>/SyntheticReID-<hash>/`` (other sizes or seed), in
the Market-1501 layout, and then read with the Market-1501 parser. No real person appears in it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path

from ..synthetic import META_FILE, SyntheticSpec, generate_synthetic_reid
from .bases import DatasetLayoutError, ImageDataset
from .market1501 import parse_market_style
from .registry import DATASET_REGISTRY

__all__ = ["SyntheticReID", "synthetic_dir"]

logger = logging.getLogger(__name__)


def synthetic_dir(root: str, spec: SyntheticSpec) -> Path:
    """Folder of the dataset generated for ``spec`` under ``root``."""
    if spec == SyntheticSpec():
        return Path(root) / "SyntheticReID"
    digest = hashlib.sha1(json.dumps(asdict(spec), sort_keys=True).encode()).hexdigest()[:8]
    return Path(root) / f"SyntheticReID-{digest}"


@DATASET_REGISTRY.register(aliases=("Synthetic",))
class SyntheticReID(ImageDataset):
    """Synthetic (generated) pedestrians in the Market-1501 layout; generated on first use.

    Keyword arguments are the fields of ``SyntheticSpec`` (identities, cameras, images per camera,
    image size, distractors, junk boxes, seed).
    """

    dataset_name = "synthetic"
    _junk_pids = (0, -1)
    synthetic = True

    def __init__(self, root: str = "datasets", *, num_train_ids: int = 60, num_test_ids: int = 40,
                 num_cameras: int = 4, images_per_camera: int = 4, height: int = 128, width: int = 64,
                 num_distractors: int = 20, num_junk: int = 10, seed: int = 0, combineall: bool = False,
                 verbose: bool = True):
        spec = SyntheticSpec(num_train_ids, num_test_ids, num_cameras, images_per_camera, height, width,
                             num_distractors, num_junk, seed)
        d = synthetic_dir(root, spec)
        if not d.exists():
            logger.info("SyntheticReID (synthetic): %s absent, generating it", d)
            generate_synthetic_reid(str(d), spec)
        meta = d / META_FILE
        if not meta.is_file() or {k: v for k, v in json.loads(meta.read_text()).items() if k != "note"} != asdict(spec):
            raise DatasetLayoutError(f"SyntheticReID: {d} exists but {META_FILE} is missing or records other "
                                     "generation parameters; expected a folder written by generate_synthetic_reid "
                                     "(delete it to regenerate)")
        self.spec = spec
        self.dataset_dir, train, query, gallery = parse_market_style(
            "SyntheticReID", str(d), ("",), pid_max=1501, cam_max=6)
        super().__init__(self.prefixed(train), query, gallery, combineall=combineall, verbose=verbose)
