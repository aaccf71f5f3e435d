"""Issue 24 ("Trust, second sweep"): each hostile probe of the training engine now ends in one line or
does the right thing. Tiny models at 64x32 on a 4-identity synthetic Market-1501, or the data-free
TinyTrainer; the train_net runs are marked slow."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from engine_parts import TinyTrainer, tiny_cfg

from fastreid.config import get_cfg
from fastreid.data.data_utils import CorruptImageError
from fastreid.data.synthetic import SyntheticSpec, generate_synthetic_reid
from fastreid.engine import DefaultTrainer
from fastreid.engine.train_loop import SimpleTrainer, TrainingDivergedError
from fastreid.modeling.meta_arch.build import build_model
from fastreid.utils.checkpoint import CheckpointError
from fastreid.utils.errors import ConfigValueError

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]
ENGINE_TESTS = Path(__file__).resolve().parent
TINY = ["MODEL.DEVICE", "cpu", "MODEL.BACKBONE.NAME", "osnet", "INPUT.SIZE_TRAIN", "[64, 32]",
        "INPUT.SIZE_TEST", "[64, 32]", "SOLVER.IMS_PER_BATCH", "8", "DATALOADER.NUM_INSTANCE", "2",
        "DATALOADER.NUM_WORKERS", "0", "SOLVER.MAX_EPOCH", "1", "SOLVER.ITERS_PER_EPOCH", "1",
        "SOLVER.STEPS", "[1]", "SOLVER.WARMUP_EPOCHS", "0", "SOLVER.CHECKPOINT_PERIOD", "1",
        "TEST.IMS_PER_BATCH", "8", "TEST.EVAL_PERIOD", "0", "SEED", "0"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    spec = SyntheticSpec(num_train_ids=4, num_test_ids=3, num_cameras=2, images_per_camera=2, height=64,
                         width=32, num_distractors=0, num_junk=0, seed=0)
    generate_synthetic_reid(str(root / "Market-1501-v15.09.15"), spec)
    return root


def _cfg(root, out, *overrides):
    cfg = get_cfg(plugins=True)
    cfg.merge_from_list([*TINY, "DATASETS.ROOT", str(root), "OUTPUT_DIR", str(out), *overrides])
    return cfg


def _trained(root, out, *overrides):
    trainer = DefaultTrainer(_cfg(root, out, *overrides))
    trainer.train()
    return trainer


# 1. --resume after changing the backbone or the genotype
@pytest.mark.parametrize("before, after, changed", [
    (["MODEL.BACKBONE.NAME", "osnet"], ["MODEL.BACKBONE.NAME", "resnet50"],
     "MODEL.BACKBONE.NAME osnet -> resnet50"),
    (["MODEL.BACKBONE.NAME", "msinet", "MODEL.MSINET.GENOTYPE", "gate"],
     ["MODEL.BACKBONE.NAME", "msinet", "MODEL.MSINET.GENOTYPE", "none"],
     "MODEL.MSINET.GENOTYPE gate -> none"),
])
def test_a_resume_whose_model_does_not_fit_its_checkpoint_is_refused_naming_the_change(root, tmp_path, before,
                                                                                         after, changed):
    _trained(root, tmp_path, *before)
    trainer = DefaultTrainer(_cfg(root, tmp_path, *after, "SOLVER.MAX_EPOCH", "2"))
    with pytest.raises(ConfigValueError) as e:
        trainer.resume_or_load(resume=True)
    msg = str(e.value)
    assert msg.startswith(f"--resume: {tmp_path / 'model_final.pth'} does not fit the model of the config")
    assert changed in msg and re.search(r"\d+ (missing|unexpected) keys, e\.g\. ", msg), msg
    assert "\n" not in msg and len(msg) < 600


# 2. weights of another architecture as MODEL.WEIGHTS
def test_weights_of_another_architecture_stop_the_run_in_one_line(root, tmp_path):
    other = _cfg(root, tmp_path / "r50", "MODEL.BACKBONE.NAME", "resnet50", "MODEL.HEADS.NUM_CLASSES", "4")
    torch.save({"model": build_model(other).state_dict()}, tmp_path / "r50.pth")
    trainer = DefaultTrainer(_cfg(root, tmp_path / "run", "MODEL.WEIGHTS", str(tmp_path / "r50.pth")))
    expected = r"^MODEL.WEIGHTS .*r50.pth: only \d+ of the model's \d+ tensors load from it " \
               r"\(\d+ missing keys, e\.g\. backbone\."
    with pytest.raises(CheckpointError, match=expected) as e:
        trainer.resume_or_load(resume=False)
    assert "another architecture" in str(e.value) and "\n" not in str(e.value)
    # weights of the same architecture with another classifier (a new data set) still load
    same = _trained(root, tmp_path / "osnet")
    DefaultTrainer(_cfg(root, tmp_path / "finetune", "MODEL.WEIGHTS", same.checkpointer.get_checkpoint_file(),
                        "MODEL.HEADS.NUM_CLASSES", "7")).resume_or_load(resume=False)


# 3. an input size too small for the model
@pytest.mark.parametrize("key", ["SIZE_TRAIN", "SIZE_TEST"])
def test_an_input_size_too_small_for_the_model_names_the_key_and_the_smallest_size(root, tmp_path, key):
    expected = rf"^INPUT\.{key}: \[8, 4\] is too small for the model \(MODEL\.BACKBONE\.NAME osnet: .*\); " \
               r"expected at least"
    with pytest.raises(ConfigValueError, match=expected) as e:
        DefaultTrainer(_cfg(root, tmp_path, f"INPUT.{key}", "[8, 4]"))
    h, w = (int(v) for v in re.search(r"expected at least \[(\d+), (\d+)\]", str(e.value)).groups())
    model = DefaultTrainer.build_model(_cfg(root, tmp_path, "MODEL.HEADS.NUM_CLASSES", "4"))
    for size, fits in (((h, w), True), ((h - 1, w), False), ((h, w - 1), False)):
        cfg = _cfg(root, tmp_path, "INPUT.SIZE_TRAIN", str(list(size)), "INPUT.SIZE_TEST", str(list(size)))
        if fits:
            DefaultTrainer.check_input_sizes(cfg, model)
        else:
            with pytest.raises(ConfigValueError, match="too small"):
                DefaultTrainer.check_input_sizes(cfg, model)


# 5. --resume with an empty last_checkpoint
def test_an_empty_last_checkpoint_is_named_as_an_empty_file(tmp_path):
    cfg = tiny_cfg(tmp_path, **{"SOLVER.MAX_EPOCH": 2, "SOLVER.STEPS": [1]})
    TinyTrainer(cfg).train()
    (tmp_path / "last_checkpoint").write_text("")
    expected = r"last_checkpoint is empty; expected the name of the checkpoint to resume from, one of the " \
               r"files beside it \(model_best.pth, model_final.pth\)"
    with pytest.raises(CheckpointError, match=expected):
        TinyTrainer(cfg).resume_or_load(resume=True)


# 6. divergence: the growth warning fires for every step, and the stop says what is saved
class ReportingStep(SimpleTrainer):
    """A step with its own loss (as the architecture search's): it reports its loss, nothing more."""

    losses = (2.0, 2.5, 5.6e12, 6.0e12)

    def run_step(self):
        self._write_metrics({"train_loss": torch.tensor(self.losses[self.iter])}, data_time=0.0)


def test_a_loss_grown_100x_warns_whatever_the_step(caplog):
    net = torch.nn.Linear(1, 1)
    step = ReportingStep(net, [], torch.optim.SGD(net.parameters(), lr=0.1))
    with caplog.at_level("WARNING"):
        step.train(0, 1, len(ReportingStep.losses))
    assert caplog.text.count("The loss is 5.6e+12 at iteration 2, over 100x its first value 2") == 1


@pytest.mark.parametrize("iters_per_epoch", [10, 3])
def test_a_diverged_run_says_what_is_saved(tmp_path, iters_per_epoch):
    cfg = tiny_cfg(tmp_path, **{"SOLVER.BASE_LR": 1e6, "SOLVER.WARMUP_EPOCHS": 0,
                                "SOLVER.ITERS_PER_EPOCH": iters_per_epoch})
    with pytest.raises(TrainingDivergedError) as e:
        TinyTrainer(cfg).train()
    msg = str(e.value)
    assert "the last completed epoch is saved" not in msg
    if (tmp_path / "last_checkpoint").exists():
        saved = (tmp_path / "last_checkpoint").read_text().strip()
        assert msg.endswith(f"(the last checkpoint is {saved}: --resume with a lower SOLVER.BASE_LR "
                            "continues from it)"), msg
    else:
        assert msg.endswith("(no checkpoint is saved: no epoch completed)"), msg
    assert (tmp_path / "last_checkpoint").exists() == (iters_per_epoch == 3)  # the case each one is for


# 11. training images are checked before iteration 0
def test_a_corrupt_training_image_stops_the_run_before_it_starts(root, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(root, data)
    image = sorted((data / "Market-1501-v15.09.15" / "bounding_box_train").glob("*.jpg"))[-1]
    image.write_bytes(image.read_bytes()[:200])  # a truncated copy
    with pytest.raises(CorruptImageError, match=f"cannot read image {re.escape(str(image))}: .*SKIP_CORRUPT"):
        DefaultTrainer(_cfg(data, tmp_path / "run"))
    trainer = DefaultTrainer(_cfg(data, tmp_path / "run", "DATASETS.SKIP_CORRUPT", "True"))  # as advised
    assert len(trainer.data_loader.dataset) == 15


# 12. Ctrl-C and SIGTERM: saved, one line, the conventional exit status
STOP_AT_EPOCH_2 = """
import os, signal, sys
from engine_parts import TinyTrainer, tiny_cfg  # tests/engine is on PYTHONPATH
from fastreid.engine import HookBase
from fastreid.utils.errors import exit_on_user_error

# Ctrl-C as a foreground process gets it: a runner started in the background (`cmd &` in a script) hands
# its children SIGINT ignored, which Python (rightly) keeps
signal.signal(signal.SIGINT, signal.default_int_handler)

class Stop(HookBase):
    def before_epoch(self):
        if self.trainer.epoch == 2:
            os.kill(os.getpid(), getattr(signal, sys.argv[2]))

trainer = TinyTrainer(tiny_cfg(sys.argv[1], **{"SOLVER.CHECKPOINT_PERIOD": 10}))
trainer.register_hooks([Stop()])
with exit_on_user_error():
    trainer.train()
"""


@pytest.mark.parametrize("signame, status, line", [("SIGINT", 130, "stopped by SIGINT (Ctrl-C)"),
                                                   ("SIGTERM", 143, "stopped by SIGTERM")])
def test_a_signal_stops_training_in_one_line_with_its_exit_status(tmp_path, signame, status, line):
    path = os.pathsep.join(p for p in (str(ENGINE_TESTS), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=path)
    proc = subprocess.run([sys.executable, "-c", STOP_AT_EPOCH_2, str(tmp_path), signame],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == status, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == line
    assert (tmp_path / "last_checkpoint").read_text().strip() == "model_0001.pth"


# 14. --resume after Ctrl-C in the final evaluation
class StoppedInTheLastEvaluation(TinyTrainer):
    @classmethod
    def test(cls, cfg, model):
        if len(cls.eval_calls) == cfg.SOLVER.MAX_EPOCH - 1:
            cls.eval_calls.append(None)
            raise KeyboardInterrupt
        return super().test(cfg, model)


def test_a_resume_after_ctrl_c_in_the_final_evaluation_runs_that_evaluation(tmp_path):
    cfg = tiny_cfg(tmp_path, **{"TEST.EVAL_PERIOD": 1})
    StoppedInTheLastEvaluation.eval_calls = []
    with pytest.raises(KeyboardInterrupt):
        StoppedInTheLastEvaluation(cfg).train()
    assert (tmp_path / "last_checkpoint").read_text().strip() == "model_final.pth"
    TinyTrainer.eval_calls = []
    resumed = TinyTrainer(cfg)
    resumed.resume_or_load(resume=True)
    results = resumed.train()
    assert len(TinyTrainer.eval_calls) == 1 and results["metric"] == TinyTrainer.eval_calls[0]
    lines = (tmp_path / "metrics.json").read_text().splitlines()
    assert '"metric"' in lines[-1] and f'"iteration": {4 * 3 - 1}' in lines[-1]  # written as the last epoch's


# 9 and 10: train_net's config.yaml and --overwrite
def _train_net(root, out, *args):
    flags = [a for a in args if a.startswith("--")]
    opts = [a for a in args if not a.startswith("--")]
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    command = [sys.executable, str(REPO / "tools" / "train_net.py"), *flags, *TINY, "SOLVER.MAX_EPOCH", "2",
               "DATASETS.ROOT", str(root), "OUTPUT_DIR", str(out), *opts]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _configs(out):
    return sorted(p.name for p in out.glob("config*.yaml"))


@pytest.mark.slow
def test_a_refused_command_leaves_the_folders_config_as_it_was(root, tmp_path):
    out = tmp_path / "run"
    assert _train_net(root, out).returncode == 0
    config = (out / "config.yaml").read_text()
    for args in (["--resume", "MODEL.BACKBONE.NAME", "resnet50"], ["--overwrite", "SOLVER.OPT", "Adamm"]):
        proc = _train_net(root, out, *args)
        last = proc.stderr.strip().splitlines()[-1]
        assert proc.returncode == 1 and last.startswith("error: "), proc.stderr[-2000:]
        assert _configs(out) == ["config.yaml"] and (out / "config.yaml").read_text() == config, args


@pytest.mark.slow
def test_overwrite_moves_the_earlier_runs_checkpoints_into_a_dated_subfolder(root, tmp_path):
    out = tmp_path / "run"
    assert _train_net(root, out).returncode == 0
    earlier = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix == ".pth" or p.name == "config.yaml"}
    assert "model_0000.pth" in earlier
    proc = _train_net(root, out, "--overwrite", "SOLVER.MAX_EPOCH", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (out / "model_0000.pth").exists()  # no checkpoint of the earlier run beside the new run's
    (aside,) = out.glob("overwritten-*")
    assert re.fullmatch(r"overwritten-\d{8}-\d{6}", aside.name)
    assert {p.name: p.read_bytes() for p in aside.iterdir() if p.name != "last_checkpoint"} == earlier
    assert (out / "last_checkpoint").read_text().strip() == "model_final.pth"
    assert _configs(out) == ["config.yaml"]
