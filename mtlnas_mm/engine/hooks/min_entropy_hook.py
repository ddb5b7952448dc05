"""Minimum-entropy regularisation and gate-temperature schedule."""
from typing import Optional, Sequence, Tuple

from mmengine.hooks import Hook

from mmseg.registry import HOOKS
from .utils import nas_algorithm


def poly_ramp(progress: float, start: float, end: float, period: Tuple[float,
                                                                       float],
              power: float) -> float:
    """MTL-NAS ``poly`` schedule: ``start`` until ``period[0]``, then
    ``start + (end - start) * ((p - a) / (b - a)) ** power`` until
    ``period[1]``, then ``end`` (``p`` = fraction of the run done).

    ``period=(0, 0)`` gives ``start`` at iteration 0 and ``end`` from
    iteration 1 on, the official default for the entropy weight.
    """
    a, b = period
    if progress <= a:
        return start
    if progress >= b:
        return end
    return start + (end - start) * ((progress - a) / (b - a))**power


@HOOKS.register_module()
class MinEntropyHook(Hook):
    """Drive the gates to 0/1 and anneal the sampled gates' temperature.

    Before every training iteration it gives the NAS algorithm

    * its regulariser weight lambda_H(t) (``set_regularizer_weight``): the
      coefficient of the mean binary entropy of the gates, which the
      algorithm adds to its *architecture* loss only (Gao et al., CVPR
      2020, Sec. 3.3).  Default: 0 at t=0, then a constant 10
      (``period=(0, 0)``); ``period=(0, 1)`` is a linear ramp;
    * the temperature of the relaxed-Bernoulli gates of the weight step
      (``set_temperature``),
      ``tau(t) = max(min_temperature, (1 - t/T) ** temperature_power)``
      (``temperature_power=0`` keeps tau = 1).

    Both are pure functions of ``runner.iter``, so a resumed run continues
    the schedules exactly without stored state.  After every iteration it
    publishes ``entropy_weight``, ``temperature`` and the search space's
    statistics (``log_stats``: gate mean, fraction of near-binary gates,
    kept edges) through the message hub, so they appear in mmengine's logs
    and visualiser backends.

    Args:
        entropy_weight: lambda_H at the end of the ramp (10 in MTL-NAS).
        entropy_period: ramp period as fractions of ``max_iters``.
        entropy_power: ramp power.
        temperature_power: exponent of the temperature schedule (2).
        min_temperature: floor of tau.  The default 1e-3 is the project's
            guard against a zero temperature; with power 2 it acts in the
            last 3.2 % of the iterations, where the sampled gates are
            near-binary either way.  The official schedule has no floor:
            0, which the official search config sets (with ``max_iters`` =
            20001 tau stays above 2.5e-9 in training, and ``FusionEdges``
            samples finite gates down to 0).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 entropy_weight: float = 10.0,
                 entropy_period: Sequence[float] = (0.0, 0.0),
                 entropy_power: float = 1.0,
                 temperature_power: float = 2.0,
                 min_temperature: float = 1e-3) -> None:
        if entropy_weight < 0:
            raise ValueError('MinEntropyHook: entropy_weight must be >= 0')
        if len(entropy_period) != 2 or entropy_period[0] > entropy_period[1]:
            raise ValueError('MinEntropyHook: entropy_period must be '
                             f'(begin, end) with begin <= end, got '
                             f'{entropy_period}')
        if not min_temperature >= 0:
            raise ValueError('MinEntropyHook: min_temperature must be >= 0, '
                             f'got {min_temperature!r}')
        self.entropy_weight = entropy_weight
        self.entropy_period = tuple(entropy_period)
        self.entropy_power = entropy_power
        self.temperature_power = temperature_power
        self.min_temperature = min_temperature

    def schedule(self, it: int, max_iters: int) -> Tuple[float, float]:
        """``(entropy_weight, temperature)`` at iteration ``it``."""
        progress = it / max(1, max_iters)
        weight = poly_ramp(progress, 0.0, self.entropy_weight,
                           self.entropy_period, self.entropy_power)
        temperature = max(self.min_temperature,
                          (1.0 - progress)**self.temperature_power)
        return weight, temperature

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        algorithm = nas_algorithm(runner, 'MinEntropyHook')
        weight, temperature = self.schedule(runner.iter, runner.max_iters)
        algorithm.set_regularizer_weight(weight)
        algorithm.set_temperature(temperature)
        runner.message_hub.update_scalar('train/entropy_weight', weight)
        runner.message_hub.update_scalar('train/temperature', temperature)

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        stats = nas_algorithm(runner, 'MinEntropyHook').log_stats()
        for key, value in stats.items():
            runner.message_hub.update_scalar(f'train/{key}', value)
