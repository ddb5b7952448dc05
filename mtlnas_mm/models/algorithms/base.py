"""The bilevel NAS algorithm: a network, its search spaces, and the step
that alternates architecture and weight updates."""
from typing import Callable, Dict, List, Mapping, Optional, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import Tensor

from mmseg.registry import MODELS
from mtlnas_mm.structures import BaseArchitecture
from ..search_spaces.base import (ARCH_STEP, STEPS, WEIGHT_STEP,
                                  BaseSearchSpace)
from ..utils import check_finite, refuse_legacy_state_dict

LossFn = Callable[[dict], Dict[str, Tensor]]
#: averages the gradients of the given parameters over the ranks (DDP)
GradSync = Callable[[List[nn.Parameter]], None]


def optimizer_params(wrapper: OptimWrapper) -> List[nn.Parameter]:
    """The trainable parameters an optim wrapper steps."""
    return [
        p for group in wrapper.optimizer.param_groups for p in group['params']
        if p.requires_grad
    ]


def _eager(fn: Callable) -> Callable:
    """``fn`` run eagerly when a caller is compiled by ``torch.compile``.

    mmengine's ``cfg.compile`` compiles the whole ``train_step``: dynamo
    would also trace the optimizer wrappers (torch 2.14's dynamo stops with
    an internal error on ``Adam.step`` there) and the data preprocessor
    (recompiled for every batch: its guards hold the data samples).  Only
    the network's forward is worth compiling; everything else is wrapped
    here.  Without compilation this is a plain call.
    """
    return torch.compiler.disable(fn, reason='bilevel-step bookkeeping: '
                                  'only the forward is compiled')


@_eager
def _preprocess(preprocessor: nn.Module, batch: dict) -> dict:
    return preprocessor(batch, True)


@_eager
def _zero_grad(wrappers: OptimWrapper) -> None:
    wrappers.zero_grad()


@_eager
def _update(wrapper: OptimWrapper, loss: Tensor, own_grads_only: bool,
            grad_sync: Optional[GradSync]) -> None:
    """Backward and update of ``wrapper`` (see ``BaseNASAlgorithm._step``).
    """
    if not own_grads_only:
        wrapper.update_params(loss)
        return
    # OptimWrapper.update_params, with the backward limited to them
    params = optimizer_params(wrapper)
    wrapper.backward(wrapper.scale_loss(loss), inputs=params)
    if grad_sync is not None:
        grad_sync(params)
    if wrapper.should_update():
        wrapper.step()
        wrapper.zero_grad()


class BaseNASAlgorithm(BaseModel):
    """A network plus the search of its architecture (first order).

    The algorithm holds any network (``network=dict(...)``, e.g. a
    :class:`MultiTaskNetwork`) and finds the search spaces inside it (the
    modules implementing :class:`BaseSearchSpace`).  It owns the search
    state the network does not have: the regulariser weight, the step
    (which relaxation the spaces use) and the export.  One iteration
    (:meth:`bilevel_step`, shared with :class:`NASDistributedDataParallel`):

    1. **architecture step** on a batch of the held-out split: spaces in
       their ``'arch'`` relaxation, loss = task losses +
       ``regularizer_weight * regulariser``; the backward reaches the
       architecture parameters only (``backward(inputs=...)``) and only
       the architecture optimizer steps;
    2. **weight step** on a batch of the training split: spaces in their
       ``'weight'`` relaxation, loss = task losses; only the weight
       optimizer steps.

    Both optimizers are zeroed before *each* backward and after the last
    one (``OptimWrapper.update_params`` zeroes its own parameters only, so
    without this each step would leave gradients on the other's
    parameters: the defect of MMRazor's DARTS).  A non-finite loss raises
    before any update.  A plain batch (not ``dict(arch=..., weight=...)``)
    runs one ordinary step.

    Call flow:

    1. ``train_step(dict(arch=batch_a, weight=batch_w), optim_wrapper)`` ->
       ``bilevel_step``: ``set_step('arch')`` -> data preprocessor ->
       ``network.loss`` + ``regularizer_weight * regularizer()`` ->
       architecture update -> every space's ``after_arch_update``;
       ``set_step('weight')`` -> ``network.loss`` -> weight update;
       ``set_step(None)``.
    2. ``loss`` / ``predict`` / ``forward(mode='tensor')``: the network's,
       with the spaces in their configured (evaluation: derived) mode.
    3. ``export()``: each space's ``derive()`` -> one architecture object
       (``derive_arch.py``, ``ArchitectureHook``); ``fix_subnet`` /
       ``BaseSearchSpace.fix`` go the other way.

    Args:
        network: the network config (or module).
        fix_subnet: an architecture file / dict / object: every search space
            becomes its derived sub-network (evaluation without search).
        data_preprocessor: used only if the network config has none
            (mmengine's runner passes the config's top-level
            ``data_preprocessor`` here); the algorithm runs the network's.
        init_cfg: mmengine init config.
    """

    #: log / loss key of the regulariser
    regularizer_name = 'regularizer'

    def __init__(self,
                 network: Union[dict, nn.Module],
                 fix_subnet: Union[None, str, dict, BaseArchitecture] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if isinstance(network, Mapping):
            network = dict(network)
            if data_preprocessor is not None:
                network.setdefault('data_preprocessor', data_preprocessor)
            network = MODELS.build(network)
        super().__init__(
            data_preprocessor=network.data_preprocessor, init_cfg=init_cfg)
        self.network = network
        #: weight of the regulariser in the architecture loss (scheduled by
        #: a hook, e.g. :class:`MinEntropyHook`)
        self.regularizer_weight = 0.0
        # the weight the architecture loss reads: a tensor updated in place
        # (a compiled forward takes a scheduled weight as an input instead of
        # recompiling for each value)
        self.register_buffer('_regularizer_weight', torch.tensor(0.0),
                             persistent=False)
        self._regularize = False
        self.search_spaces: List[BaseSearchSpace] = [
            m for m in network.modules() if isinstance(m, BaseSearchSpace)
        ]
        if not self.search_spaces:
            raise ValueError(f'{type(self).__name__}: the network has no '
                             'search space (e.g. TaskColumns without edges)')
        if fix_subnet is not None:
            source = fix_subnet if isinstance(fix_subnet, str) else \
                'fix_subnet'
            arch = BaseArchitecture.build(fix_subnet)
            for space in self.search_spaces:
                space.fix(arch, source)
        self._register_load_state_dict_pre_hook(self._refuse_legacy)

    @staticmethod
    def _refuse_legacy(state_dict, prefix, *args) -> None:
        refuse_legacy_state_dict(state_dict, prefix)

    # ------------------------------------------------------------------
    # the search state
    # ------------------------------------------------------------------
    @property
    def search_space(self) -> BaseSearchSpace:
        """The network's one search space."""
        if len(self.search_spaces) != 1:
            raise RuntimeError(f'{type(self).__name__}: the network has '
                               f'{len(self.search_spaces)} search spaces; '
                               'use search_spaces')
        return self.search_spaces[0]

    def arch_parameters(self) -> List[nn.Parameter]:
        """THE split of parameters: these are stepped by the architecture
        optimizer, every other trainable parameter by the weight one."""
        return [p for s in self.search_spaces for p in s.arch_parameters()]

    def set_step(self, step: Optional[str]) -> None:
        """The spaces' relaxation of the next training forward
        (``None``: their configured one)."""
        for space in self.search_spaces:
            space.set_step(step)

    def set_temperature(self, temperature: float) -> None:
        for space in self.search_spaces:
            space.set_temperature(temperature)

    def set_regularizer_weight(self, weight: float) -> None:
        if weight < 0:
            raise ValueError('regularizer weight must be >= 0, got '
                             f'{weight!r}')
        self.regularizer_weight = float(weight)
        self._regularizer_weight.fill_(self.regularizer_weight)
        self._regularize = self.regularizer_weight > 0

    def regularizer(self) -> Tensor:
        """The spaces' unweighted regularisers, summed (0-dim)."""
        terms = [s.regularizer() for s in self.search_spaces]
        return torch.stack(terms).sum() if len(terms) > 1 else terms[0]

    def arch_losses(self) -> Dict[str, Tensor]:
        """What the architecture step adds to the task losses: the logged
        regulariser and, with a positive weight, its weighted loss."""
        value = self.regularizer()
        out = {self.regularizer_name: value.detach()}
        if self._regularize:
            out[f'loss_{self.regularizer_name}'] = \
                self._regularizer_weight.to(value.dtype) * value
        return out

    def export(self) -> BaseArchitecture:
        """The derived architecture of the search space."""
        return self.search_space.derive()

    def log_stats(self) -> Dict[str, float]:
        stats = {}
        for space in self.search_spaces:
            stats.update(space.log_stats())
        return stats

    # ------------------------------------------------------------------
    # forward: the network's
    # ------------------------------------------------------------------
    def forward(self, inputs: Tensor, data_samples=None,
                mode: str = 'tensor'):
        return self.network(inputs, data_samples, mode=mode)

    def loss(self, inputs: Tensor, data_samples) -> Dict[str, Tensor]:
        return self.network.loss(inputs, data_samples)

    def predict(self, inputs: Tensor, data_samples=None):
        return self.network.predict(inputs, data_samples)

    # ------------------------------------------------------------------
    # training
    # ------------------------------------------------------------------
    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: Union[OptimWrapper, OptimWrapperDict]
                   ) -> Dict[str, Tensor]:
        return self.bilevel_step(data, optim_wrapper)

    def _step(self, loss_fn: LossFn, batch: dict, wrapper: OptimWrapper,
              all_wrappers: OptimWrapper, phase: str,
              extra_losses: Optional[Callable[[], Dict[str, Tensor]]] = None,
              own_grads_only: bool = False,
              grad_sync: Optional[GradSync] = None) -> Dict[str, Tensor]:
        """One forward / backward / update of ``wrapper``.

        ``own_grads_only``: compute the gradients of ``wrapper``'s
        parameters only; ``grad_sync`` then averages them across ranks
        before the update (the forward ran outside DDP's synchronisation).

        Under ``cfg.compile`` (mmengine compiles ``train_step``) only the
        forward (``loss_fn`` and ``extra_losses``) is traced by
        ``torch.compile``; the data preprocessing, the zeroing and the
        update run eagerly (:func:`_eager`).
        """
        _zero_grad(all_wrappers)
        with wrapper.optim_context(self):
            data = _preprocess(self.data_preprocessor, batch)
            losses = loss_fn(data)
            if extra_losses is not None:
                losses.update(extra_losses())
        loss, log_vars = self.parse_losses(losses)
        check_finite(loss, losses, phase)
        _update(wrapper, loss, own_grads_only, grad_sync)
        _zero_grad(all_wrappers)
        # parse_losses keeps the graph in the logged values; after a backward
        # limited to some parameters that graph still holds the activations
        # saved for the others, so release it now (the values are for logging)
        return {k: v.detach() if isinstance(v, Tensor) else v
                for k, v in log_vars.items()}

    def bilevel_step(self, data: Union[dict, tuple, list],
                     optim_wrapper: Union[OptimWrapper, OptimWrapperDict],
                     loss_fn: Optional[LossFn] = None,
                     arch_loss_fn: Optional[LossFn] = None,
                     arch_grad_sync: Optional[GradSync] = None
                     ) -> Dict[str, Tensor]:
        """Run one training iteration (see the class docstring).

        Args:
            data: ``dict(arch=batch, weight=batch)`` from the bilevel loop,
                or a plain batch.
            optim_wrapper: ``OptimWrapperDict(arch=..., weight=...)``, or a
                plain ``OptimWrapper``.
            loss_fn: loss dict from a preprocessed batch; default
                ``self(**data, mode='loss')``.  The DDP wrapper passes its
                own forward so weight gradients are all-reduced.
            arch_loss_fn: loss function of the architecture step (default
                ``loss_fn``); under DDP it runs outside DDP's gradient
                synchronisation (``no_sync``) and ``arch_grad_sync``
                averages the architecture gradients.
            arch_grad_sync: averages architecture gradients across ranks.
        """
        if loss_fn is None:
            def loss_fn(d):  # noqa: E306
                return self._run_forward(d, mode='loss')

        bilevel = isinstance(data, Mapping) and ARCH_STEP in data
        if not bilevel:
            if isinstance(optim_wrapper, OptimWrapperDict):
                if set(optim_wrapper.keys()) != {WEIGHT_STEP}:
                    raise ValueError(
                        'a bilevel optim_wrapper (weight + arch) needs the '
                        'bilevel train loop (train_cfg type '
                        "'BilevelIterBasedTrainLoop')")
                optim_wrapper = optim_wrapper[WEIGHT_STEP]
            return self._step(loss_fn, data, optim_wrapper, optim_wrapper,
                              'training')
        if not isinstance(optim_wrapper, OptimWrapperDict) or \
                set(optim_wrapper.keys()) != set(STEPS):
            raise ValueError(
                'the bilevel loop needs optim_wrapper with '
                "constructor='BilevelOptimWrapperConstructor' (keys "
                f'{list(STEPS)})')
        try:
            self.set_step(ARCH_STEP)
            log_arch = self._step(arch_loss_fn or loss_fn, data[ARCH_STEP],
                                  optim_wrapper[ARCH_STEP], optim_wrapper,
                                  'architecture', self.arch_losses,
                                  own_grads_only=True,
                                  grad_sync=arch_grad_sync)
            for space in self.search_spaces:
                space.after_arch_update()
            self.set_step(WEIGHT_STEP)
            log_weight = self._step(loss_fn, data[WEIGHT_STEP],
                                    optim_wrapper[WEIGHT_STEP],
                                    optim_wrapper, WEIGHT_STEP)
        finally:
            self.set_step(None)
        log_vars = dict(log_weight)
        log_vars.update({f'arch.{k}': v for k, v in log_arch.items()})
        return log_vars
