"""MODEL.CHANNELS_LAST: the model is built in channels_last memory format and a training step gives the
same losses and gradients as the default format, within float tolerance."""

import pytest
import torch
import torch.nn as nn

from fastreid.config import get_cfg
from fastreid.modeling import build_model

torch.set_num_threads(1)


def _build(name: str, channels_last: bool) -> nn.Module:
    cfg = get_cfg(plugins=True)
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.BACKBONE.NAME = name
    cfg.MODEL.HEADS.NAME = "FBLNeck" if name == "msinet" else "EmbeddingHead"
    cfg.MODEL.HEADS.NUM_CLASSES = 4
    cfg.MODEL.LOSSES.NAME = ("CrossEntropyLoss", "TripletLoss")
    cfg.MODEL.CHANNELS_LAST = channels_last
    torch.manual_seed(0)
    return build_model(cfg)


def _step(model: nn.Module, batch, dtype=torch.float32):
    """Losses and gradients (as float64) of one training step."""
    model.to(dtype).train()
    out = model({"images": batch["images"].to(dtype), "targets": batch["targets"]})
    sum(out.values()).backward()
    grads = {n: p.grad.double() for n, p in model.named_parameters() if p.grad is not None}
    return {k: v.item() for k, v in out.items()}, grads


def _relative_error(grads, reference) -> float:
    diff = sum(((grads[n] - reference[n]) ** 2).sum() for n in reference).sqrt()
    return float(diff / sum((g ** 2).sum() for g in reference.values()).sqrt())


@pytest.mark.parametrize("name", ["msinet", "osnet", "resnet50"])
def test_a_channels_last_training_step_matches_the_default_format(name):
    fast = _build(name, True)
    convs = [m.weight for m in fast.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    batch = {"images": torch.rand(8, 3, 64, 32, generator=torch.Generator().manual_seed(1)) * 255,
             "targets": torch.arange(8) // 2}
    with torch.no_grad():
        features = fast.backbone(fast.preprocess_image(batch))  # a tensor, or MSINet's dict of stages
        for f in features.values() if isinstance(features, dict) else [features]:
            assert f.is_contiguous(memory_format=torch.channels_last)
    ref_losses, reference = _step(_build(name, False), batch, torch.float64)
    plain_losses, plain = _step(_build(name, False), batch)
    fast_losses, fast_grads = _step(fast, batch)
    for key in ref_losses:
        assert fast_losses[key] == pytest.approx(ref_losses[key], rel=1e-4, abs=1e-4), key
    # float32 itself is a few percent off float64 here (train-mode BN on 8 images amplifies rounding):
    # channels_last must be as close to the float64 step as the default format is
    plain_error, fast_error = _relative_error(plain, reference), _relative_error(fast_grads, reference)
    assert fast_error <= 3 * plain_error + 1e-3, (fast_error, plain_error)
