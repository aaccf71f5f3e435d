"""MSINet's config keys, added to the defaults tree by ``add_msinet_config(cfg)``."""

from fastreid.config import CfgNode as CN

__all__ = ["add_msinet_config"]


def add_msinet_config(cfg: CN) -> None:
    """Add MODEL.MSINET, MODEL.SAM and SEARCH keys to ``cfg`` (idempotent: safe to call twice)."""
    if "MSINET" in cfg.MODEL:
        return
    cfg.MODEL.MSINET = CN()
