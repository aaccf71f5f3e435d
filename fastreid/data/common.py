"""``CommDataset``: a list of ``(img_path, pid, camid)`` as a torch Dataset of dict samples."""

from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, Optional, Sequence, Tuple, Union

import torch
from torch.utils.data import Dataset

from .data_utils import read_image
from .datasets.bases import natural_key

__all__ = ["CommDataset"]


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Run the body with torch's CPU RNG and ``random`` seeded by ``seed``, restoring both after."""
    # seeding the CPU generator directly is ~50x cheaper than torch.manual_seed (which visits every device)
    torch_state, py_state = torch.get_rng_state(), random.getstate()
    torch.default_generator.manual_seed(seed)
    random.seed(seed)
    try:
        yield
    finally:
        torch.set_rng_state(torch_state)
        random.setstate(py_state)


class CommDataset(Dataset):
    """Images with labels, read lazily.

    ``dataset[i]`` (or ``dataset[(i, seed)]``, as the training batch sampler passes it, which makes
    the random augmentation of that sample a function of ``seed`` alone) returns
    ``{"images": transform(PIL RGB image), "targets": int, "camids": int, "img_paths": str}``.

    Args:
        img_items: ``(img_path, pid, camid)`` triples; pids/camids may be strings (training labels).
        transform: applied to the PIL image (``build_transforms`` gives a (3, H, W) float tensor, 0..255).
        relabel: map the sorted distinct pids and camids to 0..N-1 (training); otherwise labels are
            returned as given and must be integers (evaluation).
    """

    def __init__(self, img_items: Sequence[Tuple[str, Any, Any]], transform: Optional[Callable] = None,
                 relabel: bool = True):
        self.img_items = list(img_items)
        self.transform = transform
        self.relabel = relabel
        self.pids = sorted({it[1] for it in self.img_items}, key=natural_key)
        self.cams = sorted({it[2] for it in self.img_items}, key=natural_key)
        self.pid_dict: Dict[Any, int] = {p: i for i, p in enumerate(self.pids)}
        self.cam_dict: Dict[Any, int] = {c: i for i, c in enumerate(self.cams)}

    def __len__(self) -> int:
        return len(self.img_items)

    def __getitem__(self, index: Union[int, Tuple[int, int]]) -> Dict[str, Any]:
        seed = None
        if isinstance(index, tuple):
            index, seed = index
        path, pid, camid = self.img_items[index]
        img = read_image(path)
        if self.transform is not None:
            if seed is None:
                img = self.transform(img)
            else:
                with _seeded(seed):
                    img = self.transform(img)
        if self.relabel:
            pid, camid = self.pid_dict[pid], self.cam_dict[camid]
        return {"images": img, "targets": pid, "camids": camid, "img_paths": path}

    @property
    def num_classes(self) -> int:
        """Number of distinct identities."""
        return len(self.pids)

    @property
    def num_cameras(self) -> int:
        """Number of distinct cameras."""
        return len(self.cams)
