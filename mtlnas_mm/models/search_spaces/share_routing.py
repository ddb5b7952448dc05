"""The share-routing search space (Chen, Gu, Fu, "Boosting Share
Routing for Multi-task Learning", arXiv 2009.00387): sparse, gated routes
between layers of sub-networks.

The network is cut into ``L`` layers of ``K`` sub-networks.  A sub-network
is one block (VGG block, ResNet stage, MLP layer) of a staged backbone; the
backbone is built ``K`` times and sub-network ``(l, k)`` is block ``l`` of
copy ``k`` (the stem belongs to layer 0), so every staged backbone serves
and a copy's checkpoint loads into its column.  The blocks, their names,
the queries and what a derived network computes live in
:mod:`mtlnas_mm.structures.share_routes`.

Per search block (a sub-network of layers 1..L-1, or a task reading the
last layer) with predecessors ``h_1..h_K``:

* **route** ``S``: a non-empty subset of the K predecessors, each included
  independently with ``p_j = sigmoid(a_j)`` (one logit per predecessor),
  conditioned on ``S`` being non-empty;
* **gate**: the block input is ``x = sum_{j in S} w_j h_j`` with
  ``w = softmax_{j in S}(z_j)``, ``z = W q + b`` computed from a
  **query** ``q``, chosen among :data:`QUERY_CANDIDATES` (own
  predecessor, learned embedding, block input) with a categorical logit.
  Queries are pooled to vectors (global average over the spatial axes);
  the gate maps start at zero (plain average of the selected inputs).

Route modes (:data:`ROUTE_MODES`), i.e. the estimator:

``expected``  the **architecture step**: the block input is its exact
              expectation over the route distribution (all ``2^K - 1``
              non-empty subsets enumerated, ``K <= MAX_SUBNETS``) and over
              the query choice (the ``'input'`` query at its expected
              value).  Why: it is a deterministic, differentiable function
              of the logits, so the architecture gradient has no sampling
              variance; unlike the plug-in ``softmax(z + log p)`` it keeps
              the absolute inclusion probabilities (with all ``p -> 0`` the
              route collapses to one input, with all ``p -> 1`` it is the
              full gate), so the task loss and the cost term trade off
              against each other.
``sample``    the **weight step**: one discrete route and query per block
              per forward (the forward value of a straight-through
              Gumbel sample), drawn from the current distribution, and
              only the sub-networks that sample needs are computed.  Why:
              the weights are trained on the discrete sub-networks the
              derivation will pick from (no train / derive gap of a mixed
              supernet), and the weight step needs no gradient to the
              logits (only the weight optimizer steps), so the relaxed
              backward of a Gumbel sample would be discarded anyway.
              Draws use torch's global generator; under DDP rank 0's
              draw is broadcast, so every rank trains the same routes
              also when the ranks' generators differ (``randomness=dict(
              diff_rank_seed=True)``, different dropout / augmentation
              draws).
``hard``      the most probable architecture (:meth:`derive`), pruned
              sub-networks not computed (evaluation of a search).
``fixed``     a derived architecture (:meth:`fix`, ``architecture=``).

The regulariser (:meth:`regularizer`) is the expected route density: the
mean over blocks of ``(E|S| - 1) / (K - 1)`` (0: every block reads one
input; 1: every block reads all K), the seed's sparse, cheap derived
models; its weight is the algorithm's ``regularizer_weight``.

Special cases (tests): own predecessor only everywhere = independent
single-task columns; every route = all K with the embedding query = MMoE
(static task gates); ``K = 1`` = hard sharing.  MTL-NAS's fusion edges are
the other axis: fixed columns with searched cross-task edges *inside*
blocks; share routing searches which whole blocks feed which.
"""
import copy
import itertools
import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import broadcast, is_distributed
from mmengine.model import ModuleDict, ModuleList
from torch import Tensor

from mmseg.registry import MODELS
from mtlnas_mm.structures import (QUERY_CANDIDATES, RouteArchitecture,
                                  block_keys, check_task_name,
                                  required_subnets)
from mtlnas_mm.structures.share_routes import block_reads, own_predecessor
from ..backbones.staged import StagedBackboneMixin
from .base import (ARCH_STEP, WEIGHT_STEP, BaseSearchSpace, SpaceModes,
                   check_step)

ROUTE_MODES = ('expected', 'sample', 'hard', 'fixed')
#: modes in which the logits are searched
SEARCH_MODES = ('expected', 'sample', 'hard')
DEFAULT_STEP_ROUTE_MODES = {ARCH_STEP: 'expected', WEIGHT_STEP: 'sample'}
#: the architecture step needs the exact expectation over the routes
MODES = SpaceModes('ShareRoutes', 'route', ROUTE_MODES, SEARCH_MODES,
                   'expected', DEFAULT_STEP_ROUTE_MODES,
                   step_allowed={ARCH_STEP: ('expected', )})
#: the expected route enumerates 2^K - 1 subsets
MAX_SUBNETS = 10

#: per block: the route (predecessor indices) and the query
Plan = Dict[str, Tuple[Tuple[int, ...], str]]


def pool(x: Tensor) -> Tensor:
    """A feature map ``(N, C, ...)`` as a vector ``(N, C)`` (mean over the
    spatial axes)."""
    return x.flatten(2).mean(2) if x.dim() > 2 else x


class _Gate(nn.Module):
    """The gate of one block: K gate logits from each query candidate."""

    def __init__(self, in_channels: int, num_inputs: int,
                 embed_dims: int) -> None:
        super().__init__()
        self.own = nn.Linear(in_channels, num_inputs)
        self.input = nn.Linear(in_channels, num_inputs)
        self.embedding = nn.Parameter(torch.randn(embed_dims))
        self.embedding_proj = nn.Linear(embed_dims, num_inputs)
        for lin in (self.own, self.input, self.embedding_proj):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def logits(self, query: str, vector: Optional[Tensor],
               batch: int) -> Tensor:
        """``(N, K)`` gate logits; ``vector`` is the pooled own / input
        query (unused for the embedding)."""
        if query == 'embedding':
            return self.embedding_proj(self.embedding).expand(batch, -1)
        return getattr(self, query)(vector)


@MODELS.register_module()
class ShareRoutes(BaseSearchSpace):
    """The share-routing backbone and search space (module docstring).

    Returns ``{task: (features, )}``: each task's gated read of the last
    layer (one level; heads read it with ``in_index=-1`` or ``0``).
    ``tasks`` is filled in by :class:`MultiTaskNetwork`.

    Args:
        tasks: task names, in order.
        backbone: a staged backbone config; built ``num_subnets`` times.
        num_subnets: K, sub-networks per layer (default: one per task;
            ``K = 1`` is hard sharing; ``<= MAX_SUBNETS``).
        query_candidates: the searched queries (a subset of
            ``QUERY_CANDIDATES``; one = not searched).
        embed_dims: width of the learned query embeddings.
        route_mode: route mode of a training forward outside a bilevel step
            (``None``: ``'fixed'`` with ``architecture``, else
            ``'expected'``).
        step_route_modes: mode of each step of a search (default
            ``dict(arch='expected', weight='sample')``); the architecture
            step needs ``'expected'``, the only mode with gradients to the
            logits.
        eval_route_mode: mode in eval (searched spaces).
        route_init: initial route logit (0: p = 0.5), or
            ``dict(own=a, cross=b)``: ``a`` for each block's own
            predecessor (:func:`own_predecessor`), ``b`` for the others.
        gate_own_bias: initial gate logit of the own predecessor in every
            query's map (0: the selected inputs are averaged).  With
            ``route_init=dict(own=large, cross=...)`` and a large bias a
            search whose copies were loaded from single-task networks
            (``MultiTaskNetwork(init_from=...)``) starts close to them, as
            MTL-NAS's fusion init (1, 0) does.
        architecture: a derived :class:`RouteArchitecture`, its dict or a
            file (see :meth:`fix`).
        init_cfg: mmengine init config.
    """

    #: ``MultiTaskNetwork`` fills in ``tasks``
    takes_tasks = True

    modes = MODES
    eval_mode_attr = 'eval_route_mode'

    def __init__(self,
                 tasks: Sequence[str],
                 backbone: dict,
                 num_subnets: Optional[int] = None,
                 query_candidates: Sequence[str] = QUERY_CANDIDATES,
                 embed_dims: int = 16,
                 route_mode: Optional[str] = None,
                 step_route_modes: Optional[Mapping[str, str]] = None,
                 eval_route_mode: str = 'hard',
                 route_init: Union[float, Mapping[str, float]] = 0.0,
                 gate_own_bias: float = 0.0,
                 architecture: Union[None, str, dict,
                                     RouteArchitecture] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.tasks: List[str] = [
            check_task_name(t, 'ShareRoutes.tasks') for t in tasks
        ]
        if not self.tasks or len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f'ShareRoutes.tasks: need distinct tasks, got '
                             f'{list(tasks)}')
        k = len(self.tasks) if num_subnets is None else int(num_subnets)
        if not 1 <= k <= MAX_SUBNETS:
            raise ValueError(f'ShareRoutes.num_subnets: need 1 <= K <= '
                             f'{MAX_SUBNETS}, got {num_subnets}')
        self.num_subnets = k
        self.query_candidates = tuple(query_candidates)
        bad = [q for q in self.query_candidates if q not in QUERY_CANDIDATES]
        if not self.query_candidates or bad or len(
                set(self.query_candidates)) != len(self.query_candidates):
            raise ValueError('ShareRoutes.query_candidates: need distinct '
                             f'names from {QUERY_CANDIDATES}, got '
                             f'{list(query_candidates)}')

        # -------- modes
        fixed = architecture is not None
        route_mode, self.step_route_modes, self.eval_route_mode = \
            MODES.resolve(route_mode, step_route_modes, eval_route_mode, fixed)
        self.train_route_mode = self.route_mode = route_mode

        # -------- sub-networks: block l of copy k
        self.subnets = ModuleList(
            MODELS.build(copy.deepcopy(dict(backbone))) for _ in range(k))
        first = self.subnets[0]
        if not isinstance(first, StagedBackboneMixin):
            raise TypeError(f'ShareRoutes.backbone: {type(first).__name__} '
                            'is not a staged backbone (VGGLargeFOV, '
                            'StagedResNet, StagedMLP)')
        blocks = list(first.layer_blocks)
        self.num_layers = len(set(blocks))
        #: per layer (block): the backbone layer indices it runs
        self.block_layers = [[i for i, b in enumerate(blocks) if b == layer]
                             for layer in range(self.num_layers)]
        #: per layer: output channels
        self.out_channels = [
            first.layer_channels[ls[-1]] for ls in self.block_layers
        ]

        # -------- search blocks, logits and gates
        self.block_keys: List[str] = block_keys(self.tasks, self.num_layers,
                                                k)
        n = len(self.block_keys)
        self.route_logits = nn.Parameter(self._initial_logits(route_init))
        self.query_logits = nn.Parameter(
            torch.zeros(n, len(self.query_candidates)))
        self.gates = ModuleDict({
            key.replace('.', '_'): _Gate(
                self.out_channels[block_reads(key, self.num_layers)[0]], k,
                embed_dims)
            for key in self.block_keys
        })
        with torch.no_grad():
            for key in self.block_keys:
                gate = self.gate(key)
                for lin in (gate.own, gate.input, gate.embedding_proj):
                    lin.bias[self._own(key)] = float(gate_own_bias)
        subsets = [m for m in itertools.product((0., 1.), repeat=k)
                   if any(m)]
        self.register_buffer('subsets', torch.tensor(subsets), False)
        self._searchable = route_mode in SEARCH_MODES
        self.fixed_architecture: Optional[RouteArchitecture] = None
        if fixed:
            self.fix_configured(architecture, RouteArchitecture)

    def _own(self, key: str) -> int:
        return own_predecessor(key, self.tasks, self.num_subnets)

    def _initial_logits(
            self, route_init: Union[float, Mapping[str, float]]) -> Tensor:
        """``(blocks, K)`` initial route logits (``route_init`` above)."""
        n, k = len(self.block_keys), self.num_subnets
        if not isinstance(route_init, Mapping):
            return torch.full((n, k), float(route_init))
        if set(route_init) != {'own', 'cross'}:
            raise KeyError('ShareRoutes.route_init: expected a float or '
                           f'dict(own=..., cross=...), got {dict(route_init)}')
        logits = torch.full((n, k), float(route_init['cross']))
        for b, key in enumerate(self.block_keys):
            logits[b, self._own(key)] = float(route_init['own'])
        return logits

    def task_column_prefix(self, task: str) -> str:
        """Where ``task``'s column lives in the state dict: sub-network
        copy ``i`` for the ``i``-th task (the target of
        ``MultiTaskNetwork(init_from=...)``; needs K = number of tasks)."""
        if self.num_subnets != len(self.tasks):
            raise TypeError('init_from into ShareRoutes needs one sub-network '
                            f'copy per task (K = {len(self.tasks)}), got K = '
                            f'{self.num_subnets}')
        return f'subnets.{self.tasks.index(task)}.'

    def gate(self, key: str) -> _Gate:
        return self.gates[key.replace('.', '_')]

    # ------------------------------------------------------------------
    # the search-space interface
    # ------------------------------------------------------------------
    @property
    def searchable(self) -> bool:
        return self._searchable

    def arch_parameters(self) -> List[nn.Parameter]:
        """Route and query logits when searched, else ``[]``."""
        if not self._searchable:
            return []
        params = [self.route_logits]
        if len(self.query_candidates) > 1:
            params.append(self.query_logits)
        return params

    def set_step(self, step: Optional[str]) -> None:
        check_step(step, 'ShareRoutes.set_step')
        if self._searchable:
            self.route_mode = (self.train_route_mode if step is None else
                               self.step_route_modes[step])

    def route_probs(self) -> Tensor:
        """``(blocks, K)`` inclusion probabilities."""
        return self.route_logits.sigmoid()

    def query_probs(self) -> Tensor:
        """``(blocks, candidates)`` query probabilities."""
        return self.query_logits.softmax(-1)

    def subset_probs(self) -> Tensor:
        """``(blocks, 2^K - 1)``: probability of every non-empty route
        (rows of ``subsets``), independent inclusions conditioned on a
        non-empty route."""
        a = self.route_logits
        log_in, log_out = F.logsigmoid(a), F.logsigmoid(-a)
        m = self.subsets
        return (log_in @ m.t() + log_out @ (1 - m).t()).softmax(-1)

    def regularizer(self) -> Tensor:
        """Expected route density in [0, 1] (see the module docstring);
        0-dim, differentiable; 0 when not searched or ``K = 1``."""
        if not self._searchable or self.num_subnets == 1:
            return self.route_logits.new_zeros(())
        expected_size = self.subset_probs() @ self.subsets.sum(1)
        return ((expected_size - 1) / (self.num_subnets - 1)).mean()

    def derive(self) -> RouteArchitecture:
        """The most probable architecture: per block the most probable
        non-empty route (``p > 0.5``; the most probable predecessor if none
        is) and the most probable query."""
        if self.fixed_architecture is not None:
            return self.fixed_architecture
        probs = self.route_probs().detach().float().cpu()
        qprobs = self.query_probs().detach().float().cpu()
        routes, queries, route_probs, query_probs = {}, {}, {}, {}
        for b, key in enumerate(self.block_keys):
            route = [j for j, p in enumerate(probs[b].tolist()) if p > 0.5]
            routes[key] = route or [int(probs[b].argmax())]
            queries[key] = self.query_candidates[int(qprobs[b].argmax())]
            route_probs[key] = probs[b].tolist()
            query_probs[key] = dict(zip(self.query_candidates,
                                        qprobs[b].tolist()))
        return RouteArchitecture(self.tasks, self.num_layers,
                                 self.num_subnets, routes, queries,
                                 route_probs, query_probs)

    def fix(self, arch: RouteArchitecture,
            source: str = 'architecture') -> None:
        """Become the derived network of ``arch``: only its routes are
        mixed and only the sub-networks a task needs are computed; the
        tasks, L and K must be this space's (parameter names unchanged)."""
        if not isinstance(arch, RouteArchitecture):
            raise TypeError(f'{source}: a share-routing space needs a '
                            f'{RouteArchitecture.kind!r} architecture, got '
                            f'{getattr(arch, "kind", type(arch).__name__)!r}')
        for name, mine in (('tasks', tuple(self.tasks)),
                           ('num_layers', self.num_layers),
                           ('num_subnets', self.num_subnets)):
            if getattr(arch, name) != mine:
                raise ValueError(f'{source}: {name} {getattr(arch, name)!r} '
                                 f'differs from this model\'s {mine!r}')
        bad = {k: q for k, q in arch.queries.items()
               if q not in self.query_candidates and len(arch.routes[k]) > 1}
        if bad:
            raise ValueError(f'{source}: queries {bad} are not among this '
                             f'model\'s candidates {self.query_candidates}')
        self.fixed_architecture = arch
        self._searchable = False
        self.route_logits.requires_grad_(False)
        self.query_logits.requires_grad_(False)
        self.route_mode = self.train_route_mode = 'fixed'
        self.eval_route_mode = 'fixed'

    def log_stats(self) -> Dict[str, float]:
        """Mean inclusion probability, routes and sub-networks of the
        derived architecture (searched spaces)."""
        if not self._searchable:
            return {}
        arch = self.derive()
        return dict(route_prob_mean=self.route_probs().mean().item(),
                    routes_kept=arch.num_routes(),
                    subnets_computed=len(arch.required_subnets()))

    @property
    def leaves_parameters_unused(self) -> bool:
        """Every training mode but ``'expected'`` computes only some
        sub-networks and gates, and leaves the logits out of the loss."""
        modes = {self.train_route_mode}
        if self._searchable:
            modes.update(self.step_route_modes.values())
        return modes != {'expected'}

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    @property
    def active_route_mode(self) -> str:
        return self.route_mode if self.training else self.eval_route_mode

    def run_subnet(self, layer: int, k: int, x: Tensor) -> Tensor:
        """Sub-network ``(layer, k)``: block ``layer`` of copy ``k``."""
        net = self.subnets[k]
        if layer == 0:
            x = net.forward_stem(x)
        for i in self.block_layers[layer]:
            x = net.forward_layer(i, x)
        return x

    def sample_plan(self) -> Plan:
        """One route and query per block, rank 0's under DDP."""
        with torch.no_grad():
            subset = torch.multinomial(self.subset_probs(), 1)[:, 0]
            query = torch.multinomial(self.query_probs(), 1)[:, 0]
            if is_distributed():
                drawn = torch.stack([subset, query])
                broadcast(drawn, src=0)
                subset, query = drawn.unbind(0)
        masks = self.subsets[subset].tolist()
        return {
            key: (tuple(j for j, m in enumerate(masks[b]) if m),
                  self.query_candidates[int(query[b])])
            for b, key in enumerate(self.block_keys)
        }

    def plan(self, mode: str) -> Plan:
        """Route and query per block for a discrete mode."""
        if mode == 'sample':
            return self.sample_plan()
        arch = self.derive() if mode == 'hard' else self.fixed_architecture
        return {k: (arch.routes[k], arch.queries[k]) for k in arch.routes}

    def forward(self, inputs: Tensor) -> Dict[str, Tuple[Tensor]]:
        mode = self.active_route_mode
        if mode == 'expected':
            return self._forward_expected(inputs)
        plan = self.plan(mode)
        needed = required_subnets(self.tasks, self.num_layers,
                                  self.num_subnets,
                                  {k: r for k, (r, _) in plan.items()},
                                  {k: q for k, (_, q) in plan.items()})
        prev: List[Optional[Tensor]] = []
        for layer in range(self.num_layers):
            cur = []
            for k in range(self.num_subnets):
                if (layer, k) not in needed:
                    cur.append(None)
                    continue
                x = inputs if layer == 0 else self.mix(f'{layer}.{k}', prev,
                                                       *plan[f'{layer}.{k}'])
                cur.append(self.run_subnet(layer, k, x))
            prev = cur
        return {t: (self.mix(t, prev, *plan[t]), ) for t in self.tasks}

    def mix(self, key: str, prev: Sequence[Optional[Tensor]],
            route: Sequence[int], query: str) -> Tensor:
        """The gated input of a block with a discrete route and query."""
        if len(route) == 1:
            return prev[route[0]]
        feats = [prev[j] for j in route]
        if query == 'own':
            vector = pool(prev[self._own(key)])
        elif query == 'input':
            vector = torch.stack([pool(f) for f in feats]).mean(0)
        else:
            vector = None
        z = self.gate(key).logits(query, vector, feats[0].shape[0])
        w = z[:, list(route)].softmax(-1)
        return _weighted_sum(w, feats)

    def _forward_expected(self, inputs: Tensor) -> Dict[str, Tuple[Tensor]]:
        probs = self.subset_probs()  # (blocks, S)
        qprobs = self.query_probs()
        index = {key: b for b, key in enumerate(self.block_keys)}
        prev = [self.run_subnet(0, k, inputs)
                for k in range(self.num_subnets)]
        for layer in range(1, self.num_layers):
            prev = [
                self.run_subnet(
                    layer, k,
                    self._mix_expected(f'{layer}.{k}', prev,
                                       probs[index[f'{layer}.{k}']],
                                       qprobs[index[f'{layer}.{k}']]))
                for k in range(self.num_subnets)
            ]
        return {
            t: (self._mix_expected(t, prev, probs[index[t]],
                                   qprobs[index[t]]), )
            for t in self.tasks
        }

    def _mix_expected(self, key: str, prev: Sequence[Tensor],
                      subset_probs: Tensor, query_probs: Tensor) -> Tensor:
        """The block input's expectation over routes and queries."""
        m = self.subsets  # (S, K)
        pooled = torch.stack([pool(f) for f in prev], 1)  # (N, K, C)
        batch = pooled.shape[0]
        weights = 0
        for q, pq in zip(self.query_candidates, query_probs.unbind(0)):
            if q == 'own':
                vector = pooled[:, self._own(key)]
            elif q == 'input':
                # E[mean of the selected inputs]
                r = subset_probs @ (m / m.sum(1, keepdim=True))
                vector = torch.einsum('k,nkc->nc', r, pooled)
            else:
                vector = None
            z = self.gate(key).logits(q, vector, batch)  # (N, K)
            masked = z[:, None, :].masked_fill(m[None] == 0, -math.inf)
            w = torch.einsum('s,nsk->nk', subset_probs, masked.softmax(-1))
            weights = weights + pq * w
        return _weighted_sum(weights, list(prev))


def _weighted_sum(w: Tensor, feats: Sequence[Tensor]) -> Tensor:
    """``sum_j w[:, j] * feats[j]`` with ``w`` of shape ``(N, J)``."""
    out = 0
    for j, f in enumerate(feats):
        out = out + w[:, j].reshape((-1, ) + (1, ) * (f.dim() - 1)) * f
    return out
