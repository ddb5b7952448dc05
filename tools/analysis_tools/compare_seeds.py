"""Train and test several configs over several seeds; mean +- std per metric.

    python tools/analysis_tools/compare_seeds.py CONFIG [CONFIG ...]
        --seeds 0 1 2 [--work-dir DIR] [--iters N] [--names A B ...]
        [--out results.json] [--cfg-options k=v ...]

Every config is trained (``runner.train()``) and tested (``runner.test()``)
once per seed with ``randomness.seed`` set, the same data, schedule and
``--cfg-options`` for all (``{seed}`` in a value becomes the seed, e.g.
``model.network.init_from.seg.checkpoint=work_dirs/st/seed{seed}/iter_600.pth``
to start each seed's search from the same seed's single-task run); a
search config is tested as it is evaluated
without retraining (its search space's eval mode, e.g. MTL-NAS's
``alpha > 0`` gates).  One seed's difference on a small test set is noise:
compare models by the mean and the spread over seeds.  Prints one table
(mean +- sample std, n seeds) and writes every run's metrics as JSON.
"""
import argparse
import json
import os.path as osp
import time
from typing import Dict, List, Optional

from mmengine.config import Config, DictAction

import mtlnas_mm  # noqa: F401
from mtlnas_mm.apis import train_and_test
from mtlnas_mm.evaluation.seed_summary import markdown_table as table
from mtlnas_mm.evaluation.seed_summary import summarize
from mtlnas_mm.utils import (claim_output_dir, claim_output_file, name_run,
                             set_max_iters)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--names', nargs='+', default=None,
                        help='row names (default: the config file names)')
    parser.add_argument('--work-dir', default='work_dirs/compare_seeds')
    parser.add_argument('--iters', type=int, default=None,
                        help='shorten / lengthen every schedule')
    parser.add_argument('--out', default=None,
                        help='JSON file (default: WORK_DIR/results.json)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing --out file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='applied to every config, xxx=yyy format')
    args = parser.parse_args(argv)
    if args.names is not None and len(args.names) != len(args.configs):
        parser.error('--names needs one name per config')
    return args


def run_one(config: str, seed: int, work_dir: str, iters: Optional[int],
            options: Optional[dict]) -> Dict[str, float]:
    """Train and test ``config`` with ``seed``; the test metrics."""
    cfg = Config.fromfile(config)
    if options:
        # '{seed}' in a value names this seed's file (e.g. the checkpoint
        # of the same seed's single-task run for init_from / load_from)
        cfg.merge_from_dict({
            k: v.replace('{seed}', str(seed)) if isinstance(v, str) else v
            for k, v in options.items()
        })
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed)
    name_run(cfg, f'seed{seed}_{time.time_ns()}')
    if iters is not None:
        set_max_iters(cfg, iters, validate=False)
        cfg.default_hooks.checkpoint.interval = iters
    return train_and_test(cfg)[1]


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    names = args.names or [
        osp.splitext(osp.basename(c))[0] for c in args.configs
    ]
    for config in args.configs:
        if not osp.isfile(config):
            raise FileNotFoundError(f'config file {config} does not exist')
    claim_output_dir(args.work_dir, 'compare_seeds.py')
    if args.out:  # refused before any run
        claim_output_file(args.out, 'compare_seeds.py', args.overwrite)
    runs: Dict[str, List[Dict[str, float]]] = {n: [] for n in names}
    for seed in args.seeds:
        for name, config in zip(names, args.configs):
            work_dir = osp.join(args.work_dir, name, f'seed{seed}')
            runs[name].append(
                run_one(config, seed, work_dir, args.iters,
                        args.cfg_options))
    summary = summarize(runs)
    print(table(summary))
    out = args.out or osp.join(args.work_dir, 'results.json')
    with open(out, 'w') as f:
        json.dump(dict(seeds=args.seeds, configs=dict(zip(names,
                                                          args.configs)),
                       runs=runs, summary=summary), f, indent=2)
    print(f'results: {out}')
    return summary


if __name__ == '__main__':
    main()
