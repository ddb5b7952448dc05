"""Per-op speed of the 1x1 convolutions: torch's kernels vs oneDNN
(``mtlnas_mm.models.layers.conv1x1``), at the shapes of the VGG-16
LargeFOV pair.

    python tools/analysis_tools/benchmark_conv1x1.py [--size H W]
        [--batch N] [--repeats R] [--threads T] [--out FILE.json]

For every 1x1 convolution of a search iteration (the fusion convs of each
block, ``(1 + k) C -> C`` with ``k`` the most sources a fusion op of that
block has, fc7 ``1024 -> 1024`` and fc8 ``1024 -> 40``), the forward, the
input gradient and the weight gradient, each through torch (``F.conv2d`` /
``aten::convolution_backward``, which for a 1x1 kernel run
``_slow_conv2d``) and through the oneDNN path, interleaved; median of the
repeats of both the wall time and the thread's CPU time (the latter is
robust to other processes on a shared machine).  Also checks that both
give the same values (relative max difference).
"""
import argparse
import json
import platform
import statistics
import time
from typing import Callable, Dict, List

import torch
import torch.nn.functional as F

from mtlnas_mm.models.layers.conv1x1 import (_onednn, onednn_input_grad,
                                             weight_grad)
from mtlnas_mm.utils import claim_output_file

#: (name, C_in, C_out, stride) of the VGG-16 LargeFOV pair's 1x1 convs;
#: fusion ops of block b: 64 / 128 / 256 / 512 / 512 channels, at most
#: 2 sources each (MTL-NAS space: same block, gap < 3)
SHAPES = [
    ('fusion block 1', 3 * 64, 64, 1),
    ('fusion block 2', 3 * 128, 128, 2),
    ('fusion block 3', 3 * 256, 256, 4),
    ('fusion block 4', 3 * 512, 512, 8),
    ('fusion block 5', 3 * 512, 512, 8),
    ('fc7', 1024, 1024, 8),
    ('fc8', 1024, 40, 8),
]


def timed(fn: Callable[[], object]) -> Dict[str, float]:
    w, c = time.perf_counter(), time.thread_time()
    fn()
    return dict(wall=time.perf_counter() - w, cpu=time.thread_time() - c)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, nargs=2, default=(128, 160))
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--out', default=None)
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing --out file')
    args = parser.parse_args(argv)
    if args.out:  # refused before measuring
        claim_output_file(args.out, 'benchmark_conv1x1.py', args.overwrite)
    torch.set_num_threads(args.threads)
    h, w = args.size
    rows: List[dict] = []
    totals = {'torch': 0.0, 'onednn': 0.0}
    for name, ci, co, stride in SHAPES:
        g = torch.Generator().manual_seed(0)
        shape = (args.batch, ci, -(-h // stride), -(-w // stride))
        x = torch.randn(shape, generator=g)
        weight = torch.randn(co, ci, 1, 1, generator=g) * ci**-0.5
        grad = torch.randn(shape[0], co, *shape[2:], generator=g)
        cases = {
            ('forward', 'torch'): lambda: F.conv2d(x, weight),
            ('forward', 'onednn'): lambda: _onednn(x, weight, None),
            ('input grad', 'torch'): lambda: torch.ops.aten.
            convolution_backward(grad, x, weight, None, [1, 1], [0, 0],
                                 [1, 1], False, [0, 0], 1,
                                 [True, False, False])[0],
            ('input grad', 'onednn'): lambda: onednn_input_grad(grad, weight),
            ('weight grad', 'torch'): lambda: weight_grad(grad, x, weight),
        }
        diffs = {
            'forward': rel(cases[('forward', 'onednn')](),
                           cases[('forward', 'torch')]()),
            'input grad': rel(cases[('input grad', 'onednn')](),
                              cases[('input grad', 'torch')]()),
        }
        times: Dict[tuple, List[Dict[str, float]]] = {k: [] for k in cases}
        for fn in cases.values():  # warm-up
            fn()
        for _ in range(args.repeats):
            for key, fn in cases.items():
                times[key].append(timed(fn))
        flops = 2 * shape[0] * ci * co * shape[2] * shape[3]
        row = dict(name=name, c_in=ci, c_out=co, hw=list(shape[2:]),
                   gflop=flops / 1e9, max_rel_diff=diffs)
        for (op, backend), ts in times.items():
            cpu = statistics.median(t['cpu'] for t in ts)
            row[f'{op}/{backend}'] = dict(
                wall_s=statistics.median(t['wall'] for t in ts), cpu_s=cpu,
                gflops_per_s=flops / 1e9 / cpu if cpu else None)
        # per conv and iteration: forward + input grad through each
        # backend, the weight grad (torch's in both) counted once
        for backend in ('torch', 'onednn'):
            totals[backend] += sum(row[f'{op}/{backend}']['cpu_s']
                                   for op in ('forward', 'input grad'))
        rows.append(row)
        print(f'{name:15s} fwd {row["forward/torch"]["cpu_s"]*1e3:6.1f} -> '
              f'{row["forward/onednn"]["cpu_s"]*1e3:6.1f} ms, input grad '
              f'{row["input grad/torch"]["cpu_s"]*1e3:6.1f} -> '
              f'{row["input grad/onednn"]["cpu_s"]*1e3:6.1f} ms, weight grad '
              f'{row["weight grad/torch"]["cpu_s"]*1e3:6.1f} ms (cpu time)')
    result = dict(
        machine=dict(platform=platform.platform(),
                     processor=platform.processor(), torch=torch.__version__,
                     threads=torch.get_num_threads(),
                     mkldnn=torch.backends.mkldnn.is_available()),
        settings=vars(args), rows=rows,
        forward_plus_input_grad_cpu_s=totals,
        speedup=totals['torch'] / totals['onednn'] if totals['onednn'] else
        None)
    print(f'forward + input grad, one of each conv: torch '
          f'{totals["torch"]:.3f} s, oneDNN {totals["onednn"]:.3f} s '
          f'(x{result["speedup"]:.2f})')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
