"""Clustering rounds: features of every unlabelled training image -> k-reciprocal Jaccard distance ->
DBSCAN -> pseudo-labels (outliers left out) -> a new training set and a new cluster memory.

:class:`PseudoLabels` is a trainer hook and a checkpointable at once: a round runs at the start of every
``UNSUP.CLUSTER.PERIOD``-th epoch; its labels, the memory's slots and the history of rounds are saved
in every checkpoint, so a resumed run trains on the same pseudo-labels with the same memory. Each round
logs the cluster count, the share of images left out and its time, and, where the data set has labels
hidden from training, pseudo-label quality against them (NMI, ARI, pairwise precision / recall), into
the log, ``metrics.json`` / TensorBoard (``cluster/*``), ``OUTPUT_DIR/clustering.json`` and the picture
``OUTPUT_DIR/clustering.png``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from fastreid.engine.hooks import HookBase
from fastreid.utils import comm
from fastreid.utils.comm import unwrap_model
from fastreid.utils.file_io import atomic_open, atomic_path

__all__ = ["PseudoLabels", "plot_rounds", "subtract_camera_means", "camera_share"]

logger = logging.getLogger(__name__)

Item = Tuple[str, Any, Any]


def camera_share(labels: np.ndarray, camids: Sequence[Any]) -> float:
    """Label-free: the share of clustered images that belong to their cluster's most frequent camera.
    Near 1 with several cameras, clusters follow cameras (background, colour cast) rather than people:
    UNSUP.CLUSTER.CAMERA_NORM is then worth trying."""
    keep = labels >= 0
    if not keep.any():
        return 0.0
    _, cams = np.unique(np.asarray([str(c) for c in camids])[keep], return_inverse=True)
    counts = np.zeros((int(labels[keep].max()) + 1, int(cams.max()) + 1), dtype=np.int64)
    np.add.at(counts, (labels[keep], cams), 1)
    return float(counts.max(axis=1).sum() / keep.sum())


def subtract_camera_means(feats: torch.Tensor, camids: Sequence[Any]) -> torch.Tensor:
    """(N, D) features minus the mean feature of each image's camera, L2-normalised again
    (UNSUP.CLUSTER.CAMERA_NORM): the direction a camera adds to all its images (background, colour cast)
    is removed before clustering, so that clusters follow people rather than cameras. The memory's
    centroids still come from the features themselves."""
    _, cam_index = np.unique(np.asarray([str(c) for c in camids]), return_inverse=True)
    index = torch.from_numpy(cam_index).long()
    sums = torch.zeros(int(index.max()) + 1, feats.shape[1], dtype=feats.dtype).index_add_(0, index, feats)
    means = sums / torch.bincount(index).clamp(min=1).to(feats.dtype)[:, None]
    return torch.nn.functional.normalize(feats - means[index], dim=1)


class PseudoLabels(HookBase):
    """Clustering rounds of a :class:`~unsupreid.trainer.ClusterTrainer` (see the module docstring).

    Args:
        items: the training images ``(path, hidden_label, camid)``; ``hidden_label`` is used only to
            measure pseudo-label quality, never for training (None where the data set has no labels).
        cluster_cfg: UNSUP.CLUSTER.
        output_dir: where ``clustering.json`` / ``clustering.png`` go ("" = nowhere).
    """

    def __init__(self, items: Sequence[Item], cluster_cfg, output_dir: str = ""):
        self.items = list(items)
        hidden = [it[1] for it in self.items]
        self.hidden = None if any(h is None for h in hidden) else np.asarray([str(h) for h in hidden])
        self.cfg = cluster_cfg
        self.output_dir = output_dir
        self.labels: Optional[np.ndarray] = None  # (N,) int64, -1 = outlier
        self.history: List[Dict[str, float]] = []
        self._restored_slots: Optional[torch.Tensor] = None
        self._applied = False

    # ------------------------------------------------------------------ checkpointable
    def state_dict(self) -> Dict[str, Any]:
        loss = self._loss() if hasattr(self, "trainer") else None
        slots = loss.memory.slots if loss is not None and loss.memory is not None else None
        return {"labels": None if self.labels is None else torch.from_numpy(self.labels.copy()),
                "slots": None if slots is None else slots.detach().cpu().clone(),
                "history": json.dumps(self.history), "num_images": len(self.items)}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if int(state.get("num_images", -1)) != len(self.items):
            raise ValueError(f"pseudo-labels of {state.get('num_images')} images saved, the training set has "
                             f"{len(self.items)}; expected the same training images as the resumed run")
        labels = state.get("labels")
        self.labels = None if labels is None else labels.numpy().astype(np.int64)
        self._restored_slots = state.get("slots")
        self.history = json.loads(state.get("history") or "[]")
        self._applied = False

    # ------------------------------------------------------------------ hook
    def before_epoch(self) -> None:
        epoch = self.trainer.epoch
        if epoch % self.cfg.PERIOD == 0 or self.labels is None:
            self.run_round(epoch)
        elif not self._applied:  # resumed between rounds: train on the saved round
            logger.info("Epoch %d: training on the saved pseudo-labels of the last round (%d clusters, %d of %d "
                        "images left out)", epoch, int(self.labels.max()) + 1, int((self.labels < 0).sum()),
                        len(self.labels))
            self._apply(self._restored_slots)

    def _loss(self):
        model = unwrap_model(self.trainer.model)
        return model.losses["ClusterNCELoss"]

    def run_round(self, epoch: int) -> Dict[str, float]:
        """One clustering round; returns its statistics (also logged and stored)."""
        from fastreid.evaluation.clustering import cluster_features, clustering_quality

        start = time.perf_counter()
        feats = self.trainer.training_set_features()
        extracted = time.perf_counter() - start
        result = None
        if comm.is_main_process():
            c = self.cfg
            clustered = subtract_camera_means(feats, [it[2] for it in self.items]) if c.CAMERA_NORM else feats
            result = cluster_features(clustered.numpy(), eps=tuple(c.EPS_GRID) or c.EPS, min_samples=c.MIN_SAMPLES,
                                      k1=c.K1, k2=c.K2, use_faiss=c.USE_FAISS)
            labels, eps = result.labels, result.eps
        else:
            labels, eps = None, None
        labels, eps = comm.all_gather((labels, eps))[0]  # one clustering, the same labels on every process
        self.labels = np.asarray(labels, dtype=np.int64)
        stats = {"epoch": epoch, "images": len(self.labels), "eps": float(eps), "clusters": int(self.labels.max() + 1),
                 "outlier_ratio": float((self.labels < 0).mean()), "extract_seconds": extracted,
                 "camera_share": camera_share(self.labels, [it[2] for it in self.items]),
                 "seconds": time.perf_counter() - start}
        if self.hidden is not None:
            _, true = np.unique(self.hidden, return_inverse=True)
            quality = clustering_quality(self.labels, true)
            stats.update({k: float(quality[k]) for k in ("nmi", "ari", "pairwise_precision", "pairwise_recall",
                                                        "pairwise_f1")})
        self._apply(None, feats)
        self.history.append(stats)
        self._report(stats)
        return stats

    def _apply(self, slots: Optional[torch.Tensor], feats: Optional[torch.Tensor] = None) -> None:
        """Train on the current labels: the new training set, and the memory from ``slots`` (a restored
        run) or the centroids of ``feats``."""
        from fastreid.evaluation.clustering import cluster_centroids

        keep = np.flatnonzero(self.labels >= 0)
        items = [(self.items[i][0], int(self.labels[i]), self.items[i][2]) for i in keep]
        if slots is None:
            if feats is None:
                raise RuntimeError("PseudoLabels: neither saved slots nor features to build the memory from")
            slots = torch.from_numpy(cluster_centroids(feats.numpy(), self.labels))
        self._loss().rebuild(slots.float())
        train_set = self.trainer.pseudo_labelled_set(items)
        self.trainer.replace_train_set(train_set, sampler=self.trainer.pseudo_label_sampler(train_set))
        self._applied = True

    def _report(self, stats: Dict[str, float]) -> None:
        line = (f"Clustering round at epoch {stats['epoch']} (eps {stats['eps']:g}): {stats['clusters']} clusters, "
                f"{100 * stats['outlier_ratio']:.1f}% of {stats['images']} images left out, "
                f"{stats['seconds']:.1f} s (features {stats['extract_seconds']:.1f} s), "
                f"{100 * stats['camera_share']:.0f}% of clustered images from their cluster's main camera")
        if "nmi" in stats:
            line += (f"; against the hidden labels: NMI {stats['nmi']:.3f}, ARI {stats['ari']:.3f}, pairwise "
                     f"precision {stats['pairwise_precision']:.3f}, recall {stats['pairwise_recall']:.3f}")
        logger.info(line)
        storage = self.trainer.storage
        if storage is not None and comm.is_main_process():
            storage.put_scalars(**{f"cluster/{k}": float(v) for k, v in stats.items() if k != "epoch"})
        if self.output_dir and comm.is_main_process():
            with atomic_open(os.path.join(self.output_dir, "clustering.json")) as f:
                json.dump(self.history, f, indent=1)
            try:
                plot_rounds(self.history, os.path.join(self.output_dir, "clustering.png"))
            except Exception as e:  # a picture never stops training
                logger.warning("clustering.png not written: %s", e)


def plot_rounds(history: Sequence[Dict[str, float]], path: str) -> None:
    """Pseudo-label quality and cluster count over the rounds, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    for key, name in (("nmi", "NMI"), ("ari", "ARI"), ("pairwise_precision", "pairwise precision"),
                      ("pairwise_recall", "pairwise recall")):
        if all(key in h for h in history):
            ax1.plot(epochs, [h[key] for h in history], marker="o", label=name)
    if all("camera_share" in h for h in history):  # label-free: do clusters follow cameras?
        ax1.plot(epochs, [h["camera_share"] for h in history], ls="--", color="grey",
                 label="main-camera share (label-free)")
    ax1.set_xlabel("epoch")
    ax1.set_ylim(0, 1)
    ax1.set_title("pseudo-labels vs hidden labels")
    if ax1.lines:
        ax1.legend(fontsize=8)
    ax2.plot(epochs, [h["clusters"] for h in history], marker="o", color="k", label="clusters")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("clusters")
    ax3 = ax2.twinx()
    ax3.plot(epochs, [100 * h["outlier_ratio"] for h in history], marker="s", color="tab:red")
    ax3.set_ylabel("% left out", color="tab:red")
    ax2.set_title("clusters and outliers")
    fig.tight_layout()
    with atomic_path(path, suffix=".tmp.png") as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
