"""fastreid: a fast-reid-style toolbox for object re-identification and architecture search."""

__version__ = "0.1.0"
