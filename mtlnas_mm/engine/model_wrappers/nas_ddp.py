"""DDP wrapper that runs a NAS algorithm's bilevel step."""
from typing import Dict, List, Union

import torch
import torch.distributed as dist
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mmseg.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class DeviceAwareDistributedDataParallel(MMDistributedDataParallel):
    """mmengine's DDP wrapper that also wraps CPU modules (gloo).

    PyTorch requires ``device_ids=None`` for a CPU module, while mmengine's
    runner always passes ``[LOCAL_RANK]``; this wrapper drops them for CPU
    modules and is mmengine's wrapper otherwise (plain training of the
    baselines under ``tools/dist_train.sh`` on CPU-only machines).

    Config::

        model_wrapper_cfg = dict(type='DeviceAwareDistributedDataParallel')
    """

    def __init__(self, module, **kwargs) -> None:
        if not any(p.is_cuda for p in module.parameters()):
            kwargs['device_ids'] = None
            kwargs['output_device'] = None
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

    Config (set by the search schedules; used only when distributed)::

        model_wrapper_cfg = dict(type='NASDistributedDataParallel')
    """

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
