"""MTNAS evidence: the searched network vs random genotypes and a hand-made
network of about its FLOPs, over seeds, with FLOPs and parameters.

    python tools/analysis_tools/mtnas_evidence.py --work-dir DIR
        [--seeds 0 1 2] [--search-iters 300] [--retrain-iters 600]
        [--rows mtnas random multiple single-task]
        [--reference RESULTS.json] [--mtlnas-demo demo_s0/results.json ...]

Rows, each run once per seed with ``randomness.seed`` set, in
``DIR/<row>/seed<k>`` (a row whose ``result.json`` exists is read, not
rerun, and an unfinished run resumes from its latest checkpoint: the same
command continues after a crash):

* ``mtnas``: the three stages of ``tools/mtnas_pipeline.py`` (branch
  search, backbone search: ``--search-iters`` each; retraining of the
  derived network: ``--retrain-iters``);
* ``random``: a genotype of every searched part drawn uniformly from the
  same space (:func:`~mtlnas_mm.structures.random_cell_architecture`, seed
  k; the layout is the retraining network's), retrained with the stage-3
  config for ``--retrain-iters`` (DARTS' check that the search helps);
* ``multiple``: ``configs/baselines/multiple_resnet18-narrow_synthetic.py``
  (a ResNetV1c-18 trunk shared by the tasks, of about the FLOPs of the
  derived networks) for ``--retrain-iters``;
* ``single-task``: the single-task pair
  (``configs/baselines/single-task_vgg-tiny_synthetic.py``) for
  ``--retrain-iters``, the reference of ``delta_m`` (README, "Metrics and
  the sign of delta_m"; per seed, against the same seed's pair).  With
  ``--reference`` the per-seed runs of a ``compare_seeds.py`` results
  file of that config are the reference instead (not rerun; its FLOPs
  counted on the config).

``--mtlnas-demo`` adds MTL-NAS rows from ``tools/demo.py`` results files
(one per seed; their own budget, e.g. 1500 single-task + 1500 search
iterations) with ``delta_m`` against the demo's own single-task pair of
the same budget, and the FLOPs of the derived network rebuilt from the
file's architecture.  FLOPs / parameters: one image of the retraining
crop, :func:`mtlnas_mm.utils.model_complexity`.  Writes
``DIR/evidence.json`` (every run and the summary) and prints a markdown
table (mean +- sample std over the seeds).
"""
import argparse
import copy
import json
import os.path as osp
import re
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.registry import init_default_scope

import mtlnas_mm  # noqa: F401  (registers components)
from mmseg.registry import MODELS
from mtlnas_mm.apis import (TASK_METRICS, run_pipeline, set_stage_iters,
                            task_gains, train_and_test)
from mtlnas_mm.structures import load_architecture, random_cell_architecture
from mtlnas_mm.utils import (claim_output_dir, model_complexity, name_run,
                             set_max_iters, set_stage_genotype,
                             use_fixed_architecture)

TOOL = 'mtnas_evidence.py'
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STAGE_CONFIGS = [
    'configs/mtnas/mtnas_cells-tiny_synthetic_stage1-branches.py',
    'configs/mtnas/mtnas_cells-tiny_synthetic_stage2-backbone.py',
    'configs/mtnas/mtnas_cells-tiny_synthetic_stage3-retrain.py',
]
MULTIPLE = 'configs/baselines/multiple_resnet18-narrow_synthetic.py'
SINGLE_TASK = 'configs/baselines/single-task_vgg-tiny_synthetic.py'
MTLNAS_SEARCH = 'configs/mtlnas/mtlnas_vgg-tiny_synthetic.py'
ROWS = ('mtnas', 'random', 'multiple', 'single-task')
#: the demo's single-task pair continued, ``single-task (<stage 1> +
#: <stage 2> it)`` in its results, whatever its budget (:func:`demo_rows`)
DEMO_REFERENCE = 'the single-task pair continued'
#: the demo's rows taken with --mtlnas-demo: (row name here, demo row)
DEMO_ROWS = (
    ('MTL-NAS derived', 'MTL-NAS derived (alpha>0, no retraining)'),
    ('MTL-NAS single-task', DEMO_REFERENCE),
)


def demo_rows(results: Dict[str, dict]) -> Dict[str, dict]:
    """``results`` of a demo file with its single-task pair continued also
    under :data:`DEMO_REFERENCE` (absent when the file has no such row)."""
    continued = [n for n in results
                 if re.fullmatch(r'single-task \(\d+ \+ \d+ it\)', n)]
    rows = dict(results)
    if len(continued) == 1:
        rows[DEMO_REFERENCE] = results[continued[0]]
    return rows


def _config(path: str, seed: int, work_dir: str, name: str) -> Config:
    cfg = Config.fromfile(path)
    cfg.randomness = dict(seed=seed)
    cfg.work_dir = work_dir
    name_run(cfg, name)
    return cfg


def space_layout(retrain_cfg: Config) -> Dict[str, Tuple[int, bool]]:
    """``{space: (nodes per cell, has a reduction cell)}`` of the cell
    network of a retraining config (built without genotype: every space
    searchable)."""
    init_default_scope('mmseg')
    model = copy.deepcopy(retrain_cfg.model)
    model.backbone.genotype = None
    model.backbone.discard_unused = False
    network = MODELS.build(model)
    return {s.space_name: (s.steps, 'reduce' in s.cell_types)
            for s in network.backbone.spaces()}


def _crop(cfg: Config) -> Tuple[int, int]:
    for t in cfg.train_dataloader.dataset.pipeline:
        if t['type'] == 'RandomCrop':
            return tuple(t['crop_size'])
    raise KeyError('no RandomCrop in the training pipeline of the config')


def train_and_test_for(cfg: Config, iters: int) -> dict:
    """Train ``cfg`` for ``iters`` (resuming a checkpoint of the same work
    dir), test it; its metrics and complexity."""
    set_max_iters(cfg, iters, validate=False)
    cfg.default_hooks.checkpoint.interval = min(
        cfg.default_hooks.checkpoint.interval, iters)
    cfg.resume, cfg.load_from = True, None
    runner, metrics = train_and_test(cfg)
    return dict(metrics=metrics,
                complexity=model_complexity(runner.model, _crop(cfg)))


def run_row(row: str, seed: int, work_dir: str, search_iters: int,
            retrain_iters: int) -> dict:
    """One row's run for ``seed`` in ``work_dir`` (its ``result.json``
    when it exists)."""
    result_file = osp.join(work_dir, 'result.json')
    if osp.isfile(result_file):
        with open(result_file) as f:
            return json.load(f)
    claim_output_dir(work_dir, TOOL)
    name = f'evidence_{row}_seed{seed}'
    pipeline_file = osp.join(work_dir, 'pipeline.json')
    if row == 'mtnas' and osp.isfile(pipeline_file):
        # the pipeline finished (in a run of this tool that stopped
        # before result.json, or by tools/mtnas_pipeline.py itself)
        with open(pipeline_file) as f:
            summary = json.load(f)
        result = dict(metrics=summary['test_metrics'],
                      complexity=summary['complexity'],
                      genotype=summary['genotypes']['backbone'])
    elif row == 'mtnas':
        cfgs = [_config(osp.join(ROOT, c), seed, work_dir, name)
                for c in STAGE_CONFIGS]
        set_stage_iters(cfgs, search_iters=search_iters,
                        retrain_iters=retrain_iters)
        summary = run_pipeline(
            cfgs, work_dir, resume=osp.isdir(osp.join(work_dir, 'branches')))
        result = dict(metrics=summary['test_metrics'],
                      complexity=summary['complexity'],
                      genotype=summary['genotypes']['backbone'])
    elif row == 'random':
        cfg = _config(osp.join(ROOT, STAGE_CONFIGS[2]), seed, work_dir, name)
        genotype = osp.join(work_dir, 'random_genotype.json')
        if not osp.isfile(genotype):
            random_cell_architecture(space_layout(cfg), seed).dump(genotype)
        set_stage_genotype(cfg, genotype, source=genotype)
        result = dict(train_and_test_for(cfg, retrain_iters), genotype=genotype)
    elif row in ('multiple', 'single-task'):
        config = MULTIPLE if row == 'multiple' else SINGLE_TASK
        cfg = _config(osp.join(ROOT, config), seed, work_dir, name)
        result = train_and_test_for(cfg, retrain_iters)
    else:
        raise ValueError(f'unknown row {row!r}; rows are {list(ROWS)}')
    result.update(row=row, seed=seed)
    with open(result_file, 'w') as f:
        json.dump(result, f, indent=2)
    return result


def add_gains(metrics: Dict[str, float], reference: Dict[str, float]
              ) -> Dict[str, float]:
    """``metrics`` with ``delta_m`` (every metric of ``TASK_METRICS``)
    and ``delta_m/<task>`` against ``reference`` (a zero reference value
    has no relative gain: refused, naming the metric)."""
    zero = [k for keys in TASK_METRICS.values() for k in keys
            if reference.get(k) == 0]
    if zero:
        raise ValueError(f'delta_m: the reference is 0 in {zero} (a '
                         'reference trained too briefly?)')
    return dict(metrics, **task_gains(metrics, reference))


def load_reference(path: str, seeds: Sequence[int]) -> Dict[int, dict]:
    """Per seed, the test metrics of the single run of a
    ``compare_seeds.py`` results file."""
    with open(path) as f:
        data = json.load(f)
    try:
        (runs, ) = data['runs'].values()
        by_seed = dict(zip(data['seeds'], runs))
    except (KeyError, ValueError, TypeError) as e:
        raise ValueError(f'{path}: expected a compare_seeds.py results file '
                         f'of one config (keys seeds, runs): {e}') from None
    missing = sorted(set(seeds) - set(by_seed))
    if missing:
        raise ValueError(f'{path}: no run of seed(s) {missing}; it has '
                         f'{sorted(by_seed)}')
    return {s: by_seed[s] for s in seeds}


def mtlnas_rows(files: Sequence[str], work_dir: str
                ) -> Dict[str, List[dict]]:
    """The demo rows of :data:`DEMO_ROWS` from ``tools/demo.py`` results
    files (one per seed), with delta_m against the demo's single-task pair
    of the same budget and their complexity (the derived network rebuilt
    from the file's architecture, written to
    ``work_dir/mtlnas/<k>_architecture.json``)."""
    rows: Dict[str, List[dict]] = {name: [] for name, _ in DEMO_ROWS}
    if files:
        claim_output_dir(osp.join(work_dir, 'mtlnas'), TOOL)
    for k, path in enumerate(files):
        with open(path) as f:
            data = json.load(f)
        results = demo_rows(data.get('results', {}))
        missing = [r for _, r in DEMO_ROWS if r not in results]
        if missing or 'architecture' not in data:
            raise ValueError(f'{path}: not a tools/demo.py results file '
                             f'(no rows {missing} or no architecture)')
        arch_file = osp.join(work_dir, 'mtlnas', f'{k}_architecture.json')
        with open(arch_file, 'w') as f:
            json.dump(data['architecture'], f, indent=2)
        load_architecture(arch_file)  # a clear error for a bad file
        reference = results[DEMO_REFERENCE]
        for name, demo_row in DEMO_ROWS:
            if 'derived' in name:
                cfg = use_fixed_architecture(
                    Config.fromfile(osp.join(ROOT, MTLNAS_SEARCH)),
                    arch_file, source=path)
            else:
                cfg = Config.fromfile(osp.join(ROOT, SINGLE_TASK))
            rows[name].append(dict(
                metrics=add_gains(results[demo_row], reference),
                complexity=config_complexity(cfg), source=path))
    return rows


def config_complexity(cfg: Config) -> dict:
    """:func:`model_complexity` of the freshly built model of ``cfg`` at
    its training crop."""
    init_default_scope('mmseg')
    return model_complexity(MODELS.build(cfg.model), _crop(cfg))


def summarize(runs: Dict[str, List[dict]]) -> Dict[str, Dict[str, dict]]:
    """``{row: {metric: dict(mean, std, n)}}`` over the seeds (metrics and
    ``flops`` / ``params``)."""
    out = {}
    for name, results in runs.items():
        values = [dict(r['metrics'], flops=r['complexity']['flops'],
                       params=r['complexity']['params']) for r in results]
        keys = [k for k in values[0] if all(k in v for v in values)]
        out[name] = {
            k: dict(mean=statistics.fmean(v[k] for v in values),
                    std=statistics.stdev(v[k] for v in values)
                    if len(values) > 1 else 0.0,
                    n=len(values))
            for k in keys
        }
    return out


#: the table's columns: (metric, header, scale)
COLUMNS = (('mIoU', 'mIoU', 1), ('aAcc', 'aAcc', 1),
           ('mean', 'normal mean', 1), ('median', 'median', 1),
           ('within_11.25', '< 11.25', 1), ('within_30', '< 30', 1),
           ('delta_m', 'delta_m %', 1), ('flops', 'MFLOPs', 1e-6),
           ('params', 'params (k)', 1e-3))


def table(summary: Dict[str, Dict[str, dict]]) -> str:
    """A markdown table of mean +- std (n seeds per row)."""
    lines = ['| row | n | ' + ' | '.join(h for _, h, _ in COLUMNS) + ' |',
             '|---|---:|' + '---:|' * len(COLUMNS)]
    for name, s in summary.items():
        n = next(iter(s.values()))['n']
        cells = [f'{s[k]["mean"] * f:.2f} +- {s[k]["std"] * f:.2f}'
                 if k in s else '-' for k, _, f in COLUMNS]
        lines.append(f'| {name} | {n} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--search-iters', type=int, default=300)
    parser.add_argument('--retrain-iters', type=int, default=600)
    parser.add_argument('--rows', nargs='+', choices=ROWS,
                        default=list(ROWS))
    parser.add_argument('--reference', default=None,
                        help='compare_seeds.py results file of the '
                        'single-task config: the delta_m reference '
                        '(instead of the single-task row)')
    parser.add_argument('--mtlnas-demo', nargs='+', default=[],
                        help='tools/demo.py results files (one per seed)')
    args = parser.parse_args(argv)
    if args.reference is None and 'single-task' not in args.rows:
        parser.error('delta_m needs the single-task row or --reference')
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    # the reference first: a file without these seeds fails before any run
    references = None
    if args.reference is not None:
        references = load_reference(args.reference, args.seeds)
    claim_output_dir(args.work_dir, TOOL)
    runs: Dict[str, List[dict]] = {}
    for row in args.rows:
        if row == 'single-task' and references is not None:
            continue  # --reference stands for it
        runs[row] = [
            run_row(row, seed, osp.join(args.work_dir, row, f'seed{seed}'),
                    args.search_iters, args.retrain_iters)
            for seed in args.seeds
        ]
    if references is not None:
        st = config_complexity(Config.fromfile(osp.join(ROOT, SINGLE_TASK)))
        runs['single-task'] = [
            dict(row='single-task', seed=seed, metrics=m, complexity=st,
                 source=args.reference) for seed, m in references.items()]
    else:
        references = {r['seed']: r['metrics'] for r in runs['single-task']}
    for row in runs.values():
        for r in row:
            r['metrics'] = add_gains(r['metrics'], references[r['seed']])
    runs.update(mtlnas_rows(args.mtlnas_demo, args.work_dir))
    summary = summarize(runs)
    print(table(summary))
    out = osp.join(args.work_dir, 'evidence.json')
    with open(out, 'w') as f:
        json.dump(dict(seeds=args.seeds, search_iters=args.search_iters,
                       retrain_iters=args.retrain_iters,
                       reference=args.reference or 'single-task',
                       runs=runs, summary=summary), f, indent=2)
    print(f'evidence: {out}')
    return summary


if __name__ == '__main__':
    main()
