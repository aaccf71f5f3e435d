#!/usr/bin/env python
"""Export a trained ReID model to ONNX and check it against PyTorch with ONNX Runtime.

The graph takes ``images``: float32 ``(batch, 3, H, W)`` raw RGB on the 0..255 scale (H, W =
INPUT.SIZE_TEST; the PIXEL_MEAN / PIXEL_STD normalisation is inside the graph, so callers must not
divide by 255 or subtract a mean) and returns ``features``: ``(batch, D)``, L2-normalised unless
``--raw-features``. The batch axis is dynamic.

After export the tool runs the ONNX model with ONNX Runtime on random images at batch sizes 1 and 3
(plus ``--images`` if given), prints the maximum absolute difference from PyTorch, and exits with an
error when it is above ``--tolerance``.

Example::

    python tools/export_onnx.py --config-file cfg.yml --weights model.pth --output msinet.onnx

The legacy TorchScript-based exporter (``dynamo=False``) is the default: on torch 2.14 it gives the
same results as the torch.export-based one (``--dynamo``, opset >= 18) and is much faster (OSNet at
64x32 on 2 CPU cores: 0.9 s vs 11.6 s; MSINet 2.4 s vs 33 s). Code that sizes a split from the batch
(``t.split(x.shape[0])``, ``chunk``) makes either exporter freeze the batch axis to the example's, so
the tool checks that the written graph's batch axis is symbolic and that batches of 1 and 3 run.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from fastreid.data.image_lists import collect_images
from fastreid.engine.cli import ToolError, add_model_arguments, cli_errors, load_cfg, setup_logging
from fastreid.utils.file_io import atomic_path

logger = logging.getLogger("fastreid.tools.export_onnx")

INPUT_NAME, OUTPUT_NAME = "images", "features"


class FeatureGraph(nn.Module):
    """What is exported: raw 0..255 RGB ``(B, 3, H, W)`` -> test features ``(B, D)``.

    The wrapped model normalises its input itself (meta-architecture contract); this module only adds
    the optional L2 normalisation of the output.
    """

    def __init__(self, model: nn.Module, normalize: bool = True):
        super().__init__()
        self.model = model
        self.normalize = normalize

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        feats = self.model(images)
        return F.normalize(feats, dim=1) if self.normalize else feats


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Export a ReID model to ONNX (dynamic batch, raw RGB 0..255 input) and verify it "
                    "against PyTorch with ONNX Runtime.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--output", required=True, metavar="FILE", help="ONNX file to write")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest accepted |ONNX - PyTorch| on any feature value")
    parser.add_argument("--raw-features", action="store_true", help="export features without L2 normalisation")
    parser.add_argument("--dynamo", action="store_true", help="use the torch.export-based exporter")
    parser.add_argument("--images", nargs="+", default=[], metavar="PATH",
                        help="real images (files, folders, .txt lists) to include in the check")
    parser.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime check")
    add_model_arguments(parser)
    return parser


def export(graph: nn.Module, path: str, size_hw: Sequence[int], opset: int = 17, dynamo: bool = False) -> int:
    """Write ``graph`` (eval mode, CPU) to ``path`` with a dynamic batch axis; returns the opset used."""
    dummy = torch.rand(2, 3, int(size_hw[0]), int(size_hw[1])) * 255.0
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if dynamo and opset < 18:
        logger.info("the dynamo exporter implements opset >= 18; exporting with opset 18 instead of %d", opset)
        opset = 18
    kwargs = dict(input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=opset, dynamo=dynamo)
    if dynamo:
        kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1, max=4096)},)
    else:
        kwargs["dynamic_axes"] = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(graph, (dummy,), path, **kwargs)
    return opset


def verify(graph: nn.Module, path: str, batches: Sequence[torch.Tensor], tolerance: float) -> float:
    """Run ``path`` with ONNX Runtime on each batch, compare with ``graph``; returns the max abs diff.

    Raises ToolError when a difference exceeds ``tolerance`` or the output shape differs.
    """
    import onnx
    import onnxruntime as ort

    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    if not batch_dim.dim_param:
        raise ToolError(f"{path}: the exporter fixed the batch axis to {batch_dim.dim_value}; expected a "
                        "dynamic axis (a model reads the batch size as a Python number somewhere)")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    worst = 0.0
    for x in batches:
        with torch.no_grad():
            expected = graph(x).numpy()
        try:
            got = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy().astype(np.float32)})[0]
        except Exception as e:  # onnxruntime raises its own exception types
            raise ToolError(f"{path}: ONNX Runtime failed on a batch of {x.shape[0]}: {e}") from e
        if got.shape != expected.shape:
            raise ToolError(f"{path}: ONNX output shape {got.shape} != PyTorch {expected.shape} "
                            f"for input {tuple(x.shape)}")
        diff = float(np.abs(got - expected).max())
        print(f"batch {x.shape[0]}: output {tuple(got.shape)}, max abs difference ONNX vs PyTorch = {diff:.3e}")
        worst = max(worst, diff)
    if not worst <= tolerance:  # also catches NaN
        raise ToolError(f"{path}: ONNX Runtime output differs from PyTorch by {worst:.3e}, "
                        f"above --tolerance {tolerance:.1e}")
    return worst


@cli_errors
def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging()
    if os.path.isdir(args.output):
        raise ToolError(f"--output: {args.output} is a folder; expected the path of the ONNX file to write "
                        f"(e.g. {os.path.join(args.output, 'model.onnx')})")
    from fastreid.engine.predictor import DefaultPredictor, read_image

    # Export on the CPU: a model on the GPU with CPU dummy input is a classic export failure.
    cfg = load_cfg(args.config_file, args.weights, args.opts, "cpu", args.random_weights)
    predictor = DefaultPredictor(cfg, fuse_blocks=False)  # ONNX Runtime is faster on the unfused blocks
    graph = FeatureGraph(predictor.model.eval(), normalize=not args.raw_features).eval()
    h, w = predictor.size_hw
    # every input is checked before anything is written, and --output is replaced only by a file that
    # passed the check (exported to a temp file beside it, renamed once verified)
    real = torch.stack([read_image(p, (h, w)) for p in collect_images(args.images, "--images")]) if args.images else None
    with atomic_path(args.output, suffix=".tmp.onnx") as tmp:
        start = time.perf_counter()
        opset = export(graph, tmp, (h, w), args.opset, args.dynamo)
        logger.info("exported (%s exporter, opset %d) in %.1f s; input '%s' (batch, 3, %d, %d) RGB 0..255",
                    "dynamo" if args.dynamo else "legacy", opset, time.perf_counter() - start, INPUT_NAME, h, w)
        if not args.no_verify:
            gen = torch.Generator().manual_seed(0)
            batches = [torch.rand(b, 3, h, w, generator=gen) * 255.0 for b in (1, 3)]
            if real is not None:
                batches.append(real)
            worst = verify(graph, tmp, batches, args.tolerance)
            print(f"max abs difference ONNX Runtime vs PyTorch: {worst:.3e} (tolerance {args.tolerance:.1e}) OK")
    logger.info("wrote %s", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
