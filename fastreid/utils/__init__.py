"""Helpers shared by several stages: registries, logging, distributed communication, checkpoints."""
