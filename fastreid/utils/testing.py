"""Numerical test helpers: how far float32 rounding can move a computation, so that a test's tolerance
follows from the computation, not from one machine's result.

A float32 result differs from the exact one by the rounding of every operation. How far depends on the
computation (train-mode BatchNorm over a few images amplifies it strongly) and on the kernels: oneDNN
picks AVX2, AVX-512 or AMX code per CPU, with other blocking and other reduction orders (channels_last
BatchNorm reduces differently from the default format). A bound fitted to one CPU's float32 result
fails on the next one.

So the scale of float32 rounding for a given computation is simulated in float64: the output of every
leaf module is multiplied by ``1 + e`` with ``e`` drawn independently per element, of the size float32
accumulation leaves behind (``u * sqrt(n)`` after a dot product of length ``n``, the random-walk model
of rounding; ``u`` after any other operation; ``u = 2**-24``). The mean error of a few such draws
against the unperturbed float64 result is the computation's float32 error scale. Real float32 kernels
land near it (0.1x-0.9x of it for the losses and the gradients of a training step of MSINet, OSNet and
ResNet-50 in either memory format, measured on an Intel Xeon with AVX-512 and AMX; the same step under
bfloat16 autocast lands at 24x-2,900x): blocked and tree reductions round less than the model assumes;
a sequential sum can round more. ``FLOAT32_MARGIN`` times the scale accepts any of them, and still rejects a result computed in
float16 or bfloat16 (unit roundoff 2**13 and 2**16 times larger) or a wrong one (relative error ~1).
"""

from __future__ import annotations

import contextlib
import copy
import math
from typing import Callable, Dict, Iterator, Union

import torch
import torch.nn as nn

U32 = 2.0 ** -24
U64 = 2.0 ** -53
FLOAT32_MARGIN = 4.0

__all__ = ["U32", "U64", "FLOAT32_MARGIN", "float32_rounding", "relative_error", "float32_error_scale",
           "assert_within_float32_rounding"]


def _reduction_length(module: nn.Module) -> int:
    if isinstance(module, nn.Conv2d):
        return module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
    if isinstance(module, nn.Linear):
        return module.in_features
    return 1


@contextlib.contextmanager
def float32_rounding(model: nn.Module, seed: int) -> Iterator[None]:
    """Within the block, every leaf module of ``model`` (run in float64) perturbs its output as float32
    rounding would (see the module docstring); draws are seeded by ``seed``."""
    generator = torch.Generator().manual_seed(seed)

    def perturb(module, inputs, output):
        if not isinstance(output, torch.Tensor) or not output.is_floating_point():
            return None
        noise = torch.randn(output.shape, generator=generator, dtype=output.dtype).to(output.device)
        return output * (1.0 + U32 * math.sqrt(_reduction_length(module)) * noise)

    handles = [m.register_forward_hook(perturb) for m in model.modules() if not any(True for _ in m.children())]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


Tensors = Union[torch.Tensor, Dict[str, torch.Tensor]]


def _as_dict(x) -> Dict[str, torch.Tensor]:
    if isinstance(x, dict):
        return x
    return {"": torch.as_tensor(x)}


def relative_error(got: Tensors, reference: Tensors) -> float:
    """``||got - reference|| / ||reference||`` over every tensor (of the dicts: the keys of ``reference``)."""
    got, reference = _as_dict(got), _as_dict(reference)
    diff = math.sqrt(sum(float(((got[k].double() - reference[k].double()) ** 2).sum()) for k in reference))
    norm = math.sqrt(sum(float((reference[k].double() ** 2).sum()) for k in reference))
    return diff / norm


def float32_error_scale(compute: Callable[[nn.Module], Tensors], model: nn.Module, draws: int = 3) -> float:
    """The float32 error scale of ``compute(model)``: the mean relative error, against the exact float64
    result, of ``draws`` float64 runs under :func:`float32_rounding`, and at least ``U32`` (the rounding
    of the result itself, and of operations written in ``forward`` rather than as modules, such as an
    identity shortcut's sum, which the hooks do not see). ``compute`` must cast its inputs to the model's
    dtype (float64 here); ``model`` is copied, not changed."""
    exact_model = copy.deepcopy(model).double()
    with torch.no_grad():
        exact = compute(exact_model)
        errors = []
        for seed in range(draws):
            with float32_rounding(exact_model, seed):
                errors.append(relative_error(compute(exact_model), exact))
    return max(sum(errors) / len(errors), U32)


def assert_within_float32_rounding(got: Tensors, compute: Callable[[nn.Module], Tensors], model: nn.Module) -> None:
    """``got`` (a float32 result of another kernel path: folded BN, fused blocks, channels_last, ONNX
    Runtime) lies within ``FLOAT32_MARGIN`` times the float32 error scale of ``compute(model)`` from
    the exact (float64) result."""
    with torch.no_grad():
        exact = compute(copy.deepcopy(model).double())
    error, scale = relative_error(got, exact), float32_error_scale(compute, model)
    assert error <= FLOAT32_MARGIN * scale, f"relative error {error:.3g} > {FLOAT32_MARGIN} x float32 scale {scale:.3g}"
