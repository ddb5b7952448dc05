"""DARTS cell genotypes: the ``'cell_genotype'`` architecture kind (MTNAS).

This module is the single place for three facts of the cell search space
(Liu et al., DARTS, ICLR 2019; used per network part by MTNAS, Liu et al.,
ACCV 2020):

* the candidate operations and their names (:data:`PRIMITIVES`, ``'none'``
  first);
* what a derived cell is (:class:`CellGenotype`: per intermediate node two
  ``(op, input)`` pairs; input 0 / 1 are the cell's two inputs, the
  outputs of the two previous cells, input ``k >= 2`` is node ``k - 2``;
  the cell output concatenates every intermediate node);
* how the genotypes of several searched parts (the shared backbone, each
  task branch) are written to disk (:class:`CellArchitecture`)::

      kind: cell_genotype
      primitives: [none, max_pool_3x3, ...]     # informative, checked
      genotypes:
        backbone:        {normal: [[sep_conv_3x3, 0], ...], reduce: [...]}
        branches.seg:    {normal: [...], reduce: null}
      probs:                                      # optional, per edge
        backbone: {normal: [[p_none, p_max_pool, ...], ...], reduce: ...}

The derivation rule that turns relaxed weights into a genotype is here
too (:func:`derive_cell`), so the search space and the tests use the same
code, and so is the uniform draw of a derived cell from the same space
(:func:`random_cell`, :func:`random_cell_architecture`: the random-genotype
baseline that tells whether the search itself helps).
"""
import random
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .export import BaseArchitecture, format_error, register_architecture

#: THE candidate operations of a DARTS cell edge, in alpha order
PRIMITIVES: Tuple[str, ...] = (
    'none',
    'max_pool_3x3',
    'avg_pool_3x3',
    'skip_connect',
    'sep_conv_3x3',
    'sep_conv_5x5',
    'dil_conv_3x3',
    'dil_conv_5x5',
)
#: the operation a derived cell never keeps
NONE_OP = 'none'
#: incoming edges kept per intermediate node (the DARTS rule)
EDGES_PER_NODE = 2
#: the cell types; a part without reduction cells has no ``'reduce'``
CELL_TYPES = ('normal', 'reduce')


def num_cell_edges(steps: int) -> int:
    """Candidate edges of a cell with ``steps`` intermediate nodes (node
    ``j`` reads the 2 inputs and the ``j`` earlier nodes): 14 for 4."""
    return sum(2 + j for j in range(steps))


def edge_offset(node: int) -> int:
    """Index of the first candidate edge of intermediate node ``node``
    (edges are ordered by node, then by input)."""
    return sum(2 + j for j in range(node))


def check_cell_edges(edges: Sequence[Tuple[str, int]]) -> Optional[str]:
    """``None`` if ``edges`` are a valid derived cell, else what is wrong
    (the file reader adds the key that names it)."""
    if not edges or len(edges) % EDGES_PER_NODE:
        return (f'needs {EDGES_PER_NODE} (op, input) pairs per node, got '
                f'{len(edges)} pairs')
    for k, (op, i) in enumerate(edges):
        node = k // EDGES_PER_NODE
        if op not in PRIMITIVES or op == NONE_OP:
            return (f'pair {k}: unknown op {op!r}; ops are '
                    f'{list(PRIMITIVES[1:])}')
        if not 0 <= i < 2 + node:
            return f'pair {k}: node {node} can read inputs 0..{1 + node}, ' \
                f'got {i}'
    for k in range(0, len(edges), EDGES_PER_NODE):
        inputs = [i for _, i in edges[k:k + EDGES_PER_NODE]]
        if len(set(inputs)) != len(inputs):
            return f'node {k // EDGES_PER_NODE} reads input {inputs[0]} twice'
    return None


@dataclass(frozen=True)
class CellGenotype:
    """One derived cell: ``edges[2 * j: 2 * j + 2]`` are the ``(op, input)``
    pairs of intermediate node ``j`` (see the module docstring)."""

    edges: Tuple[Tuple[str, int], ...]

    def __post_init__(self) -> None:
        edges = tuple((str(op), int(i)) for op, i in self.edges)
        object.__setattr__(self, 'edges', edges)
        err = check_cell_edges(edges)
        if err is not None:
            raise ValueError(f'CellGenotype: {err}')

    @property
    def steps(self) -> int:
        """Number of intermediate nodes."""
        return len(self.edges) // EDGES_PER_NODE

    def node_edges(self, node: int) -> Tuple[Tuple[str, int], ...]:
        return self.edges[EDGES_PER_NODE * node:EDGES_PER_NODE * (node + 1)]

    def to_list(self) -> List[List[Any]]:
        return [[op, i] for op, i in self.edges]


def derive_cell(probs: Sequence[Sequence[float]],
                primitives: Sequence[str] = PRIMITIVES) -> CellGenotype:
    """THE DARTS derivation rule, on one cell's relaxed op weights.

    ``probs[e][k]`` is the weight of op ``primitives[k]`` on candidate edge
    ``e`` (edges ordered by node, then input).  Per intermediate node the
    :data:`EDGES_PER_NODE` incoming edges with the largest non-``none``
    weight are kept, each with its strongest non-``none`` op.  Ties go to
    the lower edge / op index (deterministic).
    """
    primitives = list(primitives)
    ops = [k for k, name in enumerate(primitives) if name != NONE_OP]
    if not ops:
        raise ValueError('derive_cell: no operation other than "none"')
    steps, total = 0, 0
    while total < len(probs):
        total += 2 + steps
        steps += 1
    if total != len(probs):
        raise ValueError(f'derive_cell: {len(probs)} edges is not a cell '
                         '(2 + 3 + ... per node)')
    edges: List[Tuple[str, int]] = []
    for node in range(steps):
        start = edge_offset(node)
        scored = []
        for i in range(2 + node):
            row = [float(v) for v in probs[start + i]]
            best = max(ops, key=lambda k: (row[k], -k))
            scored.append((row[best], -i, primitives[best], i))
        scored.sort(reverse=True)
        chosen = sorted(scored[:EDGES_PER_NODE], key=lambda s: s[3])
        edges.extend((op, i) for _, _, op, i in chosen)
    return CellGenotype(tuple(edges))


def random_cell(steps: int, rng: random.Random) -> CellGenotype:
    """A derived cell of ``steps`` nodes drawn uniformly from the space of
    :func:`derive_cell`'s outputs: per node :data:`EDGES_PER_NODE` distinct
    inputs among the cell inputs and the earlier nodes, each with an op
    other than ``'none'`` (DARTS' random baseline, Liu et al., ICLR
    2019)."""
    if steps < 1:
        raise ValueError(f'random_cell: steps must be >= 1, got {steps}')
    ops = [p for p in PRIMITIVES if p != NONE_OP]
    edges: List[Tuple[str, int]] = []
    for node in range(steps):
        inputs = sorted(rng.sample(range(2 + node), EDGES_PER_NODE))
        edges.extend((rng.choice(ops), i) for i in inputs)
    return CellGenotype(tuple(edges))


@dataclass(frozen=True)
class SpaceGenotype:
    """The derived cells of one searched part (the backbone or one task
    branch): its normal cell and, if the part reduces, its reduction
    cell."""

    normal: CellGenotype
    reduce: Optional[CellGenotype] = None

    def cells(self) -> Dict[str, Optional[CellGenotype]]:
        return dict(normal=self.normal, reduce=self.reduce)


#: per space, per cell type: per edge the op weights (``probs``)
SpaceProbs = Dict[str, List[List[float]]]


@register_architecture
class CellArchitecture(BaseArchitecture):
    """Derived DARTS cells of one or several searched parts (kind
    ``'cell_genotype'``).

    Args:
        genotypes: ``{space name: SpaceGenotype}`` (names such as
            ``'backbone'``, ``'branches.seg'``; see the module docstring).
        probs: optional ``{space: {cell type: [[op weight] per edge]}}``,
            the relaxed weights the genotype was derived from.
        meta: free-form JSON-able information.
    """

    kind = 'cell_genotype'

    def __init__(self,
                 genotypes: Mapping[str, SpaceGenotype],
                 probs: Optional[Mapping[str, SpaceProbs]] = None,
                 meta: Optional[dict] = None) -> None:
        if not genotypes:
            raise ValueError('CellArchitecture: no genotype')
        self.genotypes: Dict[str, SpaceGenotype] = dict(genotypes)
        self.probs: Optional[Dict[str, SpaceProbs]] = None
        if probs:
            unknown = sorted(set(probs) - set(self.genotypes))
            if unknown:
                raise ValueError('CellArchitecture: probs of spaces without '
                                 f'genotype {unknown}')
            self.probs = {
                s: {c: [[float(v) for v in row] for row in rows]
                    for c, rows in p.items()}
                for s, p in probs.items()
            }
        self.meta: dict = dict(meta or {})

    @classmethod
    def merge(cls, archs: Sequence['CellArchitecture'],
              meta: Optional[dict] = None) -> 'CellArchitecture':
        """One architecture holding the genotypes of ``archs`` (disjoint
        spaces, e.g. the backbone's and every branch's)."""
        genotypes: Dict[str, SpaceGenotype] = {}
        probs: Dict[str, SpaceProbs] = {}
        for a in archs:
            if not isinstance(a, cls):
                raise TypeError(f'CellArchitecture.merge: got a '
                                f'{getattr(a, "kind", type(a).__name__)!r} '
                                'architecture')
            twice = sorted(set(a.genotypes) & set(genotypes))
            if twice:
                raise ValueError(f'CellArchitecture.merge: spaces {twice} '
                                 'appear twice')
            genotypes.update(a.genotypes)
            probs.update(a.probs or {})
        return cls(genotypes, probs or None, meta)

    def layout(self) -> Dict[str, Tuple[int, bool]]:
        """``{space: (nodes per cell, has a reduction cell)}``: the shape
        of the search space the genotype was derived from (what
        :func:`random_cell_architecture` draws in)."""
        return {name: (g.normal.steps, g.reduce is not None)
                for name, g in self.genotypes.items()}

    def soft_values(self) -> Dict[str, float]:
        """``{'<space>.<cell>.<edge>.<op>': weight}`` (``{}`` without
        probs)."""
        out = {}
        for space, cells in (self.probs or {}).items():
            for cell, rows in cells.items():
                for e, row in enumerate(rows):
                    for op, v in zip(PRIMITIVES, row):
                        out[f'{space}.{cell}.{e}.{op}'] = v
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CellArchitecture):
            return NotImplemented
        return self.genotypes == other.genotypes and self.probs == other.probs

    def __repr__(self) -> str:
        return f'CellArchitecture(spaces={sorted(self.genotypes)})'

    # ------------------------------------------------------------------
    # (de)serialisation
    # ------------------------------------------------------------------
    def payload(self) -> dict:
        return dict(
            primitives=list(PRIMITIVES),
            genotypes={
                name: {c: None if g is None else g.to_list()
                       for c, g in sg.cells().items()}
                for name, sg in self.genotypes.items()
            },
            probs=None if self.probs is None else dict(self.probs))

    @classmethod
    def from_payload(cls, data: Mapping, meta: dict,
                     source: str) -> 'CellArchitecture':
        prims = data.get('primitives', list(PRIMITIVES))
        if list(prims or []) != list(PRIMITIVES):
            raise format_error(source, 'primitives',
                               f'expected {list(PRIMITIVES)}, got {prims!r}')
        genos = data.get('genotypes')
        if not isinstance(genos, Mapping) or not genos:
            raise format_error(source, 'genotypes',
                               'missing or not a non-empty mapping '
                               '{space: {normal: ..., reduce: ...}}')
        genotypes = {}
        for name, cells in genos.items():
            key = f'genotypes.{name}'
            if not isinstance(name, str) or not name:
                raise format_error(source, key, 'space names are strings')
            if not isinstance(cells, Mapping):
                raise format_error(source, key, 'must be a mapping with '
                                   f'keys {list(CELL_TYPES)}')
            unknown = sorted(set(cells) - set(CELL_TYPES))
            if unknown:
                raise format_error(source, f'{key}.{unknown[0]}',
                                   f'unknown cell type; types are '
                                   f'{list(CELL_TYPES)}')
            if cells.get('normal') is None:
                raise format_error(source, f'{key}.normal', 'missing')
            parsed = {}
            for cell in CELL_TYPES:
                value = cells.get(cell)
                if value is None:
                    parsed[cell] = None
                    continue
                parsed[cell] = cls._parse_cell(value, source,
                                               f'{key}.{cell}')
            genotypes[name] = SpaceGenotype(parsed['normal'],
                                            parsed['reduce'])
        probs = data.get('probs')
        if probs is not None:
            cls._check_probs(probs, genotypes, source)
        return cls(genotypes, probs, meta)

    @staticmethod
    def _parse_cell(value: Any, source: str, key: str) -> CellGenotype:
        if not isinstance(value, (list, tuple)):
            raise format_error(source, key, 'must be a list of [op, input] '
                               'pairs')
        pairs = []
        for k, pair in enumerate(value):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2 or \
                    not isinstance(pair[0], str) or \
                    isinstance(pair[1], bool) or \
                    not isinstance(pair[1], int):
                raise format_error(source, f'{key}[{k}]',
                                   f'expected [op name, input index], got '
                                   f'{pair!r}')
            pairs.append((pair[0], pair[1]))
        err = check_cell_edges(pairs)
        if err is not None:
            raise format_error(source, key, err)
        return CellGenotype(tuple(pairs))

    @staticmethod
    def _check_probs(probs: Any, genotypes: Mapping[str, SpaceGenotype],
                     source: str) -> None:
        if not isinstance(probs, Mapping):
            raise format_error(source, 'probs', 'must be a mapping '
                               '{space: {cell type: [[weights] per edge]}}')
        for name, cells in probs.items():
            key = f'probs.{name}'
            if name not in genotypes:
                raise format_error(source, key, 'space has no genotype')
            if not isinstance(cells, Mapping):
                raise format_error(source, key, 'must be a mapping')
            for cell, rows in cells.items():
                g = genotypes[name].cells().get(cell)
                if g is None:
                    raise format_error(source, f'{key}.{cell}',
                                       'cell type has no genotype')
                if not isinstance(rows, (list, tuple)) or \
                        len(rows) != num_cell_edges(g.steps):
                    raise format_error(
                        source, f'{key}.{cell}',
                        f'expected {num_cell_edges(g.steps)} edges of op '
                        'weights')
                for e, row in enumerate(rows):
                    if not isinstance(row, (list, tuple)) or \
                            len(row) != len(PRIMITIVES) or not all(
                                isinstance(v, (int, float)) and 0 <= v <= 1
                                for v in row):
                        raise format_error(
                            source, f'{key}.{cell}[{e}]',
                            f'expected {len(PRIMITIVES)} weights in [0, 1]')


def random_cell_architecture(layout: Mapping[str, Tuple[int, bool]],
                             seed: int) -> CellArchitecture:
    """A genotype of every space of ``layout`` (``{space: (nodes per cell,
    has a reduction cell)}``, e.g. :meth:`CellArchitecture.layout` of a
    searched genotype) drawn uniformly by :func:`random_cell`, the same for
    the same ``seed`` (spaces drawn in sorted name order, normal cell
    before reduction cell). ``meta`` records the seed."""
    if not layout:
        raise ValueError('random_cell_architecture: empty layout')
    rng = random.Random(seed)
    genotypes = {}
    for name in sorted(layout):
        steps, has_reduce = layout[name]
        normal = random_cell(steps, rng)
        reduce = random_cell(steps, rng) if has_reduce else None
        genotypes[name] = SpaceGenotype(normal, reduce)
    return CellArchitecture(genotypes, meta=dict(random_seed=int(seed)))
