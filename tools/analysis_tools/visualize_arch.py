"""Draw a searched architecture and the gate curves of a search.

    python tools/analysis_tools/visualize_arch.py ARCH.json [--history gate_history.jsonl]
        [--out-dir DIR]

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
"""
import argparse
import os
import os.path as osp

from mtlnas_mm.structures import Architecture, load_architecture
from mtlnas_mm.visualization import (draw_architecture, draw_gate_curves,
                                     read_gate_history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('arch', help='architecture file (.json/.yaml)')
    parser.add_argument('--history', help='gate_history.jsonl of a search')
    parser.add_argument('--out-dir', default=None,
                        help='default: the folder of the architecture file')
    args = parser.parse_args()
    arch = load_architecture(args.arch)
    if args.history and arch.kind != Architecture.kind:
        raise ValueError(f'--history: gate curves are drawn for '
                         f'{Architecture.kind!r} architectures, '
                         f'{args.arch} is {arch.kind!r}')
    out_dir = args.out_dir or osp.dirname(osp.abspath(args.arch))
    os.makedirs(out_dir, exist_ok=True)
    print(draw_architecture(arch, osp.join(out_dir, 'architecture.png')))
    if args.history:
        if not osp.isfile(args.history):
            raise FileNotFoundError(f'{args.history} does not exist')
        print(draw_gate_curves(read_gate_history(args.history), arch,
                               osp.join(out_dir, 'gate_curves.png')))


if __name__ == '__main__':
    main()
