"""Architecture weights of the candidate edges and how they become gates.

:class:`EdgeGates` is the one place that holds the gate state: one logit
``alpha`` per candidate edge (an ``nn.Parameter`` vector per target task, in
the edge order of :func:`~mtlnas_mm.structures.build_candidate_edges`),
the keep rule (``alpha > 0``) and the gate functions of each mode.
"""
from typing import Dict, List, Sequence

import torch
import torch.nn as nn
from torch import Tensor
from torch.distributions import Bernoulli, RelaxedBernoulli

from mtlnas_mm.structures import Architecture, Edge

#: every gate mode; see :class:`FusionEdgeNeck`
GATE_MODES = ('sigmoid', 'relaxed', 'hard', 'ones', 'fixed')
#: modes whose gates are differentiable functions of the alphas
SOFT_MODES = ('sigmoid', 'relaxed')


class EdgeGates(nn.Module):
    """One logit per candidate edge.

    Args:
        edges: candidate edges (grouped by target task, fixed order).
        tasks: task names, in order.
        alpha_init: initial logit (0 = gate probability 0.5, MTL-NAS).
        searchable: whether the alphas are trained (``requires_grad``).
            Non-searchable networks keep them too, so a searched checkpoint
            loads into the fixed-architecture model unchanged.
    """

    def __init__(self,
                 edges: Sequence[Edge],
                 tasks: Sequence[str],
                 alpha_init: float = 0.0,
                 searchable: bool = True) -> None:
        super().__init__()
        self.edges: List[Edge] = list(edges)
        self.tasks: List[str] = list(tasks)
        #: per edge: position in its target task's alpha vector
        self.task_index: Dict[Edge, int] = {}
        counts = {t: 0 for t in self.tasks}
        last_task = -1
        for e in self.edges:
            order = self.tasks.index(e.target_task)
            if order < last_task:
                raise ValueError('EdgeGates: edges must be grouped by target '
                                 'task in task order')
            last_task = order
            self.task_index[e] = counts[e.target_task]
            counts[e.target_task] += 1
        self.searchable = searchable and bool(self.edges)
        self.alphas = nn.ParameterDict({
            t: nn.Parameter(
                torch.full((n, ), float(alpha_init)),
                requires_grad=self.searchable)
            for t, n in counts.items() if n > 0
        })

    @property
    def num_edges(self) -> int:
        return len(self.edges)

    def logits(self) -> Tensor:
        """All alphas, flat, in candidate-edge order."""
        if not len(self.alphas):
            return torch.zeros(0)
        return torch.cat([self.alphas[t] for t in self.tasks
                          if t in self.alphas])

    def probs(self) -> Tensor:
        """``sigmoid(alpha)`` of every edge, flat, candidate order."""
        return self.logits().sigmoid()

    def entropy(self) -> Tensor:
        """Mean binary entropy (nats) of the gate probabilities; 0-dim and
        differentiable (0 without edges)."""
        logits = self.logits()
        if logits.numel() == 0:
            return logits.new_zeros(())
        return Bernoulli(logits=logits).entropy().mean()

    def kept_mask(self) -> List[bool]:
        """THE keep rule, ``alpha > 0`` per edge (one device sync)."""
        return self.logits().detach().gt(0).tolist()

    def soft_gates(self, mode: str,
                   temperature: float) -> Dict[str, List[Tensor]]:
        """Per target task, one 0-dim gate tensor per edge (task order).

        ``sigmoid``: ``sigmoid(alpha)``; ``relaxed``: a reparameterised
        RelaxedBernoulli(temperature, logits=alpha) sample.
        """
        if mode not in SOFT_MODES:
            raise ValueError(f'soft_gates: mode {mode!r} is not one of '
                             f'{SOFT_MODES}')
        out = {}
        for t, alpha in self.alphas.items():
            if mode == 'sigmoid':
                g = alpha.sigmoid()
            else:
                tau = torch.as_tensor(
                    temperature, dtype=alpha.dtype, device=alpha.device)
                g = RelaxedBernoulli(tau, logits=alpha).rsample()
            out[t] = list(g.unbind(0))
        return out

    def architecture(self, **kwargs) -> Architecture:
        """Current architecture: kept iff alpha > 0, gates = sigmoid."""
        logits = self.logits().detach().float().cpu().tolist()
        return Architecture.from_logits(self.edges, logits, tasks=self.tasks,
                                        **kwargs)
