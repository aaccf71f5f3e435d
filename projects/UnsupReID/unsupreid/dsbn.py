"""Domain-specific BatchNorm (DSBN) for joint source / target training, any backbone and head.

:func:`convert_domain_batchnorm` replaces every ``BatchNorm1d`` / ``BatchNorm2d`` of a model by a
:class:`DomainBatchNorm1d` / :class:`DomainBatchNorm2d`. In training, a converted BN splits its batch
along dim 0 into equal chunks, one per domain in the order ``source, target[, mix]``, normalises each
with its own statistics and affine parameters, and concatenates the results. How many domains the
current batch holds is not guessed from its size: a :class:`DomainContext` shared by every converted BN
says it (IDM's model sets 2 at the start of a forward pass; the IDM module raises it to 3 where it
appends the mixed samples). In eval mode a converted BN is the target's BN, whatever the context says.

Layout: the module itself *is* the target domain's BN (its ``weight``, ``bias`` and running statistics,
under the plain model's key names); the other domains live in ``other_domains.{source, mix}``. So

- inference folding (``fastreid.modeling.inference.fold_conv_bn``, an ``isinstance(.., BatchNorm2d)``
  test) folds the target's BN into the convolution before it, exactly as for a plain model;
- :func:`drop_other_domains` of the state dict is a plain model's state dict (the target network);
- a plain checkpoint (a source model, a model trained without DSBN) loads into every domain: a domain
  whose keys the checkpoint lacks takes the target's values, as IDM's own conversion copies a BN into
  all of its branches.
"""

from __future__ import annotations

import copy
from typing import Callable, Dict, Iterable, Optional, Set, Tuple

import torch
import torch.nn as nn

__all__ = ["DOMAINS", "DomainContext", "DomainBatchNorm1d", "DomainBatchNorm2d", "convert_domain_batchnorm",
           "norms_run_before", "drop_other_domains"]

DOMAINS: Tuple[str, ...] = ("source", "target", "mix")
_OTHERS = "other_domains"
_PLAIN = (nn.BatchNorm1d, nn.BatchNorm2d)
_STATE = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


class DomainContext:
    """How many domain chunks the batch now flowing through the model holds (1, 2 or 3); one object
    shared by every converted BN of a model (and copied with it, still shared, by ``deepcopy``)."""

    def __init__(self) -> None:
        self.num_domains = 1


class _DomainBatchNorm:
    """The behaviour shared by the 1d and 2d classes (a mixin placed before the torch BN class)."""

    context: DomainContext
    num_domains: int

    def _add_domains(self, bn: nn.Module, num_domains: int, context: DomainContext) -> None:
        if num_domains not in (2, 3):
            raise ValueError(f"DomainBatchNorm num_domains: {num_domains}; expected 2 (source, target) or 3 (+ mix)")
        self.num_domains = num_domains
        self.context = context
        others = [d for d in DOMAINS[:num_domains] if d != "target"]
        self.other_domains = nn.ModuleDict({d: copy.deepcopy(bn) for d in others})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.context.num_domains if self.training else 1
        if n == 1:
            return super().forward(x)  # type: ignore[misc]
        if n > self.num_domains:
            raise RuntimeError(f"DomainBatchNorm: the batch holds {n} domains, this BN keeps {self.num_domains} "
                               "(it runs before the IDM point); expected the IDM module after it")
        if x.shape[0] % n:
            raise ValueError(f"DomainBatchNorm: batch of {x.shape[0]} does not split into {n} equal domain chunks")
        chunks = x.chunk(n, dim=0)
        out = [self.other_domains["source"](chunks[0]), super().forward(chunks[1])]  # type: ignore[misc]
        if n == 3:
            out.append(self.other_domains["mix"](chunks[2]))
        return torch.cat(out, dim=0)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        # a checkpoint without this domain's keys (a plain model's) fills it with the target's values
        for d in self.other_domains:
            for name in _STATE:
                own, other = prefix + name, f"{prefix}{_OTHERS}.{d}.{name}"
                if own in state_dict and other not in state_dict:
                    state_dict[other] = state_dict[own]
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,  # type: ignore[misc]
                                      missing_keys, unexpected_keys, error_msgs)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", domains={DOMAINS[:self.num_domains]} (self = target)"  # type: ignore[misc]


class DomainBatchNorm1d(_DomainBatchNorm, nn.BatchNorm1d):
    """``BatchNorm1d`` per domain; itself the target's (see the module docstring)."""


class DomainBatchNorm2d(_DomainBatchNorm, nn.BatchNorm2d):
    """``BatchNorm2d`` per domain; itself the target's (see the module docstring)."""


def _from_plain(bn: nn.Module, num_domains: int, context: DomainContext) -> nn.Module:
    cls = DomainBatchNorm2d if isinstance(bn, nn.BatchNorm2d) else DomainBatchNorm1d
    new = cls(bn.num_features, eps=bn.eps, momentum=bn.momentum, affine=bn.affine,
              track_running_stats=bn.track_running_stats)
    new._add_domains(bn, num_domains, context)  # the other domains: copies of ``bn``
    new.load_state_dict(bn.state_dict(), strict=False)  # the target: ``bn``'s values
    for name in ("weight", "bias"):
        if getattr(bn, name) is not None:
            getattr(new, name).requires_grad_(getattr(bn, name).requires_grad)  # e.g. BNNeck's frozen bias
    ref = next(bn.buffers(), None) if bn.weight is None else bn.weight
    return new.to(ref.device) if ref is not None else new


def convert_domain_batchnorm(model: nn.Module, context: DomainContext,
                             domains_of: Callable[[str], int] = lambda name: 3) -> int:
    """Replace, in place, every plain ``BatchNorm1d`` / ``BatchNorm2d`` of ``model`` by its domain-specific
    version sharing ``context``; ``domains_of(qualified name)`` gives its domain count (2 or 3). Each
    domain starts as a copy of the BN (weights, statistics, frozen parameters). Returns how many."""

    def convert(module: nn.Module, prefix: str) -> int:
        count = 0
        for name, child in list(module.named_children()):
            full = prefix + name
            if type(child) in _PLAIN:
                setattr(module, name, _from_plain(child, domains_of(full), context))
                count += 1
            else:
                count += convert(child, full + ".")
        return count

    return convert(model, "")


@torch.no_grad()
def norms_run_before(net: nn.Module, point: nn.Module, sample: torch.Tensor) -> Tuple[Set[str], Optional[int]]:
    """The BatchNorms of ``net`` that run before ``point`` returns (qualified names), and the channels of
    ``point``'s output, found by one eval-mode forward pass of ``sample``: the generic answer to
    "which BNs see only source and target" for any backbone and any IDM point."""
    norm_types = nn.modules.batchnorm._BatchNorm
    names: Dict[nn.Module, str] = {m: n for n, m in net.named_modules() if isinstance(m, norm_types)}
    seen: Set[str] = set()
    state = {"passed": False, "channels": None}

    def before_norm(module, inputs):
        if not state["passed"]:
            seen.add(names[module])

    def after_point(module, inputs, output):
        state["passed"] = True
        state["channels"] = int(output.shape[1])

    handles = [m.register_forward_pre_hook(before_norm) for m in names]
    handles.append(point.register_forward_hook(after_point))
    was_training = net.training
    try:
        net.eval()
        net(sample)
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    if not state["passed"]:
        raise RuntimeError("norms_run_before: the IDM point never ran in the backbone's forward pass")
    return seen, state["channels"]


def drop_other_domains(state_dict: Dict[str, torch.Tensor],
                       extra_prefixes: Iterable[str] = ()) -> Dict[str, torch.Tensor]:
    """A converted model's state dict without the source / mix BNs (and keys under ``extra_prefixes``):
    the state dict of the same model built without DSBN, holding the target's BNs."""
    prefixes = tuple(extra_prefixes)
    return {k: v for k, v in state_dict.items()
            if f".{_OTHERS}." not in f".{k}" and not (prefixes and k.startswith(prefixes))}
