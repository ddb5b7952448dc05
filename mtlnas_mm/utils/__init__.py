"""Helpers of the tools, checkpoint loading and CPU DDP.

Importing this subpackage (``import mtlnas_mm`` does) allowlists the data
classes of mmengine's runner checkpoints for torch's ``weights_only``
loading: additive, nothing is patched (see :mod:`.checkpoint`).
"""
from .checkpoint import (checkpoint_safe_globals, history_buffer_method,
                         register_checkpoint_safe_globals)
from .complexity import model_complexity
from .dist import init_cpu_distributed
from .runtime import (OUTPUT_MARKER, claim_output_dir, enable_amp,
                      finalize_tool_cfg, name_run, parse_tool_args,
                      set_max_iters, set_stage_genotype, set_weight_lr,
                      use_fixed_architecture, write_json_report)

register_checkpoint_safe_globals()

__all__ = [
    'checkpoint_safe_globals', 'history_buffer_method',
    'register_checkpoint_safe_globals', 'init_cpu_distributed',
    'model_complexity',
    'OUTPUT_MARKER', 'claim_output_dir', 'enable_amp', 'finalize_tool_cfg',
    'name_run',
    'parse_tool_args', 'set_max_iters', 'set_stage_genotype', 'set_weight_lr',
    'use_fixed_architecture', 'write_json_report'
]
