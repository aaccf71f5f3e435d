"""Market-1501 (Zheng et al., ICCV 2015) in its published layout.

``<root>/Market-1501-v15.09.15/`` (or ``<root>/market1501/``, or ``<root>`` itself) with
``bounding_box_train/`` (train), ``query/`` and ``bounding_box_test/`` (gallery). File names
``0002_c1s1_000451_03.jpg``: pid 2, camera 1 (camid 0). pid -1 (junk boxes) is dropped everywhere;
pid 0 (distractors) is kept in the gallery.
"""

from __future__ import annotations

from .bases import ImageDataset, find_dataset_dir, parse_by_regex
from .registry import DATASET_REGISTRY

__all__ = ["Market1501"]

_PATTERN = r"^([-\d]+)_c(\d)"


def parse_market_style(name: str, root: str, candidates, pid_max: int, cam_max: int):
    """Parse a Market-1501-style folder; returns (dataset dir, train, query, gallery) with integer labels.

    Labels: pid as written (junk -1 dropped), camid = camera - 1.
    """
    subdirs = ("bounding_box_train", "query", "bounding_box_test")
    layout = f"<root>/{{{','.join(c for c in candidates if c)}}}/{{{','.join(subdirs)}}}/NNNN_cC*.jpg"
    d = find_dataset_dir(name, root, candidates, subdirs, layout)
    out = []
    for sub in subdirs:
        items = parse_by_regex(name, d / sub, _PATTERN, (0, pid_max), (1, cam_max))
        out.append([(p, pid, cam - 1) for p, pid, cam in items if pid != -1])
    return (d, *out)


@DATASET_REGISTRY.register()
class Market1501(ImageDataset):
    """Market-1501: 1,501 identities, 6 cameras (751 train ids, 750 test ids plus distractors)."""

    dataset_name = "market1501"
    _junk_pids = (0, -1)
    _candidates = ("Market-1501-v15.09.15", "market1501", "")

    def __init__(self, root: str = "datasets", *, combineall: bool = False, verbose: bool = True):
        self.dataset_dir, train, query, gallery = parse_market_style(
            type(self).__name__, root, self._candidates, pid_max=1501, cam_max=6)
        super().__init__(self.prefixed(train), query, gallery, combineall=combineall, verbose=verbose)
