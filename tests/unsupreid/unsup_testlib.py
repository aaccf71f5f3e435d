"""Helpers of the UnsupReID tests: the tiny recipe, a tiny generated data set, and train_net.py run as a
user runs it (a subprocess, one thread)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

from fastreid.data.synthetic import SyntheticSpec, generate_synthetic_reid

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "projects" / "UnsupReID" / "train_net.py"
CONFIG = REPO / "projects" / "UnsupReID" / "configs" / "Base-cluster-contrast.yml"
# OSNet at 64 x 32, batches of 4 clusters x 2 images, clustering settings that work on 32 images
TINY = [
    "MODEL.DEVICE", "cpu", "MODEL.BACKBONE.NAME", "osnet", "MODEL.BACKBONE.PRETRAIN", "False",
    "MODEL.HEADS.POOL_LAYER", "avg", "INPUT.SIZE_TRAIN", "[64, 32]", "INPUT.SIZE_TEST", "[64, 32]",
    "SOLVER.IMS_PER_BATCH", "8", "DATALOADER.NUM_INSTANCE", "2", "DATALOADER.NUM_WORKERS", "0",
    "SOLVER.STEPS", "[2]", "SOLVER.CHECKPOINT_PERIOD", "1", "TEST.EVAL_PERIOD", "0", "TEST.IMS_PER_BATCH", "16",
    "SEED", "0", "UNSUP.CLUSTER.K1", "6", "UNSUP.CLUSTER.K2", "2", "UNSUP.CLUSTER.MIN_SAMPLES", "2",
    "UNSUP.CLUSTER.EPS", "0.7",
]


def tiny_spec(**changes) -> SyntheticSpec:
    """8 training identities x 2 cameras x 2 images at 64 x 32 (32 training images), 4 test identities."""
    spec = dict(num_train_ids=8, num_test_ids=4, num_cameras=2, images_per_camera=2, height=64, width=32,
                num_distractors=2, num_junk=1, seed=0)
    return SyntheticSpec(**{**spec, **changes})


def tiny_market(root: Path, folder: str = "Market-1501-v15.09.15", **changes) -> Path:
    """A tiny generated data set written as ``root/folder`` (Market-1501 layout); returns its folder."""
    return generate_synthetic_reid(str(Path(root) / folder), tiny_spec(**changes))


def run(args: Sequence[str], ok: bool = True, script: Path = SCRIPT, config: Optional[Path] = CONFIG) -> str:
    """Run ``script`` with ``--config-file config`` (none when None) and ``args``; asserts it succeeded
    (``ok``) or failed; returns its stdout + stderr."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    cmd = [sys.executable, str(script)] + (["--config-file", str(config)] if config else []) + list(args)
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert (proc.returncode == 0) == ok, out[-4000:]
    return out
