"""Fusion operations: combine a layer's own feature with gated sources.

A fusion op of a target layer has one input *slot* for the own feature and
one per candidate source edge (``num_sources``).  ``forward`` receives only
the sources that are actually computed (``slots`` = their candidate
indices); pruned slots contribute nothing, which equals feeding zeros into
them, so a derived network needs no other weights than the supernet.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch.nn.modules.batchnorm import _BatchNorm

from mmseg.registry import MODELS
from .conv1x1 import (_onednn, conv1x1, onednn_input_grad, use_onednn,
                      weight_grad)


def _check_init(init: Optional[Sequence[float]]
                ) -> Optional[Tuple[float, float]]:
    if init is None or len(init) == 0:
        return None
    if len(init) != 2:
        raise ValueError('fusion.init must be (w_target, w_sources) or None '
                         f'(Kaiming), got {init!r}')
    return float(init[0]), float(init[1])


#: activations that take no ``inplace`` argument (as in mmcv's ConvModule)
_NO_INPLACE_ACTS = ('Tanh', 'PReLU', 'Sigmoid', 'HSigmoid', 'Swish', 'GELU')


class _ConcatConv1x1(torch.autograd.Function):
    """``conv1x1(cat(inputs, dim=1), weight, bias)`` that keeps the *inputs*
    for backward instead of their concatenation.

    The inputs of a fusion op (a layer output and other tasks' layer
    outputs) are kept alive by the backbones' own autograd graph anyway, so
    saving them costs nothing, while the concatenation would be an extra
    ``(1 + k) x C x H x W`` buffer per fusion op kept until backward.  The
    concatenation is rebuilt in backward only when the weight gradient is
    needed (not in an architecture step that differentiates w.r.t. the gates
    only).  Forward values and gradients are those of ``F.conv2d`` on the
    concatenation; where :func:`~.conv1x1.use_onednn` applies, the forward
    and the input gradient run through oneDNN (:mod:`.conv1x1`).
    """

    @staticmethod
    def forward(ctx, weight: Tensor, bias: Optional[Tensor],
                *inputs: Tensor) -> Tensor:
        x = torch.cat(inputs, dim=1) if len(inputs) > 1 else inputs[0]
        ctx.save_for_backward(weight, *inputs)
        ctx.with_bias = bias is not None
        ctx.x_shape = x.shape
        ctx.onednn = use_onednn(x, weight, bias)
        return _onednn(x, weight, bias) if ctx.onednn else \
            F.conv2d(x, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        weight, *inputs = ctx.saved_tensors
        need_w, need_b = ctx.needs_input_grad[:2]
        need_x = any(ctx.needs_input_grad[2:])
        grad_w = grad_b = None
        grads_x: List[Optional[Tensor]] = [None] * len(inputs)
        grad_x = None
        if ctx.onednn:
            grad = grad.contiguous()
            if need_x:
                grad_x = onednn_input_grad(grad, weight)
            if need_w:
                x = torch.cat(inputs, dim=1) if len(inputs) > 1 \
                    else inputs[0]
                grad_w = weight_grad(grad, x, weight)
        elif need_w or need_x:
            if need_w:
                x = torch.cat(inputs, dim=1) if len(inputs) > 1 \
                    else inputs[0]
            else:  # only its shape is read (as torch.nn.grad.conv2d_input)
                x = grad.new_empty(1).expand(ctx.x_shape)
            grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
                grad, x, weight, None, [1, 1], [0, 0], [1, 1], False,
                [0, 0], 1, [need_x, need_w, False])
        if grad_x is not None:
            parts = grad_x.split([t.shape[1] for t in inputs], dim=1)
            grads_x = [g if n else None for g, n in
                       zip(parts, ctx.needs_input_grad[2:])]
        if need_b and ctx.with_bias:
            grad_b = grad.sum(dim=(0, 2, 3))
        return (grad_w, grad_b, *grads_x)


def concat_conv1x1(inputs: Sequence[Tensor], weight: Tensor,
                   bias: Optional[Tensor] = None,
                   save_concat: bool = False) -> Tensor:
    """1x1 convolution of the channel concatenation of ``inputs``.

    Under autograd the concatenation is not kept for backward
    (:class:`_ConcatConv1x1`) unless ``save_concat`` (memory for time: no
    concatenation rebuilt in backward); without gradients, or under
    autocast, it is :func:`~.conv1x1.conv1x1` of ``torch.cat(inputs, 1)``.
    """
    inputs = list(inputs)
    tensors = inputs + [weight] + ([bias] if bias is not None else [])
    if (save_concat or not torch.is_grad_enabled()
            or not any(t.requires_grad for t in tensors)
            or torch.is_autocast_enabled(inputs[0].device.type)
            or len({t.dtype for t in tensors}) > 1):
        x = torch.cat(inputs, dim=1) if len(inputs) > 1 else inputs[0]
        return conv1x1(x, weight, bias)
    return _ConcatConv1x1.apply(weight, bias, *inputs)


@MODELS.register_module()
class NDDRFusion(BaseModule):
    """``ReLU(BN(Conv1x1_nobias(cat[own, g_1*s_1, ..., g_k*s_k])))``.

    MTL-NAS' single-sided NDDR fusion (Gao et al., CVPR 2020, Sec. 3.2).
    The conv weight is initialised to
    ``[w_t*I, (w_s/k)*I, ..., (w_s/k)*I]`` (``init=(w_t, w_s)``; MTL-NAS
    uses (1, 0), NDDR-CNN and the supernet baseline (0.9, 0.1));
    ``init=None`` gives Kaiming-normal (fan_out, relu).  When only
    some sources are given the conv uses only their weight columns.

    Args:
        channels: channels of the own feature and of every source.
        num_sources: number of candidate source slots ``k``.
        init: ``(w_t, w_s)`` or ``None``.
        norm_cfg: the BN after the conv (MTL-NAS: eps 1e-3, momentum 0.05).
        act_cfg: the activation after the BN.
        save_concat: keep the concatenated input for backward instead of
            rebuilding it there (:func:`concat_conv1x1`; same values, more
            memory; measured effect in the README, "Benchmarks").
    """

    def __init__(self,
                 channels: int,
                 num_sources: int,
                 init: Optional[Sequence[float]] = (1.0, 0.0),
                 norm_cfg: dict = dict(type='BN', eps=1e-3, momentum=0.05),
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 save_concat: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.channels = channels
        self.num_sources = num_sources
        self.init = _check_init(init)
        self.save_concat = bool(save_concat)
        self.conv = nn.Conv2d(
            channels * (1 + num_sources), channels, 1, bias=False)
        self.bn = build_norm_layer(norm_cfg, channels)[1]
        if act_cfg is not None:
            # in place on the fresh norm output, as mmcv's ConvModule
            act_cfg = dict(act_cfg)
            if act_cfg['type'] not in _NO_INPLACE_ACTS:
                act_cfg.setdefault('inplace', True)
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

    def _weight(self, slots: Sequence[int],
                gates: Sequence[Optional[Tensor]]) -> Tensor:
        """The conv weight restricted to the own slot and ``slots``, each
        source's columns multiplied by its gate.

        ``conv(cat[own, g_1*s_1, ...], W) == conv(cat[own, s_1, ...],
        [W_0, g_1*W_1, ...])``: scaling the ``C x C`` weight block instead
        of the ``C x H x W`` feature saves a pass over every source (and its
        backward).  Columns of slots not in ``slots`` are never read.
        """
        w = self.conv.weight
        c, n = self.channels, len(slots)
        if list(slots) != list(range(self.num_sources)):
            if n == 0:
                w = w[:, :c]
            else:
                groups = w.view(c, 1 + self.num_sources, c, 1, 1)
                w = groups[:, [0] + [s + 1 for s in slots]].reshape(
                    c, c * (1 + n), 1, 1)
        if any(g is not None for g in gates):
            one = w.new_ones(())
            scale = torch.stack([one] + [
                one if g is None else g.to(w.dtype).reshape(())
                for g in gates
            ])
            w = (w.view(c, 1 + n, c) * scale.view(1, 1 + n, 1)).view(
                c, c * (1 + n), 1, 1)
        return w

    def _folded_norm(self) -> Optional[Tuple[Tensor, Tensor]]:
        """``(scale, shift)`` of the norm layer when it is a BatchNorm using
        its running statistics (eval mode), else ``None``."""
        bn = self.bn
        if not isinstance(bn, _BatchNorm) or bn.training or \
                bn.running_mean is None or bn.running_var is None:
            return None
        scale = (bn.running_var + bn.eps).rsqrt()
        if bn.weight is not None:
            scale = scale * bn.weight
        shift = -bn.running_mean * scale
        if bn.bias is not None:
            shift = shift + bn.bias
        return scale, shift

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
        sources = list(sources)
        if slots is None:
            slots = list(range(len(sources)))
        if len(slots) != len(sources):
            raise ValueError(f'NDDRFusion: {len(sources)} sources but '
                             f'{len(slots)} slots')
        if gates is None:
            gates = [None] * len(sources)
        weight = self._weight(slots, gates)
        norm = self._folded_norm()
        if norm is None:
            x = concat_conv1x1([own] + sources, weight,
                               save_concat=self.save_concat)
            x = self.bn(x)
        else:  # eval-mode BN folded into the conv: one pass less
            scale, shift = norm
            x = concat_conv1x1([own] + sources,
                               weight * scale.view(-1, 1, 1, 1), shift)
        return self.act(x)


@MODELS.register_module()
class CrossStitchFusion(BaseModule):
    """``w_0*own + sum_j w_j * g_j * s_j`` with one learnable scalar per
    input slot, no BN / ReLU (cross-stitch units, Misra et al., CVPR 2016).

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
            # gate times the scalar weight, then one pass over the source
            w = self.weight[1 + slot] if g is None else \
                self.weight[1 + slot] * g
            out = out + w * s
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
