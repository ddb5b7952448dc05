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
import contextlib
from abc import ABCMeta, abstractmethod
from typing import (Dict, Iterator, List, Mapping, NamedTuple, Optional,
                    Tuple, Type, Union)

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

# the step names live in structures; re-exported here for the spaces
from mtlnas_mm.structures import (ARCH_STEP, STEPS, WEIGHT_STEP,  # noqa: F401
                                  BaseArchitecture, check_choice)


class SpaceModes(NamedTuple):
    """The relaxation modes of one search space (gate modes, route modes):
    their names, which of them search, their per-step defaults, and the
    checks of a constructor's mode arguments, in one place.

    ``'fixed'`` (a derived architecture) must be one of ``modes``; it is
    the training mode exactly when an architecture is given.
    """
    owner: str  #: class name, for messages
    kind: str  #: ``'gate'`` or ``'route'``: the argument names' prefix
    modes: Tuple[str, ...]
    search_modes: Tuple[str, ...]
    search_default: str  #: training mode of a search
    step_defaults: Mapping[str, str]  #: mode of each step of a search
    #: modes a step may take (default: ``search_modes``)
    step_allowed: Optional[Mapping[str, Tuple[str, ...]]] = None

    def resolve(self, mode: Optional[str],
                step_modes: Optional[Mapping[str, str]], eval_mode: str,
                fixed: bool) -> Tuple[str, Dict[str, str], str]:
        """Check ``<kind>_mode``, ``step_<kind>_modes`` and
        ``eval_<kind>_mode``; returns the training mode (``None``: fixed
        with an architecture, else ``search_default``), every step's mode
        and the eval mode (``'fixed'`` with an architecture)."""
        name = f'{self.owner}: {self.kind}_mode'
        if mode is None:
            mode = 'fixed' if fixed else self.search_default
        check_choice(mode, self.modes, name)
        if (mode == 'fixed') != fixed:
            raise ValueError(
                f'{name}="fixed" needs "architecture" and "architecture" '
                f'needs {self.kind}_mode="fixed" (or None); got {mode!r}, '
                f'architecture={"given" if fixed else None}')
        steps = dict(self.step_defaults)
        for step, step_mode in (step_modes or {}).items():
            what = f'{self.owner}: step_{self.kind}_modes.{step}'
            check_step(step, what)
            allowed = (self.step_allowed or {}).get(step, self.search_modes)
            check_choice(step_mode, allowed,
                         f'{what} (the mode of a search step)')
            steps[step] = step_mode
        check_choice(eval_mode, [m for m in self.modes if m != 'fixed'],
                     f'{self.owner}: eval_{self.kind}_mode ("fixed" needs '
                     f'an architecture: use {self.kind}_mode)')
        return mode, steps, 'fixed' if fixed else eval_mode


class BaseSearchSpace(BaseModule, metaclass=ABCMeta):
    """Base class of every search space (see the module docstring); the
    abstract methods are the contract a space must implement."""

    @property
    def searchable(self) -> bool:
        """Whether the architecture parameters are being searched."""
        return bool(self.arch_parameters())

    @abstractmethod
    def arch_parameters(self) -> List[nn.Parameter]:
        """The parameters the architecture optimizer steps."""

    @abstractmethod
    def set_step(self, step: Optional[str]) -> None:
        """Relaxation of the next training forward (one of ``STEPS``, or
        ``None``: the configured one)."""

    def set_temperature(self, temperature: float) -> None:
        """Temperature of sampled relaxations (no-op by default)."""

    @abstractmethod
    def regularizer(self) -> Tensor:
        """The unweighted architecture regulariser (0-dim)."""

    @abstractmethod
    def derive(self) -> BaseArchitecture:
        """The current discrete architecture."""

    @abstractmethod
    def fix(self, arch: BaseArchitecture, source: str = 'architecture'
            ) -> None:
        """Become the derived sub-network of ``arch`` (errors name
        ``source``)."""

    def fix_configured(self, architecture: Union[str, dict,
                                                 BaseArchitecture],
                       arch_cls: Type[BaseArchitecture],
                       name: str = 'architecture') -> None:
        """:meth:`fix` with a constructor argument ``name``: an
        ``arch_cls`` object, its dict or a file (errors then name the
        file)."""
        source = architecture if isinstance(architecture, str) else name
        self.fix(arch_cls.build(architecture), source)

    #: the space's relaxation modes and the attribute holding its eval
    #: mode (e.g. ``eval_gate_mode``); ``None``: one way to evaluate only
    modes: Optional[SpaceModes] = None
    eval_mode_attr: Optional[str] = None

    @contextlib.contextmanager
    def eval_relaxation(self, mode: str) -> Iterator[None]:
        """Evaluate with relaxation ``mode`` instead of the configured
        eval mode inside the ``with`` block (e.g. MTL-NAS's soft
        ``'sigmoid'`` gates beside the thresholded ``'hard'`` ones: the
        search-evaluation gap); restored on exit, also on errors."""
        if self.modes is None or self.eval_mode_attr is None:
            raise NotImplementedError(
                f'{type(self).__name__} has no eval relaxation modes')
        check_choice(mode, [m for m in self.modes.modes if m != 'fixed'],
                     f'{type(self).__name__}.eval_relaxation')
        saved = getattr(self, self.eval_mode_attr)
        if saved == 'fixed':
            raise ValueError(f'{type(self).__name__}: a fixed architecture '
                             'has no relaxation to evaluate')
        setattr(self, self.eval_mode_attr, mode)
        try:
            yield
        finally:
            setattr(self, self.eval_mode_attr, saved)

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
