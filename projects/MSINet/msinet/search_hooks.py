"""Training hooks of the architecture search (MSINet, CVPR 2023, Sec. 3.1 and 4.2).

Registered by :class:`~msinet.search_trainer.SearchTrainer` around its step
(:class:`~msinet.search_step.SearchStep`, the architecture + weight step):

- :class:`MemoryRefresh` - initialises both twin memories from class centroids at the start (unless
  resuming or SEARCH.MEMORY_INIT is "zero") and every SEARCH.MEMORY_REFRESH epochs.
- :class:`GenotypeLogger` - records softmax(alpha) at the start and after every epoch, logs the genotype every
  SEARCH.GENOTYPE_PERIOD epochs, and at the end writes ``genotype.yaml``, ``alphas.json`` and
  ``alphas.png`` into the output folder. Its history is checkpointed, so a resumed search keeps it.
  ``genotype.yaml`` holds the genotype after the last epoch; ``alphas.json`` also keeps the one before
  it (``genotype_before_last_epoch``), the last one the authors' code prints.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence

import torch
import torch.nn as nn

from fastreid.engine.train_loop import HookBase
from fastreid.utils import comm
from fastreid.utils.comm import unwrap_model
from fastreid.utils.errors import ConfigValueError

from .genotypes import save_genotype
from .memory import TwinMemory, class_centroids, extract_split_features

__all__ = ["MemoryRefresh", "GenotypeLogger", "plot_alpha_history"]

logger = logging.getLogger(__name__)


class MemoryRefresh(HookBase):
    """(Re)initialises the twin memories from class centroids of the current model.

    Args:
        model: the search model (eval mode returns (B, D) features).
        memories: {"train": TwinMemory, "valid": TwinMemory}.
        split_batches: {"train": fn, "valid": fn}; each fn returns this process's finite batches of the
            whole split (test-time transform), labels as in the memory.
        init: "centroid" (paper) or "zero" (authors' code: the memories start empty).
        period: re-initialise every ``period`` epochs (0 = never after the start).
    """

    def __init__(self, model: nn.Module, memories: Mapping[str, TwinMemory],
                 split_batches: Mapping[str, Callable[[], Iterable]], init: str = "centroid",
                 period: int = 0) -> None:
        if init not in ("centroid", "zero"):
            raise ConfigValueError(f"SEARCH.MEMORY_INIT: {init!r}; expected centroid or zero")
        if period < 0:
            raise ConfigValueError(f"SEARCH.MEMORY_REFRESH: {period} must be >= 0 epochs (0 = only at the start)")
        self.model = model
        self.memories = dict(memories)
        self.split_batches = dict(split_batches)
        self.init = init
        self.period = int(period)

    def refresh(self) -> None:
        """Set every memory to the centroids of its split under the current model."""
        net = unwrap_model(self.model)
        device = next(net.parameters()).device
        for name, memory in self.memories.items():
            feats, labels = extract_split_features(net, self.split_batches[name](), device)
            memory.initialize(class_centroids(feats, labels, memory.num_classes))
            logger.info("Twin memory '%s': %d slots set from the centroids of %d images",
                        name, memory.num_classes, feats.shape[0])

    def before_train(self) -> None:
        if self.trainer.start_iter > 0:
            return  # resumed: the memories come from the checkpoint
        if self.init == "centroid":
            self.refresh()
        else:
            for memory in self.memories.values():
                memory.reset()

    def before_epoch(self) -> None:
        epoch = self.trainer.epoch
        if self.period > 0 and epoch > 0 and epoch % self.period == 0:
            self.refresh()


def plot_alpha_history(epochs: Sequence[int], history: Sequence[Sequence[Sequence[float]]],
                       op_names: Sequence[str], path: str) -> None:
    """Plot softmax(alpha) per IM (one panel each) and per option (one line each) over epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    data = torch.tensor(history, dtype=torch.float64)  # (E, num_ims, num_ops)
    num_ims = data.shape[1]
    cols = 4
    rows = (num_ims + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), sharex=True, sharey=True,
                             squeeze=False)
    for i in range(rows * cols):
        ax = axes[i // cols][i % cols]
        if i >= num_ims:
            ax.axis("off")
            continue
        for k, name in enumerate(op_names):
            ax.plot(list(epochs), data[:, i, k].tolist(), marker="o" if len(epochs) < 20 else None,
                    markersize=3, label=name)
        ax.set_title(f"IM {i + 1} (cell {i // 2 + 1})", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.supxlabel("epoch")
    fig.supylabel("softmax(alpha)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


class GenotypeLogger(HookBase):
    """Keeps the softmax(alpha) history, logs the genotype, writes the search results at the end.

    Args:
        model: the search model (exposes ``genotype()``, ``arch_weights()`` through its backbone).
        op_names: alpha's column order.
        output_dir: where ``genotype.yaml``, ``alphas.json`` and ``alphas.png`` go ("" = nowhere).
        period: log the genotype every ``period`` epochs (always after the last one).
    """

    def __init__(self, model: nn.Module, op_names: Sequence[str], output_dir: str, period: int = 5) -> None:
        if period < 1:
            raise ConfigValueError(f"SEARCH.GENOTYPE_PERIOD: {period} must be >= 1 epoch")
        self.model = model
        self.op_names = list(op_names)
        self.output_dir = output_dir
        self.period = int(period)
        self.epochs: List[int] = []
        self.history: List[List[List[float]]] = []

    # checkpointed, so a resumed search keeps the earlier epochs
    def state_dict(self) -> Dict[str, object]:
        return {"epochs": list(self.epochs), "history": [list(map(list, h)) for h in self.history]}

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        self.epochs = [int(e) for e in state["epochs"]]
        self.history = [list(map(list, h)) for h in state["history"]]

    def before_train(self) -> None:
        if self.trainer.start_iter == 0 and not self.epochs:
            self.epochs.append(0)  # the initial alpha, so even a one-epoch search shows a trend
            self.history.append(unwrap_model(self.model).arch_weights().cpu().tolist())

    def after_epoch(self) -> None:
        t = self.trainer
        net = unwrap_model(self.model)
        self.epochs.append(t.epoch + 1)
        self.history.append(net.arch_weights().cpu().tolist())
        last = t.iter >= t.max_iter
        if (t.epoch + 1) % self.period == 0 or last:
            table = "\n".join(f"  IM {i + 1:2d}: " + "  ".join(f"{n}={w:.3f}" for n, w in zip(self.op_names, row))
                              for i, row in enumerate(self.history[-1]))
            logger.info("Epoch %d genotype = %s\nsoftmax(alpha):\n%s", t.epoch + 1, net.genotype(), table)

    def after_train(self) -> None:
        t = self.trainer
        if t.iter < t.max_iter or not self.output_dir or not comm.is_main_process():
            return  # an interrupted search writes nothing final
        self.write(self.output_dir)

    def genotype_before_last_epoch(self) -> Optional[List[str]]:
        """Argmax op per IM of the history's last-but-one entry: the genotype the authors' searcher prints
        last (at the start of its last epoch); None with fewer than two entries."""
        if len(self.history) < 2:
            return None
        return [self.op_names[max(range(len(row)), key=row.__getitem__)] for row in self.history[-2]]

    def write(self, output_dir: str) -> Dict[str, str]:
        """Write genotype.yaml, alphas.json and alphas.png into ``output_dir``; returns their paths."""
        net = unwrap_model(self.model)
        os.makedirs(output_dir, exist_ok=True)
        paths = {name: os.path.join(output_dir, name) for name in ("genotype.yaml", "alphas.json", "alphas.png")}
        genotype = net.genotype()
        save_genotype(genotype, paths["genotype.yaml"],
                      comment=f"searched genotype (argmax of alpha after epoch {self.epochs[-1] if self.epochs else 0},"
                              " the last); use as _BASE_ or as MODEL.MSINET.GENOTYPE")
        with open(paths["alphas.json"], "w") as f:
            json.dump({"ops": self.op_names, "genotype": genotype,
                       "genotype_before_last_epoch": self.genotype_before_last_epoch(), "epochs": self.epochs,
                       "softmax_alpha": self.history,
                       "alpha": net.arch_parameters()[0].detach().cpu().tolist()}, f, indent=1)
        if self.history:
            plot_alpha_history(self.epochs, self.history, self.op_names, paths["alphas.png"])
        logger.info("Search result: genotype %s written to %s", genotype, paths["genotype.yaml"])
        return paths
