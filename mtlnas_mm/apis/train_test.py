"""Train a config, test it, and the multi-task gains of a table: one way
for the tools that compare models (``tools/demo.py``,
``tools/analysis_tools/mtnas_evidence.py``,
``tools/analysis_tools/compare_seeds.py``)."""
import os.path as osp
from typing import Dict, Mapping, Sequence, Tuple

from mmengine.config import Config
from mmengine.runner import Runner

from ..evaluation import delta_m

#: the metrics of each task in the comparison tables and in their per-task
#: delta_m (``delta_m/<task>``); ``delta_m`` is over all of them
TASK_METRICS: Dict[str, Sequence[str]] = {
    'seg': ('mIoU', 'aAcc'),
    'normal': ('mean', 'median', 'rmse', 'within_11.25', 'within_22.5',
               'within_30'),
}

#: weight lr of every stage-2 run of the demo protocol (training from a
#: trained single-task pair; the fusion ops keep their lr multiplier): the
#: paper's fine-tuning lr. Stage 1's 1e-2 (training from scratch) made the
#: search from the trained pair lose 14 mIoU in 300 iterations (seed 1:
#: 23.2 mIoU / 26.0 deg, against 35.1 / 21.8 with 1e-3); the single-task
#: pair continued is on a par either way (38.7 / 19.6 vs 38.0 / 20.2)
STAGE2_LR = 1e-3


def evaluate(runner: Runner) -> Dict[str, float]:
    """``runner.test()`` as plain floats."""
    return {k: float(v) for k, v in runner.test().items()}


def train_and_test(cfg: Config,
                   reuse: bool = False) -> Tuple[Runner, Dict[str, float]]:
    """Train ``cfg`` and test the trained model.

    With ``reuse``, a run whose final checkpoint
    (``iter_<max_iters>.pth``) an earlier, interrupted run left in
    ``cfg.work_dir`` is tested from that checkpoint instead of being
    trained again.

    Returns:
        The runner (its model trained) and the test metrics.
    """
    final = osp.join(cfg.work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')
    if reuse and osp.isfile(final):
        cfg.load_from = final
        runner = Runner.from_cfg(cfg)
        return runner, evaluate(runner)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner, evaluate(runner)


def task_gains(metrics: Mapping[str, float], reference: Mapping[str, float],
               task_metrics: Mapping[str, Sequence[str]] = TASK_METRICS
               ) -> Dict[str, float]:
    """``delta_m`` of ``metrics`` against ``reference`` over every metric
    of ``task_metrics`` and ``delta_m/<task>`` over each task's (positive
    is better; ``nan`` where a reference value is 0, see
    :func:`~mtlnas_mm.evaluation.delta_m`)."""
    every = {k: reference[k] for keys in task_metrics.values() for k in keys}
    gains = {'delta_m': delta_m(dict(metrics), every)}
    for task, keys in task_metrics.items():
        gains[f'delta_m/{task}'] = delta_m(dict(metrics),
                                           {k: reference[k] for k in keys})
    return gains
