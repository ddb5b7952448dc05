"""Export the architecture found by a search from its checkpoint.

    python tools/analysis_tools/derive_arch.py CONFIG CHECKPOINT [--out arch.json]
        [--overwrite]

The NAS algorithm of CONFIG derives the architecture from the loaded
parameters (its ``export()``; MTL-NAS keeps an edge iff its logit alpha > 0,
independently per edge) and writes it in the project's export format (JSON
or YAML by extension).  Pass the file to ``tools/test.py --arch`` (or
``model.fix_subnet``) to build the derived model, and to
``tools/analysis_tools/visualize_arch.py`` to draw it.  An existing output
file is refused unless ``--overwrite`` is given.
"""
import argparse
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

import mtlnas_mm  # noqa: F401
from mmseg.registry import MODELS
from mtlnas_mm.utils import claim_output_file


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', default=None,
                        help='output file (.json/.yaml); default: next to '
                        'the checkpoint, <ckpt>_arch.json')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing output file')
    args = parser.parse_args(argv)
    for path in (args.config, args.checkpoint):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path} does not exist')
    out = args.out or osp.splitext(args.checkpoint)[0] + '_arch.json'
    claim_output_file(out, 'derive_arch.py', args.overwrite,
                      'architecture file')
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(cfg.model)
    if not hasattr(model, 'export') or not model.arch_parameters():
        raise ValueError(f'{args.config}: the model is not a NAS algorithm '
                         'with architecture parameters (not a search '
                         'config)')
    load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
    arch = model.export()
    arch.dump(out)
    print(f'{arch!r} written to {out}')


if __name__ == '__main__':
    main()
