"""DDP wrapper that runs the (bilevel) multi-task training step."""
from typing import Dict, List, Union

import torch
import torch.distributed as dist
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mmseg.registry import MODEL_WRAPPERS
from ..train_step import bilevel_train_step


@MODEL_WRAPPERS.register_module()
class BilevelDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for searches (and plain training).

    mmengine's DDP wrapper runs its own single-optimizer step and never
    calls the model's ``train_step``, so a bilevel search under DDP needs
    its own wrapper.  It runs :func:`bilevel_train_step` with:

    * the **weight step** forward through DDP, which all-reduces the
      weight gradients as usual;
    * the **architecture step** forward under ``no_sync``: its backward
      reaches the alphas only, which DDP's reducer does not allow (it waits
      for every parameter), so the alpha gradients are averaged across the
      ranks here instead.  The entropy term is a deterministic function of
      the (identical) logits, so averaging leaves it unchanged.

    Adam and SGD then apply identical updates on every rank, so the gates
    stay identical across ranks.

    Config (set by the project's schedules; used only when distributed)::

        model_wrapper_cfg = dict(
            type='mmseg.BilevelDistributedDataParallel')
    """

    def __init__(self, module, **kwargs) -> None:
        if not any(p.is_cuda for p in module.parameters()):
            # PyTorch requires device_ids=None for CPU modules; mmengine's
            # runner always passes [LOCAL_RANK]
            kwargs['device_ids'] = None
            kwargs['output_device'] = None
        super().__init__(module=module, **kwargs)

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: Union[OptimWrapper, OptimWrapperDict]
                   ) -> Dict[str, torch.Tensor]:
        return bilevel_train_step(
            self.module, data, optim_wrapper,
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
