"""Every registered backbone with every registered head, without writing a test per model (timm's way):
a training step gives finite losses and a finite gradient to every trainable parameter, and the eval
model exports to ONNX with a dynamic batch axis whose ONNX Runtime output matches PyTorch. A newly
registered backbone or head is covered by being registered."""

import io

import pytest
import torch

from fastreid.config import get_cfg
from fastreid.modeling import build_model
from fastreid.modeling.backbones import BACKBONE_REGISTRY
from fastreid.modeling.heads import HEADS_REGISTRY
from fastreid.utils.testing import assert_within_float32_rounding

torch.set_num_threads(1)
get_cfg(plugins=True)  # the installed projects register their models

SUPERNETS = {"msinet_supernet"}  # built under the search's meta-architecture, which has its own head
# options a pair needs beyond the defaults (FBLNeck's part branch reads ResNet's layer3)
PAIR_OPTS = {("resnet50", "FBLNeck"): ["MODEL.MSINET.PART_FEATURE", "layer3"]}


def _distinct(registry):
    """One name per registered object (aliases of the same builder are tested once, under the name a
    config would use: not a ``build_*`` function name, the shortest)."""
    names = {}
    for name, obj in registry:  # (name, object) pairs, aliases included
        names.setdefault(id(obj), []).append(name)
    return sorted(min(group, key=lambda n: (n.startswith("build_"), len(n), n)) for group in names.values())


CASES = [(b, h) for b in _distinct(BACKBONE_REGISTRY) if b not in SUPERNETS for h in _distinct(HEADS_REGISTRY)]
CASES += [(b, None) for b in sorted(SUPERNETS & set(BACKBONE_REGISTRY.names()))]


def _build(backbone: str, head):
    cfg = get_cfg(plugins=True)
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.BACKBONE.NAME", backbone, "MODEL.HEADS.NUM_CLASSES", "4",
                         "MODEL.LOSSES.NAME", "('CrossEntropyLoss', 'TripletLoss')", *PAIR_OPTS.get((backbone, head), [])])
    if head is None:
        cfg.merge_from_list(["MODEL.META_ARCHITECTURE", "SearchBaseline"])
    else:
        cfg.merge_from_list(["MODEL.HEADS.NAME", head])
    torch.manual_seed(0)
    return build_model(cfg)


def _batch():
    g = torch.Generator().manual_seed(0)
    return {"images": torch.rand(4, 3, 64, 32, generator=g) * 255, "targets": torch.tensor([0, 0, 1, 1])}


@pytest.mark.parametrize("backbone, head", CASES, ids=[f"{b}-{h or 'search'}" for b, h in CASES])
def test_training_step_reaches_every_parameter(backbone, head):
    model = _build(backbone, head).train()
    out = model(_batch())
    if head is None:  # the search model returns features for its objectives
        out = {"features": out["features"].pow(2).mean()}
    assert out and all(torch.isfinite(v).all() for v in out.values())
    sum(v.sum() for v in out.values()).backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    no_grad = [n for n, p in trainable if p.grad is None]
    assert not no_grad, f"parameters without a gradient: {no_grad}"
    assert all(torch.isfinite(p.grad).all() for _, p in trainable)


@pytest.mark.parametrize("backbone, head", CASES, ids=[f"{b}-{h or 'search'}" for b, h in CASES])
def test_eval_model_exports_to_onnx_with_a_dynamic_batch(backbone, head):
    import onnxruntime as ort

    model = _build(backbone, head).eval()
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(model, (torch.rand(2, 3, 64, 32) * 255,), buf, input_names=["images"],
                          output_names=["features"], opset_version=17, dynamo=False,
                          dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}})
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    for n in (1, 3):
        x = torch.rand(n, 3, 64, 32, generator=torch.Generator().manual_seed(n)) * 255
        got = session.run(["features"], {"images": x.numpy()})[0]
        assert got.shape == (n, model(x[:1]).shape[1])
        # ONNX Runtime's kernels: the exact (float64) features up to float32 rounding
        assert_within_float32_rounding(torch.from_numpy(got), lambda m, x=x: m(x.double()), model)
