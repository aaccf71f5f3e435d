"""Pictures of retrieval results and activation maps.

Two families, shared by the tools (``tools/query.py``, ``tools/visualize_ranks.py``,
``tools/activation_maps.py``) and usable from a notebook:

- ranked lists: :func:`draw_rank_list` pastes the query and its top-k gallery images side by side, each
  framed by a coloured border (green = same identity, red = different identity, grey = unknown) with
  its distance written underneath; :func:`rank_list_html` writes the same content as one
  self-contained HTML page (thumbnails embedded as base64 PNG);
- activation maps as in the MSINet paper (Figures 1, 8, 9): :func:`activation_maps` turns a final
  feature map ``(B, C, h, w)`` into ``(B, H, W)`` maps in [0, 1] (channel mean of the squared
  activations, bilinearly upsampled, min-max scaled per image) and :func:`overlay_heatmap` blends a
  map onto its image with a matplotlib colour map.

Images are ``uint8`` arrays ``(H, W, 3)`` RGB or PIL images throughout.
"""

from __future__ import annotations

import base64
import html
import io
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "MATCH_COLOR",
    "MISMATCH_COLOR",
    "UNKNOWN_COLOR",
    "QUERY_COLOR",
    "to_pil",
    "draw_rank_list",
    "rank_list_html",
    "activation_maps",
    "overlay_heatmap",
]

# Border colours (RGB). Pure enough that a test (or a colour-blind-friendly check) can tell them apart.
MATCH_COLOR = (0, 200, 0)
MISMATCH_COLOR = (220, 0, 0)
UNKNOWN_COLOR = (150, 150, 150)
QUERY_COLOR = (0, 90, 255)

ImageLike = Union[np.ndarray, Image.Image, str]


def to_pil(image: ImageLike) -> Image.Image:
    """An RGB PIL image from a path, a PIL image or a ``uint8`` ``(H, W, 3)`` array."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image array has shape {image.shape}; expected (H, W, 3)")
        return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8), "RGB")
    with Image.open(image) as im:
        return im.convert("RGB")


def _framed(image: ImageLike, size_hw: Sequence[int], color, border: int) -> Image.Image:
    h, w = int(size_hw[0]), int(size_hw[1])
    tile = Image.new("RGB", (w + 2 * border, h + 2 * border), color)
    tile.paste(to_pil(image).resize((w, h), Image.BICUBIC), (border, border))
    return tile


def draw_rank_list(
    query: ImageLike,
    gallery: Sequence[ImageLike],
    distances: Sequence[float],
    matches: Optional[Sequence[Optional[bool]]] = None,
    size_hw: Sequence[int] = (128, 64),
    border: int = 4,
    gap: int = 6,
    title: str = "",
) -> Image.Image:
    """One horizontal strip: the query, then its ranked gallery images left to right.

    Args:
        query: the query image.
        gallery: the top-k gallery images, best first.
        distances: one distance per gallery image (written under it with 3 decimals).
        matches: per gallery image True (same identity, green border), False (red) or None (grey);
            ``None`` for the whole list means identities are unknown.
        size_hw: size every image is resized to, (height, width) in pixels.
        border: border width in pixels; gap: blank pixels between tiles.
        title: text written under the query (e.g. its AP or file name).

    Returns:
        A PIL RGB image of width ``(k + 1) * (w + 2 * border) + k * gap + gap`` (an extra gap separates
        the query) and height ``h + 2 * border + 16`` (the caption line).
    """
    if len(distances) != len(gallery):
        raise ValueError(f"draw_rank_list got {len(gallery)} gallery images but {len(distances)} distances")
    if matches is None:
        matches = [None] * len(gallery)
    if len(matches) != len(gallery):
        raise ValueError(f"draw_rank_list got {len(gallery)} gallery images but {len(matches)} match flags")
    h, w = int(size_hw[0]), int(size_hw[1])
    tile_w, tile_h, text_h = w + 2 * border, h + 2 * border, 16
    k = len(gallery)
    width = (k + 1) * tile_w + k * gap + (gap if k else 0)
    canvas = Image.new("RGB", (width, tile_h + text_h), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()

    canvas.paste(_framed(query, (h, w), QUERY_COLOR, border), (0, 0))
    if title:
        draw.text((2, tile_h + 2), title[: max(1, tile_w // 6)], fill=(0, 0, 0), font=font)
    x = tile_w + 2 * gap
    for img, dist, match in zip(gallery, distances, matches):
        color = UNKNOWN_COLOR if match is None else (MATCH_COLOR if match else MISMATCH_COLOR)
        canvas.paste(_framed(img, (h, w), color, border), (x, 0))
        draw.text((x + 2, tile_h + 2), f"{float(dist):.3f}", fill=(0, 0, 0), font=font)
        x += tile_w + gap
    return canvas


def _data_uri(image: ImageLike, size_hw: Sequence[int]) -> str:
    buf = io.BytesIO()
    to_pil(image).resize((int(size_hw[1]), int(size_hw[0])), Image.BICUBIC).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def rank_list_html(
    rows: Sequence[dict], size_hw: Sequence[int] = (128, 64), title: str = "Retrieval results"
) -> str:
    """A self-contained HTML page with one table row per query.

    Args:
        rows: dicts with ``"query"`` (image), ``"query_name"`` (str), ``"gallery"`` (images, best first),
            ``"gallery_names"`` (str), ``"distances"`` (floats) and optionally ``"matches"``
            (True / False / None per gallery image, coloured like :func:`draw_rank_list`).
        size_hw: thumbnail size (height, width) in pixels.

    Returns:
        The page as a string (thumbnails are embedded, so the file can be moved or mailed alone).
    """

    def css(c) -> str:
        return f"rgb({c[0]},{c[1]},{c[2]})"

    out: List[str] = [
        "<!DOCTYPE html>",
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif} td{text-align:center;vertical-align:top;font-size:11px}"
        " img{border-style:solid;border-width:4px}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><table>",
    ]
    for row in rows:
        matches = row.get("matches") or [None] * len(row["gallery"])
        cells = [
            f"<td><img src='{_data_uri(row['query'], size_hw)}' style='border-color:{css(QUERY_COLOR)}'>"
            f"<br>{html.escape(str(row['query_name']))}</td>"
        ]
        for rank, (img, name, dist, match) in enumerate(
            zip(row["gallery"], row["gallery_names"], row["distances"], matches), start=1
        ):
            color = UNKNOWN_COLOR if match is None else (MATCH_COLOR if match else MISMATCH_COLOR)
            cells.append(
                f"<td><img src='{_data_uri(img, size_hw)}' style='border-color:{css(color)}' "
                f"title='{html.escape(str(name))}'><br>#{rank} {float(dist):.3f}</td>"
            )
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table></body></html>")
    return "\n".join(out)


def activation_maps(feature_map: torch.Tensor, size_hw: Sequence[int]) -> np.ndarray:
    """Spatial activation maps of a backbone's final feature map.

    Args:
        feature_map: ``(B, C, h, w)`` activations.
        size_hw: output (height, width) in pixels, normally the network input size.

    Returns:
        ``float32`` array ``(B, H, W)``: the channel mean of the squared activations, bilinearly
        upsampled, then min-max scaled to [0, 1] per image (a constant map becomes all zeros).
    """
    if feature_map.dim() != 4:
        raise ValueError(f"feature map has shape {tuple(feature_map.shape)}; expected (B, C, h, w)")
    energy = feature_map.detach().float().pow(2).mean(dim=1, keepdim=True)
    energy = F.interpolate(energy, size=(int(size_hw[0]), int(size_hw[1])), mode="bilinear",
                           align_corners=False)[:, 0]
    flat = energy.flatten(1)
    lo = flat.min(dim=1).values[:, None, None]
    hi = flat.max(dim=1).values[:, None, None]
    scaled = (energy - lo) / (hi - lo).clamp_min(1e-12)
    return scaled.cpu().numpy().astype(np.float32)


def overlay_heatmap(image: ImageLike, amap: np.ndarray, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend an activation map onto an image.

    Args:
        image: RGB image; it is resized to the map's size.
        amap: ``(H, W)`` values in [0, 1].
        alpha: weight of the heat map (0 = image only, 1 = heat map only).
        cmap: matplotlib colour map name.

    Returns:
        ``uint8`` array ``(H, W, 3)``.
    """
    from matplotlib import colormaps

    if amap.ndim != 2:
        raise ValueError(f"activation map has shape {amap.shape}; expected (H, W)")
    h, w = amap.shape
    base = np.asarray(to_pil(image).resize((w, h), Image.BICUBIC), dtype=np.float32)
    heat = colormaps[cmap](np.clip(amap, 0.0, 1.0))[..., :3] * 255.0
    return np.clip((1.0 - alpha) * base + alpha * heat, 0, 255).astype(np.uint8)
