"""Export the architecture found by a search from its checkpoint.

    python tools/derive_arch.py CONFIG CHECKPOINT [--out arch.json]

An edge is kept iff its logit alpha > 0 (sigmoid gate > 0.5), independently
per edge (spec section 5).  The file (JSON or YAML by extension) holds the
candidate edges, the gate probabilities and the kept set; pass it to
``tools/test.py --arch`` or ``model.neck.architecture`` to build the derived
model, and to ``tools/visualize_arch.py`` to draw it.
"""
import argparse
import os.path as osp

from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

import mtlnas_mm  # noqa: F401
from mmseg.registry import MODELS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', default=None,
                        help='output file (.json/.yaml); default: next to '
                        'the checkpoint, <ckpt>_arch.json')
    args = parser.parse_args()
    for path in (args.config, args.checkpoint):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path} does not exist')
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(cfg.model)
    if not model.arch_parameters():
        raise ValueError(f'{args.config}: the model has no architecture '
                         'parameters (not a search config)')
    load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
    arch = model.architecture()
    out = args.out or osp.splitext(args.checkpoint)[0] + '_arch.json'
    arch.dump(out)
    print(f'{len(arch.kept)}/{len(arch.edges)} edges kept; written to {out}')


if __name__ == '__main__':
    main()
