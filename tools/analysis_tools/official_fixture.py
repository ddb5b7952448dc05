"""Write the official MTL-NAS computation's trace: the fixture against
which ``tests/test_analysis/test_official_fidelity.py`` checks the project
without an official checkout.

    MTLNAS_OFFICIAL_ROOT=DIR python tools/analysis_tools/official_fixture.py \\
        --out tests/data/official_fixture.json [--seed 0] [--iters 5] \\
        [--threads N] [--compare] [--overwrite]

``DIR`` (or ``--official-root DIR``) is a checkout of bhpfelix/MTLNAS; it
is imported, nothing of it is copied.  The trace
(:func:`mtlnas_mm.analysis.fidelity.official_trace`): ``--iters`` search
iterations of the official model in float64 from seeded weights, batches,
gate uniforms and dropout masks (``--seed``); per iteration the losses,
gate gradients, gates, schedule values and learning rates, and after
iterations 1, 2 and 5 the norm of every parameter and BN statistic.  The
file adds the seed, the versions, a digest of the official sources and a
note on how it was made.  ``--compare`` also runs the project's
``configs/mtlnas/mtlnas_vgg16_nyuv2_official.py`` on the same inputs and
prints the largest relative difference per quantity and iteration.  An
existing ``--out`` is refused unless ``--overwrite``.
"""
import argparse
import glob
import hashlib
import json
import os
import time

import numpy as np
import torch

from mtlnas_mm.analysis import fidelity
from mtlnas_mm.analysis.official import OFFICIAL_SEARCH_CONFIG
from mtlnas_mm.utils import claim_output_file

TOOL = 'official_fixture.py'


def source_digest(root: str) -> str:
    """sha256 of the official files the trace runs (``core/**/*.py``,
    ``tools/train_nas.py``, the search config), in sorted order."""
    files = sorted(glob.glob(os.path.join(root, 'core', '**', '*.py'),
                             recursive=True))
    files += [os.path.join(root, 'tools', 'train_nas.py'),
              os.path.join(root, OFFICIAL_SEARCH_CONFIG)]
    digest = hashlib.sha256()
    for path in files:
        digest.update(os.path.relpath(path, root).encode() + b'\0')
        with open(path, 'rb') as f:
            digest.update(f.read())
    return digest.hexdigest()


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', required=True, help='the JSON fixture')
    parser.add_argument('--official-root',
                        default=os.environ.get('MTLNAS_OFFICIAL_ROOT'),
                        help='checkout of bhpfelix/MTLNAS (default: '
                        '$MTLNAS_OFFICIAL_ROOT)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--threads', type=int, help='torch threads')
    parser.add_argument('--compare', action='store_true',
                        help='also run the project and print the agreement')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing --out')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if not args.official_root:
        raise SystemExit(f'{TOOL}: give the official checkout: '
                         'MTLNAS_OFFICIAL_ROOT=DIR or --official-root DIR')
    claim_output_file(args.out, TOOL, args.overwrite, 'fixture')
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.time()
    trace = fidelity.official_trace(args.official_root, args.seed,
                                    args.iters)
    fixture = dict(
        note=(f'Written by tools/analysis_tools/{TOOL} (--seed {args.seed} '
              f'--iters {args.iters}): mtlnas_mm.analysis.fidelity.'
              'official_trace, i.e. the official tools/train_nas.py search '
              'iteration on the official model of '
              f'{OFFICIAL_SEARCH_CONFIG} in float64 on CPU, weights, '
              'batches, gate uniforms and dropout masks from the seed '
              '(numpy PCG64); names are the official ones.'),
        torch=torch.__version__, numpy=np.__version__,
        official_sources_sha256=source_digest(args.official_root),
        seconds=round(time.time() - start, 1), **trace)
    with open(args.out, 'w') as f:
        json.dump(fixture, f, indent=1)
        f.write('\n')
    print(f'{TOOL}: wrote {args.out} ({args.iters} iterations, '
          f'{fixture["seconds"]} s)')
    if args.compare:
        result = fidelity.compare(trace, fidelity.project_trace(
            args.seed, args.iters))
        print(fidelity.format_report(result))


if __name__ == '__main__':
    main()
