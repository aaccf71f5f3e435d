"""Image inputs of the tools: image files, folders (searched recursively) and ``.txt`` list files."""

from __future__ import annotations

import os
from typing import List, Sequence

from fastreid.utils.errors import ToolError

__all__ = ["IMAGE_EXTENSIONS", "list_images", "read_image_list", "collect_images"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def list_images(folder: str) -> List[str]:
    """Every image file under ``folder`` (recursive), sorted, with IMAGE_EXTENSIONS (case-insensitive)."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"image folder not found: {folder}")
    found = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            if name.lower().endswith(IMAGE_EXTENSIONS):
                found.append(os.path.join(root, name))
    return sorted(found)


def read_image_list(list_file: str) -> List[str]:
    """Image paths from a text file, one per line; blank lines and ``#`` comments are skipped and
    relative paths are taken relative to the list file's folder."""
    base = os.path.dirname(os.path.abspath(list_file))
    paths = []
    with open(list_file) as f:
        for lineno, line in enumerate(f, start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            path = line if os.path.isabs(line) else os.path.join(base, line)
            if not os.path.isfile(path):
                raise ToolError(f"{list_file}:{lineno}: image file not found: {line}")
            paths.append(path)
    return paths


def collect_images(inputs: Sequence[str], what: str = "--input") -> List[str]:
    """Image paths from a mix of image files, folders (searched recursively) and ``.txt`` list files."""
    paths: List[str] = []
    for item in inputs:
        if os.path.isdir(item):
            paths.extend(list_images(item))
        elif os.path.isfile(item) and item.lower().endswith(".txt"):
            paths.extend(read_image_list(item))
        elif os.path.isfile(item):
            if not item.lower().endswith(IMAGE_EXTENSIONS):
                raise ToolError(f"{what}: '{item}' is not an image file; expected one of {IMAGE_EXTENSIONS}")
            paths.append(item)
        else:
            raise ToolError(f"{what}: no such file or folder: {item}")
    if not paths:
        raise ToolError(f"{what}: no images found in {list(inputs)}")
    return paths


