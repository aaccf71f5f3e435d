"""Table of bad inputs to the training entry points: each ends with exit code != 0 and one line
``error: ...`` naming the key, value or file, and no traceback (issue: trust)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastreid.data.synthetic import SyntheticSpec, generate_synthetic_reid

REPO = Path(__file__).resolve().parents[2]
TRAIN_NET = REPO / "tools" / "train_net.py"
MSINET_NET = REPO / "projects" / "MSINet" / "train_net.py"
TINY = ["MODEL.DEVICE", "cpu", "MODEL.BACKBONE.NAME", "osnet", "INPUT.SIZE_TRAIN", "[64, 32]",
        "INPUT.SIZE_TEST", "[64, 32]", "SOLVER.IMS_PER_BATCH", "8", "DATALOADER.NUM_INSTANCE", "2",
        "DATALOADER.NUM_WORKERS", "0", "SOLVER.MAX_EPOCH", "1", "SOLVER.ITERS_PER_EPOCH", "1", "SOLVER.STEPS", "[1]",
        "SOLVER.WARMUP_EPOCHS", "0", "TEST.IMS_PER_BATCH", "8", "SEED", "0"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    spec = SyntheticSpec(num_train_ids=4, num_test_ids=3, num_cameras=2, images_per_camera=2, height=64, width=32,
                         num_distractors=0, num_junk=0, seed=0)
    generate_synthetic_reid(str(root / "Market-1501-v15.09.15"), spec)
    (root / "text.pth").write_text("not a checkpoint\n")
    (root / "empty.pth").write_bytes(b"")
    _save_resnet50_weights(root / "resnet50.pth")
    return root


def _save_resnet50_weights(path):
    import torch

    from fastreid.config import get_cfg
    from fastreid.modeling.meta_arch.build import build_model

    cfg = get_cfg()
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.BACKBONE.NAME", "resnet50",
                         "MODEL.HEADS.NUM_CLASSES", "4"])
    torch.save({"model": build_model(cfg).state_dict()}, path)


# (id, script, extra args, substring of the one error line)
CASES = [
    ("optimizer", TRAIN_NET, ["SOLVER.OPT", "Adamm"], "SOLVER.OPT"),
    ("optimizer-in-2-processes", TRAIN_NET, ["--num-gpus", "2", "SOLVER.OPT", "Adamm"], "SOLVER.OPT"),
    ("schedule", TRAIN_NET, ["SOLVER.SCHED", "Step"], "SOLVER.SCHED"),
    ("sampler", TRAIN_NET, ["DATALOADER.SAMPLER_TRAIN", "Random"], "DATALOADER.SAMPLER_TRAIN"),
    ("batch-zero", TRAIN_NET, ["SOLVER.IMS_PER_BATCH", "0"], "SOLVER.IMS_PER_BATCH"),
    ("batch-negative", TRAIN_NET, ["SOLVER.IMS_PER_BATCH", "-4"], "SOLVER.IMS_PER_BATCH"),
    ("instances-not-dividing", TRAIN_NET, ["DATALOADER.NUM_INSTANCE", "3"], "NUM_INSTANCE"),
    ("instances-above-batch", TRAIN_NET, ["DATALOADER.NUM_INSTANCE", "16"], "NUM_INSTANCE"),
    ("checkpoint-period", TRAIN_NET, ["SOLVER.CHECKPOINT_PERIOD", "0"], "SOLVER.CHECKPOINT_PERIOD"),
    ("eval-period", TRAIN_NET, ["TEST.EVAL_PERIOD", "-1"], "TEST.EVAL_PERIOD"),
    ("no-losses", TRAIN_NET, ["MODEL.LOSSES.NAME", "()"], "MODEL.LOSSES.NAME"),
    ("cuda-without-gpu", TRAIN_NET, ["MODEL.DEVICE", "cuda"], "MODEL.DEVICE"),
    ("zero-epochs", TRAIN_NET, ["SOLVER.MAX_EPOCH", "0"], "SOLVER.MAX_EPOCH"),
    ("test-batch-zero", TRAIN_NET, ["TEST.IMS_PER_BATCH", "0"], "TEST.IMS_PER_BATCH"),
    ("test-size", TRAIN_NET, ["INPUT.SIZE_TEST", "[0, 32]"], "INPUT.SIZE_TEST"),
    ("text-weights", TRAIN_NET, ["MODEL.WEIGHTS", "{root}/text.pth"], "text.pth"),
    ("empty-weights", TRAIN_NET, ["MODEL.WEIGHTS", "{root}/empty.pth"], "empty.pth"),
    ("eval-only-no-weights", TRAIN_NET, ["--eval-only"], "MODEL.WEIGHTS"),
    ("sam-mode", MSINET_NET, ["MODEL.BACKBONE.NAME", "msinet", "MODEL.LOSSES.NAME",
                              "('CrossEntropyLoss','SpatialAlignLoss')", "MODEL.SAM.MODE", "sideways"], "MODEL.SAM.MODE"),
    ("search-scheme-unused", MSINET_NET, ["MODEL.BACKBONE.NAME", "msinet", "SEARCH.SCHEME", "foo"], "SEARCH.SCHEME"),
    ("genotype", MSINET_NET, ["MODEL.BACKBONE.NAME", "msinet", "MODEL.MSINET.GENOTYPE", "fly"], "MODEL.MSINET.GENOTYPE"),
    # issue 24
    ("size-too-small", TRAIN_NET, ["INPUT.SIZE_TRAIN", "[8, 4]", "INPUT.SIZE_TEST", "[8, 4]"],
     "INPUT.SIZE_TRAIN"),
    ("sam-mode-unused", MSINET_NET, ["MODEL.BACKBONE.NAME", "msinet", "MODEL.SAM.MODE", "foo"],
     "MODEL.SAM.MODE"),
    ("weights-of-another-model", MSINET_NET,
     ["MODEL.BACKBONE.NAME", "msinet", "MODEL.WEIGHTS", "{root}/resnet50.pth"], "resnet50.pth: only"),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, script, extra, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_ends_in_one_line(root, tmp_path, name, script, extra, expected):
    extra = [a.replace("{root}", str(root)) for a in extra]
    flags, opts = [], list(extra)
    while opts and opts[0].startswith("--"):  # leading flags, with their value when they take one
        flag = opts.pop(0)
        flags += [flag, opts.pop(0)] if flag == "--num-gpus" else [flag]
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, str(script), *flags, *TINY, *opts, "DATASETS.ROOT", str(root),
                           "OUTPUT_DIR", str(tmp_path / "run")], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    err = proc.stderr.strip()
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "Traceback" not in err, err[-3000:]
    last = err.splitlines()[-1]
    assert last.startswith("error: ") and expected in last and len(last) < 600, last
