"""Image reading with errors that name the file.

Images are returned as RGB ``PIL.Image`` objects (EXIF orientation applied, grey and RGBA images
converted to 3 channels); the transforms turn them into float tensors on the 0..255 scale.
"""

from __future__ import annotations

import logging
import os
from typing import List, Sequence, Tuple

from PIL import Image, ImageOps

from fastreid.utils.errors import UserError

__all__ = ["CorruptImageError", "read_image", "drop_unreadable"]

logger = logging.getLogger(__name__)


class CorruptImageError(UserError, OSError):
    """An image file is missing, truncated or not an image."""


SKIP_CORRUPT_HINT = "fix or remove the file, or set DATASETS.SKIP_CORRUPT True to skip unreadable images"


def read_image(path: str, hint: str = SKIP_CORRUPT_HINT) -> Image.Image:
    """Read ``path`` as an RGB PIL image (H x W x 3, uint8); raise ``CorruptImageError`` naming it and
    ending with ``hint`` (what to do; readers that do not honour DATASETS.SKIP_CORRUPT pass their own)."""
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            return img.convert("RGB")
    except Exception as e:  # PIL raises many types (OSError, SyntaxError, ValueError, ...)
        raise CorruptImageError(f"cannot read image {path}: {type(e).__name__}: {e}; {hint}") from e


def check_image_file(path: str) -> None:
    """Cheap integrity check of one image file, without decoding its pixels: it exists, is not empty,
    PIL recognises it, a PNG's chunks are intact and a JPEG ends with its end-of-image marker (the
    usual signs of a truncated copy). Raises ``CorruptImageError`` naming the file."""
    try:
        size = os.path.getsize(path)
        if size == 0:
            raise OSError("the file is empty (0 bytes)")
        with Image.open(path) as img:
            fmt = img.format
            if fmt == "PNG":
                img.verify()
        if fmt == "JPEG":
            with open(path, "rb") as f:
                f.seek(max(0, size - 64))
                if b"\xff\xd9" not in f.read():
                    raise OSError("the JPEG data ends before its end-of-image marker (truncated)")
    except Exception as e:
        raise CorruptImageError(
            f"cannot read image {path}: {type(e).__name__}: {e}; {SKIP_CORRUPT_HINT}") from e


def drop_unreadable(items: Sequence[Tuple], what: str) -> List[Tuple]:
    """Return ``items`` without entries whose image (first field) cannot be decoded.

    Each skipped file is logged as a warning; used when ``DATASETS.SKIP_CORRUPT`` is set. Decodes every
    image once, so it costs one pass over the data.
    """
    kept = []
    for item in items:
        try:
            read_image(item[0])
        except CorruptImageError as e:
            logger.warning("%s: skipping unreadable image %s (DATASETS.SKIP_CORRUPT): %s",
                           what, item[0], e.__cause__)
            continue
        kept.append(item)
    if len(kept) < len(items):
        logger.warning("%s: skipped %d unreadable image(s) of %d", what, len(items) - len(kept), len(items))
    return kept
