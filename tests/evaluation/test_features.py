"""extract_features / iter_batch_features: the one inference loop (order, flip test, eval mode and its
restoration, no gradients, progress and log lines, labels and paths, the gather across processes)."""

import contextlib
import logging

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from fastreid.engine import launch
from fastreid.evaluation import ExtractedFeatures, extract_features, iter_batch_features
from fastreid.evaluation.features import count_images

torch.set_num_threads(1)


class RowModel(nn.Module):
    """Feature = first row of the first channel (B, W); records its mode and the grad mode it ran in."""

    def __init__(self, fail_at=None, dtype=torch.float32):
        super().__init__()
        self.calls = []
        self.fail_at = fail_at
        self.dtype = dtype

    def forward(self, batch):
        self.calls.append((self.training, torch.is_grad_enabled()))
        if self.fail_at is not None and len(self.calls) > self.fail_at:
            raise RuntimeError("model failed")
        return batch["images"][:, 0, 0, :].to(self.dtype).clone()


def _batch(first, n, width=4):
    """n items numbered from ``first``: row 0 of channel 0 is ``index * 10 + (0 .. width-1)``."""
    index = torch.arange(first, first + n)
    images = torch.zeros(n, 3, 2, width)
    images[:, 0, 0, :] = index[:, None] * 10.0 + torch.arange(width, dtype=torch.float32)
    return {"images": images, "targets": index, "camids": index % 2,
            "img_paths": [f"img{i}.jpg" for i in index.tolist()]}


def _rows(batches):
    return torch.cat([b["images"][:, 0, 0, :] for b in batches])


class Items(torch.utils.data.Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return i


def _loader(batch_size=2):
    return DataLoader(Items(), batch_size=batch_size, collate_fn=lambda idx: _batch(idx[0], len(idx)))


def test_features_labels_and_paths_come_in_batch_order_as_float32_on_the_cpu():
    batches = [_batch(0, 2), _batch(2, 3), _batch(5, 1)]
    out = extract_features(RowModel(dtype=torch.float64), batches)
    assert isinstance(out, ExtractedFeatures)
    assert out.features.dtype == torch.float32 and out.features.device.type == "cpu"
    torch.testing.assert_close(out.features, _rows(batches))
    assert out.targets.tolist() == list(range(6)) and out.targets.dtype == torch.long
    assert out.camids.tolist() == [0, 1, 0, 1, 0, 1]
    assert out.paths == [f"img{i}.jpg" for i in range(6)]


def test_features_are_not_normalised():
    out = extract_features(RowModel(), [_batch(3, 2)])
    assert not torch.allclose(out.features.norm(dim=1), torch.ones(2))


def test_flip_averages_each_image_with_its_mirror():
    batches = [_batch(0, 2), _batch(2, 1)]
    model = RowModel()
    out = extract_features(model, batches, flip=True)
    rows = _rows(batches)
    torch.testing.assert_close(out.features, (rows + rows.flip(1)) / 2)
    assert len(model.calls) == 4  # two forward passes per batch


def test_the_model_runs_in_eval_mode_without_gradients_and_gets_its_mode_back():
    model = RowModel().train()
    extract_features(model, [_batch(0, 2), _batch(2, 2)])
    assert model.calls == [(False, False), (False, False)]
    assert model.training and torch.is_grad_enabled()
    extract_features(model.eval(), [_batch(0, 1)])
    assert not model.training


def test_the_mode_is_restored_when_the_model_fails():
    model = RowModel(fail_at=1).train()
    with pytest.raises(RuntimeError, match="model failed"):
        extract_features(model, [_batch(0, 2), _batch(2, 2)])
    assert model.training


def test_the_mode_is_restored_when_a_batch_is_malformed():
    model = RowModel().train()
    bad = _batch(2, 2)
    del bad["camids"]
    with pytest.raises(ValueError, match=r"batch 1 carries keys .*; expected the keys of the first batch"):
        extract_features(model, [_batch(0, 2), bad])
    assert model.training


def test_iter_batch_features_restores_the_mode_when_the_consumer_stops_and_leaks_no_grad_mode():
    model = RowModel().train()
    with contextlib.closing(iter_batch_features(model, [_batch(0, 2), _batch(2, 2)])) as stream:
        batch, outputs = next(stream)
        assert not model.training and torch.is_grad_enabled()  # gradients off only around the forward
        torch.testing.assert_close(outputs, _rows([batch]))
    assert model.training and len(model.calls) == 1


def test_progress_is_called_after_every_batch_with_the_loader_total():
    calls = []
    out = extract_features(RowModel(), _loader(), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 5), (4, 5), (5, 5)]
    assert out.targets.tolist() == [0, 1, 2, 3, 4]


def test_progress_total_is_none_for_a_plain_list():
    calls = []
    extract_features(RowModel(), [_batch(0, 3)], progress=lambda done, total: calls.append((done, total)))
    assert calls == [(3, None)]


def test_count_images_prefers_the_sampler_shard_then_the_dataset():
    shard = DataLoader(Items(), batch_sampler=torch.utils.data.BatchSampler(range(1, 4), 2, drop_last=False))
    assert count_images(shard) == 3
    assert count_images(_loader()) == 5
    assert count_images([_batch(0, 1)]) is None
    assert count_images(iter([_batch(0, 1)])) is None


def test_log_lines_give_images_done_total_and_rate(caplog):
    with caplog.at_level(logging.INFO, logger="fastreid.evaluation.features"):
        extract_features(RowModel(), _loader(), log_every_s=0)
    assert "features: 2/5 images" in caplog.text and "images/s, ETA" in caplog.text
    assert "features of 5 images took" in caplog.text


def test_no_progress_line_before_the_period(caplog):
    with caplog.at_level(logging.INFO, logger="fastreid.evaluation.features"):
        extract_features(RowModel(), _loader(), log_every_s=3600)
    assert "features: " not in caplog.text and "features of 5 images took" in caplog.text


def test_missing_label_keys_give_none_fields():
    out = extract_features(RowModel(), [{"images": _batch(0, 2)["images"]}])
    assert out.features.shape == (2, 4) and out.targets is None and out.camids is None and out.paths is None


def test_string_labels_come_as_lists_and_numbers_as_int64_tensors():
    batches = [_batch(0, 2), _batch(2, 1)]
    for b in batches:
        b["camids"] = [f"market1501_{c}" for c in b["camids"].tolist()]
        b["targets"] = b["targets"].tolist()  # plain ints
    out = extract_features(RowModel(), batches)
    assert out.camids == ["market1501_0", "market1501_1", "market1501_0"]
    assert out.targets.dtype == torch.long and out.targets.tolist() == [0, 1, 2]


def test_no_batches_give_an_empty_set_of_the_model_feature_size():
    model = RowModel()
    model.feat_dim = 7
    out = extract_features(model, [])
    assert out.features.shape == (0, 7) and out.targets is None and out.paths is None
    assert extract_features(model, [], gather=True).features.shape == (0, 7)


def test_gather_with_one_process_changes_nothing():
    batches = [_batch(0, 2), _batch(2, 1)]
    alone, gathered = extract_features(RowModel(), batches), extract_features(RowModel(), batches, gather=True)
    assert torch.equal(alone.features, gathered.features) and torch.equal(alone.targets, gathered.targets)
    assert alone.paths == gathered.paths


@pytest.mark.parametrize("batch, message", [
    ({"images": torch.zeros(2, 3, 2, 4), "targets": torch.tensor([1, 2, 3])}, "'targets': 3 values; expected 2"),
    ({"images": torch.zeros(2, 3, 2, 4), "img_paths": ["a"]}, "'img_paths': 1 values; expected 2"),
])
def test_label_columns_must_match_the_batch(batch, message):
    with pytest.raises(ValueError, match=message):
        extract_features(RowModel(), [batch])


def test_a_model_output_that_is_not_b_by_d_is_refused():
    class MapModel(nn.Module):
        def forward(self, batch):
            return batch["images"]

    with pytest.raises(ValueError, match=r"model output: shape \(1, 3, 2, 4\); expected \(B, D\)"):
        extract_features(MapModel(), [_batch(0, 1)])
    with pytest.raises(ValueError, match="log_every_s: -1; expected seconds >= 0"):
        extract_features(RowModel(), [_batch(0, 1)], log_every_s=-1)


def _gather_worker(out_dir):
    from fastreid.utils import comm

    rank = comm.get_rank()
    shards = {0: [_batch(0, 2), _batch(2, 1)], 1: []}  # rank 1 has an empty shard
    for b in shards[rank]:
        b["camids"] = [f"cam{c}" for c in b["camids"].tolist()]  # training sets' string labels
    uneven = extract_features(RowModel(), shards[rank], gather=True)
    both = extract_features(RowModel(), [_batch(10 * (rank + 1), 2 + rank)], gather=True, flip=True)
    torch.save({"uneven": tuple(uneven), "both": tuple(both)}, f"{out_dir}/rank{rank}.pt")


@pytest.mark.slow
def test_gather_concatenates_every_shard_in_rank_order_even_an_empty_one(tmp_path):
    launch(_gather_worker, 2, args=(str(tmp_path),), backend="gloo")
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    expected = [_batch(0, 2), _batch(2, 1)]
    for res in results:
        feats, targets, camids, paths = res["uneven"]
        torch.testing.assert_close(feats, _rows(expected))
        assert targets.tolist() == [0, 1, 2] and camids == ["cam0", "cam1", "cam0"]
        assert paths == ["img0.jpg", "img1.jpg", "img2.jpg"]
        feats, targets, camids, paths = res["both"]
        rows = _rows([_batch(10, 2), _batch(20, 3)])
        torch.testing.assert_close(feats, (rows + rows.flip(1)) / 2)
        assert targets.tolist() == [10, 11, 20, 21, 22] and camids.tolist() == [0, 1, 0, 1, 0]
        assert paths == [f"img{i}.jpg" for i in (10, 11, 20, 21, 22)]
