"""Converter from the authors' checkpoint layout: every tensor lands, strict loading, same features."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fastreid.modeling.meta_arch.build import build_model
from msinet.convert import convert_official_state_dict, extract_state_dict

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference"
REPO = Path(__file__).resolve().parents[2]


def _official_state(name):
    """A state dict with exactly the authors' keys and shapes (TSV), random values, valid BN stats."""
    g = torch.Generator().manual_seed(0)
    state = {}
    for line in (REFERENCE / name).read_text().splitlines()[1:]:
        key, shape = line.split("\t")
        if shape == "scalar":
            state[key] = torch.tensor(7)
            continue
        dims = [int(d) for d in shape.split("x")]
        value = torch.randn(dims, generator=g) * 0.1
        if key.endswith("running_var"):
            value = value.abs() + 0.5
        elif key.endswith(".gamma"):
            value = torch.full(dims, 0.3)
        state[key] = value
    return state


def _cfg(msinet_cfg, sam):
    msinet_cfg.MODEL.HEADS.NUM_CLASSES = 751
    if sam:
        msinet_cfg.MODEL.LOSSES.NAME = ("CrossEntropyLoss", "TripletLoss", "SpatialAlignLoss")
    return msinet_cfg


@pytest.mark.parametrize("tsv, sam", [("official-msinet-state-dict.tsv", False),
                                      ("official-msinet-sam-state-dict.tsv", True)])
def test_every_official_tensor_maps_one_to_one_and_loads_strictly(msinet_cfg, tsv, sam):
    official = _official_state(tsv)
    converted = convert_official_state_dict({"state_dict": {"module." + k: v for k, v in official.items()}})
    assert len(converted) == len(official)
    model = build_model(_cfg(msinet_cfg, sam))
    own = model.state_dict()
    assert set(converted) == set(own)
    assert all(own[k].shape == v.shape for k, v in converted.items())
    model.load_state_dict(converted, strict=True)


def test_unknown_keys_are_reported():
    with pytest.raises(ValueError, match="1 keys have no counterpart.*extra.weight"):
        convert_official_state_dict({"extra.weight": torch.zeros(1)})


def _reference_forward(sd, x):
    """The authors' MSINet test forward written directly on their keys (eval-mode BN)."""
    ops = ["gate", "gate", "exchange", "gate", "attention", "gate",
           "gate", "none", "gate", "attention", "exchange", "attention"]

    def bn(t, p):
        return F.batch_norm(t, sd[p + "running_mean"], sd[p + "running_var"], sd[p + "weight"], sd[p + "bias"],
                            False, 0.0, 1e-5)

    def conv_bn(t, p, relu=True, **kw):
        t = bn(F.conv2d(t, sd[p + "conv.weight"], **kw), p + "bn.")
        return F.relu(t) if relu else t

    def light(t, p):
        t = F.conv2d(t, sd[p + "conv1.weight"])
        t = F.conv2d(t, sd[p + "conv2.weight"], padding=1, groups=t.shape[1])
        return F.relu(bn(t, p + "bn."))

    def interact(a, b, op, p):
        if op == "exchange":
            return b, a
        if op == "gate":
            def gate(t):
                s = F.adaptive_avg_pool2d(t, 1)
                s = F.conv2d(F.relu(F.conv2d(s, sd[p + "fc1.weight"], sd[p + "fc1.bias"])),
                             sd[p + "fc2.weight"], sd[p + "fc2.bias"])
                return t * torch.sigmoid(s)
            return gate(a), gate(b)
        if op == "attention":
            B, C, H, W = a.shape
            qa, qb = a.reshape(B, C, -1), b.reshape(B, C, -1)

            def out(energy, t):
                att = torch.softmax(energy.max(-1, keepdim=True)[0] - energy, dim=-1)
                return sd[p + "gamma"] * (att @ t.reshape(B, C, -1)).reshape(B, C, H, W) + t
            return out(qa @ qb.transpose(1, 2), a), out(qb @ qa.transpose(1, 2), b)
        return a, b

    def cell(t, p, pair):
        a, b = conv_bn(t, p + "conv1a."), conv_bn(t, p + "conv1b.")
        a = light(a, p + "conv2a.")
        for i in range(3):
            b = light(b, p + f"conv2b.{i}.")
        a, b = interact(a, b, pair[0], p + "_op2.")
        a = light(a, p + "conv3a.")
        for i in range(3):
            b = light(b, p + f"conv3b.{i}.")
        a, b = interact(a, b, pair[1], p + "_op3.")
        y = conv_bn(a, p + "conv4a.", relu=False) + conv_bn(b, p + "conv4b.", relu=False)
        short = conv_bn(t, p + "downsample.", relu=False) if p + "downsample.conv.weight" in sd else t
        return F.relu(y + short)

    t = F.max_pool2d(conv_bn(x, "conv1.", stride=2, padding=3), 3, 2, 1)
    k = 0
    for idx in range(8):
        if idx in (2, 5):
            t = F.avg_pool2d(conv_bn(t, f"cells.{idx}.0."), 2, 2)
            if idx == 5:
                f_x = t
        else:
            t = cell(t, f"cells.{idx}.", ops[2 * k:2 * k + 2])
            k += 1
    v = t.mean(dim=(2, 3))
    f = F.conv2d(f_x, sd["f_conv.weight"], sd["f_conv.bias"])
    h = f.shape[2]
    f_v = torch.cat([f[:, :, :h // 2].mean(dim=(2, 3)), f[:, :, h // 2:].mean(dim=(2, 3))], dim=1)
    return torch.cat([v, f_v], dim=1)


def test_converted_model_gives_the_reference_features_for_the_same_pixels(msinet_cfg):
    official = _official_state("official-msinet-sam-state-dict.tsv")
    model = build_model(_cfg(msinet_cfg, sam=True)).eval()
    model.load_state_dict(convert_official_state_dict(official), strict=True)
    pixels = torch.rand(2, 3, 64, 32, generator=torch.Generator().manual_seed(1)) * 255
    with torch.no_grad():
        ours = model(pixels)
        mean = torch.tensor(msinet_cfg.MODEL.PIXEL_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(msinet_cfg.MODEL.PIXEL_STD).view(1, 3, 1, 1)
        ref = _reference_forward(official, (pixels - mean) / std)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)


def test_command_line_tool_writes_a_loadable_checkpoint(tmp_path, msinet_cfg):
    src, dst = tmp_path / "official.pth.tar", tmp_path / "converted.pth"
    torch.save({"state_dict": _official_state("official-msinet-state-dict.tsv"), "epoch": 350}, src)
    tool = REPO / "projects" / "MSINet" / "tools" / "convert_official.py"
    subprocess.run([sys.executable, str(tool), str(src), str(dst)], check=True, capture_output=True)
    converted = extract_state_dict(torch.load(dst, map_location="cpu"))
    build_model(_cfg(msinet_cfg, sam=False)).load_state_dict(converted, strict=True)


def test_an_authors_imagenet_file_loads_its_backbone_and_reports_the_rest_with_counts(msinet_cfg, tmp_path, caplog):
    import logging

    from fastreid.modeling.backbones import build_backbone

    official = _official_state("official-msinet-state-dict.tsv")
    backbone_keys = [k for k in official if k.startswith(("conv1.", "cells."))]
    # an ImageNet file in the authors' layout: their backbone plus a 1000-class classifier (no ReID neck)
    imagenet = {k: official[k] for k in backbone_keys}
    imagenet.update({"classifier.weight": torch.zeros(1000, 512), "classifier.bias": torch.zeros(1000)})
    path = tmp_path / "msinet_imagenet.pth.tar"
    torch.save({"state_dict": {"module." + k: v for k, v in imagenet.items()}}, path)
    msinet_cfg.MODEL.BACKBONE.PRETRAIN, msinet_cfg.MODEL.BACKBONE.PRETRAIN_PATH = True, str(path)
    with caplog.at_level(logging.INFO):
        backbone = build_backbone(msinet_cfg)
    own = backbone.state_dict()
    assert len(own) == len(backbone_keys)  # every tensor of our backbone has an authors' counterpart ...
    torch.testing.assert_close(own["stem.0.conv.weight"], official["conv1.conv.weight"])
    reports = [r for r in caplog.records if "tensors of MSINet loaded" in r.getMessage()]
    assert len(reports) == 1 and reports[0].levelno == logging.WARNING
    message = reports[0].getMessage()
    # ... all of them load; the ImageNet classifier is reported, counted and named
    assert f"{len(own)} of the {len(own)} tensors of MSINet loaded" in message
    assert "2 file tensors the model has no name for: classifier.weight, classifier.bias" in message
    assert "keep their initialisation" not in message


def test_our_own_backbone_file_loads_silently_at_info(msinet_cfg, tmp_path, caplog):
    import logging

    from fastreid.modeling.backbones import build_backbone

    torch.manual_seed(1)
    path = tmp_path / "ours.pth"
    torch.save(build_backbone(msinet_cfg).state_dict(), path)
    msinet_cfg.MODEL.BACKBONE.PRETRAIN, msinet_cfg.MODEL.BACKBONE.PRETRAIN_PATH = True, str(path)
    with caplog.at_level(logging.INFO):
        build_backbone(msinet_cfg)
    reports = [r for r in caplog.records if "tensors of MSINet loaded" in r.getMessage()]
    assert len(reports) == 1 and reports[0].levelno == logging.INFO
    assert "every tensor matched by name and shape" in reports[0].getMessage()
