"""Inference on raw images: the model of a config, its trained weights, L2-normalised features out.

``DefaultPredictor(cfg)`` is what deployment code, the tools and notebooks use instead of wiring the
model, the checkpoint and the test-time resize by hand. It takes images on the **0..255** RGB scale
(the model normalises them with MODEL.PIXEL_MEAN / PIXEL_STD; dividing by 255 first is the classic
mistake that makes every cosine similarity come out near 1), and returns unit-length features on the
CPU, so ``features @ features.T`` is the cosine similarity.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, List, NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from fastreid.config.num_classes import fill_num_classes, fill_num_classes_from_checkpoint
from fastreid.data.image_lists import IMAGE_EXTENSIONS, list_images

__all__ = ["DefaultPredictor", "DatasetFeatures", "read_image", "IMAGE_EXTENSIONS", "list_images"]

logger = logging.getLogger(__name__)

def read_image(path: str, size_hw: Sequence[int]) -> torch.Tensor:
    """Read an image file the way the test loader does (same decoder, same resize).

    Args:
        path: image file (any format PIL reads; EXIF orientation applied, converted to RGB).
        size_hw: (height, width) in pixels, normally ``cfg.INPUT.SIZE_TEST``.

    Returns:
        ``float32`` tensor ``(3, H, W)`` on the 0..255 scale, resized with bicubic interpolation
        (the test transform: resize, no crop, no division by 255).
    """
    from fastreid.data.data_utils import read_image as read_rgb
    from fastreid.data.transforms.transforms import ToTensor255

    if not os.path.isfile(path):
        raise FileNotFoundError(f"image file not found: {path}")
    # DATASETS.SKIP_CORRUPT is a data set's setting: a file named here is read, or the command stops
    image = read_rgb(path, hint="fix or replace the file, or leave it out of the input")
    image = image.resize((int(size_hw[1]), int(size_hw[0])), Image.BICUBIC)
    return ToTensor255()(image)


def _with_class_count(cfg):
    """A copy of ``cfg`` whose MODEL.HEADS.NUM_CLASSES matches the checkpoint's classifier.

    A YAML used for training usually says 0 (the trainer fills it in from the data); the checkpoint
    records the real count under ``num_classes``. Without weights the classifier does not affect the
    features, so 1 is used.
    """
    weights = cfg.MODEL.WEIGHTS
    if not weights:
        return fill_num_classes(cfg.clone(), 1, "no weights (an untrained network, whose classifier the features "
                                "do not use)")
    if not os.path.isfile(weights):
        raise FileNotFoundError(f"MODEL.WEIGHTS: checkpoint file not found: {weights}")
    return fill_num_classes_from_checkpoint(cfg.clone(), weights)


class DatasetFeatures(NamedTuple):
    """Features of a test set, query images first: rows ``[:num_query]`` are the query, the rest the
    gallery (what :mod:`fastreid.evaluation.feature_files` stores and the ranking tools read)."""

    features: torch.Tensor  # (N, D) float32, L2-normalised
    paths: List[str]
    pids: List[int]
    camids: List[int]
    num_query: int


class DefaultPredictor:
    """The model of ``cfg`` with ``MODEL.WEIGHTS`` loaded strictly, in eval mode.

    Example::

        predictor = DefaultPredictor(cfg)
        feats = predictor(images)                 # images (B, 3, H, W) RGB 0..255
        feats = predictor.run_on_files(paths)     # read + resize with INPUT.SIZE_TEST, batched

    MODEL.HEADS.NUM_CLASSES 0 is taken from the checkpoint (the trainer records it), so the training
    YAML works as well as the config.yaml of the run. An empty ``MODEL.WEIGHTS`` gives an untrained network (logged as a warning), which is what an
    "untrained baseline" comparison wants; tools refuse that unless asked explicitly.
    ``TEST.FLIP.ENABLED`` averages each image's feature with its horizontal flip's before normalising.
    """

    def __init__(self, cfg, fuse_blocks: bool = True):
        """``fuse_blocks=False`` keeps blocks unfused in the inference model (what ONNX export wants:
        ONNX Runtime runs MSINet's unfused cells faster, ``tools/benchmark_model.py --ablate-fusions``)."""
        from fastreid.modeling.meta_arch.build import build_model

        self.cfg = _with_class_count(cfg)
        self.size_hw = tuple(int(v) for v in cfg.INPUT.SIZE_TEST)
        self.flip = bool(cfg.TEST.FLIP.ENABLED)
        self.model = build_model(self.cfg)
        self.model.eval()
        weights = self.cfg.MODEL.WEIGHTS
        if weights:
            from fastreid.utils.checkpoint import Checkpointer

            Checkpointer(self.model).load(weights, checkpointables=[], strict=True)
            logger.info("loaded weights from %s", weights)
        else:
            logger.warning("MODEL.WEIGHTS is empty: the predictor uses an untrained network")
        from fastreid.modeling.inference import inference_model

        self.model = inference_model(self.model, fuse_blocks=fuse_blocks)  # BN folded, fastest format; same features
        self.device = next(iter(self.model.parameters())).device

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Features of a batch.

        Args:
            images: ``(B, 3, H, W)`` RGB on the 0..255 scale (any float dtype, any device).

        Returns:
            ``float32`` ``(B, D)`` L2-normalised features on the CPU.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images have shape {tuple(images.shape)}; expected (B, 3, H, W) RGB 0..255")
        images = images.to(self.device, dtype=torch.float32)
        feats = self.model(images)
        if self.flip:
            feats = (feats + self.model(images.flip(dims=[3]))) / 2
        return F.normalize(feats.float(), dim=1).cpu()

    def run_on_files(
        self,
        paths: Sequence[str],
        batch_size: int = 32,
        progress: Optional[Callable[[int, int], None]] = None,
    ) -> torch.Tensor:
        """Features of image files, read and resized with :func:`read_image` at ``INPUT.SIZE_TEST``.

        Args:
            paths: image files.
            batch_size: images per forward pass.
            progress: called as ``progress(done, total)`` after every batch.

        Returns:
            ``float32`` ``(N, D)`` L2-normalised features on the CPU, in the order of ``paths``.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size is {batch_size}; expected a positive integer")
        chunks = []
        for start in range(0, len(paths), batch_size):
            batch = torch.stack([read_image(p, self.size_hw) for p in paths[start:start + batch_size]])
            chunks.append(self(batch))
            if progress is not None:
                progress(min(start + batch_size, len(paths)), len(paths))
        if not chunks:
            raise ValueError("run_on_files got an empty list of image paths")
        return torch.cat(chunks)

    def run_on_dataset(self, name: str, progress: Optional[Callable[[int, int], None]] = None) -> DatasetFeatures:
        """Features of the query and gallery of the registered test set ``name``, read by the test
        loader (the evaluation's images, resize and order); ``progress(done, total)`` after every batch."""
        from fastreid.data import build_reid_test_loader
        from fastreid.evaluation.features import extract_features

        loader, num_query = build_reid_test_loader(self.cfg, name)
        out = extract_features(self.model, loader, flip=self.flip, progress=progress)
        return DatasetFeatures(F.normalize(out.features, dim=1), list(out.paths), _as_list(out.targets),
                               _as_list(out.camids), num_query)


def _as_list(column) -> list:
    """A label column of :class:`~fastreid.evaluation.features.ExtractedFeatures` as a plain list."""
    return column.tolist() if isinstance(column, torch.Tensor) else list(column)
