#!/usr/bin/env python
"""Cost of one architecture-search iteration against one training iteration of the searched MSINet.

    python projects/MSINet/tools/benchmark_search.py [--batch 32] [--size 256 128] [--threads 2] [--repeats 5]
                                                     [--classes 751] [--device cpu] [--json out.json]

Both sides see the same batch (random pixels, P x 4 identities). Timed per iteration (median, the
functions timed in turn, round after round):
- search: the MSI supernet (SearchBaseline, the authors' width rule) doing what the SearchTrainer does
  each iteration - one architecture step (valid memory, Adam on alpha) then one weight step (train
  memory, SGD), each with its twin-memory update; the two steps are also timed alone;
- training: MSINet (genotype ``msmt``, FBLNeck, CE + triplet, SGD) doing one step of the authors'
  recipe (the Baseline meta-architecture's loss dict, backward, optimizer step).
The ratio search / training is what to compare; absolute times vary with machine load.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from typing import Callable, Dict, List

import torch

from fastreid.config import get_cfg
from fastreid.modeling.meta_arch.build import build_model
from fastreid.utils.env import format_machine, machine_summary
from msinet.config import add_msinet_config
from msinet.memory import TwinMemory
from msinet.search_objectives import ContrastiveObjective
from msinet.search_step import ArchitectStep, weight_step
from msinet.search_trainer import build_arch_optimizer

logger = logging.getLogger("benchmark_search")


def _cfg(device: str, num_classes: int):
    cfg = get_cfg(plugins=True)
    add_msinet_config(cfg)
    cfg.MODEL.DEVICE = device
    cfg.MODEL.HEADS.NUM_CLASSES = num_classes
    cfg.SOLVER.OPT = "SGD"
    return cfg


def build_search(device: str, num_classes: int):
    """SearchBaseline + both memories + both optimizers, as the SearchTrainer sets them up."""
    from fastreid.solver import build_optimizer

    cfg = _cfg(device, num_classes)
    cfg.MODEL.META_ARCHITECTURE = "SearchBaseline"
    cfg.MODEL.BACKBONE.NAME = "msinet_supernet"
    cfg.SOLVER.BASE_LR = 0.025
    torch.manual_seed(0)
    model = build_model(cfg).train()
    memories = []
    for _ in range(2):
        mem = TwinMemory(num_classes, model.feat_dim).to(device)
        mem.initialize(torch.nn.functional.normalize(torch.randn(num_classes, model.feat_dim), dim=1))
        memories.append(ContrastiveObjective(mem))
    arch = ArchitectStep(model, build_arch_optimizer(cfg, model), memories[1])
    return model, build_optimizer(cfg, model), arch, memories[0]


def build_training(device: str, num_classes: int):
    """MSINet (msmt) with the authors' training head and losses, and its SGD."""
    from fastreid.solver import build_optimizer

    cfg = _cfg(device, num_classes)
    cfg.MODEL.BACKBONE.NAME = "msinet"
    cfg.MODEL.MSINET.GENOTYPE = "msmt"
    cfg.MODEL.HEADS.NAME = "FBLNeck"
    cfg.MODEL.LOSSES.NAME = ("CrossEntropyLoss", "TripletLoss")
    cfg.MODEL.LOSSES.CE.EPSILON = 0.1
    cfg.MODEL.LOSSES.TRI.NORM_FEAT = True
    cfg.SOLVER.BASE_LR = 0.065
    torch.manual_seed(0)
    model = build_model(cfg).train()
    return model, build_optimizer(cfg, model)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def interleaved_medians(fns: Dict[str, Callable[[], object]], repeats: int, warmup: int,
                        device: str) -> Dict[str, float]:
    """Median seconds of each function, timed in turn round after round, so a change of machine load
    during the run hits every function alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    _sync(device)
    times: Dict[str, List[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def make_batch(batch: int, size, num_classes: int, device: str) -> Dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randperm(num_classes, generator=g)[: max(1, batch // 4)].repeat_interleave(4)[:batch]
    images = torch.rand(batch, 3, *size, generator=g) * 255
    return {"images": images.to(device), "targets": ids.to(device)}


def run(batch: int, size, repeats: int, warmup: int, num_classes: int, device: str) -> Dict[str, float]:
    data = make_batch(batch, size, num_classes, device)
    search_model, weight_opt, arch, train_objective = build_search(device, num_classes)
    train_model, train_opt = build_training(device, num_classes)

    def search_iteration():
        arch.step(data)
        weight_step(search_model, weight_opt, train_objective, data)

    def training_iteration():
        losses = train_model(data)
        total = sum(losses.values())
        train_opt.zero_grad(set_to_none=True)
        total.backward()
        train_opt.step()

    out = interleaved_medians({
        "search_iteration_s": search_iteration,
        "arch_step_s": lambda: arch.step(data),
        "weight_step_s": lambda: weight_step(search_model, weight_opt, train_objective, data),
        "msinet_training_iteration_s": training_iteration,
    }, repeats, warmup, device)
    out["supernet_params"] = sum(p.numel() for p in search_model.parameters())
    out["msinet_params"] = sum(p.numel() for p in train_model.parameters())
    out["ratio_search_to_training"] = out["search_iteration_s"] / out["msinet_training_iteration_s"]
    return out


def main(argv=None) -> Dict[str, object]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=32, help="images per iteration (4 per identity)")
    p.add_argument("--size", type=int, nargs=2, default=[256, 128], metavar=("H", "W"))
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--repeats", type=int, default=5, help="timed iterations (median reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    p.add_argument("--classes", type=int, default=751, help="identities in each memory / the classifier")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--json", default="", help="also write the results to this JSON file")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = run(args.batch, tuple(args.size), args.repeats, args.warmup, args.classes, args.device)
    machine = machine_summary(args.device)
    report = {"command": "python projects/MSINet/tools/benchmark_search.py " + " ".join(
                  argv if argv is not None else __import__("sys").argv[1:]),
              "machine": machine, "batch": args.batch, "size": list(args.size), "results": results}
    print(f"command: {report['command']}")
    print(f"machine: {format_machine(machine)}")
    print(f"batch {args.batch} at {args.size[0]}x{args.size[1]}, median of {args.repeats}")
    t = results["msinet_training_iteration_s"]
    rows = [("search iteration (arch + weight step)", results["search_iteration_s"]),
            ("  architecture step (valid batch)", results["arch_step_s"]),
            ("  weight step (train batch)", results["weight_step_s"]),
            ("MSINet training iteration", t)]
    print(f"| {'iteration':<38} | {'seconds':>8} | {'x MSINet train':>14} |")
    print(f"|{'-' * 40}|{'-' * 10}|{'-' * 16}|")
    for name, sec in rows:
        print(f"| {name:<38} | {sec:8.3f} | {sec / t:14.2f} |")
    print(f"parameters: supernet {results['supernet_params']:,} (weights + alpha, TCM has no classifier), "
          f"MSINet {results['msinet_params']:,}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
