"""Speed and memory of the search against the single-task pair, NDDR-CNN,
the FLOP floor and (optionally) the official MTL-NAS implementation.

    python tools/analysis_tools/benchmark.py [--backbone vgg16|vgg-tiny]
        [--size H W] [--batch N] [--repeats R] [--warmup W] [--threads T]
        [--device cpu|cuda] [--kept K] [--official-root DIR]
        [--out FILE.json] [--markdown FILE.md] [--only CASE ...]
        [--cfg-options k=v ...] [--search-cfg-options k=v ...]

Everything is measured in one process, one run, with the same backbone and
the same synthetic batch (``--batch`` images of ``--size``).  Cases
(``kind:name``; what each one runs: :mod:`mtlnas_mm.analysis.cases`):
``train:single``, ``train:nddr``, ``train:search_iter`` (split into its
architecture step and weight step), ``infer:single``, ``infer:nddr``,
``infer:derived`` (``--kept`` edges), ``infer:supernet``,
``floor:conv3x3`` (the network's own 3x3 convs: the FLOP floor) and, with
``--official-root DIR`` (a checkout of bhpfelix/MTLNAS that the user
provides, nothing of it is copied into this project;
:mod:`mtlnas_mm.analysis.official`), ``official:search_iter`` and
``official:single``.  The official network is always the full-width
VGG-16 LargeFOV pair: the comparison is like for like with
``--backbone vgg16`` only (with ``vgg-tiny`` the official targets are not
judged).

Timing (``--warmup`` untimed runs, then ``--repeats`` timed runs, all
cases interleaved round-robin, median per case; ``--clock``), peak memory
and FLOPs: :mod:`mtlnas_mm.analysis.timing`.  The FLOP floor (the work a
search iteration cannot avoid, ``5 F + F_fuse``, at the measured 3x3-conv
throughput): :mod:`mtlnas_mm.analysis.cases`.  The summary, the targets
and the tables: :mod:`mtlnas_mm.analysis.report`.

``--cfg-options`` (every project config) and ``--search-cfg-options``
(the search config only) override config settings as in ``tools/train.py``,
to time an option of the configs (e.g. the optim wrappers of both search
steps: ``optim_wrapper.weight.type=...``, ``optim_wrapper.arch.type=...``).

The JSON result (stdout, and ``--out``) holds the machine, the settings,
the per-case figures, the ratios against the single-task pair and the
official implementation, the floor and the targets with pass / fail; the
markdown tables (stderr, and ``--markdown``) show the same.
"""
import argparse
import contextlib
import os
import sys
import time
from typing import Optional, Sequence

import torch
from mmengine.config import DictAction

from mtlnas_mm.analysis.cases import CONFIGS, build_cases
from mtlnas_mm.analysis.official import import_official
from mtlnas_mm.analysis.report import markdown, summarise, target_lines
from mtlnas_mm.analysis.runs import claim_outputs, command_line, quiet_logger
from mtlnas_mm.analysis.timing import (CLOCKS, log, machine_info, method_notes,
                                       run_cases, set_clock)
from mtlnas_mm.utils import write_json_report

TOOL = 'tools/analysis_tools/benchmark.py'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--backbone', choices=sorted(CONFIGS),
                        default='vgg16')
    parser.add_argument('--size', type=int, nargs=2, default=(128, 160),
                        metavar=('H', 'W'))
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed runs per case first (default 2)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads (default: torch default)')
    parser.add_argument('--clock', choices=sorted(CLOCKS), default='wall',
                        help='wall time, or the thread CPU time (CPU, '
                        '--threads 1; for a machine shared with other '
                        'jobs)')
    parser.add_argument('--device', default=None,
                        help='cpu or cuda (default: cuda if available)')
    parser.add_argument('--kept', type=int, default=4,
                        help='edges kept by the derived model (default 4)')
    parser.add_argument('--official-root', default=None, metavar='DIR',
                        help='a checkout of the official MTL-NAS code '
                        '(bhpfelix/MTLNAS): time its search iteration and '
                        'single-task step interleaved with the project\'s')
    parser.add_argument('--out', default=None, help='write the JSON here')
    parser.add_argument('--markdown', default=None,
                        help='write the markdown tables of the result here')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing output files')
    parser.add_argument('--only', nargs='+', default=None,
                        help='run only these cases (name or kind:name, e.g. '
                        'train:search_iter official:search_iter '
                        'floor:conv3x3)')
    parser.add_argument('--note', default=None,
                        help='free text stored in the JSON (e.g. the load '
                        'of the machine)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of every project config '
                        '(single, nddr, search), xxx=yyy format')
    parser.add_argument('--search-cfg-options', nargs='+', action=DictAction,
                        help='override settings of the search config only '
                        '(e.g. its optim_wrapper.weight / .arch), xxx=yyy')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Build the cases, measure them, write and return the result."""
    args = parse_args(argv)
    if args.repeats < 1:
        raise SystemExit('--repeats must be >= 1')
    # refused before measuring
    claim_outputs((args.out, args.markdown), 'benchmark.py', args.overwrite)
    # stdout carries the JSON only: mmengine logs (init_weights reports ...)
    # go to stderr, below WARNING not at all
    quiet_logger('mtlnas_benchmark')
    # a bad checkout stops the run before anything is built
    official = (import_official(args.official_root)
                if args.official_root else None)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or (
        'cuda' if torch.cuda.is_available() else 'cpu'))
    set_clock(args.clock, device)
    started = time.time()
    with contextlib.redirect_stdout(sys.stderr):
        cases = build_cases(
            args.backbone, args.size, args.batch, device, kept=args.kept,
            only=args.only, cfg_options=args.cfg_options,
            search_cfg_options=args.search_cfg_options, official=official)
    log(f'benchmark: {len(cases)} cases, {args.backbone}, batch '
        f'{args.batch} x {args.size[0]}x{args.size[1]}, device {device}, '
        f'{torch.get_num_threads()} threads')
    with contextlib.redirect_stdout(sys.stderr):
        run_cases(cases, device, args.warmup, args.repeats)

    result = dict(
        machine=machine_info(device),
        settings=dict(backbone=args.backbone, size=list(args.size),
                      batch=args.batch, repeats=args.repeats,
                      warmup=args.warmup, kept=args.kept,
                      official_root=(os.path.abspath(args.official_root)
                                     if args.official_root else None),
                      cfg_options=args.cfg_options,
                      search_cfg_options=args.search_cfg_options,
                      order='round-robin over cases, median per case',
                      command=command_line(TOOL, argv)),
        **method_notes(device, args.clock))
    if args.note:
        result['note'] = args.note
    result.update(summarise(cases, args.backbone))
    result['wall_s'] = time.time() - started
    write_json_report(result, args.out, 'benchmark.py', args.overwrite)
    table = markdown(result)
    log(table)
    for line in target_lines(result):
        log(line)
    if args.markdown:
        with open(args.markdown, 'w') as f:
            f.write(table)
    return result


if __name__ == '__main__':
    main()
