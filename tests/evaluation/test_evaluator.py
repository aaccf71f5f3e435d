import logging

import numpy as np
import pytest
import torch
from torch import nn

from fastreid.config import get_cfg
from fastreid.evaluation import (
    DatasetEvaluator,
    DatasetEvaluators,
    ReidEvaluator,
    average_results,
    evaluate_rank,
    inference_on_dataset,
    print_csv_format,
)

torch.set_num_threads(1)


class RowModel(nn.Module):
    """Feature = first row of the first channel (B, W); records the mode it ran in."""

    def __init__(self):
        super().__init__()
        self.modes = []

    def forward(self, batch):
        self.modes.append(self.training)
        return batch["images"][:, 0, 0, :].clone()


class Collect(DatasetEvaluator):
    def reset(self):
        self.outputs = []

    def process(self, inputs, outputs):
        self.outputs.append(outputs)

    def evaluate(self):
        return {"n": float(sum(len(o) for o in self.outputs))}


def _loader():
    images = torch.arange(2 * 3 * 2 * 4, dtype=torch.float32).reshape(2, 3, 2, 4)
    return [{"images": images, "targets": torch.tensor([0, 1]), "camids": torch.tensor([0, 1])}]


def test_inference_runs_in_eval_mode_and_restores_training():
    model = RowModel().train()
    evaluator = Collect()
    assert inference_on_dataset(model, _loader(), evaluator) == {"n": 2.0}
    assert model.modes == [False] and model.training
    torch.testing.assert_close(evaluator.outputs[0], _loader()[0]["images"][:, 0, 0, :])


def test_flip_test_averages_image_and_mirror():
    evaluator = Collect()
    inference_on_dataset(RowModel(), _loader(), evaluator, flip_test=True)
    row = _loader()[0]["images"][:, 0, 0, :]
    torch.testing.assert_close(evaluator.outputs[0], (row + row.flip(1)) / 2)


def test_dataset_evaluators_merge_and_reject_duplicate_keys():
    with pytest.raises(KeyError, match="'n'"):
        inference_on_dataset(RowModel(), _loader(), DatasetEvaluators([Collect(), Collect()]))


def _features(seed=0, num_ids=6, per_id=5):
    rng = np.random.default_rng(seed)
    pids = np.repeat(np.arange(num_ids), per_id)
    camids = np.tile(np.arange(per_id), num_ids)
    feats = rng.standard_normal((num_ids, 16))[pids] + 0.8 * rng.standard_normal((len(pids), 16))
    query = camids == 0
    order = np.concatenate([np.flatnonzero(query), np.flatnonzero(~query)])
    return feats[order].astype(np.float32), pids[order], camids[order], int(query.sum())


def _run(cfg, feats, pids, camids, num_query, batch=7):
    evaluator = ReidEvaluator(cfg, num_query)
    for s in range(0, len(feats), batch):
        evaluator.process({"targets": torch.tensor(pids[s:s + batch]), "camids": torch.tensor(camids[s:s + batch])},
                          torch.tensor(feats[s:s + batch]))
    return evaluator, evaluator.evaluate()


@pytest.mark.slow
def test_reid_evaluator_end_to_end_matches_direct_metrics():
    feats, pids, camids, nq = _features()
    evaluator, results = _run(get_cfg(plugins=True), feats, pids, camids, nq)
    normed = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    cmc, ap, inp = evaluate_rank(1 - normed[:nq] @ normed[nq:].T, pids[:nq], pids[nq:], camids[:nq], camids[nq:])
    assert results["Rank-1"] == pytest.approx(cmc[0] * 100, abs=1e-4)
    assert results["Rank-5"] == pytest.approx(cmc[4] * 100, abs=1e-4)
    assert results["mAP"] == pytest.approx(ap.mean() * 100, abs=1e-4)
    assert results["mINP"] == pytest.approx(inp.mean() * 100, abs=1e-4)
    assert results["metric"] == pytest.approx((results["mAP"] + results["Rank-1"]) / 2)
    stored = evaluator.collected()
    np.testing.assert_array_equal(stored["gallery_pids"], pids[nq:])
    assert stored["query_features"].shape == (nq, 16)


@pytest.mark.slow
def test_reid_evaluator_with_aqe_rerank_and_roc_reports_every_key():
    cfg = get_cfg(plugins=True)
    cfg.TEST.AQE.ENABLED = True
    cfg.TEST.RERANK.ENABLED = True
    cfg.TEST.RERANK.K1, cfg.TEST.RERANK.K2 = 6, 2
    cfg.TEST.ROC.ENABLED = True
    cfg.TEST.METRIC = "euclidean"
    feats, pids, camids, nq = _features(1)
    _, results = _run(cfg, feats, pids, camids, nq)
    for key in ("Rank-1", "Rank-10", "mAP", "mINP", "TPR@FPR=1e-04", "TPR@FPR=1e-02"):
        assert 0.0 <= results[key] <= 100.0
    assert results["Rank-10"] >= results["Rank-1"]


def test_reid_evaluator_errors_name_the_problem():
    feats, pids, camids, _ = _features()
    with pytest.raises(ValueError, match="num_query=0"):
        _run(get_cfg(plugins=True), feats, pids, camids, 0)
    with pytest.raises(ValueError, match="none of the 6 queries"):
        _run(get_cfg(plugins=True), feats, pids + np.r_[np.zeros(6, int), np.full(24, 100)], camids, 6)


def test_print_csv_format_and_average_results(caplog):
    results = {"Market1501": {"Rank-1": 90.0, "Rank-5": 95.0, "Rank-10": 97.0, "mAP": 80.0, "mINP": 50.0,
                              "metric": 85.0}}
    with caplog.at_level(logging.INFO):
        text = print_csv_format(results)
    assert "| Dataset | Rank-1 | Rank-5 | Rank-10 | mAP | mINP | metric |" in text
    assert "| Market1501 | 90.00 | 95.00 | 97.00 | 80.00 | 50.00 | 85.00 |" in text
    assert "Market1501" in caplog.text
    avg = average_results([{"mAP": 80.0, "Rank-1": 90.0}, {"mAP": 70.0, "Rank-1": 80.0}])
    assert avg == {"mAP": 75.0, "Rank-1": 85.0}
