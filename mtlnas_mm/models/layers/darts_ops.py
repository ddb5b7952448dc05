"""The candidate operations of a DARTS cell edge (Liu et al., ICLR 2019).

One builder per name of :data:`~mtlnas_mm.structures.PRIMITIVES`; every op
maps ``C`` channels to ``C`` channels, with ``stride`` 1 (normal cells) or
2 (the edges of a reduction cell that read the cell inputs).  Convolutions
are ReLU -> conv -> norm ("ReLU-first", as in DARTS), so a sum of ops is
not followed by another activation; pools are followed by a norm layer
(as the DARTS search does) so their scale matches the convolutions'.
``norm_cfg`` is mmcv's (``affine=False`` is the DARTS search setting).
"""
from typing import Callable, Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from torch import Tensor

from mtlnas_mm.structures import PRIMITIVES

_DEFAULT_NORM = dict(type='BN')


def _norm(norm_cfg: Optional[dict], channels: int) -> nn.Module:
    return build_norm_layer(dict(norm_cfg or _DEFAULT_NORM), channels)[1]


class ReLUConvBN(nn.Sequential):
    """ReLU -> ``k x k`` conv -> norm (also the cells' 1x1 input
    preprocessing)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1,
                 norm_cfg: Optional[dict] = None) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
            _norm(norm_cfg, c_out))


class DilConv(nn.Sequential):
    """ReLU -> depthwise ``k x k`` conv (dilated) -> 1x1 conv -> norm."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int,
                 dilation: int, norm_cfg: Optional[dict] = None) -> None:
        pad = dilation * (kernel - 1) // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride, pad, dilation=dilation,
                      groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            _norm(norm_cfg, c_out))


class SepConv(nn.Sequential):
    """Two separable convolutions (:class:`DilConv` with dilation 1); only
    the first one strides."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int,
                 norm_cfg: Optional[dict] = None) -> None:
        super().__init__(
            DilConv(c_in, c_in, kernel, stride, 1, norm_cfg),
            DilConv(c_in, c_out, kernel, 1, 1, norm_cfg))


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: two 1x1 stride-2 convs,
    the second on the input shifted by one pixel, concatenated (the
    stride-2 ``skip_connect`` and the preprocessing of a cell input that is
    twice as large as the other)."""

    def __init__(self, c_in: int, c_out: int,
                 norm_cfg: Optional[dict] = None) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError('FactorizedReduce: c_out must be even, got '
                             f'{c_out}')
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.norm = _norm(norm_cfg, c_out)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(x)
        a = self.conv_1(x)
        b = self.conv_2(x[:, :, 1:, 1:])
        if b.shape[2:] != a.shape[2:]:  # odd sizes: pad the shifted branch
            b = F.pad(
                b, (0, a.shape[3] - b.shape[3], 0, a.shape[2] - b.shape[2]))
        return self.norm(torch.cat([a, b], dim=1))


class Zero(nn.Module):
    """The ``none`` op: zeros of the output shape (a search cell never
    calls it: a zero term adds nothing and has no gradient)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            return x.mul(0.)
        return x[:, :, ::self.stride, ::self.stride].mul(0.)


def _pool(pool: nn.Module, c: int, norm_cfg: Optional[dict]) -> nn.Module:
    return nn.Sequential(pool, _norm(norm_cfg, c))


OpBuilder = Callable[[int, int, Optional[dict]], nn.Module]

#: THE op of every primitive name: ``builder(channels, stride, norm_cfg)``
OPS: Dict[str, OpBuilder] = {
    'none': lambda c, s, n: Zero(s),
    'max_pool_3x3': lambda c, s, n: _pool(nn.MaxPool2d(3, s, 1), c, n),
    'avg_pool_3x3': lambda c, s, n: _pool(
        nn.AvgPool2d(3, s, 1, count_include_pad=False), c, n),
    'skip_connect': lambda c, s, n: (nn.Identity() if s == 1 else
                                     FactorizedReduce(c, c, n)),
    'sep_conv_3x3': lambda c, s, n: SepConv(c, c, 3, s, n),
    'sep_conv_5x5': lambda c, s, n: SepConv(c, c, 5, s, n),
    'dil_conv_3x3': lambda c, s, n: DilConv(c, c, 3, s, 2, n),
    'dil_conv_5x5': lambda c, s, n: DilConv(c, c, 5, s, 2, n),
}
if tuple(OPS) != PRIMITIVES:  # one order for alphas, files and ops
    raise RuntimeError('darts_ops.OPS must follow structures.PRIMITIVES')


def build_op(name: str, channels: int, stride: int,
             norm_cfg: Optional[dict] = None) -> nn.Module:
    """The op ``name`` of :data:`~mtlnas_mm.structures.PRIMITIVES`."""
    if name not in OPS:
        raise KeyError(f'unknown cell op {name!r}; ops are {list(OPS)}')
    if stride not in (1, 2):
        raise ValueError(f'cell op stride must be 1 or 2, got {stride}')
    return OPS[name](channels, stride, norm_cfg)
