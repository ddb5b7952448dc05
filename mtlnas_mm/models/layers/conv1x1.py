"""1x1 convolutions through oneDNN on CPU (forward and input gradient).

torch (2.x) runs an fp32 1x1 convolution on CPU through its generic
``_slow_conv2d`` (a GEMM per image) and only larger kernels through oneDNN.
In a search iteration of the VGG-16 LargeFOV pair the 1x1 convs (26
fusion ops, fc7, fc8, two steps) took about a third of the time that way.
The same convolution through oneDNN (``aten::mkldnn_convolution``) is
faster for the forward and for the input gradient (itself a 1x1
convolution with the transposed weight); the weight gradient stays torch's
GEMM (oneDNN is not faster there).  Per-op figures:
``tools/analysis_tools/benchmark_conv1x1.py``.

Same computation up to float rounding (tested): only the kernels differ.
The oneDNN path is taken for contiguous fp32 CPU tensors outside autocast
when torch has oneDNN enabled (``torch.backends.mkldnn``) and both channel
counts are at least :data:`MIN_ONEDNN_CHANNELS` (measured here: with 64
output channels at 128 x 160, the block-1 fusion convs, or 40 classes, fc8,
oneDNN was slower than torch's GEMM, by up to 2x); everything else
(CUDA, bf16 / fp16, autocast, channels-last tensors) runs ``F.conv2d`` as
before.  ``set_conv1x1_backend('torch')`` switches the oneDNN path off
(for comparisons).
"""
import contextlib
from typing import Iterator, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

#: ``'auto'``: oneDNN where it applies (module docstring); ``'torch'``:
#: always ``F.conv2d``
BACKENDS = ('auto', 'torch')
_backend = 'auto'
#: narrower 1x1 convs stay on torch's kernel (module docstring)
MIN_ONEDNN_CHANNELS = 128


def set_conv1x1_backend(backend: str) -> str:
    """Choose the 1x1 backend (one of :data:`BACKENDS`); returns the
    previous one."""
    global _backend
    if backend not in BACKENDS:
        raise ValueError(f'conv1x1 backend: {backend!r} is not one of '
                         f'{BACKENDS}')
    previous, _backend = _backend, backend
    return previous


def get_conv1x1_backend() -> str:
    return _backend


@contextlib.contextmanager
def conv1x1_backend(backend: str) -> Iterator[None]:
    """Run a block with the given 1x1 backend (e.g. ``'torch'`` where a
    FLOP counter has no formula for ``aten::mkldnn_convolution``)."""
    previous = set_conv1x1_backend(backend)
    try:
        yield
    finally:
        set_conv1x1_backend(previous)


def use_onednn(x: Tensor, weight: Tensor,
               bias: Optional[Tensor] = None) -> bool:
    """Whether the 1x1 convolution of ``x`` by ``weight`` runs through
    oneDNN."""
    if _backend != 'auto' or not torch.backends.mkldnn.is_available() or \
            not torch.backends.mkldnn.enabled:
        return False
    if min(weight.shape[0], weight.shape[1]) < MIN_ONEDNN_CHANNELS:
        return False
    tensors = (x, weight, bias)
    given = [t for t in tensors if t is not None]
    if torch.is_autocast_enabled('cpu'):
        return False
    return all(t.device.type == 'cpu' and t.dtype == torch.float32
               and t.is_contiguous() for t in given)


def _onednn(x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    return torch.ops.aten.mkldnn_convolution(x, weight, bias, [0, 0], [1, 1],
                                             [1, 1], 1)


def onednn_input_grad(grad: Tensor, weight: Tensor) -> Tensor:
    """Input gradient of a 1x1 convolution: the 1x1 convolution of the
    output gradient with the transposed weight."""
    return _onednn(grad.contiguous(), weight.transpose(0, 1).contiguous(),
                   None)


def weight_grad(grad: Tensor, x: Tensor, weight: Tensor) -> Tensor:
    """Weight gradient of a 1x1 convolution (torch's kernel)."""
    return torch.ops.aten.convolution_backward(grad, x, weight, None, [1, 1],
                                               [0, 0], [1, 1], False, [0, 0],
                                               1, [False, True, False])[1]


class _OneDNNConv1x1(torch.autograd.Function):
    """``F.conv2d(x, weight, bias)`` for a 1x1 kernel, oneDNN forward and
    input gradient."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor,
                bias: Optional[Tensor]) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.with_bias = bias is not None
        return _onednn(x, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        grad = grad.contiguous()
        grad_x = onednn_input_grad(grad, weight) if need_x else None
        grad_w = weight_grad(grad, x, weight) if need_w else None
        grad_b = grad.sum(dim=(0, 2, 3)) if need_b and ctx.with_bias \
            else None
        return grad_x, grad_w, grad_b


def conv1x1(x: Tensor, weight: Tensor,
            bias: Optional[Tensor] = None) -> Tensor:
    """``F.conv2d(x, weight, bias)`` of a ``(C_out, C_in, 1, 1)`` weight
    (stride 1, no padding, one group), through oneDNN where it applies."""
    if use_onednn(x, weight, bias):
        return _OneDNNConv1x1.apply(x, weight, bias)
    return F.conv2d(x, weight, bias)


class Conv1x1(nn.Conv2d):
    """``nn.Conv2d`` whose plain 1x1 convolutions run :func:`conv1x1`
    (same parameters, names and initialisation as ``nn.Conv2d``; other
    settings run ``nn.Conv2d.forward``).  Usable as an mmcv
    ``conv_cfg=dict(type=Conv1x1)``."""

    def _plain(self) -> bool:
        return (self.kernel_size == (1, 1) and self.stride == (1, 1)
                and self.padding in ((0, 0), 'valid')
                and self.dilation == (1, 1) and self.groups == 1)

    def forward(self, x: Tensor) -> Tensor:
        if self._plain():
            return conv1x1(x, self.weight, self.bias)
        return super().forward(x)

    @classmethod
    def adopt(cls, conv: nn.Conv2d) -> 'Conv1x1':
        """A :class:`Conv1x1` holding ``conv``'s parameters (no new random
        initialisation, so seeded runs draw the same numbers)."""
        new = nn.utils.skip_init(
            cls, conv.in_channels, conv.out_channels, conv.kernel_size,
            stride=conv.stride, padding=conv.padding, dilation=conv.dilation,
            groups=conv.groups, bias=conv.bias is not None,
            padding_mode=conv.padding_mode, device=conv.weight.device,
            dtype=conv.weight.dtype)
        new.weight = conv.weight
        if conv.bias is not None:
            new.bias = conv.bias
        return new


__all__ = ['BACKENDS', 'Conv1x1', 'conv1x1', 'conv1x1_backend',
           'get_conv1x1_backend',
           'set_conv1x1_backend', 'use_onednn']
