"""Convert a checkpoint in the authors' MSINet layout to this toolbox's key names.

The authors' ``state_dict`` (stored under ``"state_dict"`` of a ``.pth.tar``, possibly with a
``module.`` prefix from DataParallel) names the backbone ``conv1``, ``cells.0`` ... ``cells.7`` (cells 2
and 5 are the transitions), the neck ``head / fc / classifier / f_conv / f_head / f_fc / f_classifier``
and the SAM's PAM ``align_module.pos_pam.{query,key}_conv``. Every key must map; a key that does not is
an error (nothing is dropped silently). The result loads strictly into ``build_model(cfg)`` of an
MSINet config with FBLNeck (+ SpatialAlignLoss for SAM checkpoints).
"""

from __future__ import annotations

import re
from typing import Any, Dict, Mapping

import torch

from fastreid.utils.checkpoint import load_torch_file, split_state_dict

__all__ = ["convert_official_state_dict", "convert_backbone_state_dict", "extract_state_dict",
           "convert_official_checkpoint"]

# Authors' cell index -> our module path. Cells 2 and 5 are the transitions.
_CELL_PATHS = {
    0: "stage1.0", 1: "stage1.1", 2: "transition1", 3: "stage2.0", 4: "stage2.1", 5: "transition2",
    6: "stage3.0", 7: "stage3.1",
}
# Inside a cell: authors' module -> ours. conv2a/conv3a are a single LightConv3x3 in the authors' code,
# ours are stacks (depth 1 at the paper's scale ratio).
_CELL_RULES = [
    (r"conv1a\.", "reduce_a."),
    (r"conv1b\.", "reduce_b."),
    (r"conv2a\.", "round1_a.0."),
    (r"conv2b\.(\d+)\.", r"round1_b.\1."),
    (r"conv3a\.", "round2_a.0."),
    (r"conv3b\.(\d+)\.", r"round2_b.\1."),
    (r"_op2\.", "interact1."),
    (r"_op3\.", "interact2."),
    (r"conv4a\.", "expand_a."),
    (r"conv4b\.", "expand_b."),
    (r"downsample\.", "shortcut."),
]
# Inside a LightConv3x3: conv1 (1x1) -> pointwise, conv2 (depth-wise) -> depthwise.
_LIGHT_RULES = [(r"\.conv1\.weight$", ".pointwise.weight"), (r"\.conv2\.weight$", ".depthwise.weight")]
_HEAD_RULES = {
    "head.": "global_bn.", "fc.": "global_fc.", "classifier.": "global_classifier.",
    "f_conv.": "part_conv.", "f_head.": "part_bn.", "f_fc.": "part_fc.", "f_classifier.": "part_classifier.",
}
_SAM_RULES = {"align_module.pos_pam.query_conv.": "pam.query.", "align_module.pos_pam.key_conv.": "pam.key."}


def extract_state_dict(checkpoint: Any) -> Dict[str, torch.Tensor]:
    """The tensor dict of a loaded checkpoint (the toolbox's one rule,
    :func:`fastreid.utils.checkpoint.split_state_dict`)."""
    return dict(split_state_dict(checkpoint)[0])


def _convert_backbone_key(key: str) -> str:
    if key.startswith("conv1."):
        return "stem.0." + key[len("conv1."):]
    m = re.match(r"cells\.(\d+)\.(.*)$", key)
    if m is None or int(m.group(1)) not in _CELL_PATHS:
        raise KeyError(key)
    index, rest = int(m.group(1)), m.group(2)
    path = _CELL_PATHS[index]
    if index in (2, 5):  # transition: Sequential(Conv1x1(conv, bn), AvgPool) -> conv.{conv,bn}
        if not rest.startswith("0."):
            raise KeyError(key)
        return f"{path}.conv.{rest[2:]}"
    for pattern, repl in _CELL_RULES:
        new, n = re.subn("^" + pattern, repl, rest)
        if n:
            if new.startswith(("round1_", "round2_")):
                for lp, lr in _LIGHT_RULES:
                    new = re.sub(lp, lr, new)
            return f"{path}.{new}"
    raise KeyError(key)


def convert_backbone_state_dict(state: Mapping[str, torch.Tensor], keep_others: bool = False) -> Dict[str, torch.Tensor]:
    """Convert the backbone keys only (e.g. the authors' ImageNet weights); other keys (their head or
    ImageNet classifier) are dropped, or kept under their own names with ``keep_others`` (so that a
    loader can report them as unused)."""
    out = {}
    for k, v in state.items():
        try:
            out[_convert_backbone_key(k)] = v
        except KeyError:
            if keep_others:
                out[k] = v
    return out


def convert_official_state_dict(state: Mapping[str, torch.Tensor], backbone_prefix: str = "backbone.",
                                heads_prefix: str = "heads.",
                                sam_prefix: str = "losses.SpatialAlignLoss.") -> Dict[str, torch.Tensor]:
    """Map every key of the authors' state dict to this toolbox's model keys.

    Raises ValueError naming the keys that have no counterpart.
    """
    state = extract_state_dict(state)
    out: Dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        new = None
        for old, repl in _SAM_RULES.items():
            if key.startswith(old):
                new = sam_prefix + repl + key[len(old):]
        for old, repl in _HEAD_RULES.items():
            if new is None and key.startswith(old):
                new = heads_prefix + repl + key[len(old):]
        if new is None:
            try:
                new = backbone_prefix + _convert_backbone_key(key)
            except KeyError:
                unknown.append(key)
                continue
        out[new] = value
    if unknown:
        raise ValueError(f"authors' checkpoint: {len(unknown)} keys have no counterpart in this toolbox: "
                         f"{', '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''}")
    return out


def convert_official_checkpoint(src: str, dst: str) -> Dict[str, torch.Tensor]:
    """Read the authors' ``.pth(.tar)`` at ``src``; write ``{"model": converted, "num_classes": K}`` to
    ``dst`` (K = classifier rows, so ``--eval-only`` can size the head without the training set)."""
    checkpoint = load_torch_file(src, "authors' checkpoint")
    converted = convert_official_state_dict(extract_state_dict(checkpoint))
    classifier = converted.get("heads.global_classifier.weight")
    num_classes = int(classifier.shape[0]) if classifier is not None else 0
    torch.save({"model": converted, "num_classes": num_classes}, dst)
    return converted
