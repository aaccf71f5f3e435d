"""Start one process per device and join them in a torch.distributed group.

- ``launch(main, num_gpus_per_machine=N)`` spawns N workers with ``torch.multiprocessing``: NCCL, one
  GPU each, when CUDA is available; gloo on CPU otherwise (so ``--num-gpus 2`` on a CPU machine runs
  two gloo processes, handy for tests).
- Under ``torchrun`` (the env:// variables RANK, WORLD_SIZE, LOCAL_RANK are set) nothing is spawned:
  the current process joins the group torchrun describes.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
from datetime import timedelta
from typing import Callable, Optional, Sequence

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from fastreid.utils import comm

__all__ = ["launch", "find_free_port", "launched_by_torchrun", "backend_for_device"]

logger = logging.getLogger(__name__)

_TIMEOUT = timedelta(minutes=30)


def find_free_port() -> int:
    """A TCP port that is free on this machine right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launched_by_torchrun() -> bool:
    """True when torchrun (or another env:// launcher) started this process."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"))


def backend_for_device(num_local_processes: int) -> str:
    """"nccl" when every local process can have its own GPU, "gloo" when CUDA is absent."""
    if not torch.cuda.is_available():
        return "gloo"
    if torch.cuda.device_count() < num_local_processes:
        raise ValueError(
            f"--num-gpus: {num_local_processes} processes requested but only {torch.cuda.device_count()} "
            "CUDA devices are visible; expected at most that many"
        )
    return "nccl"


def launch(main_func: Callable, num_gpus_per_machine: int, num_machines: int = 1, machine_rank: int = 0,
           dist_url: Optional[str] = None, args: Sequence = (), *, backend: Optional[str] = None) -> None:
    """Run ``main_func(*args)`` in every process of a (possibly single-process) job.

    Args:
        main_func: a picklable (module-level) function.
        num_gpus_per_machine: processes per machine; one GPU each, or CPU processes without CUDA.
        num_machines, machine_rank: multi-machine layout (rank of this machine, from 0).
        dist_url: rendezvous URL such as "tcp://host:port"; None or "auto" picks a free local port
            (single machine only).
        backend: force "gloo" or "nccl"; None = NCCL with CUDA, gloo without (gloo processes run on
            the CPU even where GPUs exist).
    """
    if backend not in (None, "gloo", "nccl"):
        raise ValueError(f"launch backend: '{backend}' is not supported; expected gloo or nccl")
    if launched_by_torchrun():
        _join_torchrun_group(main_func, args, backend)
        return
    world_size = num_machines * num_gpus_per_machine
    if world_size <= 1:
        main_func(*args)
        return
    if dist_url in (None, "", "auto"):
        if num_machines != 1:
            raise ValueError("--dist-url: 'auto' only works on one machine; give tcp://<host>:<port>")
        dist_url = f"tcp://127.0.0.1:{find_free_port()}"
    backend = backend or backend_for_device(num_gpus_per_machine)
    logger.info("Launching %d processes (%s) with rendezvous %s", world_size, backend, dist_url)
    mp.start_processes(
        _worker, nprocs=num_gpus_per_machine, start_method="spawn", daemon=False,
        args=(main_func, world_size, num_gpus_per_machine, machine_rank, backend, dist_url, tuple(args)),
    )


def _make_local_group(num_machines: int, local_size: int, machine_rank: int) -> None:
    for m in range(num_machines):
        group = dist.new_group(list(range(m * local_size, (m + 1) * local_size)))
        if m == machine_rank:
            comm.set_local_group(group)


def _worker(local_rank: int, main_func: Callable, world_size: int, local_size: int, machine_rank: int,
            backend: str, dist_url: str, args: tuple) -> None:
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    rank = machine_rank * local_size + local_rank
    dist.init_process_group(backend=backend, init_method=dist_url, world_size=world_size, rank=rank,
                            timeout=_TIMEOUT)
    _run_in_group(main_func, args, world_size // local_size, local_size, machine_rank)


def _run_in_group(main_func: Callable, args: Sequence, num_machines: int, local_size: int,
                  machine_rank: int) -> None:
    """``main_func(*args)`` in the joined group, then leave the group in step with the other processes."""
    finished = False
    try:
        _make_local_group(num_machines, local_size, machine_rank)
        comm.synchronize()
        main_func(*args)
        finished = True
    finally:
        _leave_group(finished)


def _leave_group(finished: bool) -> None:
    # Leave in step, so that no process closes its connections (or, on rank 0, the rendezvous store)
    # while a peer may still use them: after a normal end wait for every process, then drop the group
    # objects this module and the trainers hold (a trainer's hooks form reference cycles that keep its
    # DDP wrapper, and with it the group, alive until the next collection), then destroy the group.
    if finished:
        comm.synchronize()
    comm.set_local_group(None)
    comm.clear_cached_groups()
    gc.collect()
    dist.destroy_process_group()


def _join_torchrun_group(main_func: Callable, args: Sequence, backend: Optional[str]) -> None:
    local_rank = int(os.environ["LOCAL_RANK"])
    local_size = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"]))
    world_size = int(os.environ["WORLD_SIZE"])
    if world_size <= 1:
        main_func(*args)
        return
    backend = backend or backend_for_device(local_size)
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, init_method="env://", timeout=_TIMEOUT)
    _run_in_group(main_func, args, world_size // local_size, local_size, dist.get_rank() // local_size)
