"""The controlled case of share routing: MMoE's two correlated regression
tasks (Ma et al., KDD 2018), MLP sub-networks, a sweep of the task
correlation rho.

For every rho and seed: a share-routing search (K = 2 columns), the
derived architecture retrained from scratch, and the baselines (hard
sharing, single-task columns, MMoE-like full routing) retrained with the
same recipe and budget; per run the route statistics, the test MSE of
every model per task and their FLOPs per sample, per rho the mean and std
over the seeds.  The case, the recipe (``--raw-targets``,
``--constant-lr`` and one option per field of ``Recipe``) and the
statistics are :mod:`mtlnas_mm.analysis.share_routing_rho` (errors in
units of the target variance: a test MSE of 1 is the mean predictor).

    python tools/analysis_tools/share_routing_rho.py --out-dir work_dirs/rho

writes ``share_routing_rho.json`` and ``share_routing_rho.png``.
"""
import argparse
import dataclasses
import json
import os.path as osp
import sys
import time
from typing import Optional, Sequence

import torch

from mtlnas_mm.analysis.share_routing_rho import (Recipe, draw, run_case,
                                                  summarise)
from mtlnas_mm.utils import claim_output_dir


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out-dir', default='work_dirs/share_routing_rho')
    parser.add_argument('--rhos', type=float, nargs='+',
                        default=[1.0, 0.7, 0.4, 0.0])
    parser.add_argument('--seeds', type=int, nargs='+',
                        default=[0, 1, 2, 3, 4])
    for field in dataclasses.fields(Recipe):
        if field.type in (bool, 'bool'):
            continue
        parser.add_argument('--' + field.name.replace('_', '-'),
                            type=type(field.default), default=field.default)
    parser.add_argument('--raw-targets', action='store_true',
                        help='do not standardise the targets')
    parser.add_argument('--constant-lr', action='store_true',
                        help='no cosine decay in the retraining')
    parser.add_argument('--redraw', action='store_true',
                        help='only redraw the picture from the JSON in '
                        '--out-dir')
    return parser.parse_args(argv)


def main() -> None:
    """Run every rho and seed (one JSON line each on stdout), write the
    results and their summary to ``--out-dir`` and draw them; or, with
    ``--redraw``, only draw the stored results."""
    args = parse_args()
    torch.set_num_threads(1)
    json_file = osp.join(args.out_dir, 'share_routing_rho.json')
    png_file = osp.join(args.out_dir, 'share_routing_rho.png')
    claim_output_dir(args.out_dir, 'share_routing_rho.py')
    if args.redraw:
        if not osp.isfile(json_file):
            raise SystemExit(f'share_routing_rho.py --redraw: no results '
                             f'file {json_file}')
        with open(json_file) as f:
            print(draw(json.load(f)['summary'], png_file))
        return
    recipe = Recipe(**{
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(Recipe) if hasattr(args, f.name)},
        standardise=not args.raw_targets, cosine=not args.constant_lr)
    results, start = [], time.time()
    for rho in args.rhos:
        for seed in args.seeds:
            r = run_case(rho, seed, recipe)
            print(json.dumps(dict(
                rho=rho, seed=seed,
                cross_route_prob=round(r['cross_route_prob'], 3),
                own_route_prob=round(r['own_route_prob'], 3),
                overlap=round(r['overlap'], 3),
                mse={m: round(v, 4) for m, v in r['mse'].items()})),
                flush=True)
            results.append(r)
    summary = summarise(results)
    with open(json_file, 'w') as f:
        json.dump(dict(command=' '.join(sys.argv[1:]),
                       recipe=dataclasses.asdict(recipe),
                       rhos=args.rhos, seeds=args.seeds,
                       seconds=round(time.time() - start),
                       summary=summary, results=results), f, indent=1)
    print(draw(summary, png_file))


if __name__ == '__main__':
    main()
