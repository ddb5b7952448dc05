"""How the MTL-NAS search iteration grows with the number of tasks and the
crop size, measured and beside the FLOP model's prediction.

    python tools/analysis_tools/benchmark_scaling.py
        [--backbones vgg-tiny vgg16] [--tasks 2 3 5] [--crops 128 256 321]
        [--batch 2] [--repeats 1] [--warmup 1] [--threads 1]
        [--max-mib 10240] [--max-iter-s 120] [--dry-run]
        [--out FILE.json] [--plot FILE.png]
    python tools/analysis_tools/benchmark_scaling.py --merge A.json B.json
        [--out FILE.json] [--plot FILE.png]

Points: every backbone x task count x crop (``crop x crop`` images,
``--batch`` of them); the networks, the FLOP model, the measurement of a
point, the predictions and the fusion law are
:mod:`mtlnas_mm.analysis.scaling` (its docstring says how each is made).

Per point, in a fresh process (its peak RSS is the point's: this tool run
with ``--child BACKBONE T CROP``): ``--warmup`` untimed and ``--repeats``
timed search iterations, one profiled iteration for the peak memory and
the conv throughput at the point's shapes.  The parent counts the FLOPs of
every point first, without computing anything.

Points predicted to need more than ``--max-mib`` of memory or more than
``--max-iter-s`` per iteration are skipped (stated in the record, the FLOP
model still predicts them).  Points run cheapest first.  ``--dry-run``
prints the plan (FLOPs, predictions, what would be skipped) and measures
nothing.

``--merge`` joins the records of several runs (later runs' measured
points replace earlier ones) and recomputes the summary and the plot, so
the large points can be measured separately when the machine is idle.
"""
import argparse
import contextlib
import sys
import time
from typing import List, Optional, Sequence

import torch

from mtlnas_mm.analysis.cases import CONFIGS
from mtlnas_mm.analysis.runs import (claim_outputs, command_line,
                                     quiet_logger, report_to_parent)
from mtlnas_mm.analysis.scaling import (DEFAULT_BACKBONES, DEFAULT_CROPS,
                                        DEFAULT_TASKS, METHOD, child_timeout,
                                        count_points, measure_point, merge,
                                        predict, reference, run_point,
                                        skip_reasons, summarise, task_names,
                                        write)
from mtlnas_mm.analysis.timing import machine_info

TOOL = 'tools/analysis_tools/benchmark_scaling.py'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--backbones', nargs='+', choices=sorted(CONFIGS),
                        default=list(DEFAULT_BACKBONES))
    parser.add_argument('--tasks', nargs='+', type=int,
                        default=list(DEFAULT_TASKS))
    parser.add_argument('--crops', nargs='+', type=int,
                        default=list(DEFAULT_CROPS))
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=1)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads (default: torch default)')
    parser.add_argument('--max-mib', type=float, default=10240,
                        help='skip points expected to need more memory')
    parser.add_argument('--max-iter-s', type=float, default=120,
                        help='skip points expected to take longer per '
                        'iteration')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the plan and measure nothing')
    parser.add_argument('--out', default=None, help='write the JSON here')
    parser.add_argument('--plot', default=None, help='write the plot here')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing output files')
    parser.add_argument('--merge', nargs='+', metavar='RESULT',
                        help='measure nothing: join these results')
    parser.add_argument('--note', default=None,
                        help='free text stored in the JSON (e.g. the load)')
    parser.add_argument('--child', nargs=3, metavar=('BACKBONE', 'T', 'CROP'),
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def log_point(p: dict) -> None:
    """One progress line per point on stderr: measured, skipped or the
    plan."""
    w = p['work_gflops']['search_iter']
    if p.get('measured'):
        msg = (f'{p["median_s"]:8.2f} s (FLOP model {p["flop_model_s"]:.2f}'
               f' s)  peak {p["peak_mib"]:8.0f} MiB  RSS '
               f'{p["peak_rss_mib"]:7.0f} MiB')
    elif p.get('skipped'):
        msg = f'skipped: {p["skipped"]}'
    else:
        msg = (f'plan: expected {p.get("expected_s", float("nan")):.1f} s, '
               f'{p.get("expected_peak_mib", float("nan")):.0f} MiB')
    print(f'{p["name"]:18s} {p["edges"]:4d} edges  {w:9.1f} GFLOP  {msg}',
          file=sys.stderr, flush=True)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Count every point, measure the affordable ones cheapest first, each
    in its own process (or, with ``--child``, one of them in this one);
    or merge results; write and return the result."""
    args = parse_args(argv)
    if not args.child:  # refused before measuring
        claim_outputs((args.out, args.plot), 'benchmark_scaling.py',
                      args.overwrite)
    if args.merge:
        result = merge(args.merge)
        if args.note:
            result['note'] = args.note
        write(result, args.out, args.plot, args.overwrite)
        return result
    if args.threads:
        torch.set_num_threads(args.threads)
    quiet_logger('mtlnas_benchmark_scaling')
    if args.child:
        backbone, t, crop = args.child[0], int(args.child[1]), \
            int(args.child[2])
        with contextlib.redirect_stdout(sys.stderr):
            record = measure_point(backbone, t, crop, args.batch,
                                   args.repeats, args.warmup)
        return report_to_parent(record)
    for t in args.tasks:
        task_names(t)  # refuse a bad task count before anything runs
    if min(args.crops) < 16:
        raise SystemExit('--crops: crops below 16 pixels do not fit the '
                         'VGG-16 LargeFOV strides')
    started = time.time()
    points: List[dict] = []
    for bb in args.backbones:
        with contextlib.redirect_stdout(sys.stderr):
            pts = count_points(bb, args.tasks, args.crops, args.batch)
        pts.sort(key=lambda p: p['work_gflops']['search_iter'])
        for p in pts:
            points.append(p)
            if args.dry_run:
                p.update(measured=False, skipped='not measured (--dry-run)')
                p.update(predict(p, points))
                log_point(p)
                continue
            pred = None
            if reference([q for q in points if q['backbone'] == bb]):
                pred = predict(p, points)
                reasons = skip_reasons(pred, args.max_mib, args.max_iter_s)
                if reasons:
                    p.update(measured=False, skipped='; '.join(reasons))
                    p.update(pred)
                    log_point(p)
                    continue
            p.update(run_point(__file__, p, args.repeats, args.warmup,
                               args.threads,
                               child_timeout(pred, args.warmup,
                                             args.repeats)))
            p.update(predict(p, points))
            log_point(p)
    result = dict(
        machine=machine_info(torch.device('cpu')),
        settings=dict(
            backbones=args.backbones, tasks=args.tasks, crops=args.crops,
            batch=args.batch, repeats=args.repeats, warmup=args.warmup,
            max_mib=args.max_mib, max_iter_s=args.max_iter_s,
            dry_run=args.dry_run,
            command=command_line(TOOL, argv)),
        method=METHOD,
        **summarise(points))
    if args.note:
        result['note'] = args.note
    result['wall_s'] = time.time() - started
    write(result, args.out, args.plot, args.overwrite)
    return result


if __name__ == '__main__':
    main()
