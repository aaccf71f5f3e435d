"""MSINet's identity split for the search: the paper's rounding and the authors' (P // 5 boundaries,
floor halves), overlapping identities' images divided between the parts, 100 % - 100 % included."""

import pytest

from msinet.search_split import split_class_counts, split_search_identities


def _items(num_ids=10, per_id=4):
    return [(f"{p}_{k}.jpg", f"ds_{p}", k % 2) for p in range(num_ids) for k in range(per_id)]


def _ids(part):
    return sorted({p for _, p, _ in part})


def test_60_80_overlap_halves_images():
    train, valid = split_search_identities(_items(), 0.6, 0.8)
    # train: identities 0..5 (6), valid: 2..9 (8); overlap 2..5 split 2 + 2 images
    assert len(_ids(train)) == 6 and len(_ids(valid)) == 8
    assert len(train) == 2 * 4 + 4 * 2 and len(valid) == 4 * 2 + 4 * 4
    train_paths, valid_paths = {x[0] for x in train}, {x[0] for x in valid}
    assert not (train_paths & valid_paths)
    assert {"2_0.jpg", "2_1.jpg"} <= train_paths and {"2_2.jpg", "2_3.jpg"} <= valid_paths
    assert _ids(train) == list(range(6)) and _ids(valid) == list(range(8))
    assert [x for x in valid if x[0] == "9_0.jpg"][0][1] == 7  # valid relabelled from 0 (id 2 -> 0)


def test_without_overlap():
    train, valid = split_search_identities(_items(), 0.5, 0.5)
    assert {x[0][0] for x in train} == set("01234") and {x[0][0] for x in valid} == set("56789")
    assert len(train) == len(valid) == 20


def test_100_100_divides_every_identity_between_the_parts():
    train, valid = split_search_identities(_items(5, 3), 1.0, 1.0)
    assert _ids(train) == _ids(valid) == list(range(5))  # the same identities on both sides ...
    assert not {x[0] for x in train} & {x[0] for x in valid}  # ... with disjoint images
    assert len(train) == 5 * 2 and len(valid) == 5 * 1  # ceil(3 / 2) images to train


def test_the_authors_rounding_uses_fifths_of_the_identities_and_floor_halves():
    items = _items(12, 3)  # P = 12: P // 5 = 2, train [0, 6), valid [2, 12) (the paper: [0, 8), [3, 12))
    train, valid = split_search_identities(items, 0.6, 0.8, rounding="authors")
    train_src = sorted({int(x[0].split("_")[0]) for x in train})
    valid_src = sorted({int(x[0].split("_")[0]) for x in valid})
    assert train_src == list(range(6)) and valid_src == list(range(2, 12))
    assert {x[0] for x in train if x[0].startswith("2_")} == {"2_0.jpg"}  # floor(3 / 2) = 1 image to train
    assert len(train) == 2 * 3 + 4 * 1 and len(valid) == 4 * 2 + 6 * 3
    paper_train, paper_valid = split_search_identities(items, 0.6, 0.8)
    assert len(_ids(paper_train)) == 8 and len(_ids(paper_valid)) == 9


def test_the_authors_rounding_sends_a_single_overlapping_image_to_valid_only():
    items = _items(10, 4) + [("solo.jpg", "ds_5", 0)]
    items = [it for it in items if not (it[1] == "ds_3" and it[0] != "3_0.jpg")]  # identity 3: one image
    train, valid = split_search_identities(items, 0.6, 0.8, rounding="authors")
    assert "3_0.jpg" in {x[0] for x in valid} and "3_0.jpg" not in {x[0] for x in train}
    paper_train, paper_valid = split_search_identities(items, 0.6, 0.8)
    assert "3_0.jpg" in {x[0] for x in paper_train} and "3_0.jpg" in {x[0] for x in paper_valid}


@pytest.mark.parametrize("args, match", [((0.0, 0.8), "train_ratio 0"), ((0.6, 1.5), "valid_ratio 1.5"),
                                         ((0.6, 0.8, "nearest"), "rounding 'nearest'")])
def test_bad_arguments_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        split_search_identities(_items(), *args)


def test_the_authors_rounding_keeps_the_empty_train_slot_of_a_single_image_identity():
    items = [it for it in _items(10, 4) if not (it[1] == "ds_3" and it[0] != "3_0.jpg")]  # identity 3: one image
    train, valid = split_search_identities(items, 0.6, 0.8, rounding="authors")
    # P // 5 = 2: train identities 0..5 keep labels 0..5, identity 3 has no train image: label 3 stays empty
    assert _ids(train) == [0, 1, 2, 4, 5] and {x[1] for x in train if x[0].startswith("4_")} == {4}
    assert split_class_counts(10, 0.6, 0.8, "authors") == (6, 8)  # 3 x (P // 5) train slots, P - P // 5 valid
    assert {x[1] for x in valid if x[0] == "3_0.jpg"} == {1}  # valid labels: identity - P // 5
    paper_train, _ = split_search_identities(items, 0.6, 0.8)
    assert _ids(paper_train) == list(range(6)) and split_class_counts(10, 0.6, 0.8) == (6, 8)
