"""EmbeddingHead behaviour, pooling and the cosine-margin classifiers on hand-checked values."""

import math

import pytest
import torch
import torch.nn.functional as F

from fastreid.layers import GeneralizedMeanPooling, build_classifier, build_pooling
from fastreid.modeling.heads import EmbeddingHead, build_heads


def _maps(b=4, c=8):
    return {"final": torch.rand(b, c, 4, 2) + 0.1}


def test_gem_pooling_with_p_one_is_average_and_large_p_tends_to_max():
    x = torch.rand(2, 3, 4, 2) + 0.1
    torch.testing.assert_close(GeneralizedMeanPooling(p=1.0)(x), x.mean(dim=(2, 3), keepdim=True))
    torch.testing.assert_close(GeneralizedMeanPooling(p=200.0)(x), x.amax(dim=(2, 3), keepdim=True),
                               atol=2e-2, rtol=0)


def test_unknown_pooling_and_classifier_list_the_choices():
    with pytest.raises(ValueError, match="POOL_LAYER.*avg, max, gem"):
        build_pooling("GlobalAvgPool")
    with pytest.raises(ValueError, match="CLS_LAYER.*linear, cosface, arcface, circle"):
        build_classifier("softmax", 4, 3)


def test_cosface_target_logit_is_scaled_cosine_minus_margin():
    clf = build_classifier("cosface", 2, 2, scale=10.0, margin=0.25)
    with torch.no_grad():
        clf.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    x = torch.tensor([[3.0, 4.0]])  # cos with class 0 = 0.6, class 1 = 0.8
    torch.testing.assert_close(clf(x, torch.tensor([0])), torch.tensor([[10 * (0.6 - 0.25), 8.0]]))
    torch.testing.assert_close(clf.apply_margin(clf.similarity(x)), torch.tensor([[6.0, 8.0]]))


def test_arcface_target_logit_is_cosine_of_angle_plus_margin():
    clf = build_classifier("arcface", 2, 2, scale=4.0, margin=0.5)
    with torch.no_grad():
        clf.weight.copy_(torch.eye(2))
    x = torch.tensor([[3.0, 4.0]])
    theta = math.acos(0.8)
    torch.testing.assert_close(clf(x, torch.tensor([1])), torch.tensor([[4 * 0.6, 4 * math.cos(theta + 0.5)]]))


def test_circle_logits_match_hand_formula():
    clf = build_classifier("circle", 2, 2, scale=2.0, margin=0.25)
    with torch.no_grad():
        clf.weight.copy_(torch.eye(2))
    x = torch.tensor([[3.0, 4.0]])  # cos: 0.6 (target), 0.8
    target = (1 + 0.25 - 0.6) * (0.6 - 0.75)
    other = (0.8 + 0.25) * (0.8 - 0.25)
    torch.testing.assert_close(clf(x, torch.tensor([0])), torch.tensor([[2 * target, 2 * other]]))


def test_head_training_output_follows_the_heads_contract():
    head = EmbeddingHead(8, 5, embedding_dim=6).train()
    out = head(_maps(), torch.tensor([0, 1, 2, 3]))
    assert out["logits"]["global"].shape == (4, 5)
    assert out["features"]["global"].shape == (4, 6)
    assert out["pred_logits"]["global"].shape == (4, 5)


@pytest.mark.parametrize("neck_feat", ["before", "after"])
def test_eval_returns_the_feature_named_by_neck_feat(neck_feat):
    head = EmbeddingHead(8, 5, neck_feat=neck_feat).train()
    maps = _maps()
    head(maps, torch.arange(4))  # moves the BN running statistics away from 0 / 1
    head.eval()
    pooled = maps["final"].mean(dim=(2, 3))
    bn = head.neck
    after = (pooled - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight
    expected = pooled if neck_feat == "before" else after
    torch.testing.assert_close(head(maps), expected)


def test_bnneck_bias_is_frozen_and_stays_zero():
    head = EmbeddingHead(8, 5).train()
    assert head.neck.bias.requires_grad is False
    out = head(_maps(), torch.arange(4))
    F.cross_entropy(out["logits"]["global"], torch.arange(4)).backward()
    assert head.neck.bias.grad is None and torch.count_nonzero(head.neck.bias) == 0


def test_builder_reads_final_channels_and_rejects_missing_num_classes(cfg):
    cfg.MODEL.HEADS.POOL_LAYER, cfg.MODEL.HEADS.CLS_LAYER = "gem", "cosface"
    cfg.MODEL.HEADS.SCALE, cfg.MODEL.HEADS.MARGIN = 30.0, 0.35
    head = build_heads(cfg, {"final": 8, "stage2": 3})
    assert head.classifier.weight.shape == (4, 8) and head.classifier.scale == 30.0
    assert isinstance(head.pool, GeneralizedMeanPooling)
    cfg.MODEL.HEADS.NUM_CLASSES = 0
    with pytest.raises(ValueError, match="NUM_CLASSES"):
        build_heads(cfg, {"final": 8})
