"""The training step of a (bilevel) multi-task search, shared by the model
and its DDP wrapper.

One iteration of MTL-NAS (spec section 3.2), first order:

1. **architecture step** on a batch of the held-out split: gates in
   ``arch_gate_mode`` (deterministic sigmoid by default), loss = task losses
   + ``entropy_weight * mean binary entropy of the gates``; only the
   architecture optimizer steps.
2. **weight step** on a batch of the training split: gates in
   ``weight_gate_mode`` (relaxed-Bernoulli samples by default), loss = task
   losses; only the weight optimizer steps.

Both optimizers are zeroed before *each* backward and after the last one:
``OptimWrapper.update_params`` only zeroes its own parameters, so without
this the alpha step would leave validation gradients on the weights and the
weight step training gradients on the alphas (the defect found in MMRazor's
DARTS).  A loss that is NaN/inf stops the run with an error that names the
iteration, the step and the offending loss terms, before any optimizer
steps on it.

The architecture step's backward is restricted to the parameters of the
architecture optimizer (``loss.backward(inputs=alphas)``): the network-weight
gradients of that step would be discarded anyway.  Every layer still
back-propagates to its input, but no backbone or head convolution computes
its weight gradient (the fusion convs still do: the gate gradients are
computed from it, see ``NDDRFusion``).
"""
from typing import Callable, Dict, List, Mapping, Optional, Union

import torch
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper, OptimWrapperDict

from .optimizers import ARCH, WEIGHTS

#: keys of the batch dict yielded by :class:`BilevelIterBasedTrainLoop`
WEIGHT_BATCH = 'weight'
ARCH_BATCH = 'arch'

LossFn = Callable[[dict], Dict[str, torch.Tensor]]
#: averages the gradients of the given parameters over the ranks (DDP)
GradSync = Callable[[List[torch.nn.Parameter]], None]


def _current_iter() -> Union[int, str]:
    try:
        return MessageHub.get_current_instance().get_info('iter', '?')
    except Exception:  # no message hub outside a runner
        return '?'


def check_finite(loss: torch.Tensor, losses: Mapping[str, torch.Tensor],
                 phase: str) -> None:
    """Raise ``FloatingPointError`` naming the iteration, phase and terms."""
    if bool(torch.isfinite(loss)):
        return
    bad = []
    for name, value in losses.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if torch.is_tensor(v) and not bool(torch.isfinite(v).all()):
                bad.append(f'{name}={v.detach().float().mean().item()}')
                break
    raise FloatingPointError(
        f'non-finite loss at iteration {_current_iter()} in the {phase} '
        f'step: {", ".join(bad) or f"total={loss.item()}"}. The run is '
        'stopped before the optimizer applies it (the gates and weights '
        'of the last checkpoint are intact); lower the learning rate or '
        'check the data of this task.')


def optimizer_params(wrapper: OptimWrapper) -> List[torch.nn.Parameter]:
    """The trainable parameters an optim wrapper steps."""
    return [
        p for group in wrapper.optimizer.param_groups for p in group['params']
        if p.requires_grad
    ]


def _step(model, loss_fn: LossFn, batch: dict, wrapper: OptimWrapper,
          all_wrappers: OptimWrapper, phase: str,
          extra_losses: Optional[Callable[[], Dict[str, torch.Tensor]]] = None,
          own_grads_only: bool = False,
          grad_sync: Optional[GradSync] = None) -> Dict[str, torch.Tensor]:
    """One forward / backward / update of ``wrapper``.

    ``own_grads_only``: compute the gradients of ``wrapper``'s parameters
    only (the others would be zeroed unused); ``grad_sync`` then averages
    them across ranks before the update (the forward ran outside DDP's
    gradient synchronisation).
    """
    all_wrappers.zero_grad()
    with wrapper.optim_context(model):
        data = model.data_preprocessor(batch, True)
        losses = loss_fn(data)
        if extra_losses is not None:
            losses.update(extra_losses())
    loss, log_vars = model.parse_losses(losses)
    check_finite(loss, losses, phase)
    if not own_grads_only:
        wrapper.update_params(loss)
    else:
        # OptimWrapper.update_params, with the backward limited to them
        params = optimizer_params(wrapper)
        wrapper.backward(wrapper.scale_loss(loss), inputs=params)
        if grad_sync is not None:
            grad_sync(params)
        if wrapper.should_update():
            wrapper.step()
            wrapper.zero_grad()
    all_wrappers.zero_grad()
    # parse_losses keeps the graph in the logged values; after a backward
    # limited to some parameters that graph still holds the activations
    # saved for the others, so release it now (the values are for logging)
    return {k: v.detach() if isinstance(v, torch.Tensor) else v
            for k, v in log_vars.items()}


def bilevel_train_step(model, data: Union[dict, tuple, list],
                       optim_wrapper: Union[OptimWrapper, OptimWrapperDict],
                       loss_fn: Optional[LossFn] = None,
                       arch_loss_fn: Optional[LossFn] = None,
                       arch_grad_sync: Optional[GradSync] = None
                       ) -> Dict[str, torch.Tensor]:
    """Run one training iteration of ``model``.

    Args:
        model: the (unwrapped) multi-task model; must provide
            ``data_preprocessor``, ``parse_losses`` and, for a search,
            ``set_gate_mode``, ``entropy`` and ``entropy_weight``.
        data: a normal batch (plain training) or
            ``dict(weight=batch, arch=batch)`` from the bilevel loop.
        optim_wrapper: an ``OptimWrapper`` (plain training) or
            ``OptimWrapperDict(weights=..., arch=...)`` (search).
        loss_fn: computes the loss dict from a preprocessed batch; defaults
            to ``model(**data, mode='loss')``.  The DDP wrapper passes its
            own forward so gradients are all-reduced (alphas included).
        arch_loss_fn: the loss function of the architecture step (default
            ``loss_fn``).  Its backward computes the alpha gradients only,
            so under DDP it must run outside DDP's gradient synchronisation
            (``no_sync``) and ``arch_grad_sync`` must average them.
        arch_grad_sync: averages the alpha gradients across ranks.
    """
    if loss_fn is None:
        def loss_fn(d):  # noqa: E306
            return model._run_forward(d, mode='loss')

    bilevel = isinstance(data, Mapping) and ARCH_BATCH in data
    if not bilevel:
        if isinstance(optim_wrapper, OptimWrapperDict):
            if set(optim_wrapper.keys()) != {WEIGHTS}:
                raise ValueError(
                    'a bilevel optim_wrapper (weights + arch) needs the '
                    'bilevel train loop (train_cfg type '
                    "'BilevelIterBasedTrainLoop')")
            optim_wrapper = optim_wrapper[WEIGHTS]
        return _step(model, loss_fn, data, optim_wrapper, optim_wrapper,
                     'training')

    if not isinstance(optim_wrapper, OptimWrapperDict) or \
            set(optim_wrapper.keys()) != {WEIGHTS, ARCH}:
        raise ValueError(
            'the bilevel loop needs optim_wrapper with '
            "constructor='BilevelOptimWrapperConstructor' (keys "
            f'"{WEIGHTS}" and "{ARCH}")')
    train_cfg = getattr(model, 'train_cfg', None) or {}
    arch_mode = train_cfg.get('arch_gate_mode', 'sigmoid')
    weight_mode = train_cfg.get('weight_gate_mode', 'relaxed')

    def entropy_term() -> Dict[str, torch.Tensor]:
        weight = float(getattr(model, 'entropy_weight', 0.0))
        entropy = model.entropy()
        out = {'entropy': entropy.detach()}
        if weight > 0:
            out['loss_entropy'] = weight * entropy
        return out

    model.set_gate_mode(arch_mode)
    log_arch = _step(model, arch_loss_fn or loss_fn, data[ARCH_BATCH],
                     optim_wrapper[ARCH], optim_wrapper, 'architecture',
                     entropy_term, own_grads_only=True,
                     grad_sync=arch_grad_sync)
    model.set_gate_mode(weight_mode)
    log_weight = _step(model, loss_fn, data[WEIGHT_BATCH],
                       optim_wrapper[WEIGHTS], optim_wrapper, 'weight')
    log_vars = dict(log_weight)
    log_vars.update({f'arch.{k}': v for k, v in log_arch.items()})
    return log_vars
