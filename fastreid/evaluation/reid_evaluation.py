"""ReID evaluator: features of query + gallery -> distances -> (AQE, re-ranking) -> CMC, mAP, mINP, ROC."""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Dict, Optional

import numpy as np
import torch

from fastreid.utils import comm
from fastreid.utils.errors import ConfigValueError

from .distance import METRICS, DistanceBlocks, l2_normalize
from .evaluator import DatasetEvaluator
from .query_expansion import aqe
from .rank import GalleryIndex, evaluate_blocks
from .rerank import ReRanker
from .roc import DEFAULT_FPRS, roc_from_blocks

__all__ = ["ReidEvaluator"]

logger = logging.getLogger(__name__)


class ReidEvaluator(DatasetEvaluator):
    """Collects (B, D) features with "targets" (pids) and "camids"; the first ``num_query`` are queries.

    Configuration: TEST.METRIC, TEST.AQE.*, TEST.RERANK.*, TEST.ROC.ENABLED. After ``evaluate()`` the
    gathered data stays available through :meth:`collected` (features as evaluated, before AQE).
    """

    def __init__(self, cfg, num_query: int, output_dir: Optional[str] = None):
        self.cfg = cfg
        self.num_query = int(num_query)
        self.output_dir = output_dir
        if cfg.TEST.METRIC not in METRICS:
            raise ConfigValueError(f"TEST.METRIC: {cfg.TEST.METRIC!r} is not supported; expected one of {', '.join(METRICS)}")
        self.reset()

    def reset(self) -> None:
        self._features, self._pids, self._camids = [], [], []
        self._collected: Optional[Dict[str, np.ndarray]] = None

    def process(self, inputs, outputs) -> None:
        self._features.append(outputs.detach().to("cpu", torch.float32))
        self._pids.append(torch.as_tensor(inputs["targets"]).reshape(-1).cpu())
        self._camids.append(torch.as_tensor(inputs["camids"]).reshape(-1).cpu())

    def _gather(self):
        feats, pids, camids = self._features, self._pids, self._camids
        if comm.get_world_size() > 1:
            comm.synchronize()
            gathered = comm.all_gather((feats, pids, camids))
            if not comm.is_main_process():
                return None
            feats = [f for part in gathered for f in part[0]]
            pids = [p for part in gathered for p in part[1]]
            camids = [c for part in gathered for c in part[2]]
        if not feats:
            raise ValueError("ReidEvaluator: no batches were processed; expected query and gallery features")
        return (torch.cat(feats).numpy(), torch.cat(pids).numpy().astype(np.int64),
                torch.cat(camids).numpy().astype(np.int64))

    def collected(self) -> Optional[Dict[str, np.ndarray]]:
        """{"query_features", "gallery_features", "query_pids", ...} of the last evaluation (None before)."""
        return self._collected

    def evaluate(self) -> Dict[str, float]:
        data = self._gather()
        if data is None:
            return {}
        feats, pids, camids = data
        nq = self.num_query
        if not 0 < nq < len(feats):
            raise ValueError(f"ReidEvaluator: num_query={nq} with {len(feats)} images; expected 0 < num_query < "
                             "number of images (queries come first)")
        q, g = feats[:nq], feats[nq:]
        self._collected = {"query_features": q, "gallery_features": g, "query_pids": pids[:nq],
                           "gallery_pids": pids[nq:], "query_camids": camids[:nq], "gallery_camids": camids[nq:]}
        return self.compute_metrics(q, g, pids[:nq], pids[nq:], camids[:nq], camids[nq:])

    def compute_metrics(self, q, g, q_pids, g_pids, q_camids, g_camids) -> "OrderedDict[str, float]":
        """Metrics (percent) from query/gallery features, following the configuration."""
        test = self.cfg.TEST
        metric = test.METRIC
        q, g = np.asarray(q, np.float32), np.asarray(g, np.float32)
        if metric == "cosine":
            q, g = l2_normalize(q), l2_normalize(g)
        if test.AQE.ENABLED:
            q, g = aqe(q, g, test.AQE.QE_TIME, test.AQE.QE_K, test.AQE.ALPHA)
        if test.RERANK.ENABLED:
            ranker = ReRanker(q, g, metric, test.RERANK.K1, test.RERANK.K2, test.RERANK.LAMBDA)
            block_fn = ranker.rows
        else:
            block_fn = DistanceBlocks(q, g, metric, normalized=True).rows
        gindex = GalleryIndex(g_pids, g_camids)
        try:
            cmc, all_ap, all_inp = evaluate_blocks(block_fn, len(q), q_pids, q_camids, gindex, len(g))
        except ValueError as err:
            raise ValueError(f"ReidEvaluator: {err}") from None
        results = OrderedDict()
        for r in (1, 5, 10):
            results[f"Rank-{r}"] = float(cmc[min(r, len(cmc)) - 1]) * 100
        results["mAP"] = float(np.mean(all_ap)) * 100
        results["mINP"] = float(np.mean(all_inp)) * 100
        results["metric"] = (results["mAP"] + results["Rank-1"]) / 2
        if test.ROC.ENABLED:
            roc = roc_from_blocks(block_fn, len(q), q_pids, q_camids, gindex, len(g), DEFAULT_FPRS)
            for fpr, tpr in roc.items():
                results[f"TPR@FPR={fpr:.0e}"] = tpr * 100
        logger.info("Evaluated %d queries (%d with a true match) against %d gallery images", len(q),
                    len(all_ap), len(g))
        return results
