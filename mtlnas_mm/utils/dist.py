"""Let mmengine 0.10.7 run DDP on CPU-only machines (gloo).

``mmengine.dist.init_dist(launcher='pytorch')`` always calls
``torch.cuda.set_device(LOCAL_RANK)``, which raises on a machine without an
NVIDIA driver, and the runner passes ``device_ids=[LOCAL_RANK]`` to DDP,
which PyTorch rejects for CPU modules.  Searches and tests here run on
CPUs with ``torchrun ... --launcher pytorch``, so the plugin makes the
initialisation skip the CUDA call when CUDA is unavailable (the wrapper
drops ``device_ids`` for CPU modules, see ``BilevelDistributedDataParallel``).
Nothing changes on machines with GPUs.
"""
import torch
import torch.distributed as torch_dist
from mmengine.dist import utils as dist_utils

_PATCHED = False


def patch_cpu_distributed_init() -> None:
    """Install the CPU-aware ``_init_dist_pytorch`` (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    original = dist_utils._init_dist_pytorch

    def _init_dist_pytorch(backend, init_backend='torch', **kwargs) -> None:
        if torch.cuda.is_available() or init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        if backend == 'nccl':
            backend = 'gloo'  # nccl needs GPUs
        torch_dist.init_process_group(backend=backend, **kwargs)

    dist_utils._init_dist_pytorch = _init_dist_pytorch
    _PATCHED = True
