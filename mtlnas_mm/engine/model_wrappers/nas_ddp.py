"""DDP wrapper that runs a NAS algorithm's bilevel step."""
from typing import Dict, List, Union

import torch
import torch.distributed as dist
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mmseg.registry import MODEL_WRAPPERS
from mtlnas_mm.models.search_spaces import BaseSearchSpace


def unused_parameter_spaces(module: torch.nn.Module) -> List[str]:
    """Class names of the search spaces in ``module`` whose training
    forward leaves parameters without gradient (sampled sub-networks)."""
    return sorted({
        type(m).__name__
        for m in module.modules()
        if isinstance(m, BaseSearchSpace) and m.leaves_parameters_unused
    })


@MODEL_WRAPPERS.register_module()
class DeviceAwareDistributedDataParallel(MMDistributedDataParallel):
    """mmengine's DDP wrapper that also wraps CPU modules (gloo).

    PyTorch requires ``device_ids=None`` for a CPU module, while mmengine's
    runner always passes ``[LOCAL_RANK]``; this wrapper drops them for CPU
    modules and is mmengine's wrapper otherwise (plain training of the
    baselines under ``tools/dist_train.sh`` on CPU-only machines).

    A search space whose training forward computes only part of the
    network (:attr:`BaseSearchSpace.leaves_parameters_unused`, e.g. the
    sampled routes of ``ShareRoutes``) needs DDP's
    ``find_unused_parameters=True`` (else the reducer waits for gradients
    that never come and the next iteration fails); it is turned on for such
    modules, and an explicit ``find_unused_parameters=False`` is an error.

    Config::

        model_wrapper_cfg = dict(type='DeviceAwareDistributedDataParallel')
    """

    def __init__(self, module, **kwargs) -> None:
        if not any(p.is_cuda for p in module.parameters()):
            kwargs['device_ids'] = None
            kwargs['output_device'] = None
        spaces = unused_parameter_spaces(module)
        if spaces:
            if kwargs.get('find_unused_parameters') is False:
                raise ValueError(
                    'model_wrapper_cfg.find_unused_parameters=False: the '
                    f'training forward of {", ".join(spaces)} leaves '
                    'parameters without gradient; DDP needs '
                    'find_unused_parameters=True (or leave it unset)')
            if not kwargs.get('find_unused_parameters'):
                print_log(
                    f'{type(self).__name__}: find_unused_parameters=True '
                    f'(the training forward of {", ".join(spaces)} leaves '
                    'parameters without gradient)', logger='current')
            kwargs['find_unused_parameters'] = True
        super().__init__(module=module, **kwargs)


@MODEL_WRAPPERS.register_module()
class NASDistributedDataParallel(DeviceAwareDistributedDataParallel):
    """``MMDistributedDataParallel`` for NAS algorithms.

    mmengine's DDP wrapper runs its own single-optimizer step and never
    calls the model's ``train_step``, so a bilevel search under DDP needs
    its own wrapper.  It runs the algorithm's ``bilevel_step`` (the same
    function as without DDP) with:

    * the **weight step** forward through DDP, which all-reduces the
      weight gradients as usual;
    * the **architecture step** forward under ``no_sync``: its backward
      reaches the architecture parameters only, which DDP's reducer does
      not allow (it waits for every parameter), so their gradients are
      averaged across the ranks here instead.  The regulariser is a
      deterministic function of the (identical) parameters, so averaging
      leaves it unchanged.

    Adam and SGD then apply identical updates on every rank, so the
    architecture parameters stay identical across ranks.

    The architecture parameters are hidden from DDP's reducer (DDP's
    ``_set_params_and_buffers_to_ignore_for_model``): only ``arch_grad_sync``
    averages their gradients.  Else, with ``find_unused_parameters=True``,
    the reducer counts them as used by the architecture backward and then
    fails in a weight step that does not use them (``ShareRoutes`` samples
    its routes without gradient to the logits): "Encountered gradient which
    is undefined, but still allreduced".

    Config (set by the search schedules; used only when distributed)::

        model_wrapper_cfg = dict(type='NASDistributedDataParallel')
    """

    def __init__(self, module, **kwargs) -> None:
        arch = {id(p) for p in module.arch_parameters()}
        ignored = list(getattr(module, '_ddp_params_and_buffers_to_ignore',
                               []))
        ignored += [n for n, p in module.named_parameters() if id(p) in arch]
        self._set_params_and_buffers_to_ignore_for_model(module, ignored)
        super().__init__(module, **kwargs)

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: Union[OptimWrapper, OptimWrapperDict]
                   ) -> Dict[str, torch.Tensor]:
        return self.module.bilevel_step(
            data, optim_wrapper,
            loss_fn=lambda d: self._run_forward(d, mode='loss'),
            arch_loss_fn=self._unsynced_loss,
            arch_grad_sync=self._average_grads)

    def _unsynced_loss(self, data: dict) -> Dict[str, torch.Tensor]:
        with self.no_sync():
            return self._run_forward(data, mode='loss')

    def _average_grads(self, params: List[torch.nn.Parameter]) -> None:
        """Average the gradients of ``params`` over the ranks (every rank
        runs the same graph, so the same parameters have gradients)."""
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, group=self.process_group)
        flat /= dist.get_world_size(self.process_group)
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()
