"""The three MTNAS stages of Liu et al. (ACCV 2020) chained, each search
stage's exported genotype feeding the next (``tools/mtnas_pipeline.py``,
``tools/analysis_tools/mtnas_evidence.py``):

1. branch search (``search='branches'``, backbone fixed to its genotype);
2. backbone search (``search='backbone'``), the branches fixed to the
   stage-1 genotypes;
3. retraining of the derived network (stage-2 genotype) from scratch,
   then its test metrics, FLOPs and parameters (``mmengine.analysis``,
   as mmseg's ``tools/analysis_tools/get_flops.py``).

Each stage runs in ``work_dir/<stage>``.  Next to each search stage's
genotype file (``work_dir/<stage>/arch/arch_final.json``) the pipeline
draws its picture (``arch_final.png``: one panel per part and cell type,
the kept edges labelled with their ops).  ``work_dir/pipeline.json`` lists
the genotype files and pictures, the test metrics and the complexity of
the derived network.
"""
import copy
import json
import os.path as osp
from typing import Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.runner import Runner

from ..engine.hooks import ArchitectureHook
from ..structures import load_architecture
from ..utils import (claim_output_dir, model_complexity, set_max_iters,
                     set_stage_genotype)
from ..visualization import draw_architecture

#: the stages, in order (one config each)
STAGES = ('branches', 'backbone', 'retrain')


def exported_genotype(runner: Runner, stage: str) -> str:
    """The final genotype file a search stage's ArchitectureHook wrote."""
    hooks = [h for h in runner.hooks if isinstance(h, ArchitectureHook)]
    if len(hooks) != 1:
        raise RuntimeError(f'stage {stage!r}: a search stage needs exactly '
                           'one ArchitectureHook (its export feeds the next '
                           f'stage), found {len(hooks)}')
    path = osp.join(runner.work_dir, hooks[0].out_dir, 'arch_final.json')
    if not osp.isfile(path):
        raise FileNotFoundError(f'stage {stage!r} wrote no {path}')
    return path


def set_stage_iters(cfgs: Sequence[Config], iters: Optional[int] = None,
                    search_iters: Optional[int] = None,
                    retrain_iters: Optional[int] = None) -> None:
    """Set the lengths of the stage configs ``cfgs`` (in ``STAGES``
    order) in place: ``iters`` for every stage, ``search_iters`` for the
    two searches and ``retrain_iters`` for the retraining instead; a stage
    given no length keeps its config's."""
    if len(cfgs) != len(STAGES):
        raise ValueError(f'set_stage_iters: {len(STAGES)} stage configs '
                         f'({", ".join(STAGES)}), got {len(cfgs)}')
    for stage, cfg in zip(STAGES, cfgs):
        n = retrain_iters if stage == 'retrain' else search_iters
        n = iters if n is None else n
        if n is not None:
            if n < 1:
                raise ValueError(f'stage {stage!r}: iterations must be '
                                 f'>= 1, got {n}')
            set_max_iters(cfg, n)


def run_pipeline(cfgs: Sequence[Config], work_dir: str,
                 resume: bool = False,
                 input_shape: Optional[Tuple[int, int]] = None) -> dict:
    """Run the stages of ``cfgs`` (branch search, backbone search,
    retraining) in ``work_dir``; return (and write to
    ``work_dir/pipeline.json``) the summary."""
    if len(cfgs) != len(STAGES):
        raise ValueError(f'run_pipeline: {len(STAGES)} stage configs '
                         f'({", ".join(STAGES)}), got {len(cfgs)}')
    claim_output_dir(work_dir, 'mtnas_pipeline.py')
    summary: dict = dict(genotypes={}, pictures={})
    genotype = None
    for stage, cfg in zip(STAGES, cfgs):
        cfg = copy.deepcopy(cfg)
        cfg.work_dir = osp.join(work_dir, stage)
        cfg.experiment_name = f'{osp.basename(work_dir)}_{stage}'
        if cfg.get('visualizer') is not None:  # one visualizer per runner
            cfg.visualizer.name = cfg.experiment_name
        if genotype is not None:
            set_stage_genotype(cfg, genotype, source=f'stage {stage!r}')
        if resume:
            cfg.resume, cfg.load_from = True, None
        runner = Runner.from_cfg(cfg)
        runner.train()
        if stage != 'retrain':
            genotype = exported_genotype(runner, stage)
            summary['genotypes'][stage] = genotype
            summary['pictures'][stage] = draw_architecture(
                load_architecture(genotype),
                osp.splitext(genotype)[0] + '.png')
            continue
        if cfg.get('test_dataloader') is not None:
            summary['test_metrics'] = {
                k: float(v) for k, v in runner.test().items()}
        if input_shape is None:
            input_shape = _crop_size(cfg)
        summary['complexity'] = model_complexity(runner.model, input_shape)
    with open(osp.join(work_dir, 'pipeline.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    return summary


def _crop_size(cfg: Config) -> Tuple[int, int]:
    for t in cfg.train_dataloader.dataset.pipeline:
        if t['type'] == 'RandomCrop':
            return tuple(t['crop_size'])
    raise KeyError('no RandomCrop in the retraining pipeline: give '
                   '--input-shape')
