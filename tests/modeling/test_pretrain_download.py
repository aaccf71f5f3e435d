"""ImageNet weights: a URL is fetched once into torch.hub's cache and hash-checked; offline or without
published weights the build stops in one line naming both ways on. Only file:// and a closed local port
are used: no test touches the network."""

import hashlib

import pytest
import torch

from fastreid.config import get_cfg
from fastreid.modeling.backbones import build_backbone
from fastreid.modeling.backbones.pretrain import PretrainDownloadError, resolve_pretrain_path
from fastreid.utils.errors import ConfigValueError


@pytest.fixture
def hub(tmp_path):
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "torch_home" / "hub"))
    yield tmp_path
    torch.hub.set_dir(previous)


def _published(tmp_path, state):
    raw = tmp_path / "raw.pth"
    torch.save(state, raw)
    digest = hashlib.sha256(raw.read_bytes()).hexdigest()
    named = tmp_path / "server" / f"osnet_imagenet-{digest[:8]}.pth"
    named.parent.mkdir()
    named.write_bytes(raw.read_bytes())
    return named


def test_a_url_is_downloaded_once_hash_checked_and_loaded(hub):
    torch.manual_seed(1)
    cfg = get_cfg(plugins=True)
    cfg.MODEL.BACKBONE.NAME = "osnet"
    reference = build_backbone(cfg)
    named = _published(hub, reference.state_dict())
    cfg.MODEL.BACKBONE.PRETRAIN = True
    cfg.MODEL.BACKBONE.PRETRAIN_PATH = named.as_uri()
    torch.manual_seed(2)
    loaded = build_backbone(cfg)
    cached = hub / "torch_home" / "hub" / "checkpoints" / named.name
    assert cached.is_file()
    for k, v in reference.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    named.unlink()  # the cache serves the second build
    assert resolve_pretrain_path(named.as_uri(), "osnet") == str(cached)


def test_a_file_that_does_not_match_its_hash_is_refused(hub):
    named = _published(hub, {"w": torch.zeros(3)})
    bad = named.with_name("weights-00000000.pth")
    named.rename(bad)
    with pytest.raises(PretrainDownloadError, match="does not match the SHA-256 prefix"):
        resolve_pretrain_path(bad.as_uri(), "resnet50")
    assert not (hub / "torch_home" / "hub" / "checkpoints" / bad.name).exists()


def test_offline_and_unpublished_weights_stop_in_one_line_naming_both_ways_on(hub):
    with pytest.raises(PretrainDownloadError, match=r"cannot download .*PRETRAIN False.*PRETRAIN_PATH <local"):
        resolve_pretrain_path("http://127.0.0.1:9/resnet50-0676ba61.pth", "resnet50")
    cfg = get_cfg(plugins=True)
    cfg.MODEL.BACKBONE.NAME = "osnet"
    cfg.MODEL.BACKBONE.PRETRAIN = True
    with pytest.raises(ConfigValueError, match=r"no ImageNet weights are published for 'osnet'.*PRETRAIN False"):
        build_backbone(cfg)
