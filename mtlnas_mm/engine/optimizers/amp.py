"""Mixed precision on machines without an accelerator: mmengine's
``AmpOptimWrapper`` with bfloat16 autocast and torch's CPU loss scaler.

mmengine 0.10.7's ``AmpOptimWrapper`` asserts that a GPU (or NPU, MLU,
MUSA) is present and builds ``torch.cuda.amp.GradScaler``, which disables
itself without CUDA; its autocast context (``mmengine.runner.amp.autocast``)
itself supports the CPU, in bfloat16 only.  So a config written for a GPU
(``type='AmpOptimWrapper'``, e.g. by ``tools/train.py --amp``) cannot be run
on a CPU-only machine.  The project's optimizer constructors
(``BilevelOptimWrapperConstructor`` for each of its two optimizers,
``StrictOptimWrapperConstructor`` for plain training) therefore build
:class:`CPUAmpOptimWrapper` in its place when no accelerator is available
(:func:`resolve_amp_wrapper_cfg`); on a GPU they build mmengine's class
unchanged.
"""
import copy
from typing import Optional, Union

import torch
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from mmseg.registry import OPTIM_WRAPPERS


def accelerator_available() -> bool:
    """Whether mmengine's ``AmpOptimWrapper`` can be built here (the
    devices its constructor asserts)."""
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(AmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` on the CPU: bfloat16 autocast and a
    working loss scaler (``torch.amp.GradScaler('cpu')``).

    Backward, step (unscale, skip on non-finite gradients, scale update),
    gradient clipping, ``state_dict`` / ``load_state_dict`` (the scaler's
    state under ``'loss_scaler'``) and ``optim_context`` (mmengine's
    ``autocast``) are inherited unchanged; only the construction differs:
    no accelerator is required and the scaler is torch's CPU one.  bfloat16
    has float32's exponent range, so it does not need loss scaling; the
    scaler is kept so that a CPU run takes the same code path (scaled
    backward, unscale, overflow check) as a float16 run on a GPU.  Scaling
    by a power of two is exact, so it does not change the gradients.

    Users do not name this class: ``type='AmpOptimWrapper'`` is mapped to
    it on CPU-only machines by :func:`resolve_amp_wrapper_cfg`.

    Args:
        loss_scale: as mmengine's: ``'dynamic'``, a float (static scale)
            or a dict of ``GradScaler`` arguments.
        dtype: ``None`` or ``'bfloat16'`` (the only autocast type of
            mmengine's CPU autocast).
        use_fsdp: must be False (FSDP needs an accelerator).
        **kwargs: ``OptimWrapper`` arguments (``optimizer``,
            ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Union[None, str, torch.dtype] = None,
                 use_fsdp: bool = False,
                 **kwargs) -> None:
        # AmpOptimWrapper.__init__ asserts an accelerator; everything it
        # sets up besides that is set up here
        OptimWrapper.__init__(self, **kwargs)
        if use_fsdp:
            raise ValueError('CPUAmpOptimWrapper: use_fsdp=True needs an '
                             'accelerator')
        self.cast_dtype = check_cpu_amp_dtype(dtype)
        self._scale_update_param = None
        if loss_scale == 'dynamic':
            self.loss_scaler = torch.amp.GradScaler('cpu')
        elif isinstance(loss_scale, float):
            self._scale_update_param = loss_scale
            self.loss_scaler = torch.amp.GradScaler(
                'cpu', init_scale=loss_scale)
        elif isinstance(loss_scale, dict):
            self.loss_scaler = torch.amp.GradScaler('cpu', **loss_scale)
        else:
            raise TypeError('loss_scale must be "dynamic", a float or a '
                            f'dict, got {loss_scale!r}')


def check_cpu_amp_dtype(dtype: Union[None, str, torch.dtype],
                        owner: str = 'AmpOptimWrapper') -> torch.dtype:
    """The autocast type of a CPU run: ``None`` or bfloat16 give
    bfloat16; anything else is an error saying why."""
    if dtype is None:
        return torch.bfloat16
    resolved = getattr(torch, dtype, None) if isinstance(dtype, str) \
        else dtype
    if resolved is not torch.bfloat16:
        raise ValueError(
            f'{owner}: dtype={dtype!r} on a machine without GPU: '
            "mmengine's CPU autocast supports only bfloat16. Use "
            "dtype='bfloat16', or leave dtype unset (bfloat16 on CPU, "
            'float16 with loss scaling on a GPU).')
    return torch.bfloat16


def resolve_amp_wrapper_cfg(cfg: dict, owner: str) -> dict:
    """``cfg`` (an optim-wrapper config) for the machine it runs on.

    ``type='AmpOptimWrapper'`` (mmengine's class) on a machine without an
    accelerator becomes :class:`CPUAmpOptimWrapper` (logged once per
    wrapper, the dtype checked now rather than at the first forward);
    every other config is returned unchanged.
    """
    wrapper_type = cfg.get('type', 'OptimWrapper')
    cls: Optional[type] = wrapper_type if isinstance(wrapper_type, type) \
        else OPTIM_WRAPPERS.get(wrapper_type)
    if cls is not AmpOptimWrapper or accelerator_available():
        return cfg
    cfg = copy.deepcopy(dict(cfg))
    check_cpu_amp_dtype(cfg.get('dtype'), owner)
    cfg['type'] = CPUAmpOptimWrapper
    print_log(
        f'{owner}: AmpOptimWrapper without GPU: CPUAmpOptimWrapper '
        '(bfloat16 autocast, CPU loss scaler)', logger='current')
    return cfg
