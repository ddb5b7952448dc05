"""Identity start of the NDDR fusion ops: a data-dependent init of their BN.

A fresh NDDR fusion op with conv init ``(1, 0)`` passes its own feature
``x`` through the conv unchanged, but its BN (gamma 1, beta 0) then
standardises ``x`` with the batch statistics and the ReLU cuts the negative
half: in train mode the fused network does not compute what the trained
single-task columns it was built from compute (measured on the demo's
pair: seg CE 0.44 -> 0.55, normal loss 1.98 -> 2.29 at step 0).

:func:`init_fusion_identity` sets, for every such op, the BN's affine
parameters and running statistics from the per-channel mean ``m`` and
variance ``v`` of the op's own feature over a few training batches:
``running_mean = beta = m``, ``running_var = v``, ``gamma = sqrt(v +
eps)``.  Then ``BN(x) = x`` exactly in eval mode, and in train mode up to
the difference between a batch's statistics and ``(m, v)``; the own
features are post-ReLU (>= 0), so ``ReLU(BN(x)) = x`` as well.  The
statistics are collected in one pass in which every fusion op already acts
as the identity (its BN output is replaced by its input), so every op sees
the features the single-task columns compute; no running statistic of any
other BN moves during the pass.
"""
from typing import Callable, Dict, List, Optional

import torch
import torch.nn as nn
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from .fusion_ops import NDDRFusion


def identity_fusion_ops(model: nn.Module) -> List[NDDRFusion]:
    """The NDDR fusion ops of ``model`` that can start as the identity
    (conv init ``(1, 0)`` and a BN).

    Raises:
        ValueError: an NDDR fusion op has another conv init (its conv
            output is not the own feature, e.g. NDDR-CNN's ``(0.9, 0.1)``).
    """
    ops = []
    for name, module in model.named_modules():
        if not isinstance(module, NDDRFusion) or \
                not isinstance(module.bn, _BatchNorm):
            continue
        if module.init != (1.0, 0.0):
            raise ValueError(
                f'identity start: fusion op {name} has conv init '
                f'{module.init}; an identity start needs init=(1.0, 0.0) '
                '(set fusion=dict(..., init=(1.0, 0.0)))')
        ops.append(module)
    return ops


@torch.no_grad()
def init_fusion_identity(
        model: nn.Module,
        run_batches: Callable[[], None],
        reduce: Optional[Callable[[Tensor], Tensor]] = None) -> int:
    """Make every fusion op of ``model`` the identity of its own feature.

    Args:
        model: a network (or an algorithm holding one) with NDDR fusion
            ops of conv init ``(1, 0)``.
        run_batches: runs a few training batches through ``model`` in train
            mode (the statistics are those of these forwards).
        reduce: sums a tensor over processes (distributed training: every
            rank then sets the same parameters); ``None`` = one process.

    Returns:
        The number of fusion ops initialised (0: nothing to do).
    """
    ops = identity_fusion_ops(model)
    if not ops:
        return 0
    stats: Dict[int, List[Tensor]] = {}

    def collect(bn: _BatchNorm, args, output):
        x = args[0].detach().double()
        dims = [0] + list(range(2, x.dim()))
        count = x.numel() / x.shape[1]
        sums = stats.setdefault(id(bn), [x.new_zeros(x.shape[1]),
                                         x.new_zeros(x.shape[1]),
                                         x.new_zeros(())])
        sums[0] += x.sum(dims)
        sums[1] += (x * x).sum(dims)
        sums[2] += count
        return args[0]  # the op acts as the identity during the pass

    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    momenta = [m.momentum for m in norms]
    tracked = [None if m.num_batches_tracked is None else
               m.num_batches_tracked.clone() for m in norms]
    handles = [op.bn.register_forward_hook(collect) for op in ops]
    try:
        for m in norms:  # no running statistic moves during the pass
            m.momentum = 0.0
        run_batches()
    finally:
        for handle in handles:
            handle.remove()
        for m, momentum, count in zip(norms, momenta, tracked):
            m.momentum = momentum
            if count is not None:
                m.num_batches_tracked.copy_(count)
    for op in ops:
        if id(op.bn) not in stats:
            raise RuntimeError('identity start: a fusion op was not run by '
                               'the calibration batches')
        total, squares, count = stats[id(op.bn)]
        if reduce is not None:
            total, squares, count = (reduce(total), reduce(squares),
                                     reduce(count))
        mean = total / count
        var = (squares / count - mean * mean).clamp_min(0)
        bn = op.bn
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.weight.copy_((var + bn.eps).sqrt())
        bn.bias.copy_(mean)
    return len(ops)
