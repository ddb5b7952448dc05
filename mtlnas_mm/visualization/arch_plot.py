"""Pictures of a search: the architecture and the gate curves.

:func:`draw_architecture` draws any registered architecture kind through
:data:`ARCH_DRAWERS` (``kind -> drawer``); a new search space registers the
drawer of its kind with :func:`register_arch_drawer`.
"""
import json
import math
from typing import Callable, Dict, List

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from ..structures import (KEEP_LOGIT, Architecture,  # noqa: E402
                          BaseArchitecture, RouteArchitecture)

#: architecture kind -> ``drawer(arch, out_file) -> out_file``
ARCH_DRAWERS: Dict[str, Callable[[BaseArchitecture, str], str]] = {}


def register_arch_drawer(kind: str):
    """Decorator: the drawer of architectures of ``kind``."""

    def wrap(fn):
        ARCH_DRAWERS[kind] = fn
        return fn

    return wrap


def save_figure(fig, out: str) -> str:
    """Lay out, save (110 dpi) and close ``fig``; returns ``out``."""
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _layer_axes(ax, num_layers: int, title: str) -> None:
    """Axes of a per-layer picture: layers on y, no x scale, no frame but
    the layer axis."""
    ax.set_yticks(range(num_layers))
    ax.set_ylabel('layer')
    ax.set_xticks([])
    ax.set_title(title)
    for side in ('top', 'right', 'bottom'):
        ax.spines[side].set_visible(False)


def draw_architecture(arch: BaseArchitecture, out: str) -> str:
    """Draw ``arch`` (any registered kind) to ``out``; returns ``out``."""
    if arch.kind not in ARCH_DRAWERS:
        raise KeyError(f'no drawer for architecture kind {arch.kind!r}; '
                       f'known: {sorted(ARCH_DRAWERS)}')
    return ARCH_DRAWERS[arch.kind](arch, out)


@register_arch_drawer(Architecture.kind)
def draw_fusion_edges(arch: Architecture, out: str) -> str:
    """One column per task, one node per layer (top = input side), an arrow
    per kept edge (width and opacity follow the gate), a faint line per
    pruned candidate."""
    tasks: List[str] = list(arch.tasks)
    num_layers = int(arch.meta.get('num_layers') or 1 + max(
        max(e.source_layer, e.target_layer) for e in arch.edges))
    fig_h = max(3.0, 0.35 * num_layers + 1.0)
    fig, ax = plt.subplots(figsize=(1.8 * len(tasks) + 1.5, fig_h))
    xs = {t: 1.5 * i for i, t in enumerate(tasks)}
    for t in tasks:
        ax.plot([xs[t]] * num_layers, range(num_layers), '-', color='0.6',
                lw=2, zorder=1)
        ax.scatter([xs[t]] * num_layers, range(num_layers), s=60,
                   color='tab:blue', zorder=3)
        ax.text(xs[t], -1.0, t, ha='center', va='bottom', fontsize=11,
                fontweight='bold')
    gates = arch.gates or {}
    for edge in arch.edges:
        x0, y0 = xs[edge.source_task], edge.source_layer
        x1, y1 = xs[edge.target_task], edge.target_layer
        # offset the two directions so A->B and B->A do not overlap
        bend = 0.25 if x1 > x0 else -0.25
        if edge in arch.kept:
            p = gates.get(edge.key, 1.0)
            ax.annotate(
                '', xy=(x1, y1), xytext=(x0, y0),
                arrowprops=dict(arrowstyle='->', color='tab:red',
                                alpha=0.3 + 0.7 * p, lw=0.5 + 2.5 * p,
                                connectionstyle=f'arc3,rad={bend}'),
                zorder=2)
        else:
            ax.annotate(
                '', xy=(x1, y1), xytext=(x0, y0),
                arrowprops=dict(arrowstyle='-', color='0.85', lw=0.6,
                                ls=':', connectionstyle=f'arc3,rad={bend}'),
                zorder=0)
    ax.set_ylim(num_layers, -1.5)
    ax.set_xlim(-0.8, xs[tasks[-1]] + 0.8)
    _layer_axes(ax, num_layers,
                f'{len(arch.kept)}/{len(arch.edges)} cross-task edges kept')
    return save_figure(fig, out)


def read_gate_history(path: str) -> Dict[str, list]:
    iters: List[int] = []
    curves: Dict[str, List[float]] = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                it, gates = rec['iter'], rec['gates']
            except (ValueError, KeyError) as err:
                raise ValueError(f'{path}:{n}: not a gate-history record '
                                 f'({err})') from err
            iters.append(it)
            for key, p in gates.items():
                curves.setdefault(key, []).append(p)
    if not iters:
        raise ValueError(f'{path}: no gate-history records')
    return {'iters': iters, 'curves': curves}


def draw_gate_curves(history: Dict[str, list], arch: Architecture,
                     out: str) -> str:
    kept = {e.key for e in arch.kept}
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, values in history['curves'].items():
        style = '-' if key in kept else '--'
        ax.plot(history['iters'][-len(values):], values, style, lw=1,
                alpha=0.8)
    # the keep rule alpha > KEEP_LOGIT, as a gate probability
    ax.axhline(1 / (1 + math.exp(-KEEP_LOGIT)), color='k', lw=0.5)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel('iteration')
    ax.set_ylabel('gate probability sigmoid(alpha)')
    ax.set_title(f'{len(history["curves"])} edges (solid: kept)')
    return save_figure(fig, out)


@register_arch_drawer(RouteArchitecture.kind)
def draw_share_routes(arch: RouteArchitecture, out: str) -> str:
    """One row per layer (top = input side) of K sub-networks, the tasks
    below; a red arrow per selected route (width and opacity follow its
    inclusion probability, if known; grey into a pruned sub-network), a
    faint dotted line per unselected candidate, computed sub-networks
    filled, pruned ones hollow."""
    k_sub, num_layers = arch.num_subnets, arch.num_layers
    tasks = list(arch.tasks)
    needed = arch.required_subnets()
    fig, ax = plt.subplots(figsize=(1.3 * max(k_sub, len(tasks)) + 1.5,
                                    0.9 * (num_layers + 1) + 1.0))

    def pos(key_or_node):
        if isinstance(key_or_node, tuple):
            layer, k = key_or_node
            return k - (k_sub - 1) / 2, layer
        i = tasks.index(key_or_node)
        return i - (len(tasks) - 1) / 2, num_layers + 0.3

    probs = arch.route_probs or {}
    for key in arch.block_keys:
        if '.' in key:
            layer, k = (int(v) for v in key.split('.'))
            target, source_layer = (layer, k), layer - 1
        else:
            target, source_layer = key, num_layers - 1
        x1, y1 = pos(target)
        live = not isinstance(target, tuple) or target in needed
        for j in range(k_sub):
            x0, y0 = pos((source_layer, j))
            if j in arch.routes[key]:
                p = probs.get(key, [1.0] * k_sub)[j]
                ax.annotate('', xy=(x1, y1 - 0.12), xytext=(x0, y0 + 0.12),
                            arrowprops=dict(arrowstyle='->',
                                            color='tab:red' if live else '0.7',
                                            alpha=0.3 + 0.7 * p,
                                            lw=0.5 + 2.5 * p), zorder=2)
            else:
                ax.plot([x0, x1], [y0, y1], ':', color='0.85', lw=0.6,
                        zorder=0)
    for layer in range(num_layers):
        for k in range(k_sub):
            x, y = pos((layer, k))
            on = (layer, k) in needed
            ax.scatter([x], [y], s=160, zorder=3, edgecolors='tab:blue',
                       facecolors='tab:blue' if on else 'white')
    for t in tasks:
        x, y = pos(t)
        ax.text(x, y + 0.15, t, ha='center', va='top', fontsize=10,
                fontweight='bold')
    ax.set_ylim(num_layers + 0.8, -0.7)
    ax.set_xlim(-(k_sub + 1) / 2, (k_sub + 1) / 2)
    _layer_axes(ax, num_layers,
                f'{arch.num_routes()} routes, {len(needed)}/'
                f'{k_sub * num_layers} sub-networks computed')
    return save_figure(fig, out)
