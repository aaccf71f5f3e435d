"""Registries (case-insensitive lookup, helpful unknown-name errors) and entry-point plugin discovery."""

import sys
from importlib import metadata

import pytest

from fastreid.utils.plugins import CONFIG_GROUP, PLUGIN_GROUP, load_plugins
from fastreid.utils.registry import Registry, UnknownNameError


def _reg():
    reg = Registry("TOY")

    @reg.register(name="resnet50", aliases=("r50",))
    def build_resnet(x):
        return ("resnet", x)

    @reg.register()
    def OSNet():
        return "osnet"

    return reg


def test_lookup_ignores_case_and_follows_aliases():
    reg = _reg()
    assert reg.get("ResNet50")(1) == ("resnet", 1)
    assert reg.get("R50") is reg.get("resnet50")
    assert reg.get("osnet")() == "osnet"
    assert reg.build("RESNET50", 2) == ("resnet", 2)


def test_unknown_name_lists_the_registered_ones_and_the_closest():
    with pytest.raises(UnknownNameError) as e:
        _reg().get("resnet5")
    msg = str(e.value)
    assert "'resnet5'" in msg and "TOY" in msg
    assert "OSNet, r50, resnet50" in msg and "Did you mean 'resnet50'" in msg


def test_duplicate_registration_is_rejected():
    reg = _reg()
    with pytest.raises(AssertionError):
        reg.register(name="resnet50")(lambda: None)


def test_unregister_removes_one_name_and_returns_its_object():
    reg = _reg()
    builder = reg.get("resnet50")
    assert reg.unregister("r50") is builder
    assert "r50" not in reg.names() and reg.get("resnet50") is builder  # the other name stays
    assert dict(reg) == {"resnet50": builder, "OSNet": reg.get("osnet")}  # iteration gives (name, object)
    with pytest.raises(UnknownNameError, match="no TOY named 'r50' to unregister. Registered: OSNet, resnet50"):
        reg.unregister("r50")


def _group(name):
    eps = metadata.entry_points()
    return {ep.name: ep.value for ep in (eps.select(group=name) if hasattr(eps, "select") else eps.get(name, []))}


def test_msinet_is_announced_through_entry_points():
    assert _group(PLUGIN_GROUP).get("msinet") == "msinet"
    assert _group(CONFIG_GROUP).get("msinet") == "msinet.config:add_msinet_config"


def test_load_plugins_imports_msinet_and_its_registrations():
    assert "msinet" in load_plugins()
    assert "msinet" in sys.modules
    from fastreid.modeling.backbones.build import BACKBONE_REGISTRY

    assert BACKBONE_REGISTRY.get("MSINet") is BACKBONE_REGISTRY.get("msinet")
