"""Optimizer constructors: the bilevel pair of a search, and a strict
single optimizer for plain training.

MTL-NAS (like DARTS) updates two disjoint parameter sets with two
optimizers: the network weights with SGD (poly schedule, lr multipliers for
the fusion ops and classifiers) and the architecture logits with Adam.  The
split between them is *one fact*, owned by the algorithm:
``algorithm.arch_parameters()`` (its search spaces' parameters); every
other trainable parameter is a network weight.

mmengine applies ``paramwise_cfg.custom_keys`` by substring match and says
nothing when a key matches no parameter, so a renamed module silently loses
its lr multiplier.  Both constructors here raise instead.
"""
import contextlib
import copy
import logging
from typing import Dict, Iterable, List, Optional

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmengine.optim import (DefaultOptimWrapperConstructor, OptimWrapper,
                            OptimWrapperDict)
from mmengine.registry import OPTIM_WRAPPERS, OPTIMIZERS

from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mtlnas_mm.models.search_spaces import ARCH_STEP, STEPS, WEIGHT_STEP
from .amp import resolve_amp_wrapper_cfg


def check_custom_keys(paramwise_cfg: Optional[dict],
                      names: Iterable[str], owner: str) -> None:
    """Raise if a ``custom_keys`` entry matches none of ``names``."""
    keys = (paramwise_cfg or {}).get('custom_keys', {}) or {}
    names = list(names)
    unmatched = [k for k in keys if not any(k in n for n in names)]
    if unmatched:
        raise KeyError(
            f'{owner}: paramwise_cfg.custom_keys {unmatched} match no '
            'parameter of the model (mmengine would ignore them silently); '
            'parameter names look like '
            f'{names[:3]}')


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class StrictOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor, raising on a custom key that
    matches no parameter; ``type='AmpOptimWrapper'`` also runs on a
    CPU-only machine (:func:`resolve_amp_wrapper_cfg`)."""

    def __init__(self, optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        self.optim_wrapper_cfg = resolve_amp_wrapper_cfg(
            self.optim_wrapper_cfg, 'optim_wrapper')

    def __call__(self, model: nn.Module) -> OptimWrapper:
        module = model.module if is_model_wrapper(model) else model
        check_custom_keys(
            self.paramwise_cfg,
            (n for n, p in module.named_parameters() if p.requires_grad),
            'optim_wrapper')
        return super().__call__(model)


class _DropFrozenWarnings(logging.Filter):
    """Drops mmengine's one-warning-per-frozen-parameter records."""

    def filter(self, record: logging.LogRecord) -> bool:
        return 'is skipped since its requires_grad=False' not in \
            record.getMessage()


@contextlib.contextmanager
def _one_line_for_frozen_params(model: nn.Module, owner: str):
    """mmengine warns once per frozen parameter (thousands of lines for a
    frozen cell backbone); say it once instead."""
    logger = MMLogger.get_current_instance()
    drop = _DropFrozenWarnings()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)
    frozen = sum(1 for p in model.parameters() if not p.requires_grad)
    if frozen:
        logger.info(f'{owner}: {frozen} parameter tensors have '
                    'requires_grad=False and are not optimised')


def _merge_groups(groups: List[dict]) -> List[dict]:
    """One group per distinct setting (lr, weight decay, ...), parameters
    in their original order, groups in order of first appearance."""
    merged: Dict[str, dict] = {}
    for g in groups:
        key = repr(sorted((k, v) for k, v in g.items() if k != 'params'))
        if key not in merged:
            merged[key] = dict(g, params=[])
        merged[key]['params'].extend(g['params'])
    return list(merged.values())


def _group_layout(optimizer_state: dict) -> List[int]:
    """The parameter count of each group of an optimizer state dict."""
    return [len(g['params']) for g in optimizer_state.get('param_groups', [])]


class BilevelOptimWrapperDict(OptimWrapperDict):
    """``OptimWrapperDict(weight=..., arch=...)`` whose
    :meth:`load_state_dict` (the optimizer part of a resume) checks the
    saved parameter-group layout first.

    torch refuses an optimizer state with other groups ("different number
    of parameter groups", "doesn't match the size of optimizer's group")
    without saying why; a layout change here means the checkpoint was
    written by an earlier version of the constructor (one group per
    parameter, before :func:`_merge_groups`) or with another set of
    trainable parameters, so the run cannot be resumed, only started from
    the checkpoint's weights.
    """

    def load_state_dict(self, state_dict: dict) -> None:
        for name, saved in state_dict.items():
            if name not in self.optim_wrappers:
                continue  # mmengine's own check names it
            ours = _group_layout(
                self.optim_wrappers[name].optimizer.state_dict())
            theirs = _group_layout(saved)
            if ours != theirs:
                raise ValueError(_layout_message(name, theirs, ours))
        super().load_state_dict(state_dict)


def _layout_message(name: str, saved: List[int], built: List[int]) -> str:
    """Why a resume with the saved group layout ``saved`` fails."""
    which = ('the checkpoint being resumed (its path: the log line "Load '
             'checkpoint from ...")')

    def show(layout: List[int]) -> str:
        return (f'{len(layout)} parameter groups of '
                f'{sum(layout)} parameters')

    return (f'optim_wrapper.{name}: {which} holds {show(saved)}, this '
            f'search builds {show(built)}: the optimizer layout changed '
            '(a checkpoint written before BilevelOptimWrapperConstructor '
            'merged the groups of equal settings, or with other trainable '
            'parameters), so its optimizer state cannot be resumed. Start '
            'a new run from its weights instead: load_from=CHECKPOINT with '
            'resume=False (tools/train.py: --cfg-options '
            'load_from=CHECKPOINT, without --resume).')


class _SubsetOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Build one optimizer over a subset of a model's parameters.

    ``paramwise_cfg`` (``custom_keys`` with ``lr_mult``/``decay_mult``,
    ``norm_decay_mult`` ...) is applied exactly as mmengine does for the full
    model; the groups of parameters outside ``keep`` are then dropped and
    groups with the same settings merged (mmengine makes one group per
    parameter: thousands for a cell supernet, each costing torch a
    compiled ``add_param_group`` call).
    """

    def build(self, model: nn.Module, keep: List[nn.Parameter],
              owner: str) -> OptimWrapper:
        keep_ids = {id(p) for p in keep}
        check_custom_keys(
            self.paramwise_cfg,
            (n for n, p in model.named_parameters() if id(p) in keep_ids),
            owner)
        groups: List[dict] = []
        with _one_line_for_frozen_params(model, owner):
            self.add_params(groups, model)
        groups = _merge_groups(
            [g for g in groups if id(g['params'][0]) in keep_ids])
        if not groups:
            raise ValueError(f'{owner}: the optimizer would own no '
                             'parameter (no trainable parameters in this '
                             'subset)')
        optimizer_cfg = self.optimizer_cfg.copy()
        optimizer_cfg['params'] = groups
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        wrapper_cfg = self.optim_wrapper_cfg.copy()
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        wrapper_cfg = resolve_amp_wrapper_cfg(wrapper_cfg, owner)
        return OPTIM_WRAPPERS.build(
            wrapper_cfg, default_args=dict(optimizer=optimizer))


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class BilevelOptimWrapperConstructor:
    """Build ``OptimWrapperDict(weight=..., arch=...)`` for a search.

    Config example (MTL-NAS recipe)::

        optim_wrapper = dict(
            constructor='BilevelOptimWrapperConstructor',
            weight=dict(
                optimizer=dict(type='SGD', lr=1e-3, momentum=0.9,
                               weight_decay=2.5e-4),
                paramwise_cfg=dict(custom_keys={
                    'backbone.edges': dict(lr_mult=100.),
                    'conv_seg.weight': dict(lr_mult=10.),
                    'conv_seg.bias': dict(lr_mult=20.)})),
            arch=dict(optimizer=dict(type='Adam', lr=1e-3,
                                     betas=(0.5, 0.999), weight_decay=1e-3)))

    Each sub-config is a normal mmengine optim-wrapper config (``type``,
    ``optimizer``, ``paramwise_cfg``, ``clip_grad``, ...).  Give schedules
    per optimizer with ``param_scheduler = dict(weight=[...], arch=[])``: a
    list would be applied to both optimizers.  Mixed precision:
    ``type='AmpOptimWrapper'`` in both sub-configs (each wrapper has its own
    loss scaler; on a CPU-only machine :class:`CPUAmpOptimWrapper`,
    bfloat16).
    """

    def __init__(self, optim_wrapper_cfg: Dict[str, dict],
                 paramwise_cfg: Optional[dict] = None) -> None:
        if paramwise_cfg is not None:
            raise ValueError(
                'BilevelOptimWrapperConstructor: put paramwise_cfg inside '
                f'the sub-configs {list(STEPS)}, not at top level')
        unknown = set(optim_wrapper_cfg) - set(STEPS)
        missing = set(STEPS) - set(optim_wrapper_cfg)
        if unknown or missing:
            raise KeyError(
                'BilevelOptimWrapperConstructor expects exactly the keys '
                f'{list(STEPS)} in optim_wrapper; unknown: '
                f'{sorted(unknown)}, missing: {sorted(missing)}')
        self.constructors = {}
        for key, cfg in optim_wrapper_cfg.items():
            cfg = copy.deepcopy(dict(cfg))
            sub_paramwise = cfg.pop('paramwise_cfg', None)
            self.constructors[key] = _SubsetOptimWrapperConstructor(
                cfg, sub_paramwise)

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        if is_model_wrapper(model):
            model = model.module
        if not hasattr(model, 'arch_parameters'):
            raise TypeError(
                f'{type(model).__name__} has no arch_parameters(); the '
                'bilevel optimizer needs a NAS algorithm model (e.g. '
                "type='MTLNAS')")
        arch = [p for p in model.arch_parameters() if p.requires_grad]
        if not arch:
            raise ValueError(
                f'{type(model).__name__}.arch_parameters() is empty: the '
                'model has nothing to search (fixed architecture); use a '
                'plain optim_wrapper for it')
        arch_ids = {id(p) for p in arch}
        weights = [
            p for p in model.parameters()
            if p.requires_grad and id(p) not in arch_ids
        ]
        subsets = {WEIGHT_STEP: weights, ARCH_STEP: arch}
        return BilevelOptimWrapperDict(
            **{
                key: self.constructors[key].build(
                    model, subsets[key], f'optim_wrapper.{key}')
                for key in STEPS
            })
