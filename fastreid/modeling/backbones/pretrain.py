"""ImageNet weights for a backbone: where they come from and how they are loaded.

``resolve_pretrain_path`` turns MODEL.BACKBONE.PRETRAIN_PATH into a local file: a path is used as it is;
a URL (``https://``, ``http://``, ``file://``) is downloaded once into ``$TORCH_HOME/hub/checkpoints``
(torch.hub's cache) and its SHA-256 checked against the hash prefix in its file name
(``name-<hex>.pth``, torch.hub's convention); an empty value takes the backbone's published default
(torchvision's ResNet-50 weights) where one exists. Where none exists, or the machine is offline, it
stops before any work with one line naming both ways on: ``MODEL.BACKBONE.PRETRAIN False`` (from
scratch) or ``MODEL.BACKBONE.PRETRAIN_PATH <file>``. Nothing else is ever downloaded.

``load_pretrained_weights`` is the one loader for every backbone: it reads a ``.pth`` file (a bare
state_dict or one stored under ``"state_dict"`` / ``"model"``) with ``weights_only=True``, strips a
``module.`` prefix left by DataParallel, optionally renames keys (another layout), loads every tensor
whose name and shape match (:func:`fastreid.utils.checkpoint.load_matching`, the checkpoints' rule too),
and reports the counts in one line (WARNING with the names when anything was skipped or left missing).
"""

from __future__ import annotations

import logging
import os
import re
import urllib.error
import urllib.parse
from typing import Callable, Dict, Iterable, List, Optional

import torch
import torch.nn as nn

from fastreid.utils.checkpoint import LoadReport, load_matching, load_torch_file, split_state_dict
from fastreid.utils.errors import ConfigValueError, UserError

__all__ = ["load_pretrained_weights", "LoadReport", "resolve_pretrain_path", "PretrainDownloadError"]

_KEY = "MODEL.BACKBONE.PRETRAIN_PATH"
_WAYS_ON = ("MODEL.BACKBONE.PRETRAIN False (train from scratch) or MODEL.BACKBONE.PRETRAIN_PATH <local .pth file>")


class PretrainDownloadError(UserError):
    """ImageNet weights named by a URL could not be fetched or did not match their hash."""


def _is_url(path: str) -> bool:
    return urllib.parse.urlparse(path).scheme in ("http", "https", "file")


def _download(url: str) -> str:
    """``url`` as a file in torch.hub's cache (downloaded once, SHA-256 prefix checked when its name
    carries one)."""
    name = os.path.basename(urllib.parse.urlparse(url).path)
    folder = os.path.join(torch.hub.get_dir(), "checkpoints")
    dst = os.path.join(folder, name)
    if os.path.isfile(dst):
        return dst
    os.makedirs(folder, exist_ok=True)
    match = re.search(r"-([a-f0-9]{6,})\.", name)
    logger.info("Downloading ImageNet weights %s to %s", url, dst)
    try:
        torch.hub.download_url_to_file(url, dst, hash_prefix=match.group(1) if match else None, progress=False)
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise PretrainDownloadError(f"{_KEY}: cannot download {url} ({reason}); the machine may be offline; "
                                    f"expected network access, or {_WAYS_ON}") from None
    except RuntimeError as e:  # torch.hub: "invalid hash value"
        raise PretrainDownloadError(f"{_KEY}: {url} does not match the SHA-256 prefix in its name ({e}); the "
                                    f"download was discarded; expected the published file, or {_WAYS_ON}") from None
    return dst


def resolve_pretrain_path(path: str, backbone: str, default_url: Optional[str] = None) -> str:
    """The local file of MODEL.BACKBONE.PRETRAIN_PATH (see the module docstring)."""
    if not path:
        if not default_url:
            raise ConfigValueError(f"{_KEY} is empty and no ImageNet weights are published for '{backbone}' at a "
                                   f"stable URL; expected {_WAYS_ON}", key=_KEY, value=path, expected="a file or URL")
        path = default_url
    if _is_url(path):
        return _download(path)
    return os.path.expanduser(path)

logger = logging.getLogger(__name__)


def _names(keys: List[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... {len(keys) - limit} more" if len(keys) > limit else "")


def load_pretrained_weights(model: nn.Module, path: str, *, key_name: str = "MODEL.BACKBONE.PRETRAIN_PATH",
                            ignore_prefixes: Iterable[str] = (),
                            convert: Optional[Callable[[Dict[str, torch.Tensor]], Dict[str, torch.Tensor]]] = None,
                            ) -> LoadReport:
    """Load the weights in ``path`` into ``model`` (non-strict, reported) and return what did not match.

    The rule is the authors' and fast-reid's: every tensor whose name and shape match is loaded.
    ``key_name`` is the config key the path came from, named in errors. File keys starting with one of
    ``ignore_prefixes`` (e.g. an ImageNet classifier ``"fc."``) are dropped and counted as ignored.
    ``convert`` renames the file's keys to the model's first (e.g. the authors' MSINet layout). One line
    reports the counts: at INFO when every tensor on both sides matched, else at WARNING with the
    names of the skipped and missing tensors.
    """
    if not path:
        raise ConfigValueError(f"{key_name} is empty; expected {_WAYS_ON}")
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{key_name}: '{path}' does not exist; expected a local .pth file or a URL, or "
                                "MODEL.BACKBONE.PRETRAIN False")
    state = dict(split_state_dict(load_torch_file(path, key_name), f"{key_name} {path}")[0])
    if convert is not None:
        state = convert(state)
    prefixes = tuple(ignore_prefixes)
    ignored = [k for k in state if prefixes and k.startswith(prefixes)]
    state = {k: v for k, v in state.items() if k not in set(ignored)}
    report = load_matching(model, state)
    line = (f"{key_name}: {report.loaded} of the {report.total} tensors of {type(model).__name__} loaded from {path}"
            + (f" ({len(ignored)} file tensors under {', '.join(prefixes)} ignored)" if ignored else ""))
    if not (report.missing or report.unexpected or report.mismatched):
        logger.info("%s; every %stensor matched by name and shape", line, "other " if ignored else "")
        return report
    parts = [line]
    if report.mismatched:
        parts.append(f"{len(report.mismatched)} with another shape (file -> model): "
                     + _names([f"{k} {a} -> {b}" for k, (a, b) in report.shapes.items()]))
    if report.unexpected:
        parts.append(f"{len(report.unexpected)} file tensors the model has no name for: {_names(report.unexpected)}")
    if report.missing:
        parts.append(f"{len(report.missing)} model tensors not in the file keep their initialisation: "
                     f"{_names(report.missing)}")
    logger.warning("; ".join(parts))
    return report
