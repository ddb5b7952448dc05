"""Cross-task fusion edges, the candidate-edge rule and the architecture
export format.

This module is the single place for three facts of the search space:

* what an edge is and how it is named (:class:`Edge`, :attr:`Edge.key`);
* which edges are candidates (:func:`build_candidate_edges`, configured by a
  :class:`ConnectivityRule`);
* which edges a derived architecture keeps (:data:`KEEP_LOGIT`, the keep
  rule) and how it is written to disk (:class:`Architecture`, the
  ``'fusion_edges'`` kind of :mod:`mtlnas_mm.structures.export`).

A network is made of one backbone per task, each split into ``num_layers``
layers; ``layer_blocks[i]`` is the block (VGG block, ResNet stage) of layer
``i``.  An edge ``Edge(target_task, target_layer, source_task,
source_layer)`` feeds the *pre-fusion* output of ``source_task``'s layer
``source_layer`` into the fusion op after ``target_task``'s layer
``target_layer``.
"""
import math
from dataclasses import dataclass, fields
from typing import (Dict, Iterable, List, Mapping, Optional, Sequence, Tuple,
                    Union)

from .export import BaseArchitecture, format_error, register_architecture
from .task_fields import check_task_name

#: THE keep rule: an edge is kept iff its logit ``alpha > KEEP_LOGIT``
#: (``sigmoid(alpha) > 0.5``, exact at tiny alphas)
KEEP_LOGIT = 0.0


@dataclass(frozen=True)
class Edge:
    """A candidate cross-task fusion edge (hashable, immutable).

    The source is the raw (pre-fusion) output of ``source_task``'s layer
    ``source_layer``; it is gated and concatenated into the fusion op of
    ``target_task`` after layer ``target_layer``.
    """

    target_task: str
    target_layer: int
    source_task: str
    source_layer: int

    @property
    def key(self) -> str:
        """Stable string name, ``'{src}.{src_layer}->{dst}.{dst_layer}'``."""
        return (f'{self.source_task}.{self.source_layer}->'
                f'{self.target_task}.{self.target_layer}')

    @classmethod
    def from_key(cls, key: str) -> 'Edge':
        """Parse :attr:`key` back into an :class:`Edge`."""
        try:
            src, dst = key.split('->')
            src_task, src_layer = src.rsplit('.', 1)
            dst_task, dst_layer = dst.rsplit('.', 1)
            return cls(dst_task, int(dst_layer), src_task, int(src_layer))
        except (ValueError, AttributeError):
            raise ValueError(
                f'invalid edge key {key!r}; expected '
                "'<source_task>.<layer>-><target_task>.<layer>'") from None

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class ConnectivityRule:
    """Which (target, source) layer pairs are candidate edges.

    Edges are always strictly cross-task and every ordered task pair gets
    the same layer pattern.  The MTL-NAS default is
    ``same_block=True, max_gap=3``: the source lies in the target's block,
    at the same or a lower layer, less than 3 layers below (Gao et al.,
    CVPR 2020, Sec. 3.1).

    Args:
        same_block: the source must lie in the same block as the target.
        max_gap: ``target_layer - source_layer < max_gap``; ``None`` = no
            depth limit.
        same_layer_only: only ``source_layer == target_layer`` (the NDDR /
            cross-stitch pairing); overrides ``max_gap``.
        target_layers: layers that may receive edges (``None`` = all).
    """

    same_block: bool = True
    max_gap: Optional[int] = 3
    same_layer_only: bool = False
    target_layers: Optional[Tuple[int, ...]] = None

    def __post_init__(self) -> None:
        if self.max_gap is not None and (not isinstance(self.max_gap, int)
                                         or self.max_gap < 1):
            raise ValueError('connectivity.max_gap must be a positive int or '
                             f'None, got {self.max_gap!r}')
        if self.target_layers is not None:
            object.__setattr__(self, 'target_layers',
                               tuple(int(i) for i in self.target_layers))

    @classmethod
    def build(cls, rule: Union['ConnectivityRule', Mapping, None]
              ) -> 'ConnectivityRule':
        """Make a rule from ``None`` (default), a dict of fields or a rule."""
        if rule is None:
            return cls()
        if isinstance(rule, cls):
            return rule
        if not isinstance(rule, Mapping):
            raise TypeError('connectivity must be a dict or ConnectivityRule,'
                            f' got {type(rule).__name__}')
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(rule) - known)
        if unknown:
            raise KeyError(f'connectivity: unknown key(s) {unknown}; allowed '
                           f'keys are {sorted(known)}')
        return cls(**dict(rule))

    def allows(self, blocks: Sequence[int], target: int, source: int) -> bool:
        """Whether ``source`` may feed ``target`` (layer indices)."""
        if self.target_layers is not None and target not in self.target_layers:
            return False
        if self.same_layer_only:
            return source == target
        if source > target:
            return False
        if self.max_gap is not None and target - source >= self.max_gap:
            return False
        if self.same_block and blocks[source] != blocks[target]:
            return False
        return True


def build_candidate_edges(
        tasks: Sequence[str],
        layer_blocks: Sequence[int],
        rule: Union[ConnectivityRule, Mapping, None] = None) -> List[Edge]:
    """THE edge mask: all candidate cross-task edges, in a fixed order.

    The order is: target task (in ``tasks`` order), target layer, source task
    (in ``tasks`` order), source layer.  Everything that stores one value
    per edge (alphas, gates, the export) uses this order.

    Args:
        tasks: task names (at least one; edges need two).
        layer_blocks: block id of every layer, non-decreasing.
        rule: a :class:`ConnectivityRule` or a dict of its fields.

    Returns:
        list[Edge]: e.g. 48 edges for 2 tasks on VGG-16 blocks (2,2,3,3,3).
    """
    rule = ConnectivityRule.build(rule)
    tasks = list(tasks)
    for t in tasks:
        check_task_name(t)
    if len(set(tasks)) != len(tasks):
        raise ValueError(f'tasks: duplicate task names in {tasks}')
    blocks = [int(b) for b in layer_blocks]
    if not blocks:
        raise ValueError('layer_blocks is empty')
    if any(b1 > b2 for b1, b2 in zip(blocks, blocks[1:])):
        raise ValueError(f'layer_blocks must be non-decreasing, got {blocks}')
    num_layers = len(blocks)
    if rule.target_layers is not None:
        bad = [i for i in rule.target_layers if not 0 <= i < num_layers]
        if bad:
            raise ValueError(f'connectivity.target_layers: layers {bad} out '
                             f'of range [0, {num_layers})')
    edges = []
    for target_task in tasks:
        for i in range(num_layers):
            for source_task in tasks:
                if source_task == target_task:
                    continue
                for j in range(num_layers):
                    if rule.allows(blocks, i, j):
                        edges.append(Edge(target_task, i, source_task, j))
    return edges


@register_architecture
class Architecture(BaseArchitecture):
    """A derived (or in-search) fusion-edge architecture: the candidate
    edges, the kept subset and optionally the gate probability of every
    candidate (kind ``'fusion_edges'``, the MTL-NAS search space).

    Args:
        edges: candidate edges, in the fixed order of
            :func:`build_candidate_edges`.
        kept: the kept edges (a subset of ``edges``).
        gates: optional ``{edge_key: probability}`` for candidates.
        tasks: task names in order; derived from the edges if omitted.
        meta: optional free-form JSON-able information (e.g. iteration).
    """

    kind = 'fusion_edges'

    def __init__(self,
                 edges: Iterable[Edge],
                 kept: Iterable[Edge],
                 gates: Optional[Mapping[str, float]] = None,
                 tasks: Optional[Sequence[str]] = None,
                 meta: Optional[dict] = None) -> None:
        self.edges: Tuple[Edge, ...] = tuple(edges)
        if len(set(self.edges)) != len(self.edges):
            raise ValueError('Architecture: duplicate candidate edges')
        kept = frozenset(kept)
        extra = kept - set(self.edges)
        if extra:
            raise ValueError('Architecture: kept edges that are not '
                             f'candidates: {sorted(e.key for e in extra)}')
        self.kept: frozenset = kept
        if gates is not None:
            keys = {e.key for e in self.edges}
            unknown = sorted(set(gates) - keys)
            if unknown:
                raise ValueError('Architecture: gates for unknown edges '
                                 f'{unknown}')
            gates = {k: float(gates[k]) for k in (e.key for e in self.edges)
                     if k in gates}
        self.gates: Optional[Dict[str, float]] = gates
        if tasks is None:
            tasks = []
            for e in self.edges:
                for t in (e.target_task, e.source_task):
                    if t not in tasks:
                        tasks.append(t)
        self.tasks: Tuple[str, ...] = tuple(
            check_task_name(t, 'Architecture.tasks') for t in tasks)
        missing = {e.target_task for e in self.edges} | {
            e.source_task for e in self.edges}
        missing -= set(self.tasks)
        if missing:
            raise ValueError(f'Architecture: edges use tasks {sorted(missing)}'
                             f' that are not in tasks {list(self.tasks)}')
        self.meta: dict = dict(meta or {})

    @classmethod
    def from_logits(cls, edges: Sequence[Edge], logits: Sequence[float],
                    **kwargs) -> 'Architecture':
        """Apply the keep rule (``alpha > KEEP_LOGIT``) to one logit per
        edge; gates = ``sigmoid(alpha)``."""
        logits = [float(a) for a in logits]
        if len(logits) != len(edges):
            raise ValueError(f'{len(logits)} logits for {len(edges)} edges')
        probs = {
            e.key: 1.0 / (1.0 + math.exp(-a)) if a >= -700 else 0.0
            for e, a in zip(edges, logits)
        }
        kept = [e for e, a in zip(edges, logits) if a > KEEP_LOGIT]
        return cls(edges, kept, probs, **kwargs)

    # ------------------------------------------------------------------
    # queries
    # ------------------------------------------------------------------
    @property
    def kept_edges(self) -> List[Edge]:
        """Kept edges in candidate order."""
        return [e for e in self.edges if e in self.kept]

    def soft_values(self) -> Dict[str, float]:
        """Gate probability per edge key (``{}`` without gates)."""
        return dict(self.gates or {})

    def __len__(self) -> int:
        return len(self.edges)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Architecture):
            return NotImplemented
        return (self.edges == other.edges and self.kept == other.kept
                and self.tasks == other.tasks and self.gates == other.gates)

    def __repr__(self) -> str:
        return (f'Architecture(tasks={list(self.tasks)}, '
                f'{len(self.kept)}/{len(self.edges)} edges kept)')

    # ------------------------------------------------------------------
    # (de)serialisation: the kind's keys of the export format
    # ------------------------------------------------------------------
    def payload(self) -> dict:
        return dict(
            tasks=list(self.tasks),
            candidate_edges=[e.key for e in self.edges],
            kept_edges=[e.key for e in self.kept_edges],
            gates=None if self.gates is None else dict(self.gates))

    @classmethod
    def from_payload(cls, data: Mapping, meta: dict,
                     source: str) -> 'Architecture':
        for key in ('candidate_edges', 'kept_edges'):
            if key not in data:
                raise format_error(source, key, 'missing')
            if not isinstance(data[key], (list, tuple)):
                raise format_error(source, key,
                                   'must be a list of edge keys')

        def parse(key: str) -> List[Edge]:
            out = []
            for i, k in enumerate(data[key]):
                try:
                    out.append(Edge.from_key(k))
                except ValueError as err:
                    raise format_error(source, f'{key}[{i}]',
                                       str(err)) from None
            return out

        edges = parse('candidate_edges')
        kept = parse('kept_edges')
        if len(set(edges)) != len(edges):
            raise format_error(source, 'candidate_edges', 'duplicate edges')
        not_cand = [e.key for e in kept if e not in set(edges)]
        if not_cand:
            raise format_error(source, 'kept_edges',
                               f'edges {not_cand} are not in candidate_edges')
        gates = data.get('gates')
        if gates is not None:
            if not isinstance(gates, Mapping):
                raise format_error(source, 'gates',
                                   'must be a mapping edge_key -> probability')
            cand = {e.key for e in edges}
            for k, v in gates.items():
                if k not in cand:
                    raise format_error(source, f'gates.{k}',
                                       'edge is not in candidate_edges')
                if not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                    raise format_error(
                        source, f'gates.{k}',
                        f'probability must be in [0, 1], got {v!r}')
        tasks = data.get('tasks')
        if tasks is not None and not isinstance(tasks, (list, tuple)):
            raise format_error(source, 'tasks', 'must be a list of task names')
        try:
            return cls(edges, kept, gates, tasks=tasks, meta=meta)
        except ValueError as err:
            raise ValueError(f'{source}: {err}') from None
