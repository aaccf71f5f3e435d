"""Tiny, data-free training parts for engine tests: a dataset of random vectors, an infinite sampler
that restarts at an epoch, a linear classifier with dropout, and a DefaultTrainer subclass using them."""

import itertools

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset, Sampler

from fastreid.config import get_cfg
from fastreid.engine import DefaultTrainer

torch.set_num_threads(1)


class VectorDataset(Dataset):
    """``n`` random 8-d vectors with ``num_classes`` labels, fixed by ``seed``."""

    def __init__(self, n=24, num_classes=3, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 8, generator=g)
        self.y = torch.arange(n) % num_classes
        self.num_classes = num_classes

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        # a random "augmentation" so the run depends on the global torch RNG
        return {"images": self.x[i] + 0.01 * torch.randn(8), "targets": self.y[i]}


class EpochSampler(Sampler):
    """Infinite index stream; after ``set_epoch(e)`` it restarts with permutations seeded by (seed, e)."""

    def __init__(self, n, seed=0):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        for chunk in itertools.count():
            g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch * 1009 + chunk)
            yield from torch.randperm(self.n, generator=g).tolist()


class TinyNet(nn.Module):
    """Linear classifier with dropout; training returns {"loss_cls"}, eval returns logits (B, K)."""

    def __init__(self, num_classes=3):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3))
        self.heads = nn.Linear(16, num_classes)

    def forward(self, batch):
        x = batch["images"] if isinstance(batch, dict) else batch
        logits = self.heads(self.backbone(x))
        if not self.training:
            return logits
        return {"loss_cls": nn.functional.cross_entropy(logits, batch["targets"])}


def tiny_loader(batch_size=4, n=24, seed=0):
    ds = VectorDataset(n=n, seed=seed)
    return DataLoader(ds, batch_size=batch_size, sampler=EpochSampler(len(ds), seed=seed), num_workers=0)


class TinyTrainer(DefaultTrainer):
    """DefaultTrainer on the tiny parts; ``test`` scores accuracy on a fixed held-out set and
    reports it as Rank-1 / mAP / metric."""

    eval_calls = []

    @classmethod
    def build_train_loader(cls, cfg):
        return tiny_loader(cfg.SOLVER.IMS_PER_BATCH, seed=max(cfg.SEED, 0))

    @classmethod
    def build_model(cls, cfg):
        return TinyNet(cfg.MODEL.HEADS.NUM_CLASSES)

    @classmethod
    def check_test_sets(cls, cfg, model):
        pass  # the held-out vectors of test() need no loading

    @classmethod
    def test(cls, cfg, model):
        ds = VectorDataset(n=12, seed=99)
        model.eval()
        with torch.no_grad():
            acc = (model(ds.x).argmax(1) == ds.y).float().mean().item() * 100
        cls.eval_calls.append(acc)
        return {"Rank-1": acc, "mAP": acc, "metric": acc}


def tiny_cfg(output_dir, **overrides):
    cfg = get_cfg(plugins=True)
    cfg.OUTPUT_DIR = str(output_dir)
    cfg.SEED = 0
    cfg.MODEL.DEVICE = "cpu"
    s = cfg.SOLVER
    s.OPT, s.BASE_LR, s.MOMENTUM, s.IMS_PER_BATCH = "SGD", 0.1, 0.9, 4
    s.MAX_EPOCH, s.ITERS_PER_EPOCH, s.STEPS, s.WARMUP_EPOCHS, s.WARMUP_FACTOR = 4, 3, [2], 1, 0.1
    s.CHECKPOINT_PERIOD, s.LOG_PERIOD = 10, 2
    cfg.TEST.EVAL_PERIOD = 1
    cfg.merge_from_list([item for pair in overrides.items() for item in pair])
    return cfg


def ddp_train_worker(out_dir, steps=4):
    """Run in each launched process: a few DDP steps of TinyNet on rank-specific data, then save the
    final parameters to ``out_dir/rank{r}.pt``."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from fastreid.utils import comm

    torch.set_num_threads(1)
    rank = comm.get_rank()
    torch.manual_seed(100 + rank)  # different init per rank: DDP must broadcast rank 0's weights
    model = DistributedDataParallel(TinyNet())
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ds = VectorDataset(n=16, seed=rank)
    for step in range(steps):
        idx = torch.arange(4) + 4 * step
        loss = model({"images": ds.x[idx], "targets": ds.y[idx]})["loss_cls"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    state = {k: v for k, v in model.module.state_dict().items() if "running" not in k and "num_batches" not in k}
    torch.save({"state": state, "world": dist.get_world_size(), "backend": dist.get_backend(),
                "local_rank": comm.get_local_rank()}, f"{out_dir}/rank{rank}.pt")
