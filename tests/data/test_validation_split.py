"""write_validation_split: held-out training identities become a CustomReID query/gallery protocol."""

import pytest

from fastreid.data.validation_split import write_validation_split


def test_validation_split_holds_out_identities_with_cross_camera_queries(tmp_path):
    # training items carry dataset-prefixed labels, cameras included
    items = [(str(tmp_path / f"{p}_{c}_{k}.png"), f"pku_{p}", f"pku_{c}") for p in range(10) for c in (0, 1)
             for k in range(2)]
    items += [(str(tmp_path / "solo.png"), "pku_99", "pku_0")]  # one camera only
    path = tmp_path / "split" / "valid.csv"
    counts = write_validation_split(items, 0.3, str(path), seed=0)
    rows = [line.split(",") for line in path.read_text().splitlines()]
    held = {r[1] for r in rows if r[3] in ("query", "gallery")}
    assert len(held) == counts["valid_ids"] == 3 and counts["train_ids"] == 8
    assert not held & {r[1] for r in rows if r[3] == "train"}  # identities, not images, are held out
    for pid in held:
        q = {int(r[2]) for r in rows if r[1] == pid and r[3] == "query"}
        g = {int(r[2]) for r in rows if r[1] == pid and r[3] == "gallery"}
        assert q.isdisjoint(g) or not q  # every query has its matches in another camera
    assert write_validation_split(items, 0.3, str(path), seed=0) == counts  # seeded
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        write_validation_split(items, 1.0, str(path))
    assert [p.name for p in path.parent.iterdir()] == ["valid.csv"]  # written atomically: no temp file left


def test_the_written_list_loads_as_a_custom_reid_protocol(tmp_path):
    from fastreid.config import get_cfg
    from fastreid.data import build_dataset

    items = [(str(tmp_path / f"{p}_{c}.png"), p, c) for p in range(6) for c in (0, 1)]
    for path, _, _ in items:
        open(path, "wb").close()
    counts = write_validation_split(items, 0.5, str(tmp_path / "valid.csv"), seed=3)
    cfg = get_cfg()
    cfg.merge_from_list(["DATASETS.CUSTOM.DIR", str(tmp_path), "DATASETS.CUSTOM.LIST", "valid.csv"])
    data = build_dataset(cfg, "CustomReID")
    assert (len(data.train), len(data.query), len(data.gallery)) == (counts["train"], counts["query"], counts["gallery"])
    assert counts == {"train": 6, "query": 3, "gallery": 3, "train_ids": 3, "valid_ids": 3}
