"""Cross-task fusion edges, the candidate-edge rule and the architecture
export format.

This module is the single place for three facts of the search space:

* what an edge is and how it is named (:class:`Edge`, :attr:`Edge.key`);
* which edges are candidates (:func:`build_candidate_edges`, configured by a
  :class:`ConnectivityRule`);
* how a searched / derived architecture is written to and read from disk
  (:class:`Architecture`, JSON or YAML).

A network is made of one backbone per task, each split into ``num_layers``
layers; ``layer_blocks[i]`` is the block (VGG block, ResNet stage) of layer
``i``.  An edge ``Edge(target_task, target_layer, source_task,
source_layer)`` feeds the *pre-fusion* output of ``source_task``'s layer
``source_layer`` into the fusion op after ``target_task``'s layer
``target_layer``.
"""
import os.path as osp
from dataclasses import dataclass, fields
from typing import (Any, Dict, Iterable, List, Mapping, Optional, Sequence,
                    Tuple, Union)

from mmengine.fileio import dump as _file_dump
from mmengine.fileio import load as _file_load

#: version of the on-disk format written by :meth:`Architecture.to_dict`
ARCH_FORMAT = 'mtlnas_mm.Architecture'
ARCH_FORMAT_VERSION = 1
_SUFFIXES = ('.json', '.yaml', '.yml')


def check_task_name(name: Any, where: str = 'tasks') -> str:
    """Return ``name`` if it is usable as a task name, else raise.

    Task names appear in edge keys (``'seg.3->normal.4'``) and as
    ``nn.ModuleDict`` keys, so they must be non-empty strings without ``'.'``
    and without ``'->'``.
    """
    if not isinstance(name, str) or not name or '.' in name or '->' in name \
            or name.strip() != name:
        raise ValueError(
            f'{where}: invalid task name {name!r}; task names must be '
            "non-empty strings without '.', '->' or surrounding spaces")
    return name


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
    the same layer pattern.  The MTL-NAS default (spec section 1.2) is
    ``same_block=True, max_gap=3``: the source lies in the target's block,
    at the same or a lower layer, less than 3 layers below.

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


def _error(source: str, key: str, msg: str) -> ValueError:
    return ValueError(f'{source}: key "{key}": {msg}')


class Architecture:
    """A derived (or in-search) architecture: the candidate edges, the kept
    subset and optionally the gate probability of every candidate.

    This is the only export format of the project (hooks, tools and
    :class:`FusionEdgeNeck` read and write it).

    Args:
        edges: candidate edges, in the fixed order of
            :func:`build_candidate_edges`.
        kept: the kept edges (a subset of ``edges``).
        gates: optional ``{edge_key: probability}`` for candidates.
        tasks: task names in order; derived from the edges if omitted.
        meta: optional free-form JSON-able information (e.g. iteration).
    """

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

    # ------------------------------------------------------------------
    # construction from gate values
    # ------------------------------------------------------------------
    @classmethod
    def from_gates(cls,
                   edges: Sequence[Edge],
                   gate_probs: Union[Sequence[float], Mapping[str, float]],
                   threshold: float = 0.5,
                   **kwargs) -> 'Architecture':
        """Keep every edge whose gate probability is ``> threshold``.

        Each edge is thresholded independently (no top-k, any number of
        edges per target may survive), as in MTL-NAS.

        Args:
            edges: candidate edges.
            gate_probs: one probability per edge (same order) or a dict
                keyed by :attr:`Edge.key`.
        """
        probs = cls._as_prob_dict(edges, gate_probs)
        kept = [e for e in edges if probs[e.key] > threshold]
        return cls(edges, kept, probs, **kwargs)

    @classmethod
    def from_logits(cls, edges: Sequence[Edge], logits: Sequence[float],
                    **kwargs) -> 'Architecture':
        """Keep every edge whose logit alpha is ``> 0`` (= sigmoid > 0.5,
        without float rounding at tiny alphas); gates = sigmoid(alpha)."""
        import math
        logits = [float(a) for a in logits]
        if len(logits) != len(edges):
            raise ValueError(f'{len(logits)} logits for {len(edges)} edges')
        probs = {
            e.key: 1.0 / (1.0 + math.exp(-a)) if a >= -700 else 0.0
            for e, a in zip(edges, logits)
        }
        kept = [e for e, a in zip(edges, logits) if a > 0]
        return cls(edges, kept, probs, **kwargs)

    @staticmethod
    def _as_prob_dict(edges, gate_probs) -> Dict[str, float]:
        if isinstance(gate_probs, Mapping):
            missing = [e.key for e in edges if e.key not in gate_probs]
            if missing:
                raise ValueError(f'gate_probs: no value for edges {missing}')
            return {e.key: float(gate_probs[e.key]) for e in edges}
        values = [float(p) for p in gate_probs]
        if len(values) != len(edges):
            raise ValueError(f'gate_probs: {len(values)} values for '
                             f'{len(edges)} edges')
        return {e.key: p for e, p in zip(edges, values)}

    # ------------------------------------------------------------------
    # queries
    # ------------------------------------------------------------------
    def is_kept(self, edge: Edge) -> bool:
        return edge in self.kept

    @property
    def kept_edges(self) -> List[Edge]:
        """Kept edges in candidate order."""
        return [e for e in self.edges if e in self.kept]

    def in_degrees(self, task: str, num_layers: int,
                   kept_only: bool = True) -> List[int]:
        """Number of (kept) incoming edges of every layer of ``task``."""
        deg = [0] * num_layers
        for e in (self.kept_edges if kept_only else self.edges):
            if e.target_task == task:
                deg[e.target_layer] += 1
        return deg

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
    # (de)serialisation
    # ------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON/YAML-able dict (the on-disk format)."""
        return dict(
            format=ARCH_FORMAT,
            format_version=ARCH_FORMAT_VERSION,
            tasks=list(self.tasks),
            candidate_edges=[e.key for e in self.edges],
            kept_edges=[e.key for e in self.kept_edges],
            gates=None if self.gates is None else dict(self.gates),
            meta=dict(self.meta))

    @classmethod
    def from_dict(cls, data: Any, source: str = '<dict>') -> 'Architecture':
        """Inverse of :meth:`to_dict`; errors name ``source`` and the key."""
        if not isinstance(data, Mapping):
            raise ValueError(f'{source}: expected a mapping at top level, got '
                             f'{type(data).__name__}')
        fmt = data.get('format', ARCH_FORMAT)
        if fmt != ARCH_FORMAT:
            raise _error(source, 'format',
                         f'expected {ARCH_FORMAT!r}, got {fmt!r}')
        if 'format_version' not in data:
            raise _error(source, 'format_version', 'missing')
        if data['format_version'] != ARCH_FORMAT_VERSION:
            raise _error(source, 'format_version',
                         f'unsupported version {data["format_version"]!r} '
                         f'(this code reads {ARCH_FORMAT_VERSION})')
        for key in ('candidate_edges', 'kept_edges'):
            if key not in data:
                raise _error(source, key, 'missing')
            if not isinstance(data[key], (list, tuple)):
                raise _error(source, key, 'must be a list of edge keys')

        def parse(key: str) -> List[Edge]:
            out = []
            for i, k in enumerate(data[key]):
                try:
                    out.append(Edge.from_key(k))
                except ValueError as err:
                    raise _error(source, f'{key}[{i}]', str(err)) from None
            return out

        edges = parse('candidate_edges')
        kept = parse('kept_edges')
        if len(set(edges)) != len(edges):
            raise _error(source, 'candidate_edges', 'duplicate edges')
        not_cand = [e.key for e in kept if e not in set(edges)]
        if not_cand:
            raise _error(source, 'kept_edges',
                         f'edges {not_cand} are not in candidate_edges')
        gates = data.get('gates')
        if gates is not None:
            if not isinstance(gates, Mapping):
                raise _error(source, 'gates',
                             'must be a mapping edge_key -> probability')
            cand = {e.key for e in edges}
            for k, v in gates.items():
                if k not in cand:
                    raise _error(source, f'gates.{k}',
                                 'edge is not in candidate_edges')
                if not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                    raise _error(source, f'gates.{k}',
                                 f'probability must be in [0, 1], got {v!r}')
        tasks = data.get('tasks')
        if tasks is not None and not isinstance(tasks, (list, tuple)):
            raise _error(source, 'tasks', 'must be a list of task names')
        meta = data.get('meta') or {}
        if not isinstance(meta, Mapping):
            raise _error(source, 'meta', 'must be a mapping')
        try:
            return cls(edges, kept, gates, tasks=tasks, meta=dict(meta))
        except ValueError as err:
            raise ValueError(f'{source}: {err}') from None

    @staticmethod
    def _check_suffix(path: str) -> None:
        if not str(path).lower().endswith(_SUFFIXES):
            raise ValueError(f'{path}: architecture files must end with one '
                             f'of {_SUFFIXES}')

    def dump(self, path: str) -> None:
        """Write :meth:`to_dict` to a ``.json`` or ``.yaml``/``.yml`` file."""
        path = str(path)
        self._check_suffix(path)
        _file_dump(self.to_dict(), path)

    @classmethod
    def load(cls, path: str) -> 'Architecture':
        """Read a file written by :meth:`dump` (validated; errors name the
        file and the offending key)."""
        path = str(path)
        cls._check_suffix(path)
        if not osp.isfile(path):
            raise FileNotFoundError(f'architecture file not found: {path}')
        try:
            data = _file_load(path)
        except Exception as err:  # parser errors of json / yaml
            raise ValueError(f'{path}: cannot parse architecture file: '
                             f'{err}') from None
        return cls.from_dict(data, source=path)

    @classmethod
    def build(cls, arch: Union['Architecture', str, Mapping]
              ) -> 'Architecture':
        """Accept an :class:`Architecture`, a file path or a dict."""
        if isinstance(arch, Architecture):
            return arch
        if isinstance(arch, str):
            return cls.load(arch)
        if isinstance(arch, Mapping):
            return cls.from_dict(arch, source='architecture')
        raise TypeError('architecture must be a path, a dict or an '
                        f'Architecture, got {type(arch).__name__}')
