"""Fusion operations: combine a layer's own feature with gated sources.

A fusion op of a target layer has one input *slot* for the own feature and
one per candidate source edge (``num_sources``).  ``forward`` receives only
the sources that are actually computed (``slots`` = their candidate
indices); pruned slots contribute nothing, which equals feeding zeros into
them, so a derived network needs no other weights than the supernet.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from mmseg.registry import MODELS


def _check_init(init: Optional[Sequence[float]]
                ) -> Optional[Tuple[float, float]]:
    if init is None or len(init) == 0:
        return None
    if len(init) != 2:
        raise ValueError('fusion.init must be (w_target, w_sources) or None '
                         f'(Kaiming), got {init!r}')
    return float(init[0]), float(init[1])


def _gated(src: Tensor, gate: Optional[Tensor]) -> Tensor:
    return src if gate is None else src * gate


@MODELS.register_module()
class NDDRFusion(BaseModule):
    """``ReLU(BN(Conv1x1_nobias(cat[own, g_1*s_1, ..., g_k*s_k])))``.

    MTL-NAS' single-sided NDDR fusion (spec section 2.1).  The conv weight is
    initialised to ``[w_t*I, (w_s/k)*I, ..., (w_s/k)*I]`` (``init=(w_t,
    w_s)``; MTL-NAS uses (1, 0), NDDR-CNN and the supernet baseline (0.9,
    0.1)); ``init=None`` gives Kaiming-normal (fan_out, relu).  When only
    some sources are given the conv uses only their weight columns.

    Args:
        channels: channels of the own feature and of every source.
        num_sources: number of candidate source slots ``k``.
        init: ``(w_t, w_s)`` or ``None``.
        norm_cfg: the BN after the conv (MTL-NAS: eps 1e-3, momentum 0.05).
        act_cfg: the activation after the BN.
    """

    def __init__(self,
                 channels: int,
                 num_sources: int,
                 init: Optional[Sequence[float]] = (1.0, 0.0),
                 norm_cfg: dict = dict(type='BN', eps=1e-3, momentum=0.05),
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.channels = channels
        self.num_sources = num_sources
        self.init = _check_init(init)
        self.conv = nn.Conv2d(
            channels * (1 + num_sources), channels, 1, bias=False)
        self.bn = build_norm_layer(norm_cfg, channels)[1]
        self.act = (build_activation_layer(act_cfg)
                    if act_cfg is not None else nn.Identity())
        self.reset_fusion_parameters()

    @torch.no_grad()
    def reset_fusion_parameters(self) -> None:
        """Identity-style (or Kaiming) init of the conv, BN to (1, 0)."""
        c, k = self.channels, self.num_sources
        if self.init is None:
            nn.init.kaiming_normal_(
                self.conv.weight, mode='fan_out', nonlinearity='relu')
        else:
            w_t, w_s = self.init
            eye = torch.eye(c).view(c, c, 1, 1)
            blocks = [w_t * eye] + [(w_s / k) * eye] * k
            self.conv.weight.copy_(torch.cat(blocks, dim=1))
        if getattr(self.bn, 'weight', None) is not None:
            nn.init.ones_(self.bn.weight)
            nn.init.zeros_(self.bn.bias)

    def init_weights(self) -> None:
        # re-apply after a parent's generic init_cfg (e.g. Kaiming on all
        # Conv2d), which mmengine runs before the children's init_weights
        super().init_weights()
        self.reset_fusion_parameters()

    def input_channels(self, slots: Optional[Sequence[int]] = None) -> int:
        """Conv input width when the sources of ``slots`` are computed."""
        n = self.num_sources if slots is None else len(slots)
        return self.channels * (1 + n)

    def _weight(self, slots: Optional[Sequence[int]]) -> Tensor:
        w = self.conv.weight
        if slots is None or len(slots) == self.num_sources:
            return w
        c = self.channels
        cols = [w[:, :c]] + [w[:, c * (s + 1):c * (s + 2)] for s in slots]
        return torch.cat(cols, dim=1)

    def forward(self,
                own: Tensor,
                sources: Sequence[Tensor] = (),
                slots: Optional[Sequence[int]] = None,
                gates: Optional[Sequence[Optional[Tensor]]] = None) -> Tensor:
        """Fuse ``own`` with ``sources``.

        Args:
            own: the target layer's own (pre-fusion) output.
            sources: computed source features.
            slots: candidate index of each source (``None``: all slots, in
                order).
            gates: one gate per source (scalar tensor) or ``None`` = 1.
        """
        if gates is None:
            gates = [None] * len(sources)
        x = torch.cat([own] + [_gated(s, g) for s, g in zip(sources, gates)],
                      dim=1) if len(sources) else own
        x = F.conv2d(x, self._weight(slots))
        return self.act(self.bn(x))


@MODELS.register_module()
class CrossStitchFusion(BaseModule):
    """``w_0*own + sum_j w_j * g_j * s_j`` with one learnable scalar per
    input slot, no BN / ReLU (cross-stitch units, spec section 8).

    ``init=(w_t, w_s)`` sets ``w_0 = w_t`` and every ``w_j = w_s / k``
    (``None`` = (1, 0)).
    """

    def __init__(self,
                 channels: int,
                 num_sources: int,
                 init: Optional[Sequence[float]] = (0.9, 0.1),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.channels = channels
        self.num_sources = num_sources
        self.init = _check_init(init) or (1.0, 0.0)
        self.weight = nn.Parameter(torch.empty(1 + num_sources))
        self.reset_fusion_parameters()

    @torch.no_grad()
    def reset_fusion_parameters(self) -> None:
        w_t, w_s = self.init
        k = self.num_sources
        self.weight[0] = w_t
        if k:
            self.weight[1:] = w_s / k

    def init_weights(self) -> None:
        super().init_weights()
        self.reset_fusion_parameters()

    def input_channels(self, slots: Optional[Sequence[int]] = None) -> int:
        n = self.num_sources if slots is None else len(slots)
        return self.channels * (1 + n)

    def forward(self,
                own: Tensor,
                sources: Sequence[Tensor] = (),
                slots: Optional[Sequence[int]] = None,
                gates: Optional[Sequence[Optional[Tensor]]] = None) -> Tensor:
        if slots is None:
            slots = range(len(sources))
        if gates is None:
            gates = [None] * len(sources)
        out = self.weight[0] * own
        for s, slot, g in zip(sources, slots, gates):
            out = out + self.weight[1 + slot] * _gated(s, g)
        return out


#: short names accepted in ``fusion=dict(type=...)``
FUSION_ALIASES = {'nddr': 'NDDRFusion', 'cross_stitch': 'CrossStitchFusion'}


def build_fusion(cfg: dict, channels: int, num_sources: int) -> nn.Module:
    """Build a fusion op from ``fusion=dict(type='nddr'|'cross_stitch'|
    <registered name>, ...)``."""
    cfg = dict(cfg)
    if 'type' not in cfg:
        raise KeyError('fusion: missing key "type" (e.g. "nddr" or '
                       '"cross_stitch")')
    cfg['type'] = FUSION_ALIASES.get(cfg['type'], cfg['type'])
    try:
        return MODELS.build(
            cfg, default_args=dict(channels=channels,
                                   num_sources=num_sources))
    except KeyError as err:
        raise KeyError(f'fusion.type: {err}') from None


__all__ = ['NDDRFusion', 'CrossStitchFusion', 'build_fusion']
