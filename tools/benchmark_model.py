#!/usr/bin/env python
"""Parameters, FLOPs and latency of MSINet, OSNet and ResNet-50 in one run, as ratios to ResNet-50.

    python tools/benchmark_model.py [--batch 32] [--size 256 128] [--threads 2] [--repeats 5]
                                    [--models msinet osnet resnet50] [--device cpu] [--json out.json]

Models are built through the registries (backbone + its test head: FBLNeck for MSINet, EmbeddingHead
for the others). Reported per model: parameters (all / without classifier layers), multiply-accumulates
(fvcore FlopCountAnalysis, 1 x 3 x H x W), median latency at the batch size in PyTorch eval mode
(plain; channels_last with BN folded into the convs), through ONNX Runtime (torch.onnx.export), and a
training step (forward + backward). Timings vary with machine load: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import logging
import platform
import statistics
import time
from typing import Callable, Dict, List

import torch
import torch.nn as nn

from fastreid.config import get_cfg
from fastreid.modeling.complexity import count_macs, count_parameters
from fastreid.modeling.inference import inference_model
from fastreid.modeling.meta_arch.build import build_model

logger = logging.getLogger("benchmark_model")
HEADS = {"msinet": "FBLNeck"}


def build(name: str, num_classes: int = 751) -> nn.Module:
    cfg = get_cfg(plugins=True)
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.BACKBONE.NAME = name
    cfg.MODEL.BACKBONE.PRETRAIN = False
    cfg.MODEL.HEADS.NAME = HEADS.get(name, "EmbeddingHead")
    cfg.MODEL.HEADS.NUM_CLASSES = num_classes
    cfg.MODEL.LOSSES.NAME = ("CrossEntropyLoss", "TripletLoss")
    torch.manual_seed(0)
    return build_model(cfg)


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def onnx_latency(model: nn.Module, x: torch.Tensor, threads: int, repeats: int) -> float:
    import onnxruntime as ort

    buf = io.BytesIO()
    torch.onnx.export(model.eval(), (x,), buf, input_names=["images"], output_names=["features"],
                      opset_version=17, dynamo=False)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])
    feed = {"images": x.numpy()}
    return median_time(lambda: sess.run(None, feed), repeats)


def bench(name: str, args) -> Dict[str, float]:
    model = build(name).to(args.device)
    row: Dict[str, float] = dict(count_parameters(model))
    row["macs_G"] = count_macs(model, args.size) / 1e9
    x = torch.rand(args.batch, 3, *args.size, device=args.device) * 255
    model.eval()
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    def run(m, inp):
        def f():
            with torch.inference_mode():
                m(inp)
            sync()
        return f

    row["eager_s"] = median_time(run(model, x), args.repeats)
    fast = inference_model(model)
    row["eager_cl_fold_s"] = median_time(run(fast, x.contiguous(memory_format=torch.channels_last)), args.repeats)
    if args.device == "cpu" and not args.no_onnx:
        row["onnx_s"] = onnx_latency(copy.deepcopy(model), x, args.threads, args.repeats)
    model.train()
    batch = {"images": x, "targets": torch.arange(args.batch, device=args.device) // 4}

    def step():
        model.zero_grad(set_to_none=True)
        sum(model(batch).values()).backward()
        sync()

    row["train_step_s"] = median_time(step, max(1, args.repeats // 2))
    return row


COLUMNS = (("params_without_classifier", "params (no cls)", "{:,.0f}"), ("macs_G", "GMACs", "{:.2f}"),
           ("eager_s", "eager s", "{:.3f}"), ("eager_ratio", "x R50", "{:.2f}"),
           ("eager_cl_fold_s", "cl+fold s", "{:.3f}"), ("eager_cl_fold_ratio", "x R50", "{:.2f}"),
           ("onnx_s", "ONNX RT s", "{:.3f}"), ("onnx_ratio", "x R50", "{:.2f}"),
           ("train_step_s", "train step s", "{:.3f}"), ("train_step_ratio", "x R50", "{:.2f}"))


def format_table(results: dict) -> str:
    """Markdown table of the measured columns (a missing value prints as -)."""
    cols = [c for c in COLUMNS if any(c[0] in r for r in results.values())]
    lines = ["| model | " + " | ".join(c[1] for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in results.items():
        cells = [fmt.format(row[k]) if k in row else "-" for k, _, fmt in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: List[str] = None) -> Dict[str, Dict[str, float]]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["msinet", "osnet", "resnet50"])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, nargs=2, default=[256, 128])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime timing")
    p.add_argument("--json", default="", help="also write the results to this JSON file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    logger.info("command: benchmark_model.py %s", " ".join(argv or []))
    logger.info("machine: %s, %s, torch %s, threads %d, device %s", platform.node(), platform.processor()
                or platform.machine(), torch.__version__, args.threads, args.device)
    results = {name: bench(name, args) for name in args.models}
    ref = results.get("resnet50")
    if ref:
        for row in results.values():
            for key in [k for k in row if k.endswith("_s")]:
                row[key[:-2] + "_ratio"] = row[key] / ref[key]
    logger.info("batch %d, %dx%d, %d threads; latencies are medians in seconds, ratios to ResNet-50\n%s",
                args.batch, args.size[0], args.size[1], args.threads, format_table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)
    return results


if __name__ == "__main__":
    main()
