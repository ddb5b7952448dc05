"""High-level runs built of runners: train-and-test and the gains of a
comparison table, the MTNAS pipeline.

Not imported by ``import mtlnas_mm`` (the tools that run it import it).
"""
from .mtnas_pipeline import (STAGES, exported_genotype, run_pipeline,
                             set_stage_iters)
from .train_test import (STAGE2_LR, TASK_METRICS, evaluate, task_gains,
                         train_and_test)

__all__ = [
    'STAGE2_LR', 'STAGES', 'TASK_METRICS', 'evaluate', 'exported_genotype',
    'run_pipeline', 'set_stage_iters', 'task_gains', 'train_and_test'
]
