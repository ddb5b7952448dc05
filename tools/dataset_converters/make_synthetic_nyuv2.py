"""Generate a synthetic NYUv2 stand-in (segmentation, normals, depth).

Random furnished rooms are ray cast into RGB images, NYUv2-40 labels,
camera-frame normals and depth with Kinect-like invalid pixels, and written
in the NDDR-CNN/MTL-NAS layout (PNG files + list files), the mtan/LibMTL
``.npy`` layout, or both. Image ``i`` of a split depends only on
``(seed, split, i)``: the output is the same for any ``--workers``.

Examples::

    python tools/dataset_converters/make_synthetic_nyuv2.py --out data/synth_nyuv2 \\
        --num-train 200 --num-test 50 --seed 0 --workers 2
    python tools/dataset_converters/make_synthetic_nyuv2.py --out /tmp/s --num-train 0 \\
        --num-test 0 --benchmark
"""
import argparse

import cv2

from mtlnas_mm.datasets.synthetic import (LAYOUTS, benchmark,
                                          generate_dataset, render_sample)
from mtlnas_mm.datasets.synthetic.preview import save_strip
from mtlnas_mm.utils import claim_output_file


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', required=True,
                   help='output folder (data root): a new or empty folder, '
                   'or one this tool generated before; any other existing '
                   'folder is refused')
    p.add_argument('--num-train', type=int, default=100)
    p.add_argument('--num-test', type=int, default=20)
    p.add_argument('--height', type=int, default=240)
    p.add_argument('--width', type=int, default=320)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--layout', choices=LAYOUTS, default='nddr',
                   help='nddr: PNG + lists (MTL-NAS); npy: mtan arrays; '
                   'both')
    p.add_argument('--workers', type=int, default=1,
                   help='processes (the output does not depend on it)')
    p.add_argument('--benchmark', action='store_true',
                   help='time rendering (+ PNG encoding) on one core first')
    p.add_argument('--overwrite', action='store_true',
                   help='replace an existing --preview file')
    p.add_argument('--benchmark-images', type=int, default=40)
    p.add_argument('--preview', default=None,
                   help='also write a picture strip of the first 3 test '
                   '(or train) images: RGB | labels | normals | depth')
    args = p.parse_args(argv)
    if args.height < 8 or args.width < 8 or args.width % 2:
        p.error('--height/--width must be >= 8 and the width even')
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.preview:  # refused before anything is rendered
        claim_output_file(args.preview, 'make_synthetic_nyuv2.py',
                          args.overwrite, 'preview')
    if args.benchmark:
        cv2.setNumThreads(1)
        res = benchmark(args.benchmark_images, args.height, args.width,
                        args.seed)
        print(f'benchmark ({args.benchmark_images} images, '
              f'{args.height}x{args.width}, one process): '
              f'render {res["render_images_per_s"]:.1f} images/s, '
              f'render + PNG encode {res["total_images_per_s"]:.1f} '
              'images/s')
    if args.num_train or args.num_test:
        stats = generate_dataset(args.out, args.num_train, args.num_test,
                                 args.height, args.width, args.seed,
                                 args.layout, args.workers, log=print)
        print(f'wrote {stats["num_images"]} images ({args.layout}) to '
              f'{args.out} in {stats["seconds"]:.1f} s '
              f'({stats["images_per_s"]:.1f} images/s with '
              f'{args.workers} worker(s)); train RGB mean '
              f'{[round(float(m), 2) for m in stats["mean"]]}')
    if args.preview:
        split = 'test' if args.num_test else 'train'
        samples = [
            render_sample(args.seed, split, i, args.height, args.width)
            for i in range(3)
        ]
        save_strip(args.preview, samples)
        print(f'preview written to {args.preview}')


if __name__ == '__main__':
    main()
