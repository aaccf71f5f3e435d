#!/usr/bin/env python
"""Activation maps of one or more ReID models, as in the MSINet paper (Figures 1, 8, 9).

For every model and image the backbone's final feature map ``(C, h, w)`` is reduced to the channel
mean of its squared activations, upsampled to the image, scaled to [0, 1] and overlaid as a heat map.
The figure has one row of input images, then one row per model, so MSINet can be shown next to
ResNet-50 or OSNet on the same images::

    python tools/activation_maps.py --images q1.png q2.png q3.png \\
        --model ResNet50 r50.yml r50.pth --model MSINet msinet.yml msinet.pth --output actmaps.png

``--model LABEL CONFIG WEIGHTS`` may be repeated; WEIGHTS ``-`` means untrained (needs
``--random-weights``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional, Sequence

import numpy as np
import torch

from fastreid.data.image_lists import collect_images
from fastreid.engine.cli import ToolError, cli_errors, load_cfg, setup_logging

logger = logging.getLogger("fastreid.tools.activation_maps")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Overlay activation maps (channel mean of the squared final feature map) of one or "
                    "more models on the same images, one row per model.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", nargs=3, action="append", required=True,
                        metavar=("LABEL", "CONFIG", "WEIGHTS"), help="a model to show (repeatable)")
    parser.add_argument("--images", nargs="+", required=True, metavar="PATH",
                        help="image files, folders or .txt lists")
    parser.add_argument("--num-images", type=int, default=8, help="at most this many images (columns)")
    parser.add_argument("--output", default="activation_maps.png", metavar="FILE", help="figure to write")
    parser.add_argument("--alpha", type=float, default=0.5, help="heat-map opacity in [0, 1]")
    parser.add_argument("--cell-size", type=int, nargs=2, default=(256, 128), metavar=("H", "W"),
                        help="pixel size of each image in the figure")
    parser.add_argument("--random-weights", action="store_true", help="allow WEIGHTS '-' (untrained)")
    parser.add_argument("--device", default="cpu", help="torch device")
    return parser


def final_feature_maps(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The backbone's ``"final"`` map ``(B, C, h, w)`` for raw 0..255 images, captured with a forward
    hook during an ordinary eval forward (so the model's own normalisation is applied)."""
    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, torch.nn.Module):
        raise ToolError(f"{type(model).__name__} has no 'backbone' module to read feature maps from")
    captured = {}

    def hook(_module, _inputs, output):
        if not isinstance(output, dict) or "final" not in output:
            raise ToolError(f"{type(backbone).__name__} output has no 'final' feature map")
        captured["final"] = output["final"].detach()

    handle = backbone.register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(images)
    finally:
        handle.remove()
    return captured["final"]


def draw_figure(images: Sequence[np.ndarray], rows: Sequence[tuple], path: str, cell_hw: Sequence[int],
                names: Sequence[str] = ()) -> tuple:
    """Save the grid: inputs on top, then ``rows`` of ``(label, overlays)``; returns (width, height) px."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dpi = 100
    n_rows, n_cols = len(rows) + 1, len(images)
    label_w, title_h = 1.2, 0.3  # inches for row labels / column titles
    cell_h, cell_w = cell_hw[0] / dpi, cell_hw[1] / dpi
    fig_w, fig_h = label_w + n_cols * cell_w, title_h + n_rows * cell_h
    fig = plt.figure(figsize=(fig_w, fig_h), dpi=dpi)
    for r, (label, cells) in enumerate([("input", images), *rows]):
        for c, cell in enumerate(cells):
            ax = fig.add_axes([(label_w + c * cell_w) / fig_w, 1 - (title_h + (r + 1) * cell_h) / fig_h,
                               cell_w / fig_w, cell_h / fig_h])
            ax.imshow(cell, interpolation="bilinear")
            ax.set_axis_off()
            if r == 0 and c < len(names):
                ax.set_title(names[c][:18], fontsize=6)
        fig.text(0.02, 1 - (title_h + (r + 0.5) * cell_h) / fig_h, label, fontsize=9, va="center")
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return int(round(fig_w * dpi)), int(round(fig_h * dpi))


@cli_errors
def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging()
    if not 0.0 <= args.alpha <= 1.0:
        raise ToolError(f"--alpha: {args.alpha}; expected a value in [0, 1]")
    from fastreid.engine.predictor import DefaultPredictor, read_image
    from fastreid.utils.visualizer import activation_maps, overlay_heatmap, to_pil

    paths = collect_images(args.images, "--images")[: args.num_images]
    cell_hw = tuple(args.cell_size)
    originals = [np.asarray(to_pil(p).resize((cell_hw[1], cell_hw[0]))) for p in paths]
    rows = []
    for label, config, weights in args.model:
        weights = "" if weights == "-" else weights
        cfg = load_cfg(config, weights, (), args.device, args.random_weights)
        model = DefaultPredictor(cfg).model
        batch = torch.stack([read_image(p, tuple(cfg.INPUT.SIZE_TEST)) for p in paths])
        fmap = final_feature_maps(model, batch.to(next(model.parameters()).device))
        maps = activation_maps(fmap, cell_hw)
        rows.append((label, [overlay_heatmap(img, m, args.alpha) for img, m in zip(originals, maps)]))
        logger.info("%s: final map %s -> %d activation maps", label, tuple(fmap.shape[1:]), len(maps))
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    size = draw_figure(originals, rows, args.output, cell_hw, [os.path.basename(p) for p in paths])
    logger.info("wrote %s (%d x %d px, %d models x %d images)", args.output, size[0], size[1],
                len(rows), len(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
