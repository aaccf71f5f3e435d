"""Run environment: seeding every random generator and a summary of the software and hardware."""

from __future__ import annotations

import logging
import os
import platform
import random
import sys
from typing import Any, Dict, Optional

import numpy as np
import torch

__all__ = ["seed_all_rng", "derive_seed", "collect_env_info", "machine_summary", "format_machine", "process_alive"]

logger = logging.getLogger(__name__)


def seed_all_rng(seed: Optional[int] = None) -> int:
    """Seed python ``random``, numpy and torch (CPU and every CUDA device).

    Args:
        seed: a value >= 0, or None / a negative value to draw a fresh seed from the OS (logged, so a
            run can be repeated by setting SEED to it).
    Returns:
        the seed actually used.
    """
    if seed is None or seed < 0:
        seed = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
        logger.info("Using a random seed: %d (set SEED to repeat this run)", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def derive_seed(*parts: int) -> int:
    """A seed in [0, 2**31) mixed from integers (e.g. ``(SEED, epoch, rank)``), stable across runs."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0] >> 1)


def collect_env_info() -> str:
    """A table of platform, Python, numpy, torch, torchvision, CUDA/cuDNN versions and the GPUs."""
    from tabulate import tabulate

    import fastreid

    rows = [
        ("sys.platform", sys.platform),
        ("Platform", platform.platform()),
        ("Python", sys.version.replace("\n", " ")),
        ("numpy", np.__version__),
        ("fastreid", f"{fastreid.__version__} @ {os.path.dirname(fastreid.__file__)}"),
        ("PyTorch", f"{torch.__version__} @ {os.path.dirname(torch.__file__)}"),
        ("PyTorch debug build", torch.version.debug),
        ("CPU threads", torch.get_num_threads()),
    ]
    try:
        import torchvision

        rows.append(("torchvision", torchvision.__version__))
    except ImportError:
        rows.append(("torchvision", "not installed"))
    cuda = torch.cuda.is_available()
    rows.append(("CUDA available", cuda))
    if cuda:
        rows.append(("CUDA (torch build)", torch.version.cuda))
        rows.append(("cuDNN", torch.backends.cudnn.version()))
        for i in range(torch.cuda.device_count()):
            rows.append((f"GPU {i}", torch.cuda.get_device_name(i)))
    for lib in ("faiss", "tensorboard"):
        try:
            mod = __import__(lib)
            rows.append((lib, getattr(mod, "__version__", "installed")))
        except ImportError:
            rows.append((lib, "not installed"))
    return tabulate(rows)


def machine_summary(device: str = "cpu") -> Dict[str, Any]:
    """What a benchmark's figures depend on, for its printout and JSON: CPU model, cores this process
    may use, torch threads, load average, platform, python / torch / numpy versions, and the GPU when
    ``device`` is a CUDA device."""
    import platform

    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    out: Dict[str, Any] = {
        "cpu": cpu, "cpus": usable, "threads": torch.get_num_threads(),
        "load_avg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
        "numpy": np.__version__, "device": device,
    }
    if str(device).startswith("cuda") and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name()
    return out


def format_machine(summary: Dict[str, Any]) -> str:
    """One line of :func:`machine_summary` for a benchmark's printout."""
    return ", ".join(f"{k} {v}" for k, v in summary.items() if v is not None)


def resolve_device(name: str, key: str = "MODEL.DEVICE") -> torch.device:
    """``"auto"`` -> cuda when available, else cpu; any other torch device string as given, checked:
    asking for CUDA on a machine without it fails in one line naming ``key``."""
    from .errors import ConfigValueError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as e:
        raise ConfigValueError(f"{key}: {name!r} is not a device ({e}); expected auto, cpu, cuda or cuda:N",
                               key=key, value=name, expected="auto, cpu, cuda, cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigValueError(f"{key}: {name!r} but no CUDA GPU is visible; expected cpu or auto on this machine",
                                   key=key, value=name, expected="cpu, auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigValueError(f"{key}: {name!r} but only {torch.cuda.device_count()} GPU(s) are visible",
                                   key=key, value=name, expected=f"cuda:0..{torch.cuda.device_count() - 1}")
    return device


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (one of another user counts): a lock's holder or
    a temporary folder's writer that no longer runs left it behind."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
