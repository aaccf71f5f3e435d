"""Process-group helpers that also work when torch.distributed is not initialised (one process)."""

from __future__ import annotations

import functools
from typing import Any, Dict, List

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "get_world_size", "get_rank", "get_local_rank", "get_local_size", "is_main_process",
    "synchronize", "all_gather", "gather_across_ranks", "shared_random_seed", "reduce_dict", "set_local_group",
    "clear_cached_groups", "unwrap_model"]

_LOCAL_GROUP = None


def _ready() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    return dist.get_world_size() if _ready() else 1


def get_rank() -> int:
    return dist.get_rank() if _ready() else 0


def set_local_group(group) -> None:
    """Remember the process group of this machine's processes (set by ``launch``)."""
    global _LOCAL_GROUP
    _LOCAL_GROUP = group


def get_local_rank() -> int:
    if not _ready() or _LOCAL_GROUP is None:
        return get_rank() if _ready() else 0
    return dist.get_rank(group=_LOCAL_GROUP)


def get_local_size() -> int:
    if not _ready() or _LOCAL_GROUP is None:
        return get_world_size()
    return dist.get_world_size(group=_LOCAL_GROUP)


def is_main_process() -> bool:
    return get_rank() == 0


def synchronize() -> None:
    """Barrier across all processes; a no-op with one process."""
    if get_world_size() > 1:
        dist.barrier()


@functools.lru_cache()
def _cpu_group():
    # gloo group for pickled objects, so NCCL runs can still gather Python objects on the CPU
    if dist.get_backend() == "nccl":
        return dist.new_group(backend="gloo")
    return dist.group.WORLD


def clear_cached_groups() -> None:
    """Forget the groups made on demand here (before the default group is destroyed)."""
    _cpu_group.cache_clear()


def all_gather(data: Any) -> List[Any]:
    """Gather a picklable object from every process; returns the list ordered by rank."""
    if get_world_size() == 1:
        return [data]
    out: List[Any] = [None] * get_world_size()
    dist.all_gather_object(out, data, group=_cpu_group())
    return out


def gather_across_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` (N_r, ...) from every process along dim 0, in rank order, on its device
    (processes may hold different N_r). With one process the tensor is returned unchanged. The result
    carries no gradient."""
    if get_world_size() == 1:
        return tensor.detach()
    world = get_world_size()
    size = torch.tensor([tensor.shape[0]], device=tensor.device, dtype=torch.long)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    counts = [int(s.item()) for s in sizes]
    padded = tensor.detach().new_zeros((max(counts),) + tuple(tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor.detach()
    chunks = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(chunks, padded)
    return torch.cat([c[:n] for c, n in zip(chunks, counts)], dim=0)


def shared_random_seed() -> int:
    """A random int drawn on rank 0 and shared by all processes (same sampler order everywhere)."""
    seed = int(np.random.randint(2**31))
    return int(all_gather(seed)[0])


def reduce_dict(values: Dict[str, torch.Tensor], average: bool = True) -> Dict[str, torch.Tensor]:
    """Sum (or average) a dict of scalar tensors over processes; keys must match on every rank."""
    world = get_world_size()
    if world < 2:
        return values
    with torch.no_grad():
        names = sorted(values.keys())
        stacked = torch.stack([values[k].detach().float() for k in names])
        dist.all_reduce(stacked)
        if average:
            stacked /= world
        return {k: v for k, v in zip(names, stacked)}


def unwrap_model(model):
    """The module inside a DistributedDataParallel / DataParallel wrapper (``model.module``), or
    ``model`` itself."""
    import torch.nn as nn

    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model
