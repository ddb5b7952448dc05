"""mmengine's ``Evaluator`` plus the multi-task gain Delta_m."""
import json
import logging
from typing import Collection, Dict, List, Optional, Sequence, Union

from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.logging import print_log

from mmseg.registry import EVALUATOR

#: Metric names (the part after the last '/') where lower is better.
DEFAULT_LOWER_IS_BETTER = frozenset({
    'mean', 'median', 'rmse', 'rmse_log', 'abs_rel', 'sq_rel', 'abs_err',
    'log10', 'silog'
})

#: A baseline: ``{metric key: value}`` or ``{task: {metric key: value}}``.
Baseline = Union[Dict[str, float], Dict[str, Dict[str, float]]]


def is_lower_better(key: str,
                    lower_is_better: Collection[str] = DEFAULT_LOWER_IS_BETTER
                    ) -> bool:
    """Whether lower values of a metric are better.

    Args:
        key: the metric key; it matches ``lower_is_better`` in full or by
            the part after its last '/'.
        lower_is_better: metric names where lower is better.

    Returns:
        Whether lower values of ``key`` are better.
    """
    return key in lower_is_better or \
        key.rsplit('/', 1)[-1] in lower_is_better


def delta_m(metrics: Dict[str, float],
            baseline: Dict[str, float],
            lower_is_better: Collection[str] = DEFAULT_LOWER_IS_BETTER
            ) -> float:
    """Multi-task gain (%) of ``metrics`` over ``baseline``.

    ``1/K * sum_k (-1)^{l_k} (M_k - B_k) / B_k * 100`` over the K keys of
    ``baseline``, ``l_k = 1`` where lower is better (Maninis et al.,
    "Attentive Single-Tasking of Multiple Tasks", CVPR 2019; README,
    "Metrics and the sign of delta_m"): **positive = better than the
    baseline**.

    Args:
        metrics: evaluated metrics; may hold keys the baseline lacks.
        baseline: reference value of every metric that enters the gain.
        lower_is_better: metric names where lower is better (see
            :func:`is_lower_better`).

    Returns:
        The gain in percent; ``nan`` (with a warning naming the key) when a
        baseline value is 0, whose relative change is undefined (e.g. a
        barely trained baseline with no pixel within 11.25 degrees).
    """
    if not baseline:
        raise ValueError('delta_m needs a non-empty baseline')
    terms = []
    for key, ref in baseline.items():
        if key not in metrics:
            raise KeyError(f'baseline key {key!r} is not reported by any '
                           f'metric; available: {sorted(metrics)}')
        if ref == 0:
            print_log(f'delta_m: the baseline {key!r} is 0, its relative '
                      'change is undefined: delta_m is nan', 'current',
                      logging.WARNING)
            return float('nan')
        sign = -1.0 if is_lower_better(key, lower_is_better) else 1.0
        terms.append(sign * (float(metrics[key]) - ref) / ref * 100.0)
    return sum(terms) / len(terms)


def _check_values(values: dict, source: str) -> Dict[str, float]:
    """``values`` as ``{str: float}``; an error for a non-number or 0."""
    if not values:
        raise ValueError(f'{source}: expected a non-empty mapping from '
                         f'metric key to value, got {values!r}')
    out = {}
    for key, value in values.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f'{source}: value of {key!r} must be a '
                             f'number, got {value!r}')
        if value == 0:
            raise ValueError(f'{source}: value of {key!r} is 0; the '
                             'relative gain is undefined')
        out[str(key)] = float(value)
    return out


def _load_baseline(
        baseline: Union[Baseline, str]) -> Dict[str, Dict[str, float]]:
    """Read and check a baseline.

    Args:
        baseline: ``{metric key: value}``, ``{task: {metric key: value}}``
            (every value a mapping), or the path of a JSON file holding
            either.

    Returns:
        ``{task: {metric key: value}}``; a flat baseline is the one task
        ``''``.
    """
    source = 'baseline'
    if isinstance(baseline, str):
        source = baseline
        with open(baseline) as f:
            baseline = json.load(f)
    if not isinstance(baseline, dict) or not baseline:
        raise ValueError(f'{source}: expected a non-empty mapping from '
                         f'metric key (or task) to value, got {baseline!r}')
    nested = [isinstance(v, dict) for v in baseline.values()]
    if not any(nested):
        return {'': _check_values(baseline, source)}
    if not all(nested):
        raise ValueError(f'{source}: either every value is a number '
                         '({metric key: value}) or every value is a mapping '
                         '({task: {metric key: value}}), got a mix')
    tasks = {
        str(task): _check_values(values, f'{source}[{task!r}]')
        for task, values in baseline.items()
    }
    owner: Dict[str, str] = {}
    for task, values in tasks.items():
        for key in values:
            if key in owner:
                raise ValueError(f'{source}: metric {key!r} is in the '
                                 f'baseline of both {owner[key]!r} and '
                                 f'{task!r}')
            owner[key] = task
    return tasks


@EVALUATOR.register_module()
class MultiTaskEvaluator(Evaluator):
    """mmengine's ``Evaluator`` that also reports the multi-task gain.

    ``metrics`` are built, fed, given the ``dataset_meta`` and evaluated
    exactly as by mmengine's ``Evaluator`` (any mmseg, mmpretrain or project
    metric; a key reported by two metrics is mmengine's error: give one a
    ``prefix``). With ``baseline`` (single-task reference results) the
    results also hold::

        delta_m = 1/K * sum_k (-1)^{l_k} * (M_k - B_k) / B_k * 100

    over the K baseline keys, where ``l_k = 1`` if lower is better for
    metric k (:func:`delta_m`). **Positive delta_m means better than the
    baseline** on average. A baseline grouped by task, e.g.
    ``dict(seg=dict(mIoU=33.5), normal=dict(mean=15.6, median=12.3))``,
    adds ``delta_m/<task>`` over the keys of that task, and ``delta_m``
    over all of them; :attr:`gain_keys` names the keys of each gain. A
    baseline key that no metric reports is an error naming it.

    mmengine's ``Runner.build_evaluator`` builds a ``val_evaluator`` /
    ``test_evaluator`` dict that has a ``metrics`` key from the EVALUATOR
    registry::

        val_evaluator = dict(
            type='MultiTaskEvaluator',
            metrics=[dict(type='IoUMetric', iou_metrics=['mIoU']),
                     dict(type='SurfaceNormalMetric')],
            baseline=dict(seg=dict(mIoU=33.5), normal=dict(mean=15.6)))

    Args:
        metrics: metric configs or instances, as for mmengine's
            ``Evaluator``.
        baseline: ``{metric key: value}``, ``{task: {metric key: value}}``
            or the path of a JSON file holding either. Without it no gain
            is reported.
        lower_is_better: metric keys (full key or the part after the last
            '/') where lower is better. Defaults to
            :data:`DEFAULT_LOWER_IS_BETTER` (angle errors, rmse, rmse_log,
            abs_rel, sq_rel, abs_err, log10, silog); every other metric
            (mIoU, aAcc, within-threshold %, depth d1..d3, accuracy, ...)
            counts as higher-is-better.
    """

    def __init__(self,
                 metrics: Union[dict, BaseMetric, Sequence],
                 baseline: Optional[Union[Baseline, str]] = None,
                 lower_is_better: Optional[Sequence[str]] = None) -> None:
        super().__init__(metrics)
        self.lower_is_better = (frozenset(lower_is_better)
                                if lower_is_better is not None else
                                DEFAULT_LOWER_IS_BETTER)
        #: ``{result key: baseline}`` of every gain reported
        self.baselines: Dict[str, Dict[str, float]] = {}
        if baseline is not None:
            tasks = _load_baseline(baseline)
            self.baselines['delta_m'] = {
                k: v
                for values in tasks.values() for k, v in values.items()
            }
            if '' not in tasks:
                self.baselines.update(
                    {f'delta_m/{t}': values
                     for t, values in tasks.items()})
            print_log(
                'MultiTaskEvaluator: ' + '; '.join(
                    f'{name} over {keys}'
                    for name, keys in self.gain_keys.items()),
                logger='current')

    @property
    def baseline(self) -> Optional[Dict[str, float]]:
        """The baseline of ``delta_m`` (every key), ``None`` without one."""
        return self.baselines.get('delta_m')

    @property
    def gain_keys(self) -> Dict[str, List[str]]:
        """``{result key: metric keys that enter it}`` of every gain."""
        return {name: list(b) for name, b in self.baselines.items()}

    def is_lower_better(self, key: str) -> bool:
        """Whether lower values of metric ``key`` are better.

        Args:
            key: a metric key.

        Returns:
            Whether lower is better under this evaluator's
            ``lower_is_better``.
        """
        return is_lower_better(key, self.lower_is_better)

    def delta_m(self, metrics: Dict[str, float]) -> float:
        """:func:`delta_m` of ``metrics`` against this evaluator's baseline.

        Args:
            metrics: evaluated metrics.

        Returns:
            The gain in percent over every baseline key.
        """
        return delta_m(metrics, self.baseline or {}, self.lower_is_better)

    def gains(self, metrics: Dict[str, float]) -> Dict[str, float]:
        """Every gain of ``metrics``: ``delta_m`` and ``delta_m/<task>``.

        Args:
            metrics: evaluated metrics.

        Returns:
            ``{result key: gain in percent}``; empty without a baseline.
        """
        return {
            name: delta_m(metrics, b, self.lower_is_better)
            for name, b in self.baselines.items()
        }

    def evaluate(self, size: int) -> dict:
        """Evaluate every metric (mmengine's ``Evaluator.evaluate``) and add
        the gains.

        Args:
            size: length of the whole evaluated data set.

        Returns:
            The metrics' results and the gains.
        """
        metrics = super().evaluate(size)
        gains = self.gains(metrics)
        clash = sorted(set(gains) & set(metrics))
        if clash:
            raise ValueError(f'MultiTaskEvaluator: a metric reports {clash}, '
                             'the key(s) of the multi-task gain; set a '
                             'prefix on that metric')
        metrics.update(gains)
        return metrics
