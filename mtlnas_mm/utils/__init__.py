"""Helpers of the tools, checkpoint loading and CPU DDP.

Importing this subpackage (``import mtlnas_mm`` does) allowlists the data
classes of mmengine's runner checkpoints for torch's ``weights_only``
loading (additive) and registers a local-file checkpoint loader whose
errors name the file (see :mod:`.checkpoint`).
"""
from .checkpoint import (CheckpointLoadError, CheckpointRefusedError,
                         checkpoint_safe_globals, history_buffer_method,
                         load_local_checkpoint, register_checkpoint_loader,
                         register_checkpoint_safe_globals)
from .complexity import model_complexity
from .dist import init_cpu_distributed
from .output import (OUTPUT_MARKER, OutputExistsError, claim_output_dir,
                     claim_output_file, claim_work_dir, is_claimed,
                     is_launch_main, write_json_report)
from .runtime import (enable_amp, finalize_tool_cfg, name_run,
                      parse_tool_args, set_fusion_lr_mult, set_max_iters,
                      set_stage_genotype, set_weight_lr,
                      use_fixed_architecture)

register_checkpoint_safe_globals()
register_checkpoint_loader()

__all__ = [
    'CheckpointLoadError', 'CheckpointRefusedError',
    'checkpoint_safe_globals', 'history_buffer_method',
    'load_local_checkpoint', 'register_checkpoint_loader',
    'register_checkpoint_safe_globals', 'init_cpu_distributed',
    'model_complexity',
    'OUTPUT_MARKER', 'OutputExistsError', 'claim_output_dir',
    'claim_output_file', 'claim_work_dir', 'is_claimed',
    'is_launch_main', 'enable_amp', 'finalize_tool_cfg',
    'name_run',
    'parse_tool_args', 'set_fusion_lr_mult', 'set_max_iters',
    'set_stage_genotype', 'set_weight_lr',
    'use_fixed_architecture', 'write_json_report'
]
