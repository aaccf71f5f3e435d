"""IDM (Dai et al., ICCV 2021): an intermediate domain module between a labelled source and an
unlabelled target, and the model that trains with it.

- :class:`IntermediateDomainModule`: given a map ``[x_s; x_t]`` (B source then B target samples), one
  mixing ratio pair per (source, target) pair from the *detached* map: per half, concat(GAP, GMP) -> a
  shared FC ``2C -> C``; the two halves summed -> FC ``C -> C/2`` -> FC ``C/2 -> 2`` -> softmax, no
  activations; returns ``[x_s; x_t; lambda_s x_s + lambda_t x_t]`` and the ratios.
- :class:`IDMBaseline`: the toolbox's ``Baseline`` (same backbone, same ``EmbeddingHead``, same state-dict
  names) with every BN made domain-specific (:mod:`unsupreid.dsbn`: source / target before the IDM point,
  source / target / mix after it, the head's BN neck included), the IDM applied by a forward hook on the
  backbone module named by ``UNSUP.IDM.STAGE`` (:data:`IDM_POINTS`; training only), and IDM's losses
  (:mod:`unsupreid.idm_loss`) in place of MODEL.LOSSES. The classifier is the head's own bias-free
  linear layer, sized ``|S| + |T images|`` (IDM's bound on the cluster count) and cut to the classes in use
  (``active_classes``: ``|S|`` + this round's clusters); the trainer writes its rows
  (:meth:`IDMBaseline.set_class_rows`). In eval mode the model is a plain ``Baseline`` with the target's
  BNs: the IDM hook passes through and :func:`fastreid.modeling.inference.inference_model` folds it.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from fastreid.layers import LinearClassifier
from fastreid.modeling.heads.embedding_head import EmbeddingHead
from fastreid.modeling.losses.functional import accuracy
from fastreid.modeling.meta_arch.baseline import Baseline
from fastreid.utils.checkpoint import load_torch_file
from fastreid.utils.errors import ConfigValueError
from fastreid.utils.events import current_storage
from fastreid.utils.file_io import atomic_open

from .dsbn import DomainContext, convert_domain_batchnorm, drop_other_domains, norms_run_before
from .idm_loss import idm_losses

__all__ = ["IDM_POINTS", "idm_point", "IntermediateDomainModule", "IDMBaseline", "deployable_state_dict",
           "export_deployable"]

# The backbone module after which the IDM mixes, per UNSUP.IDM.STAGE (0 = after the stem).
IDM_POINTS: Dict[str, Tuple[str, ...]] = {
    # stem = conv1-bn1-relu-maxpool (64 channels): IDM hooks its last op
    "resnet50": ("maxpool", "layer1", "layer2", "layer3", "layer4"),
    # stem = 7x7 ConvBNReLU + max pool (64 channels); stage k ends with its transition (k < 3)
    "osnet": ("stem", "stage1", "stage2", "stage3"),
    # stem = 7x7 ConvBNReLU + max pool (64 channels); stage k before its transition
    "msinet": ("stem", "stage1", "stage2", "stage3"),
}
_ALIASES = {"build_resnet_backbone": "resnet50", "osnet_x1_0": "osnet"}


def idm_point(backbone_name: str, stage: int) -> str:
    """The name of the backbone module whose output the IDM mixes for ``UNSUP.IDM.STAGE`` ``stage``."""
    key = _ALIASES.get(str(backbone_name).lower(), str(backbone_name).lower())
    if key not in IDM_POINTS:
        raise ConfigValueError(f"MODEL.BACKBONE.NAME: '{backbone_name}' has no IDM point; expected one of "
                               f"{', '.join(IDM_POINTS)} with UNSUP.IDM.ENABLED")
    points = IDM_POINTS[key]
    if isinstance(stage, bool) or not isinstance(stage, int) or not 0 <= stage < len(points):
        raise ConfigValueError(f"UNSUP.IDM.STAGE: {stage!r}; expected an integer in 0..{len(points) - 1} for "
                               f"{key} (0 = after the stem '{points[0]}', k = after '{points[-1][:-1]}k')")
    return points[stage]


class IntermediateDomainModule(nn.Module):
    """IDM's mixing module for maps of ``channels`` channels; see the module docstring.

    ``forward(x (2B, C, h, w)) -> (x_out (3B, C, h, w), lambdas (B, 2))``. As a forward hook
    (:meth:`mix_hook`) it runs in training only, reads and raises the shared :class:`DomainContext`, and
    keeps the ratios for the loss (:meth:`take_lambdas`).
    """

    def __init__(self, channels: int, context: Optional[DomainContext] = None) -> None:
        super().__init__()
        if channels < 2:
            raise ValueError(f"IntermediateDomainModule channels: {channels}; expected >= 2")
        self.fc_pool = nn.Linear(2 * channels, channels)  # shared by the source and target halves
        self.fc_mid = nn.Linear(channels, channels // 2)
        self.fc_out = nn.Linear(channels // 2, 2)
        self.context = context if context is not None else DomainContext()
        self._lambdas: Optional[torch.Tensor] = None

    def ratios(self, x_s: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
        """(B, 2) softmax ratios ``(lambda_s, lambda_t)`` from the detached halves."""

        def pooled(x: torch.Tensor) -> torch.Tensor:
            x = x.detach()
            return self.fc_pool(torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1))

        return torch.softmax(self.fc_out(self.fc_mid(pooled(x_s) + pooled(x_t))), dim=1)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 4 or x.shape[0] % 2:
            raise ValueError(f"IntermediateDomainModule: input {tuple(x.shape)}; expected (2B, C, h, w) = "
                             "[source; target]")
        x_s, x_t = x.chunk(2, dim=0)
        lam = self.ratios(x_s, x_t)
        mixed = lam[:, 0].view(-1, 1, 1, 1).to(x.dtype) * x_s + lam[:, 1].view(-1, 1, 1, 1).to(x.dtype) * x_t
        return torch.cat([x_s, x_t, mixed], dim=0), lam

    def mix_hook(self, module: nn.Module, inputs, output: torch.Tensor) -> Optional[torch.Tensor]:
        """Forward hook on the IDM point: in training, ``[x_s; x_t] -> [x_s; x_t; x_mix]``, context 2 -> 3."""
        if not self.training:
            return None
        if self.context.num_domains != 2:
            raise RuntimeError(f"IDM: the batch holds {self.context.num_domains} domain(s) at the IDM point; "
                               "expected [source; target] (IDMBaseline sets this)")
        out, self._lambdas = self(output)
        self.context.num_domains = 3
        return out

    def take_lambdas(self) -> torch.Tensor:
        """The ratios of the last forward pass (then forgotten: a kept graph would block ``deepcopy``)."""
        lam, self._lambdas = self._lambdas, None
        if lam is None:
            raise RuntimeError("IDM: no mixing ratios; the IDM point did not run in training mode")
        return lam


class IDMBaseline(Baseline):
    """``Baseline`` trained with IDM on ``[source; target]`` batches; see the module docstring.

    Args:
        backbone, heads, pixel_mean, pixel_std: as ``Baseline`` (``heads`` an ``EmbeddingHead`` with a BN
            neck and a linear classifier).
        point: the backbone module the IDM follows (:func:`idm_point`).
        sample_size: (H, W) of a training image, for the one forward pass that finds the BNs before the point.
        mu: (mu1, mu2, mu3); epsilon: label smoothing; triplet: keyword arguments of the triplet loss.
    """

    def __init__(self, backbone: nn.Module, heads: nn.Module, pixel_mean: Sequence[float], pixel_std: Sequence[float],
                 *, point: str, sample_size: Sequence[int], mu: Sequence[float] = (0.7, 0.1, 1.0),
                 epsilon: float = 0.1, triplet: Optional[Dict] = None) -> None:
        super().__init__(backbone, heads, nn.ModuleDict(), pixel_mean, pixel_std)
        if not isinstance(heads, EmbeddingHead) or not isinstance(heads.neck, nn.BatchNorm1d) \
                or type(heads.classifier) is not LinearClassifier:
            raise ConfigValueError("MODEL.HEADS: IDM trains EmbeddingHead with WITH_BNNECK True and CLS_LAYER "
                                   f"linear (IDM's BN neck + bias-free linear classifier); got {type(heads).__name__}")
        try:
            target = backbone.get_submodule(point)
        except AttributeError:
            raise ConfigValueError(f"UNSUP.IDM.STAGE: the backbone has no module '{point}'; expected one of its "
                                   "stages") from None
        device = next(backbone.parameters()).device
        sample = torch.zeros(1, 3, int(sample_size[0]), int(sample_size[1]), device=device)
        before, channels = norms_run_before(backbone, target, sample)
        self.context = DomainContext()
        self.idm = IntermediateDomainModule(channels, self.context).to(device)
        before = {f"backbone.{n}" for n in before}
        convert_domain_batchnorm(self, self.context, lambda name: 2 if name in before else 3)
        target.register_forward_hook(self.idm.mix_hook)
        self.point = point
        self.mu = tuple(float(m) for m in mu)
        self.epsilon = float(epsilon)
        self.triplet = dict(triplet or {})
        self.active_classes = 0  # |S| + clusters of the current round; set by the trainer
        self.to(device)

    @classmethod
    def from_baseline(cls, model: Baseline, cfg) -> "IDMBaseline":
        """The IDM model around a built ``Baseline``'s backbone and head, on its device, from ``cfg``."""
        idm, tri = cfg.UNSUP.IDM, cfg.MODEL.LOSSES.TRI
        return cls(model.backbone, model.heads, cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD,
                   point=idm_point(cfg.MODEL.BACKBONE.NAME, idm.STAGE), sample_size=cfg.INPUT.SIZE_TRAIN,
                   mu=(idm.MU1, idm.MU2, idm.MU3), epsilon=cfg.MODEL.LOSSES.CE.EPSILON,
                   triplet={"margin": tri.MARGIN, "norm_feat": tri.NORM_FEAT, "hard_mining": tri.HARD_MINING,
                            "metric": tri.METRIC})

    @property
    def num_classes(self) -> int:
        """Rows of the classifier (``|S| + |T images|``)."""
        return self.heads.classifier.num_classes

    @torch.no_grad()
    def set_class_rows(self, start: int, rows: torch.Tensor) -> None:
        """Classifier rows ``start .. start + len(rows)`` := ``rows`` L2-normalised (IDM's class-mean
        initialisation: source identities once, target clusters every round)."""
        weight = self.heads.classifier.weight
        if rows.dim() != 2 or rows.shape[1] != weight.shape[1] or start < 0 or start + len(rows) > len(weight):
            raise ValueError(f"set_class_rows: rows {tuple(rows.shape)} at {start}; expected (n, {weight.shape[1]}) "
                             f"within the classifier's {len(weight)} rows")
        weight[start:start + len(rows)] = F.normalize(rows.float(), dim=1).to(weight)

    def forward(self, batch: Union[Dict, torch.Tensor]):
        if not self.training:
            return super().forward(batch)
        if not isinstance(batch, dict) or "targets" not in batch:
            raise ValueError("IDMBaseline in training mode needs a dict batch with 'targets' (2B,) long")
        if self.active_classes <= 0:
            raise RuntimeError("IDMBaseline: no classes in use yet; the source rows and a clustering round must be "
                               "set before the first iteration (unsupreid.IDMTrainer does)")
        images = self.preprocess_image(batch)
        targets = batch["targets"].to(self.device, non_blocking=True)
        if images.shape[0] % 2 or images.shape[0] < 4:
            raise ValueError(f"IDMBaseline: batch of {images.shape[0]} images; expected [source; target], two equal "
                             "halves of >= 2 images each")
        self.context.num_domains = 2
        try:
            final = self.backbone(images)["final"]
            lambdas = self.idm.take_lambdas()
            pooled = self.heads.reduction(self.heads.pool(final)).flatten(1)  # EmbeddingHead's feature, pre-neck
            neck = self.heads.neck(pooled)
        finally:
            self.context.num_domains = 1
            self.idm._lambdas = None  # even after an error: a kept graph would block deepcopy
        logits = self.heads.classifier.similarity(neck)[:, :self.active_classes]
        mu1, mu2, mu3 = self.mu
        terms = idm_losses(pooled, logits, lambdas, targets, mu1=mu1, mu2=mu2, mu3=mu3, epsilon=self.epsilon,
                           **self.triplet)
        storage = current_storage()
        if storage is not None:
            b = lambdas.shape[0]
            storage.put_scalar("cls_accuracy", accuracy(logits[:2 * b].detach(), targets))
            storage.put_scalar("idm/lambda_source_mean", float(lambdas[:, 0].detach().mean()))
            storage.put_scalar("idm/lambda_source_std", float(lambdas[:, 0].detach().std()))
        return terms


def deployable_state_dict(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """An IDM model's state dict as the plain ``Baseline`` of the same config holds it: the target's
    BNs, no source / mix BNs, no IDM module. Loads strictly into the model built without IDM."""
    return drop_other_domains(state_dict, extra_prefixes=("idm.",))


def export_deployable(src: str, dst: str) -> str:
    """Write checkpoint ``src`` of an IDM run as ``dst``: :func:`deployable_state_dict` of its weights with
    its ``num_classes`` / ``epoch`` / ``best_metric``, which the toolbox's tools (``DefaultPredictor``)
    load strictly with the run's config; returns ``dst``."""
    data = load_torch_file(src)
    out = {"model": deployable_state_dict(data["model"])}
    out.update({k: data[k] for k in ("num_classes", "epoch", "best_metric") if k in data})
    with atomic_open(dst, "wb") as f:
        torch.save(out, f)
    return dst
