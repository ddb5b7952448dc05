"""Convert the official NYU Depth v2 labeled release to the project's layout.

Reads ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3 / HDF5, one image at a
time) and the official ``splits.mat`` (795 train / 654 test), and writes
the NDDR-CNN / MTL-NAS layout that ``NYUv2MultiTaskDataset`` reads: RGB
images, 40- and 13-class labels (255 = unlabeled), surface normals
computed from the depth, depth and raw depth (uint16 mm), a valid mask,
list files per split and task, the train RGB mean and ``manifest.json``
(checksums, mappings with provenance, normal method, counts). With
``--layout libmtl`` it writes the mtan / LibMTL NYUv2-13 layout that
``NYUv2LibMTLDataset`` reads instead: ``train`` / ``val`` folders of
288x384 ``.npy`` files (image, 13-class label, depth, normals). See
docs/preparing_nyuv2.md.

Examples::

    python tools/dataset_converters/nyuv2.py nyu_depth_v2_labeled.mat \\
        --splits splits.mat --out data/nyu_v2
    # a quick look at 5 images per split
    python tools/dataset_converters/nyuv2.py nyu_depth_v2_labeled.mat \\
        --out /tmp/nyu_try --limit 5 --no-checksum
    # the mtan / LibMTL layout (configs/libmtl_nyuv2)
    python tools/dataset_converters/nyuv2.py nyu_depth_v2_labeled.mat \\
        --splits splits.mat --layout libmtl --out data/nyuv2_libmtl
"""
import argparse

import cv2

from mtlnas_mm.datasets.converters.normals_from_depth import (
    DEFAULT_PARAMS, NORMAL_METHODS, NYU_RGB_INTRINSICS, Intrinsics)
from mtlnas_mm.datasets.converters.nyuv2_official import (
    DEFAULT_NORMAL_METHOD, LAYOUTS, LIBMTL_DEPTHS, NORMAL_DEPTHS,
    convert_nyuv2)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('mat', help='nyu_depth_v2_labeled.mat')
    p.add_argument('--out', required=True,
                   help='output folder (data root): a new or empty folder, '
                   'or one this tool wrote before; any other existing '
                   'folder is refused')
    p.add_argument('--splits', default=None,
                   help='splits.mat (default: the official split shipped '
                   'with mtlnas_mm)')
    p.add_argument('--layout', choices=LAYOUTS, default='nddr',
                   help='nddr: PNGs + lists for NYUv2MultiTaskDataset; '
                   'libmtl: mtan / LibMTL .npy files for NYUv2LibMTLDataset')
    p.add_argument('--size', type=int, nargs=2, default=None,
                   metavar=('HEIGHT', 'WIDTH'),
                   help='libmtl: output size (default: 288 384)')
    p.add_argument('--no-crop', action='store_true',
                   help='libmtl: resize the whole frame instead of the '
                   'region inside --border')
    p.add_argument('--libmtl-depth', choices=LIBMTL_DEPTHS,
                   default='filled',
                   help='libmtl: depth written (default: the filled depth)')
    p.add_argument('--mapping40', default='default',
                   help='JSON 894->40 mapping (default: the packaged '
                   'classMapping40 table)')
    p.add_argument('--mapping13', default='default',
                   help='JSON 894->13 mapping (default: packaged); "none" '
                   'skips the 13-class labels')
    p.add_argument('--normal-method', choices=NORMAL_METHODS, default=None,
                   help=f'default: {DEFAULT_NORMAL_METHOD} (measured '
                   'best, see docs/preparing_nyuv2.md)')
    p.add_argument('--normal-param', nargs=2, action='append', default=[],
                   metavar=('NAME', 'VALUE'),
                   help='a parameter of the normal method, e.g. step 6 '
                   f'(defaults: {DEFAULT_PARAMS})')
    p.add_argument('--normal-depth', choices=NORMAL_DEPTHS, default='raw',
                   help='raw: normals where the Kinect measured depth; '
                   'filled: from the in-painted depth')
    p.add_argument('--border', type=int, nargs=4, default=None,
                   metavar=('TOP', 'BOTTOM', 'LEFT', 'RIGHT'),
                   help='valid region, rows [TOP, BOTTOM) and columns '
                   '[LEFT, RIGHT) (default: 44 471 40 601)')
    p.add_argument('--intrinsics', type=float, nargs=4, default=None,
                   metavar=('FX', 'FY', 'CX', 'CY'),
                   help='camera of the depth maps, 1-based pixel coordinates '
                   '(default: the NYU toolbox RGB camera)')
    p.add_argument('--limit', type=int, default=None,
                   help='convert only the first N images of each split')
    p.add_argument('--no-checksum', action='store_true',
                   help='skip the SHA-256 of the inputs in the manifest')
    p.add_argument('--no-progress', action='store_true')
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 0:
        p.error('--limit must be >= 0')
    if args.size is not None and min(args.size) <= 0:
        p.error('--size must be two positive ints')
    return args


def _number(text: str):
    value = float(text)
    return int(value) if value.is_integer() and '.' not in text else value


def main(argv=None) -> dict:
    args = parse_args(argv)
    cv2.setNumThreads(1)
    intrinsics = NYU_RGB_INTRINSICS
    if args.intrinsics:
        intrinsics = Intrinsics(*args.intrinsics, pixel_offset=1.0)
    manifest = convert_nyuv2(
        args.mat,
        args.out,
        splits_path=args.splits,
        layout=args.layout,
        mapping40=args.mapping40,
        mapping13=None if args.mapping13 == 'none' else args.mapping13,
        normal_method=args.normal_method,
        normal_params={k: _number(v) for k, v in args.normal_param},
        normal_depth=args.normal_depth,
        border=args.border,
        intrinsics=intrinsics,
        size=args.size,
        crop=not args.no_crop,
        libmtl_depth=args.libmtl_depth,
        limit=args.limit,
        checksums=not args.no_checksum,
        progress=not args.no_progress)
    counts = manifest['counts']
    print(', '.join(f'{split}: {c["images"]} images, normals valid on '
                    f'{100 * c["normal_valid"] / max(c["pixels"], 1):.1f} %'
                    for split, c in counts.items()))
    return manifest


if __name__ == '__main__':
    main()
