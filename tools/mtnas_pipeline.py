"""Run the three MTNAS stages, each stage's exported genotype feeding the
next (Liu et al., ACCV 2020): branch search, backbone search (the branches
fixed to the stage-1 genotypes), retraining of the derived network (the
stage-2 genotype) with its test metrics, FLOPs and parameters; the stages
and the files they write: :mod:`mtlnas_mm.apis.mtnas_pipeline`.

    python tools/mtnas_pipeline.py STAGE1 STAGE2 STAGE3 --work-dir DIR
        [--resume] [--iters N] [--search-iters N] [--retrain-iters N]
        [--cfg-options k=v ...]

``--iters`` sets every stage's length; ``--search-iters`` /
``--retrain-iters`` set the two search stages' / the retraining's (they
take precedence over ``--iters``), e.g. short searches with the
retraining at the baselines' full schedule.

Each stage runs in ``DIR/<stage>``; ``--resume`` resumes every stage from
its latest checkpoint (a finished stage resumes at its end and only
re-exports).  ``DIR/pipeline.json`` lists the genotype files and their
pictures, the test metrics and the complexity of the derived network.
"""
import argparse
import json
from typing import Optional, Sequence

from mmengine.config import Config, DictAction

import mtlnas_mm  # noqa: F401  (registers components)
from mtlnas_mm.apis import STAGES, run_pipeline, set_stage_iters


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    for stage in STAGES:
        parser.add_argument(stage, help=f'config of the {stage} stage')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--resume', action='store_true',
                        help='resume every stage from its latest checkpoint')
    parser.add_argument('--iters', type=int,
                        help='shorten every stage to this many iterations')
    parser.add_argument('--search-iters', type=int,
                        help='iterations of the two search stages '
                        '(overrides --iters for them)')
    parser.add_argument('--retrain-iters', type=int,
                        help='iterations of the retraining stage '
                        '(overrides --iters for it)')
    parser.add_argument('--input-shape', type=int, nargs=2,
                        help='H W of the complexity count (default: the '
                        'retraining crop)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides applied to every stage config')
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    cfgs = []
    for stage in STAGES:
        cfg = Config.fromfile(getattr(args, stage))
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        cfgs.append(cfg)
    set_stage_iters(cfgs, args.iters, args.search_iters, args.retrain_iters)
    summary = run_pipeline(cfgs, args.work_dir, args.resume,
                           tuple(args.input_shape) if args.input_shape
                           else None)
    print(json.dumps(summary, indent=2))


if __name__ == '__main__':
    main()
