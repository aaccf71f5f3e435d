"""launch(): two gloo processes on the CPU train a DDP model to identical weights; torchrun works too."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from engine_parts import ddp_train_worker

from fastreid.engine import default_argument_parser, launch
from fastreid.engine.launch import find_free_port


def _check_ranks(out_dir):
    r0 = torch.load(out_dir / "rank0.pt", weights_only=False)
    r1 = torch.load(out_dir / "rank1.pt", weights_only=False)
    assert (r0["world"], r1["world"], r0["backend"]) == (2, 2, "gloo")
    assert (r0["local_rank"], r1["local_rank"]) == (0, 1)
    for k in r0["state"]:
        assert torch.equal(r0["state"][k], r1["state"][k]), k
    torch.manual_seed(100)
    from engine_parts import TinyNet

    init = TinyNet().state_dict()
    assert not torch.equal(init["heads.weight"], r0["state"]["heads.weight"])  # it did train


@pytest.mark.slow
def test_two_process_gloo_ddp_ends_with_identical_weights(tmp_path):
    args = default_argument_parser().parse_args(["--num-gpus", "2"])
    # without CUDA, --num-gpus 2 means two gloo CPU processes; force gloo so GPU machines test the same
    backend = "gloo" if torch.cuda.is_available() else None
    launch(ddp_train_worker, args.num_gpus, dist_url=args.dist_url, args=(str(tmp_path),), backend=backend)
    _check_ranks(tmp_path)


@pytest.mark.slow
def test_launch_under_torchrun_joins_the_env_group(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        from engine_parts import ddp_train_worker
        from fastreid.engine import launch
        launch(ddp_train_worker, 1, args=({str(tmp_path)!r},), backend="gloo")  # torchrun sets the layout
    """))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent), env.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", str(find_free_port()), str(script)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    _check_ranks(tmp_path)


def test_parser_reads_flags_and_trailing_overrides():
    args = default_argument_parser().parse_args(
        ["--config-file", "a.yml", "--resume", "--num-gpus", "2", "SOLVER.BASE_LR", "0.01", "SEED", "3"])
    assert (args.config_file, args.resume, args.eval_only, args.num_gpus) == ("a.yml", True, False, 2)
    assert args.opts == ["SOLVER.BASE_LR", "0.01", "SEED", "3"]
    assert (args.num_machines, args.machine_rank, args.dist_url) == (1, 0, "auto")
