"""Memory and time of one MTNAS search iteration (architecture + weight
step) at several network / crop sizes.

    python tools/analysis_tools/benchmark_mtnas.py
        [--stages backbone branches]
        [--points tiny CELLS:C:CROP[:R1-R2-R3] ...] [--batch N]
        [--repeats R] [--threads T] [--out FILE.json]
    python tools/analysis_tools/benchmark_mtnas.py --merge A.json B.json ...
        [--out FILE]

A DARTS search cell computes all 8 candidate operations on every edge
(measured), so the search step, not the derived network, bounds the size
that can be searched.  A point is either ``tiny`` (the network of the
tiny stage configs ``configs/mtnas/mtnas_cells-tiny_synthetic_stage{1,2}-*.py``
as it is, on ``TINY_CROP`` x ``TINY_CROP`` (64x64) images: not the configs'
own crop, 96x128, so the tiny point stays comparable with the 64x64
points) or ``CELLS:C:CROP``: the release stage configs
(``configs/mtnas/mtnas_cells-release_synthetic_stage{1,2}-*.py``) with
``CELLS`` trunk cells, cell width ``C`` for the trunk and the branches
(heads read ``4 * C`` channels) and ``CROP x CROP`` images; the
reductions are ``R1-R2-R3`` if given, else the release's tail
``(CELLS - 8, CELLS - 5, CELLS - 2)`` (6, 9, 12 at 14 cells: extra cells
are stride-4 cells), or the last three cells under 9 cells.

Per point and stage (``backbone``: stage 2, the trunk searched, the
branches fixed; ``branches``: stage 1, the branches searched, the trunk
fixed to the starting genotype and trained, as in the shipped configs)
one fresh process builds the MTNAS model and its
``BilevelOptimWrapperConstructor`` optimizers and runs
``MTNAS.train_step(dict(weight=batch, arch=batch), wrappers)`` on a
synthetic batch (seg + normals, ``--batch`` images): one warm-up
iteration, ``--repeats`` timed ones (median), then two under
``torch.profiler`` for the allocated memory
(``mtlnas_mm.analysis.timing.profiled_run``, as in
``tools/analysis_tools/benchmark.py``: in the second, peak of the running
sum of the CPU allocator's events plus the bytes alive at its start).  The
process'
peak resident set size over the warm-up and timed iterations
(``getrusage`` ``ru_maxrss`` before the profiled run, whose records
would count; everything the process held: libraries, allocator caches)
is reported too, with its resident size after building the model,
before any step.

The JSON result (stdout, and ``--out``) holds the machine, the settings,
one record per point and stage, and the memory fit: per stage and trunk
layout (cells, reductions), the least-squares coefficients of

    activation memory per image (MiB) = (H * W / 64**2) * (a * C + b)

(``peak_above_state_mib / batch``: linear in the pixels and, through the
cells' feature maps, in C; ``b`` the C-independent part: logits at full
resolution, losses), with each point's relative residual.  ``--merge
A.json B.json ...`` joins the results of several runs (each run's
settings kept) and fits over all their records, so short runs add up to
one file.
"""
import argparse
import contextlib
import os.path as osp
import statistics
import sys
import time
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

TOOL = 'tools/analysis_tools/benchmark_mtnas.py'
#: stage name -> (tiny config, release config)
STAGE_CONFIGS = {
    'branches': ('configs/mtnas/mtnas_cells-tiny_synthetic_stage1-branches.py',
                 'configs/mtnas/'
                 'mtnas_cells-release_synthetic_stage1-branches.py'),
    'backbone': ('configs/mtnas/mtnas_cells-tiny_synthetic_stage2-backbone.py',
                 'configs/mtnas/'
                 'mtnas_cells-release_synthetic_stage2-backbone.py'),
}
START = 'configs/mtnas/genotypes/start_backbone.json'
TINY_CROP = 64
DEFAULT_POINTS = ('tiny', '9:4:64', '14:4:64', '14:8:64', '14:4:96')


def parse_point(text: str) -> dict:
    """``'tiny'`` or ``'CELLS:C:CROP[:R1-R2-R3]'`` as a dict (see the
    module docstring for the default reductions)."""
    if text == 'tiny':
        return dict(name='tiny', crop=TINY_CROP)
    parts = text.split(':')
    try:
        if len(parts) not in (3, 4):
            raise ValueError
        cells, channels, crop = (int(p) for p in parts[:3])
        if len(parts) == 4:
            reductions = tuple(int(r) for r in parts[3].split('-'))
        elif cells >= 9:
            reductions = (cells - 8, cells - 5, cells - 2)
        else:
            reductions = (cells - 3, cells - 2, cells - 1)
    except ValueError:
        raise ValueError(f'point {text!r}: expected tiny or '
                         'CELLS:C:CROP[:R1-R2-R3]') from None
    return dict(name=text, cells=cells, channels=channels, crop=crop,
                reductions=list(reductions))


def stage_config(stage: str, point: dict):
    """The stage config of ``point``, every unsearched part given a
    genotype (the starting backbone's; its normal cell for every
    branch)."""
    from mmengine.config import Config
    from mtlnas_mm.structures import (CellArchitecture, SpaceGenotype,
                                      load_architecture)
    tiny, release = STAGE_CONFIGS[stage]
    cfg = Config.fromfile(osp.join(REPO, tiny if point['name'] == 'tiny'
                                   else release))
    net = cfg.model.network
    if point['name'] != 'tiny':
        c = point['channels']
        net.backbone.trunk.update(channels=c, num_cells=point['cells'],
                                  reductions=tuple(point['reductions']))
        net.backbone.branch.channels = c
        width = 4 * c  # the branch output: 4 nodes of C channels
        for task in net.tasks.values():
            head = task.head.get('decoder', task.head)
            head.update(in_channels=width, channels=width)
    start = load_architecture(osp.join(REPO, START)).genotypes
    genotypes = dict(start)
    genotypes.update({f'branches.{t}': SpaceGenotype(start['backbone'].normal)
                      for t in net.tasks})
    cfg.model.genotype = CellArchitecture(genotypes)
    return cfg


def measure_point(stage: str, point: dict, batch: int,
                  repeats: int) -> dict:
    """Build the stage model of ``point`` and measure its search iteration
    (in this process: its peak RSS is this measurement's)."""
    import torch
    from mmengine.registry import init_default_scope

    from mtlnas_mm.analysis.cases import (build_model, make_batch,
                                          measure_search,
                                          search_optim_wrappers)
    from mtlnas_mm.analysis.timing import rss_mib
    from mtlnas_mm.structures import ARCH_STEP, WEIGHT_STEP
    cfg = stage_config(stage, point)
    init_default_scope('mmseg')
    model = build_model(cfg.model, torch.device('cpu'))
    wrappers = search_optim_wrappers(cfg, f'{stage} {point["name"]}')(model)
    num_classes = cfg.model.network.tasks.seg.head.num_classes
    crop = point['crop']
    base_batch = make_batch(batch, crop, crop, num_classes)
    rss_built = rss_mib()
    measured = measure_search(model, wrappers, base_batch, repeats,
                              warmup=1)
    params = dict(
        total=sum(p.numel() for p in model.parameters()),
        arch=sum(p.numel() for g in wrappers[ARCH_STEP].param_groups
                 for p in g['params']),
        weight_optimised=sum(p.numel()
                             for g in wrappers[WEIGHT_STEP].param_groups
                             for p in g['params']))
    net = cfg.model.network
    times = measured['case'].times
    return dict(
        stage=stage, point=point['name'], crop=crop, batch=batch,
        trunk=dict(net.backbone.trunk), branch=dict(net.backbone.branch),
        params=params, warmup_s=measured['warmup_s'][0],
        median_s=statistics.median(times), times_s=times,
        rss_after_build_mib=rss_built,
        peak_rss_mib=measured['peak_rss_mib'], **measured['memory'])


def run_child(stage: str, point: str, batch: int, repeats: int,
              threads: Optional[int]) -> dict:
    """``measure_point`` in a fresh process (peak RSS never shrinks)."""
    from mtlnas_mm.analysis.runs import MeasurementError
    from mtlnas_mm.analysis.runs import run_child as run_in_child
    try:
        return run_in_child(__file__, [stage, point], REPO, batch=batch,
                            repeats=repeats, threads=threads or None)
    except MeasurementError as e:
        raise RuntimeError(f'{stage} {point}: the measuring process '
                           f'failed:\n{e.stderr[-3000:]}') from None


def fit_memory(records: Sequence[dict]) -> List[dict]:
    """The memory fit of the module docstring, per stage and trunk layout
    (groups without two widths ``C`` are skipped: ``a`` and ``b`` would be
    confounded)."""
    import numpy as np
    groups: Dict[tuple, List[dict]] = defaultdict(list)
    for r in records:
        trunk = r['trunk']
        groups[(r['stage'], trunk['num_cells'],
                tuple(trunk['reductions']))].append(r)
    fits = []
    for (stage, cells, reductions), recs in sorted(groups.items()):
        if len({r['trunk']['channels'] for r in recs}) < 2:
            continue
        rows = [[r['crop']**2 / 64**2 * r['trunk']['channels'],
                 r['crop']**2 / 64**2] for r in recs]
        per_image = [r['peak_above_state_mib'] / r['batch'] for r in recs]
        (a, b), *_ = np.linalg.lstsq(np.array(rows), np.array(per_image),
                                     rcond=None)
        fits.append(dict(
            stage=stage, cells=cells, reductions=list(reductions),
            a_mib=float(a), b_mib=float(b),
            points={r['point']: float((a * x + b * y) / v - 1)
                    for r, (x, y), v in zip(recs, rows, per_image)}))
    return fits


def merge(paths: Sequence[str]) -> dict:
    """One result from the results of several runs (``--merge``)."""
    from mtlnas_mm.analysis.runs import read_runs
    runs, records = read_runs(paths, 'records', ('fit', ))
    return dict(runs=runs, records=records, fit=fit_memory(records))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--stages', nargs='+', choices=sorted(STAGE_CONFIGS),
                        default=['backbone', 'branches'])
    parser.add_argument('--points', nargs='+', default=list(DEFAULT_POINTS),
                        help='tiny or CELLS:C:CROP[:R1-R2-R3] (default: '
                        f'{" ".join(DEFAULT_POINTS)})')
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads (default: torch default)')
    parser.add_argument('--out', default=None, help='write the JSON here')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing output files')
    parser.add_argument('--merge', nargs='+', metavar='RESULT',
                        help='measure nothing: join these results and fit '
                        'over all their records')
    parser.add_argument('--child', nargs=2, metavar=('STAGE', 'POINT'),
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Measure every point and stage in its own process (or, with
    ``--child``, one of them in this one), write and return the result."""
    args = parse_args(argv)
    from mtlnas_mm.analysis.runs import (claim_outputs, command_line,
                                         quiet_logger, report_to_parent)
    from mtlnas_mm.utils import write_json_report
    if not args.child:  # refused before measuring
        claim_outputs((args.out, ), 'benchmark_mtnas.py', args.overwrite)
    if args.merge:
        result = merge(args.merge)
        write_json_report(result, args.out, 'benchmark_mtnas.py',
                          args.overwrite)
        return result
    if args.child:
        import torch
        if args.threads:
            torch.set_num_threads(args.threads)
        stage, point = args.child
        with contextlib.redirect_stdout(sys.stderr):
            quiet_logger('mtnas_benchmark')
            record = measure_point(stage, parse_point(point), args.batch,
                                   args.repeats)
        return report_to_parent(record)
    for p in args.points:
        parse_point(p)  # refuse a bad point before measuring anything
    import torch

    from mtlnas_mm.analysis.timing import machine_info
    started = time.time()
    records: List[dict] = []
    for point in args.points:
        for stage in args.stages:
            rec = run_child(stage, point, args.batch, args.repeats,
                            args.threads)
            print(f'{stage:9s} {point:12s} {rec["median_s"]:7.3f} s  '
                  f'allocated peak {rec["peak_mib"]:8.1f} MiB  '
                  f'peak RSS {rec["peak_rss_mib"]:8.1f} MiB',
                  file=sys.stderr, flush=True)
            records.append(rec)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = dict(
        machine=machine_info(torch.device('cpu')),
        settings=dict(stages=args.stages, points=args.points,
                      batch=args.batch, repeats=args.repeats,
                      command=command_line(TOOL, argv)),
        memory_method=(
            'peak_mib: torch.profiler profile_memory=True, peak of the '
            'running sum of CPU allocator events during one iteration plus '
            'the bytes alive at its start (parameters, buffers, gradients, '
            'optimizer state); peak_rss_mib: getrusage ru_maxrss of the '
            'measuring process (fresh per point and stage) after the '
            'warm-up and timed iterations, before the profiled one'),
        time_method=('median of --repeats time.perf_counter around one '
                     'MTNAS.train_step (arch step + weight step) after one '
                     'warm-up iteration'),
        records=records,
        fit=fit_memory(records),
        wall_s=time.time() - started)
    write_json_report(result, args.out, 'benchmark_mtnas.py',
                      args.overwrite)
    return result


if __name__ == '__main__':
    main()
