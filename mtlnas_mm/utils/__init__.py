from .checkpoint import register_trusted_local_checkpoint_loader
from .dist import patch_cpu_distributed_init
from .runtime import finalize_tool_cfg, set_max_iters, use_fixed_architecture

__all__ = [
    'register_trusted_local_checkpoint_loader', 'patch_cpu_distributed_init',
    'finalize_tool_cfg', 'set_max_iters', 'use_fixed_architecture'
]
