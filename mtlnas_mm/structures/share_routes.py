"""The share-routing architecture (kind ``'share_routes'``): which
sub-networks feed which, layer by layer, and the query of every gate.

A share-routing network (Chen, Gu, Fu, "Boosting Share Routing for
Multi-task Learning", arXiv 2009.00387) is cut into ``num_layers`` layers
of ``num_subnets`` (K) sub-networks.  This module is the single place for
the facts of its architecture:

* the **blocks** and their names (:func:`block_keys`): one per sub-network
  of layers ``1..L-1`` (``'<layer>.<subnet>'``, e.g. ``'2.0'``) reading
  the previous layer's K outputs, and one per task (the task name) reading
  the last layer's K outputs (the MMoE task gates).  Layer-0 sub-networks
  read the network input and have no block;
* the **route** of a block: a non-empty subset of its K predecessors;
* the **query** of a block's gate (:data:`QUERY_CANDIDATES`): its own
  predecessor's output (``'own'``: sub-network ``k`` of the previous layer;
  for task ``t`` the last-layer sub-network ``t``), a learned per-block
  embedding (``'embedding'``; per task for the task blocks) or the block
  input (``'input'``: the mean of the selected inputs);
* which sub-networks a derived network computes (:func:`required_subnets`):
  those some task depends on; the others are pruned.
"""
from typing import (Any, Dict, List, Mapping, Optional, Sequence, Set,
                    Tuple)

from .task_fields import check_task_name
from .choices import check_choice
from .export import BaseArchitecture, format_error, register_architecture

#: the candidate queries of a gate, in the order of the query logits
QUERY_CANDIDATES = ('own', 'embedding', 'input')

Subnet = Tuple[int, int]  # (layer, sub-network)


def block_keys(tasks: Sequence[str], num_layers: int,
               num_subnets: int) -> List[str]:
    """THE block order: ``'l.k'`` for layers 1..L-1 (layer-major), then the
    tasks.  Everything stored per block (logits, gates, files) uses it."""
    keys = [f'{layer}.{k}' for layer in range(1, num_layers)
            for k in range(num_subnets)]
    return keys + list(tasks)


def block_reads(key: str, num_layers: int) -> Tuple[int, Optional[int]]:
    """The layer a block reads and the sub-network it is (``None`` for a
    task block): ``'2.1'`` -> ``(1, 1)``, ``'seg'`` -> ``(L - 1, None)``."""
    if '.' in key:
        layer, k = key.split('.')
        return int(layer) - 1, int(k)
    return num_layers - 1, None


def own_predecessor(key: str, tasks: Sequence[str], num_subnets: int) -> int:
    """The sub-network the ``'own'`` query reads: ``k`` for block ``l.k``,
    for task ``t``'s block the ``t``-th sub-network (the last one when
    there are fewer sub-networks than tasks, e.g. ``K = 1``: hard
    sharing)."""
    if '.' in key:
        return int(key.split('.')[1])
    return min(list(tasks).index(key), num_subnets - 1)


def required_subnets(tasks: Sequence[str], num_layers: int,
                     num_subnets: int, routes: Mapping[str, Sequence[int]],
                     queries: Mapping[str, str],
                     roots: Optional[Sequence[str]] = None) -> Set[Subnet]:
    """The sub-networks some task depends on (the others are not computed).

    A block with one selected input passes it through (no gate, so no
    query is read); a block with several reads its route and, with the
    ``'own'`` query, its own predecessor.  ``roots``: only the sub-networks
    these tasks depend on (default: all ``tasks``).
    """
    needed: Set[Subnet] = set()
    frontier = list(tasks if roots is None else roots)
    while frontier:
        key = frontier.pop()
        layer, _ = block_reads(key, num_layers)
        reads = set(routes[key])
        if len(reads) > 1 and queries[key] == 'own':
            reads.add(own_predecessor(key, tasks, num_subnets))
        for j in reads:
            if (layer, j) not in needed:
                needed.add((layer, j))
                if layer > 0:
                    frontier.append(f'{layer}.{j}')
    return needed


@register_architecture
class RouteArchitecture(BaseArchitecture):
    """A derived (or in-search) share-routing architecture.

    Args:
        tasks: task names, in order.
        num_layers: layers L (>= 1).
        num_subnets: sub-networks per layer K (``K = 1``: hard sharing;
            one column per task needs ``K >=`` the number of tasks).
        routes: ``{block key: sorted predecessor indices}`` for every block
            of :func:`block_keys` (non-empty subsets of ``range(K)``).
        queries: ``{block key: one of QUERY_CANDIDATES}``.
        route_probs: optional ``{block key: [inclusion probability per
            predecessor]}`` (the search state).
        query_probs: optional ``{block key: {query: probability}}``.
        meta: free-form JSON-able information.
    """

    kind = 'share_routes'

    def __init__(self,
                 tasks: Sequence[str],
                 num_layers: int,
                 num_subnets: int,
                 routes: Mapping[str, Sequence[int]],
                 queries: Mapping[str, str],
                 route_probs: Optional[Mapping[str, Sequence[float]]] = None,
                 query_probs: Optional[Mapping[str, Mapping[str,
                                                            float]]] = None,
                 meta: Optional[dict] = None) -> None:
        self.tasks: Tuple[str, ...] = tuple(
            check_task_name(t, 'RouteArchitecture.tasks') for t in tasks)
        if not self.tasks or len(set(self.tasks)) != len(self.tasks):
            raise ValueError('RouteArchitecture.tasks: need distinct task '
                             f'names, got {list(tasks)}')
        self.num_layers, self.num_subnets = int(num_layers), int(num_subnets)
        if self.num_layers < 1:
            raise ValueError('RouteArchitecture.num_layers must be >= 1, got '
                             f'{num_layers!r}')
        if self.num_subnets < 1:
            raise ValueError('RouteArchitecture.num_subnets must be >= 1, '
                             f'got {num_subnets!r}')
        keys = self.block_keys
        self.routes: Dict[str, Tuple[int, ...]] = {}
        self.queries: Dict[str, str] = {}
        for name, given in (('routes', routes), ('queries', queries)):
            missing = [k for k in keys if k not in given]
            extra = sorted(set(given) - set(keys))
            if missing or extra:
                raise ValueError(f'RouteArchitecture.{name}: blocks missing '
                                 f'{missing}, unknown {extra}')
        for key in keys:
            route = sorted({int(j) for j in routes[key]})
            if not route or not all(0 <= j < self.num_subnets
                                    for j in route):
                raise ValueError(
                    f'RouteArchitecture.routes.{key}: need a non-empty '
                    f'subset of range({self.num_subnets}), got '
                    f'{list(routes[key])}')
            self.routes[key] = tuple(route)
            self.queries[key] = check_choice(
                queries[key], QUERY_CANDIDATES,
                f'RouteArchitecture: queries.{key}')
        self.route_probs = None if route_probs is None else {
            k: [float(v) for v in route_probs[k]] for k in keys
        }
        self.query_probs = None if query_probs is None else {
            k: {q: float(v) for q, v in query_probs[k].items()}
            for k in keys
        }
        self.meta: dict = dict(meta or {})

    # ------------------------------------------------------------------
    @property
    def block_keys(self) -> List[str]:
        return block_keys(self.tasks, self.num_layers, self.num_subnets)

    def required_subnets(self) -> Set[Subnet]:
        """The sub-networks this architecture computes."""
        return required_subnets(self.tasks, self.num_layers,
                                self.num_subnets, self.routes, self.queries)

    def task_subnets(self, task: str) -> Set[Subnet]:
        """The sub-networks task ``task`` depends on."""
        if task not in self.tasks:
            raise ValueError(f'RouteArchitecture.task_subnets: unknown task '
                             f'{task!r}; tasks: {list(self.tasks)}')
        return required_subnets(self.tasks, self.num_layers,
                                self.num_subnets, self.routes, self.queries,
                                roots=[task])

    def num_routes(self) -> int:
        """Selected routes over all blocks."""
        return sum(len(r) for r in self.routes.values())

    def soft_values(self) -> Dict[str, float]:
        """Inclusion probability per route, ``'<block>.<- j>'`` names
        (``{}`` without probabilities)."""
        if self.route_probs is None:
            return {}
        return {f'{key}<-{j}': p for key, probs in self.route_probs.items()
                for j, p in enumerate(probs)}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RouteArchitecture):
            return NotImplemented
        return self.payload() == other.payload()

    def __repr__(self) -> str:
        return (f'RouteArchitecture(tasks={list(self.tasks)}, '
                f'L={self.num_layers}, K={self.num_subnets}, '
                f'{self.num_routes()} routes, '
                f'{len(self.required_subnets())} sub-networks computed)')

    # ------------------------------------------------------------------
    def payload(self) -> dict:
        keys = self.block_keys
        return dict(
            tasks=list(self.tasks),
            num_layers=self.num_layers,
            num_subnets=self.num_subnets,
            routes={k: list(self.routes[k]) for k in keys},
            queries={k: self.queries[k] for k in keys},
            route_probs=None if self.route_probs is None else {
                k: list(self.route_probs[k]) for k in keys},
            query_probs=None if self.query_probs is None else {
                k: dict(self.query_probs[k]) for k in keys})

    @classmethod
    def from_payload(cls, data: Mapping, meta: dict,
                     source: str) -> 'RouteArchitecture':
        for key in ('tasks', 'num_layers', 'num_subnets', 'routes',
                    'queries'):
            if key not in data:
                raise format_error(source, key, 'missing')
        tasks = data['tasks']
        if not isinstance(tasks, (list, tuple)) or not tasks:
            raise format_error(source, 'tasks',
                               'must be a non-empty list of task names')
        for key in ('num_layers', 'num_subnets'):
            if not isinstance(data[key], int) or data[key] < 1:
                raise format_error(source, key, 'must be a positive int, '
                                   f'got {data[key]!r}')
        num_layers, num_subnets = data['num_layers'], data['num_subnets']
        try:
            keys = block_keys([check_task_name(t) for t in tasks],
                              num_layers, num_subnets)
        except ValueError as err:
            raise format_error(source, 'tasks', str(err)) from None
        for name in ('routes', 'queries', 'route_probs', 'query_probs'):
            value = data.get(name)
            if value is None and name in ('route_probs', 'query_probs'):
                continue
            if not isinstance(value, Mapping):
                raise format_error(source, name,
                                   'must be a mapping block -> value')
            for k in keys:
                if k not in value:
                    raise format_error(source, f'{name}.{k}', 'missing')
            for k in value:
                if k not in keys:
                    raise format_error(source, f'{name}.{k}',
                                       f'unknown block; blocks: {keys}')
        _check_blocks(data, keys, num_subnets, source)
        try:
            return cls(tasks, num_layers, num_subnets, data['routes'],
                       data['queries'], data.get('route_probs'),
                       data.get('query_probs'), meta=meta)
        except ValueError as err:
            raise ValueError(f'{source}: {err}') from None


def _is_prob(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) \
        and 0.0 <= v <= 1.0


def _check_blocks(data: Mapping, keys: Sequence[str], num_subnets: int,
                  source: str) -> None:
    """Per-block checks of a file, each naming its key."""
    for k in keys:
        route = data['routes'][k]
        if not isinstance(route, (list, tuple)) or not route or not all(
                isinstance(j, int) and 0 <= j < num_subnets for j in route):
            raise format_error(
                source, f'routes.{k}',
                f'must be a non-empty list of sub-network indices in '
                f'[0, {num_subnets}), got {route!r}')
        query = data['queries'][k]
        if query not in QUERY_CANDIDATES:
            raise format_error(source, f'queries.{k}',
                               f'unknown query {query!r}; choose from '
                               f'{list(QUERY_CANDIDATES)}')
        probs = (data.get('route_probs') or {}).get(k)
        if probs is not None and (not isinstance(probs, (list, tuple))
                                  or len(probs) != num_subnets
                                  or not all(map(_is_prob, probs))):
            raise format_error(source, f'route_probs.{k}',
                               f'need {num_subnets} probabilities in [0, 1],'
                               f' got {probs!r}')
        qprobs = (data.get('query_probs') or {}).get(k)
        if qprobs is not None and (
                not isinstance(qprobs, Mapping)
                or not set(qprobs) <= set(QUERY_CANDIDATES)
                or not all(map(_is_prob, qprobs.values()))):
            raise format_error(source, f'query_probs.{k}',
                               'need {query: probability in [0, 1]} over '
                               f'{list(QUERY_CANDIDATES)}, got {qprobs!r}')
