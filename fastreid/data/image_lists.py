"""Image inputs of the tools: image files, folders (searched recursively) and ``.txt`` list files."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import List, Sequence, Union

from fastreid.utils.errors import ToolError

__all__ = ["IMAGE_EXTENSIONS", "is_image_file", "list_images", "read_image_list", "collect_images"]

# the one list of image file extensions: data sets, folders and list files of the tools all use it
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

# a command-line word that looks like a config key (SOLVER.BASE_LR) rather than a path
_CONFIG_KEY = re.compile(r"^[A-Z][A-Z0-9_]*(\.[A-Z][A-Z0-9_]*)+$")


def is_image_file(name: Union[str, os.PathLike]) -> bool:
    """Whether ``name`` ends with one of IMAGE_EXTENSIONS (case-insensitive)."""
    return str(name).lower().endswith(IMAGE_EXTENSIONS)


def list_images(folder: Union[str, os.PathLike], recursive: bool = True) -> List[str]:
    """The image files in ``folder`` (and its sub-folders unless ``recursive`` is False), ordered by
    path component (so ``a/b.png`` comes before ``a-b/c.png`` on every platform)."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"image folder not found: {folder}")
    found = []
    for root, dirs, files in os.walk(folder):
        found.extend(os.path.join(root, name) for name in files if is_image_file(name))
        if not recursive:
            dirs.clear()
    return sorted(found, key=lambda p: Path(p).parts)


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
            if not is_image_file(item):
                raise ToolError(f"{what}: '{item}' is not an image file; expected one of {IMAGE_EXTENSIONS}")
            paths.append(item)
        elif _CONFIG_KEY.match(item):
            raise ToolError(f"{what}: '{item}' looks like a config key, not an image; {what} takes every "
                            "word after it, so put config overrides after --opts (or before the image paths)")
        else:
            raise ToolError(f"{what}: no such file or folder: {item}")
    if not paths:
        raise ToolError(f"{what}: no images found in {list(inputs)}")
    return paths


