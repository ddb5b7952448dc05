"""THE interface a search space implements.

A search space is a module inside a network (MMRazor's "mutables" and
their derivation in one place): it owns its architecture parameters and
knows how to relax, regularise, derive, export and fix them.  The NAS
algorithms (:mod:`mtlnas_mm.models.algorithms`), the hooks and the tools
talk to this interface only, never to a concrete space, so a new space
(edges between fixed networks, operations inside cells, routes between
sub-networks) plugs into the same bilevel loop, optimizer constructor,
export format and tools.

Implementing a space means:

* :meth:`arch_parameters`: the parameters the architecture optimizer
  steps (``[]`` when the space is fixed / not searched);
* :meth:`set_step`: choose the relaxation of the next *training* forward
  for the ``'arch'`` or the ``'weight'`` step of a bilevel iteration
  (e.g. deterministic gates vs sampled gates); ``None`` returns to the
  space's configured training relaxation (after the iteration);
* :meth:`set_temperature`: the temperature of sampled relaxations;
* :meth:`regularizer`: an unweighted architecture regulariser (0-dim; the
  algorithm weights it and adds it to its architecture loss only);
* :meth:`derive`: the current discrete architecture, a registered
  :class:`~mtlnas_mm.structures.BaseArchitecture` (its file format and its
  picture, :func:`mtlnas_mm.visualization.draw_architecture`);
* :meth:`fix`: become the derived sub-network of an architecture (pruned
  parts are not computed; parameter names stay, so a search checkpoint
  loads unchanged);
* :meth:`log_stats`: scalars for mmengine's logs;
* :meth:`after_arch_update`: called once per bilevel iteration right after
  the architecture update (no-op by default; e.g. the fusion edges'
  optional pruning of edges whose gates stay closed);
* :attr:`leaves_parameters_unused`: whether a training forward may leave
  some of the module's trainable parameters out of the loss (sampled
  sub-networks); the DDP wrappers then turn on
  ``find_unused_parameters``.
"""
from typing import Dict, List, Optional

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mtlnas_mm.structures import BaseArchitecture

#: the two steps of a bilevel iteration, and the keys of everything split
#: by them: the batches the loop yields, the optimizers of
#: ``OptimWrapperDict`` and the ``param_scheduler`` dict of a search config
ARCH_STEP = 'arch'
WEIGHT_STEP = 'weight'
STEPS = (ARCH_STEP, WEIGHT_STEP)


class BaseSearchSpace(BaseModule):
    """Base class of every search space (see the module docstring)."""

    @property
    def searchable(self) -> bool:
        """Whether the architecture parameters are being searched."""
        return bool(self.arch_parameters())

    def arch_parameters(self) -> List[nn.Parameter]:
        raise NotImplementedError

    def set_step(self, step: Optional[str]) -> None:
        """Relaxation of the next training forward (one of ``STEPS``, or
        ``None``: the configured one)."""
        raise NotImplementedError

    def set_temperature(self, temperature: float) -> None:
        """Temperature of sampled relaxations (no-op by default)."""

    def regularizer(self) -> Tensor:
        raise NotImplementedError

    def derive(self) -> BaseArchitecture:
        raise NotImplementedError

    def fix(self, arch: BaseArchitecture, source: str = 'architecture'
            ) -> None:
        raise NotImplementedError

    def log_stats(self) -> Dict[str, float]:
        return {}

    def after_arch_update(self) -> None:
        """Called by the algorithm after each architecture update (every
        rank, same architecture parameters; no-op by default)."""

    @property
    def leaves_parameters_unused(self) -> bool:
        """Whether a training forward (either step of a search, or plain
        training) may leave trainable parameters without a gradient
        (default: no)."""
        return False


def check_step(step: Optional[str], owner: str) -> Optional[str]:
    """Return ``step`` if it is one of :data:`STEPS` or ``None``, else
    raise."""
    if step is not None and step not in STEPS:
        raise ValueError(f'{owner}: unknown step {step!r}; steps are '
                         f'{STEPS}')
    return step
