#!/usr/bin/env python
"""Parameters, FLOPs and latency of MSINet, OSNet and ResNet-50 in one run, as ratios to two ResNet-50s.

    python tools/benchmark_model.py [--batch 32] [--size 256 128] [--threads 2] [--repeats 5]
                                    [--models msinet osnet resnet50 resnet50_tv] [--device cpu]
                                    [--ablate-fusions] [--profile] [--json out.json]

Models are built through the registries (backbone + its test head: FBLNeck for MSINet, EmbeddingHead
for the others). Two references: ``resnet50`` is the toolbox's ReID ResNet-50 (last stride 1, as
fast-reid trains it) and ``resnet50_tv`` torchvision's ImageNet definition (last stride 2; raw RGB in,
normalised, globally pooled 2048-d features out), the one papers usually compare speed with.
Reported per model: parameters (all / without classifier layers), multiply-accumulates (fvcore
FlopCountAnalysis, 1 x 3 x H x W), median latency at the batch size in PyTorch eval mode (plain, and
through ``inference_model``: BN folded into the convs, blocks fused, channels_last; with
``--ablate-fusions`` also with BN folding only), through ONNX Runtime (exported as
``tools/export_onnx.py`` does: ``inference_model`` without block fusion, which ONNX Runtime runs
faster; with ``--ablate-fusions`` also with it), and a training step (forward + backward) in the
default memory format and with ``MODEL.CHANNELS_LAST``. ``--profile`` adds, per model, where
``inference_model``'s time goes: per kind of convolution (1x1, depth-wise, dense) and per other op, the
milliseconds per batch and the GMAC/s each kind runs at. Timings vary with machine load: compare the
ratios of one run.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import statistics
import time
from typing import Callable, Dict, List

import torch
import torch.nn as nn

from fastreid.config import get_cfg
from fastreid.modeling.complexity import count_macs, count_parameters
from fastreid.modeling.inference import inference_model
from fastreid.modeling.meta_arch.build import build_model
from fastreid.utils.env import format_machine, machine_summary

logger = logging.getLogger("benchmark_model")
HEADS = {"msinet": "FBLNeck"}


class TorchvisionResNet50(nn.Module):
    """torchvision's ImageNet ResNet-50 (last stride 2) as a feature extractor with the toolbox's
    interface: raw RGB 0..255 in, 2048-d pooled features out in eval mode; in training a
    cross-entropy loss on a linear classifier (so the training step has a comparable head)."""

    def __init__(self, num_classes: int):
        super().__init__()
        import torchvision

        self.net = torchvision.models.resnet50(weights=None)
        self.net.fc = nn.Identity()
        self.classifier = nn.Linear(2048, num_classes)
        self.register_buffer("mean", torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1), persistent=False)

    def forward(self, batch):
        images = batch["images"] if isinstance(batch, dict) else batch
        features = self.net((images - self.mean) / self.std)
        if not self.training:
            return features
        return {"loss_cls": nn.functional.cross_entropy(self.classifier(features), batch["targets"])}


def build(name: str, num_classes: int = 751, channels_last: bool = False) -> nn.Module:
    if name == "resnet50_tv":
        torch.manual_seed(0)
        model = TorchvisionResNet50(num_classes)
        return model.to(memory_format=torch.channels_last) if channels_last else model
    cfg = get_cfg(plugins=True)
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.BACKBONE.NAME = name
    cfg.MODEL.BACKBONE.PRETRAIN = False
    cfg.MODEL.HEADS.NAME = HEADS.get(name, "EmbeddingHead")
    cfg.MODEL.HEADS.NUM_CLASSES = num_classes
    cfg.MODEL.LOSSES.NAME = ("CrossEntropyLoss", "TripletLoss")
    cfg.MODEL.CHANNELS_LAST = channels_last
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


def alternating_medians(fns: Dict[str, Callable[[], object]], repeats: int) -> Dict[str, float]:
    """Median seconds of each function, calling them in turn ``repeats`` times after one warm-up each,
    so that a change of machine load during the measurement affects all of them alike."""
    for fn in fns.values():
        fn()
    times: Dict[str, List[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(median_time(fn, 1, warmup=0))
    return {k: statistics.median(t) for k, t in times.items()}


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
    x_cl = x.contiguous(memory_format=torch.channels_last)
    unfused = inference_model(model, fuse_blocks=False)  # what export_onnx.py exports
    timed = {"eager_cl_fold_s": fast}
    if args.ablate_fusions:  # block fusion left out, timed alternately with the full model (same load)
        timed["fold_only_s"] = unfused
    row.update(alternating_medians({k: run(m, x_cl) for k, m in timed.items()}, args.repeats))
    if args.device == "cpu" and not args.no_onnx:  # exported in the default format, as export_onnx.py does
        row["onnx_s"] = onnx_latency(unfused.to(memory_format=torch.contiguous_format), x, args.threads,
                                     args.repeats)
        if args.ablate_fusions:
            row["onnx_fused_blocks_s"] = onnx_latency(fast.to(memory_format=torch.contiguous_format), x,
                                                      args.threads, args.repeats)
    if args.profile:
        row["profile"] = profile_layers(fast, x_cl)
    del unfused, timed
    batch = {"images": x, "targets": torch.arange(args.batch, device=args.device) // 4}

    def step(m):
        def f():
            m.zero_grad(set_to_none=True)
            sum(m(batch).values()).backward()
            sync()
        return f

    model.train()
    row["train_step_s"] = median_time(step(model), max(1, args.repeats // 2))
    del model, fast
    trained_cl = build(name, channels_last=True).to(args.device).train()
    row["train_step_cl_s"] = median_time(step(trained_cl), max(1, args.repeats // 2))
    return row


def conv_kind(weight_shape, in_channels: int) -> str:
    """``depthwise kxk``, ``1x1`` or ``dense kxk`` from a conv weight shape ``(O, C/g, kh, kw)``."""
    k = f"{weight_shape[2]}x{weight_shape[3]}"
    if weight_shape[1] == 1 and in_channels > 1:
        return f"depthwise {k} conv"
    return "1x1 conv" if k == "1x1" else f"dense {k} conv"


def profile_layers(model: nn.Module, x: torch.Tensor, repeats: int = 3) -> List[Dict[str, float]]:
    """Where the time of ``model(x)`` goes: per kind of convolution (``conv_kind``) and per other op,
    milliseconds per call of the model (profiler self time, mean over ``repeats``), share of the total,
    multiply-accumulates and the GMAC/s they run at. Sorted by time."""
    from torch.profiler import ProfilerActivity, profile

    macs: Dict[tuple, tuple] = {}

    def count(mod, inp, out):
        w = mod.weight
        key = (tuple(inp[0].shape), tuple(w.shape))
        macs[key] = (conv_kind(w.shape, inp[0].shape[1]), out.numel() * w.shape[1] * w.shape[2] * w.shape[3])

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.inference_mode():
        model(x)
        for h in hooks:
            h.remove()
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            for _ in range(repeats):
                model(x)
    rows: Dict[str, Dict[str, float]] = {}

    def add(kind: str, evs: list, calls: float, mac: int = 0) -> None:
        row = rows.setdefault(kind, {"kind": kind, "calls": 0.0, "ms": 0.0, "gmacs": 0.0})
        row["calls"] += calls
        row["ms"] += sum(e.self_cpu_time_total for e in evs) / 1e3 / repeats
        row["gmacs"] += mac * calls / 1e9

    convs: Dict[tuple, list] = {}  # a conv call is several nested aten ops with the same shapes
    for ev in prof.key_averages(group_by_input_shape=True):
        if ev.self_cpu_time_total <= 0:
            continue
        shapes = ev.input_shapes or []
        key = (tuple(shapes[0]), tuple(shapes[1])) if len(shapes) > 1 and shapes[0] and shapes[1] else None
        if "conv" in ev.key and key in macs:
            convs.setdefault(key, []).append(ev)
        else:
            add(ev.key, [ev], ev.count / repeats)
    for key, evs in convs.items():
        kind, mac = macs[key]
        add(kind, evs, max(evs, key=lambda e: e.self_cpu_time_total).count / repeats, mac)
    total = sum(r["ms"] for r in rows.values())
    for r in rows.values():
        r["share"] = r["ms"] / total
        r["gmac_per_s"] = r["gmacs"] / (r["ms"] / 1e3) if r["gmacs"] else 0.0
    return sorted(rows.values(), key=lambda r: -r["ms"])


def format_profile(name: str, rows: List[Dict[str, float]], top: int = 8) -> str:
    lines = [f"{name}: where inference_model's time goes (profiler self time per batch)",
             "| op | calls | ms | share | GMACs | GMAC/s |", "|---|---|---|---|---|---|"]
    for r in rows[:top]:
        rate = f"{r['gmac_per_s']:.0f}" if r["gmacs"] else "-"
        lines.append(f"| {r['kind']} | {r['calls']:.0f} | {r['ms']:.1f} | {100 * r['share']:.1f} % | "
                     f"{r['gmacs']:.2f} | {rate} |")
    rest = rows[top:]
    if rest:
        lines.append(f"| {len(rest)} other ops | {sum(r['calls'] for r in rest):.0f} | {sum(r['ms'] for r in rest):.1f} | "
                     f"{100 * sum(r['share'] for r in rest):.1f} % | - | - |")
    return "\n".join(lines)


REFERENCES = {"resnet50": "ratio", "resnet50_tv": "ratio_tv"}  # ratio key suffix per reference model
TIMINGS = (("eager_s", "eager s"), ("eager_cl_fold_s", "inference_model s"),
           ("fold_only_s", "BN folded only s"),
           ("onnx_s", "ONNX RT s"), ("onnx_fused_blocks_s", "ONNX RT, blocks fused s"),
           ("train_step_s", "train step s"), ("train_step_cl_s", "train step channels_last s"))
COLUMNS = (("params_without_classifier", "params (no cls)", "{:,.0f}"), ("macs_G", "GMACs", "{:.2f}"),
           *[c for key, title in TIMINGS for c in ((key, title, "{:.3f}"),
                                                  (key[:-2] + "_ratio_tv", "x R50-tv", "{:.2f}"),
                                                  (key[:-2] + "_ratio", "x R50-reid", "{:.2f}"))])


def add_ratios(results: Dict[str, Dict[str, float]]) -> None:
    """Each timing divided by the same timing of each reference present (``*_ratio``: the toolbox's
    ResNet-50, last stride 1; ``*_ratio_tv``: torchvision's, last stride 2)."""
    for ref_name, suffix in REFERENCES.items():
        ref = results.get(ref_name)
        if not ref:
            continue
        for row in results.values():
            for key in [k for k in row if k.endswith("_s") and k in ref]:
                row[f"{key[:-2]}_{suffix}"] = row[key] / ref[key]


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
    p.add_argument("--models", nargs="+", default=["msinet", "osnet", "resnet50", "resnet50_tv"])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, nargs=2, default=[256, 128])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime timing")
    p.add_argument("--ablate-fusions", action="store_true",
                   help="also time inference_model with BN folding only (no block fusion), alternating with "
                        "the full one, and ONNX Runtime on the model with fused blocks")
    p.add_argument("--profile", action="store_true",
                   help="also print where inference_model's time goes, per kind of layer, with the GMAC/s of each")
    p.add_argument("--json", default="", help="also write the results to this JSON file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    logger.info("command: benchmark_model.py %s", " ".join(argv or []))
    machine = machine_summary(args.device)
    logger.info("machine: %s", format_machine(machine))
    results = {}
    for name in args.models:
        logger.info("measuring %s", name)
        results[name] = bench(name, args)
    add_ratios(results)
    logger.info("batch %d, %dx%d, %d threads; latencies are medians in seconds; x R50-tv: ratio to "
                "torchvision's ResNet-50 (last stride 2), x R50-reid: to the toolbox's (last stride 1)\n%s",
                args.batch, args.size[0], args.size[1], args.threads, format_table(results))
    for name, row in results.items():
        if "profile" in row:
            logger.info("%s", format_profile(name, row["profile"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "machine": machine, "results": results}, f, indent=2)
    return results


if __name__ == "__main__":
    main()
