"""Two regression tasks with a controllable correlation (the synthetic
data of MMoE: Ma et al., "Modeling Task Relationships in Multi-task
Learning with Multi-gate Mixture-of-Experts", KDD 2018, Sec. 3.2).

Two orthogonal unit vectors ``u1, u2`` in ``R^d`` give the task weights
``w1 = c u1`` and ``w2 = c (rho u1 + sqrt(1 - rho^2) u2)``, so the cosine
of ``w1`` and ``w2`` is ``rho``; for ``x ~ N(0, I)``::

    y_i = w_i . x + sum_{k=1..m} sin(alpha_k w_i . x + beta_k) + eps_i,
    eps_i ~ N(0, noise_std^2)

The sinusoids make the Pearson correlation of the labels a monotone but
not exact function of ``rho``.  The directions and the sinusoids come from
``task_seed`` only, the samples from ``seed``, so a sweep over ``rho``
changes nothing else.
"""
import math
from typing import Tuple

import torch
from torch import Tensor


def correlated_regression(num_samples: int,
                          rho: float,
                          dims: int = 100,
                          num_sines: int = 10,
                          scale: float = 1.0,
                          noise_std: float = 0.1,
                          seed: int = 0,
                          task_seed: int = 0) -> Tuple[Tensor, Tensor]:
    """``(x, y)``: ``x (N, dims)``, ``y (N, 2)`` for task correlation
    ``rho`` in [-1, 1]."""
    if not -1.0 <= rho <= 1.0:
        raise ValueError(f'rho must be in [-1, 1], got {rho!r}')
    g = torch.Generator().manual_seed(task_seed)
    basis, _ = torch.linalg.qr(torch.randn(dims, 2, generator=g))
    u1, u2 = basis[:, 0], basis[:, 1]
    w1 = scale * u1
    w2 = scale * (rho * u1 + math.sqrt(max(0.0, 1 - rho**2)) * u2)
    alpha = torch.randn(num_sines, generator=g)
    beta = torch.randn(num_sines, generator=g)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(num_samples, dims, generator=g)
    ys = []
    for w in (w1, w2):
        s = x @ w
        y = s + torch.sin(alpha[None] * s[:, None] + beta[None]).sum(1)
        ys.append(y + noise_std * torch.randn(num_samples, generator=g))
    return x, torch.stack(ys, 1)
