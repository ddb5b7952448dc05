from .checkpoint import register_trusted_local_checkpoint_loader
from .runtime import finalize_tool_cfg, use_fixed_architecture

__all__ = [
    'register_trusted_local_checkpoint_loader', 'finalize_tool_cfg',
    'use_fixed_architecture'
]
