"""Draw a searched architecture and the gate curves of a search.

    python tools/analysis_tools/visualize_arch.py ARCH.json [--history gate_history.jsonl]
        [--config CONFIG] [--out-dir DIR] [--overwrite]

Writes ``architecture.png``, drawn by the file's kind
(:func:`mtlnas_mm.visualization.draw_architecture`):

* ``fusion_edges`` (MTL-NAS): one column per task, one node per searchable
  layer (top = input side), an arrow for every kept cross-task edge (width
  and opacity follow the gate probability) and a faint line for every
  pruned candidate; with ``--history``, also ``gate_curves.png``: each
  edge's gate probability over the search iterations (kept edges solid,
  pruned dashed);
* ``cell_genotype`` (MTNAS): one panel per searched part and cell type,
  the cell's nodes and kept edges labelled with their operation.

An architecture file lists its edges but not the layout of the search
space they belong to, so on its own it cannot be checked (an edge may name
a layer the network does not have).  With ``--config`` the file is first
fixed into that config's search space (``fix_subnet``), which refuses a
file whose edges, layers or tasks are not the space's; without it the tool
says that the file was not checked.  Existing pictures are refused unless
``--overwrite`` is given.
"""
import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

from mtlnas_mm.structures import Architecture, load_architecture
from mtlnas_mm.utils import claim_output_file
from mtlnas_mm.visualization import (draw_architecture, draw_gate_curves,
                                     read_gate_history)


def check_against_config(arch_file: str, config: str) -> None:
    """Build ``config``'s model fixed to ``arch_file``: the search space
    refuses an architecture that is not one of its own (ValueError naming
    the file)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mtlnas_mm  # noqa: F401  (registers components)
    from mmseg.registry import MODELS
    from mtlnas_mm.utils import use_fixed_architecture
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    MODELS.build(use_fixed_architecture(cfg, arch_file, source=config).model)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('arch', help='architecture file (.json/.yaml)')
    parser.add_argument('--history', help='gate_history.jsonl of a search')
    parser.add_argument('--config',
                        help='the search config: check the file against '
                        'its search space first')
    parser.add_argument('--out-dir', default=None,
                        help='default: the folder of the architecture file')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing pictures')
    args = parser.parse_args(argv)
    arch = load_architecture(args.arch)
    if args.history and arch.kind != Architecture.kind:
        raise ValueError(f'--history: gate curves are drawn for '
                         f'{Architecture.kind!r} architectures, '
                         f'{args.arch} is {arch.kind!r}')
    if args.history and not osp.isfile(args.history):
        raise FileNotFoundError(f'{args.history} does not exist')
    if args.config:
        check_against_config(args.arch, args.config)
        print(f'{args.arch}: an architecture of the search space of '
              f'{args.config}')
    else:
        print(f'{args.arch}: not checked against a search space (the file '
              'does not record the layout of its network); pass --config '
              'SEARCH_CONFIG to check it', file=sys.stderr)
    out_dir = args.out_dir or osp.dirname(osp.abspath(args.arch))
    pictures = ['architecture.png'] + (['gate_curves.png']
                                       if args.history else [])
    arch_png, *curves_png = [
        claim_output_file(osp.join(out_dir, name), 'visualize_arch.py',
                          args.overwrite, 'picture') for name in pictures
    ]
    print(draw_architecture(arch, arch_png))
    if args.history:
        print(draw_gate_curves(read_gate_history(args.history), arch,
                               curves_png[0]))


if __name__ == '__main__':
    main()
