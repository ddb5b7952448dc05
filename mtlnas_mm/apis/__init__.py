"""High-level runs built of several runners: the MTNAS pipeline.

Not imported by ``import mtlnas_mm`` (the tools that run it import it).
"""
from .mtnas_pipeline import (STAGES, exported_genotype, run_pipeline,
                             set_stage_iters)

__all__ = ['STAGES', 'exported_genotype', 'run_pipeline', 'set_stage_iters']
