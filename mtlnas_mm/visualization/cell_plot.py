"""The picture of a DARTS cell genotype (architecture kind
``'cell_genotype'``, MTNAS): one panel per searched part and cell type.

Registered in :data:`~mtlnas_mm.visualization.arch_plot.ARCH_DRAWERS`, so
:func:`~mtlnas_mm.visualization.draw_architecture` (and
``tools/analysis_tools/visualize_arch.py``) draws genotype files.
"""
from typing import Dict, List, Optional, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from ..structures import CellArchitecture, CellGenotype  # noqa: E402
from ..structures.cell_genotype import (CELL_TYPES, PRIMITIVES,  # noqa: E402
                                        edge_offset)
from .arch_plot import register_arch_drawer, save_figure  # noqa: E402

#: one colour per kept operation, so equal ops read alike across panels
OP_COLOURS: Dict[str, str] = {
    op: f'C{k}' for k, op in enumerate(PRIMITIVES[1:])
}


def _node_positions(steps: int) -> List[Tuple[float, float]]:
    """Positions of the cell's nodes: the two inputs on the left
    (``c_{k-2}`` above ``c_{k-1}``), the intermediate nodes in a zig-zag
    from left to right, the output on the right."""
    pos = [(0.0, 1.3), (0.0, -1.3)]
    pos += [(1.0 + j, 0.4 if j % 2 == 0 else -0.4) for j in range(steps)]
    pos.append((float(steps + 1), 0.0))
    return pos


def _draw_cell(ax, genotype: CellGenotype,
               probs: Optional[List[List[float]]], title: str) -> None:
    """One cell: nodes, one arrow per kept edge labelled with its op (and
    its relaxed weight when ``probs`` are known), the concatenation into
    the output as dotted lines."""
    steps = genotype.steps
    pos = _node_positions(steps)
    names = ['c_{k-2}', 'c_{k-1}'] + [str(j) for j in range(steps)] + \
        ['c_{k}']
    colours = ['tab:green'] * 2 + ['tab:blue'] * steps + ['tab:orange']
    for (x, y), name, colour in zip(pos, names, colours):
        ax.text(x, y, f'${name}$' if '{' in name else name, ha='center',
                va='center', fontsize=9, zorder=4,
                bbox=dict(boxstyle='circle,pad=0.3', fc=colour, ec='k',
                          alpha=0.8))
    for node in range(steps):
        target = pos[2 + node]
        for op, i in genotype.node_edges(node):
            source = pos[i]
            colour = OP_COLOURS[op]
            ax.annotate('', xy=target, xytext=source,
                        arrowprops=dict(arrowstyle='->', color=colour, lw=1.5,
                                        shrinkA=11, shrinkB=11,
                                        connectionstyle='arc3,rad=0.15'),
                        zorder=2)
            label = op
            if probs is not None:
                weight = probs[edge_offset(node) + i][PRIMITIVES.index(op)]
                label = f'{op} ({weight:.2f})'
            # the label sits past the middle, nearer its target: edges
            # that leave one node apart
            mx = 0.4 * source[0] + 0.6 * target[0]
            my = 0.4 * source[1] + 0.6 * target[1]
            ax.text(mx, my, label, ha='center', va='center', fontsize=6.5,
                    color=colour, zorder=3,
                    bbox=dict(boxstyle='round,pad=0.15', fc='white',
                              ec='none', alpha=0.85))
    for node in range(steps):
        ax.annotate('', xy=pos[-1], xytext=pos[2 + node],
                    arrowprops=dict(arrowstyle='->', color='0.6', lw=0.8,
                                    ls=':', shrinkA=11, shrinkB=11),
                    zorder=1)
    ax.set_xlim(-0.6, steps + 1.6)
    ax.set_ylim(-1.7, 1.7)
    ax.set_title(title, fontsize=10)
    ax.axis('off')


@register_arch_drawer(CellArchitecture.kind)
def draw_cell_genotype(arch: CellArchitecture, out: str) -> str:
    """One row per searched part (``backbone``, ``branches.<task>``), one
    column per cell type (normal, reduction): every panel shows the cell's
    nodes and its kept edges labelled with their operation (with the
    relaxed weight the genotype was derived from, if the file has
    ``probs``).  A part without reduction cells leaves that panel blank."""
    if not isinstance(arch, CellArchitecture):
        raise TypeError('draw_cell_genotype: expected a '
                        f'{CellArchitecture.kind!r} architecture, got '
                        f'{getattr(arch, "kind", type(arch).__name__)!r}')
    spaces = sorted(arch.genotypes)
    types = [c for c in CELL_TYPES
             if any(arch.genotypes[s].cells()[c] is not None
                    for s in spaces)]
    steps = max(g.steps for s in spaces
                for g in arch.genotypes[s].cells().values() if g is not None)
    fig, axes = plt.subplots(
        len(spaces), len(types), squeeze=False,
        figsize=(1.4 * (steps + 2) * len(types), 3.4 * len(spaces)))
    for r, space in enumerate(spaces):
        cells = arch.genotypes[space].cells()
        for c, cell in enumerate(types):
            ax = axes[r][c]
            if cells[cell] is None:
                ax.axis('off')
                ax.set_title(f'{space} / {cell}: none', fontsize=10,
                             color='0.5')
                continue
            probs = (arch.probs or {}).get(space, {}).get(cell)
            _draw_cell(ax, cells[cell], probs, f'{space} / {cell}')
    return save_figure(fig, out)
