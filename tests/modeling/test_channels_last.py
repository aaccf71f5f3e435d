"""MODEL.CHANNELS_LAST: the model is built in channels_last memory format and a training step computes the
same losses and gradients as the default format: exactly up to float64 rounding, and in float32 within
the rounding error float32 itself makes on this step (the scale is simulated, see ``fastreid.utils.testing``)."""

import pytest
import torch
import torch.nn as nn

from fastreid.config import get_cfg
from fastreid.modeling import build_model
from fastreid.utils.testing import FLOAT32_MARGIN, U32, U64, float32_rounding, relative_error


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
    """Losses (as 0-d tensors) and gradients (as float64) of one training step."""
    model.to(dtype).train()
    out = model({"images": batch["images"].to(dtype), "targets": batch["targets"]})
    sum(out.values()).backward()
    grads = {n: p.grad.double() for n, p in model.named_parameters() if p.grad is not None}
    return {k: v.detach().double() for k, v in out.items()}, grads


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
    exact = _step(_build(name, False), batch, torch.float64)

    def rounded_step(seed):
        model = _build(name, False)
        with float32_rounding(model, seed):
            return _step(model, batch, torch.float64)

    # this step's float32 error scale, for the losses (forward rounding only) and for the gradients
    # (train-mode BN on 8 images amplifies rounding to a few percent)
    rounded = [rounded_step(seed) for seed in range(3)]
    scales = [sum(relative_error(r[part], exact[part]) for r in rounded) / len(rounded) for part in (0, 1)]

    # the same arithmetic in float64: channels_last differs from the default format by float64 rounding only
    in_float64 = _step(fast, batch, torch.float64)
    for part, what in enumerate(("losses", "gradients")):
        error = relative_error(in_float64[part], exact[part])
        assert error <= FLOAT32_MARGIN * scales[part] * U64 / U32, (what, error, scales[part])

    # in float32 both formats stay within float32's own rounding error of the exact step
    for channels_last in (False, True):
        in_float32 = _step(_build(name, channels_last), batch)
        for part, what in enumerate(("losses", "gradients")):
            error = relative_error(in_float32[part], exact[part])
            assert error <= FLOAT32_MARGIN * scales[part], (channels_last, what, error, scales[part])
