"""Share routing on the dense tasks from a trained single-task pair: the
derived routes evaluated as searched and retrained, over seeds.

    python tools/analysis_tools/share_routing_dense.py --work-dir DIR
        --stage1-from 'demo_s{seed}/single-task'
        --reference 'demo_s{seed}/results.json'
        [--seeds 0 1 2] [--iters 300] [--stage1-iters 1500]
        [--data-root data/synthetic_nyuv2] [--out SUMMARY.json]

Per seed, both runs start from the seed's stage-1 single-task pair of
``tools/demo.py`` (``--stage1-from``, holding
``iter_<--stage1-iters>.pth``; read only) and train ``--iters`` iterations
at the demo's stage-2 lr (``mtlnas_mm.apis.STAGE2_LR``):

1. ``search``: ``configs/share_routing/share-routing_vgg-tiny_synthetic.py``
   started near the pair (own routes p = 0.95, cross routes p = 0.5, own
   gate weight 0.9: ``START_NEAR_THE_PAIR``); the derived routes
   (``arch/arch_final.json``) evaluated without retraining;
2. ``retrain``: the derived routes fixed
   (``share-routing_vgg-tiny_synthetic_retrain.py``) and trained as a plain
   network from the same pair for the same budget, so that the comparison
   is of routes, not of weights trained under sampled routes.

``delta_m`` (per task and overall) is against the single-task pair
continued for the same budget, read from the seed's demo results
(``--reference``, row ``single-task (<stage1> + <iters> it)``).  A seed's
finished run is read from its ``result.json``, so the command continues
after a crash.  Prints the table (mean +- sample std) and writes every run
and the summary to ``DIR/share_routing_dense.json`` (and ``--out``).
"""
import argparse
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config

import mtlnas_mm  # noqa: F401  (registers components)
from mtlnas_mm.apis import STAGE2_LR, task_gains, train_and_test
from mtlnas_mm.evaluation.seed_summary import markdown_table, summarize
from mtlnas_mm.structures import load_architecture
from mtlnas_mm.structures.share_routes import own_predecessor
from mtlnas_mm.utils import (claim_output_dir, claim_output_file, name_run,
                             set_max_iters, set_weight_lr)

TOOL = 'share_routing_dense.py'
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEARCH = 'configs/share_routing/share-routing_vgg-tiny_synthetic.py'
RETRAIN = 'configs/share_routing/share-routing_vgg-tiny_synthetic_retrain.py'
#: the search starts near the pair: own routes p = sigmoid(3) = 0.95,
#: cross routes p = 0.5, own gate weight softmax(2.1972, 0) = 0.9
START_NEAR_THE_PAIR = dict(route_init=dict(own=3.0, cross=0.0),
                           gate_own_bias=2.1972)
ROWS = ('share routing derived, no retraining',
        'share routing derived, retrained')
COLUMNS = ['mIoU', 'aAcc', 'mean', 'median', 'within_11.25', 'within_22.5',
           'within_30', 'delta_m/seg', 'delta_m/normal', 'delta_m',
           'cross_routes']


def stage2_cfg(config: str, work_dir: str, data_root: str, iters: int,
               seed: int, pair: str) -> Config:
    """``config`` as a stage-2 run from the single-task pair ``pair``."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.work_dir = work_dir
    name_run(cfg, f'share_routing_dense_{osp.basename(work_dir)}')
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = data_root
    set_max_iters(cfg, iters, validate=False)
    set_weight_lr(cfg, STAGE2_LR)
    cfg.default_hooks.checkpoint.interval = iters
    cfg.randomness = dict(seed=seed)
    net = cfg.model.network if 'network' in cfg.model else cfg.model
    net.init_from = {t: dict(checkpoint=pair) for t in ('seg', 'normal')}
    return cfg


def cross_routes(arch_file: str) -> int:
    """Blocks of a derived architecture that read another task's
    sub-network (0: the single-task pair's routes)."""
    arch = load_architecture(arch_file)
    return sum(
        tuple(route) != (own_predecessor(key, arch.tasks,
                                         arch.num_subnets), )
        for key, route in arch.routes.items())


def run_seed(seed: int, work_dir: str, pair: str, data_root: str,
             iters: int) -> Dict[str, Dict[str, float]]:
    """Search, derive and retrain for one seed (its ``result.json`` when
    it exists)."""
    result_file = osp.join(work_dir, 'result.json')
    if osp.isfile(result_file):
        with open(result_file) as f:
            return json.load(f)
    claim_output_dir(work_dir, TOOL)
    cfg = stage2_cfg(SEARCH, osp.join(work_dir, 'search'), data_root, iters,
                     seed, pair)
    cfg.model.network.backbone.update(START_NEAR_THE_PAIR)
    _, searched = train_and_test(cfg, reuse=True)
    arch_file = osp.join(cfg.work_dir, 'arch', 'arch_final.json')
    cfg = stage2_cfg(RETRAIN, osp.join(work_dir, 'retrain'), data_root, iters,
                     seed, pair)
    cfg.model.backbone.update(START_NEAR_THE_PAIR, architecture=arch_file)
    _, retrained = train_and_test(cfg, reuse=True)
    crossing = float(cross_routes(arch_file))
    result = {ROWS[0]: dict(searched, cross_routes=crossing),
              ROWS[1]: dict(retrained, cross_routes=crossing)}
    with open(result_file, 'w') as f:
        json.dump(result, f, indent=2)
    return result


def reference_row(path: str, stage1_iters: int, iters: int
                  ) -> Dict[str, float]:
    """The single-task pair continued for ``iters`` in a demo results
    file."""
    row = f'single-task ({stage1_iters} + {iters} it)'
    if not osp.isfile(path):
        raise FileNotFoundError(f'--reference {path} does not exist')
    with open(path) as f:
        results = json.load(f)['results']
    if row not in results:
        raise KeyError(f'--reference {path}: no row {row!r} (rows: '
                       f'{list(results)}); a demo run of the same budget '
                       'is needed')
    return results[row]


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--stage1-from', required=True, metavar='TEMPLATE',
                        help='stage-1 work dir per seed, with {seed}')
    parser.add_argument('--reference', required=True, metavar='TEMPLATE',
                        help='demo results.json per seed, with {seed}')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--iters', type=int, default=300)
    parser.add_argument('--stage1-iters', type=int, default=1500)
    parser.add_argument('--data-root',
                        default=osp.join(ROOT, 'data', 'synthetic_nyuv2'))
    parser.add_argument('--out', default=None, help='summary JSON file')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing --out file')
    args = parser.parse_args(argv)
    if args.out:
        claim_output_file(args.out, TOOL, args.overwrite)
    claim_output_dir(args.work_dir, TOOL, reuse_hint=' (a run of this tool '
                     'continues in its own --work-dir)')
    runs: Dict[str, List[Dict[str, float]]] = {}
    reference_name = f'single-task pair ({args.stage1_iters} + ' \
        f'{args.iters} it)'
    for seed in args.seeds:
        pair = osp.join(args.stage1_from.format(seed=seed),
                        f'iter_{args.stage1_iters}.pth')
        if not osp.isfile(pair):
            raise FileNotFoundError(f'--stage1-from: {pair} does not exist')
        reference = reference_row(args.reference.format(seed=seed),
                                  args.stage1_iters, args.iters)
        rows = {reference_name: dict(reference, cross_routes=0.0)}
        rows.update(run_seed(seed, osp.join(args.work_dir, f'seed{seed}'),
                             pair, args.data_root, args.iters))
        for name, metrics in rows.items():
            metrics.update(task_gains(metrics, reference))
            runs.setdefault(name, []).append(metrics)
    summary = summarize(runs)
    print(markdown_table(summary, [
        c for c in COLUMNS if all(c in m for m in summary.values())]))
    result = dict(seeds=args.seeds, iters=args.iters,
                  stage1_iters=args.stage1_iters, runs=runs, summary=summary)
    for path in [osp.join(args.work_dir, 'share_routing_dense.json')] + \
            ([args.out] if args.out else []):
        with open(path, 'w') as f:
            json.dump(result, f, indent=2)
        print(f'written: {path}')
    return result


if __name__ == '__main__':
    main()
