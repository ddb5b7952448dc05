"""LibMTL's multi-task gain ``delta_p`` beside the project's ``delta_m``.

Both compare metrics ``M`` with single-task baseline values ``B``, every
term signed so that **positive = better than the baseline**
(``l = 1`` for a lower-is-better metric, else 0), in percent:

``delta_m`` (:func:`~mtlnas_mm.evaluation.delta_m`; Maninis et al., CVPR
2019) is the plain mean over all ``K`` metric keys::

    delta_m = 100 / K * sum_k (-1)^{l_k} (M_k - B_k) / B_k

``delta_p`` (LibMTL's ``count_improvement`` in ``LibMTL/utils.py``) first
averages within each task, then over the ``T`` tasks::

    delta_p = 100 / T * sum_t 1/K_t sum_{k in t} (-1)^{l_k} (M_k - B_k) / B_k

They agree when every task has the same number of metrics. On LibMTL's
NYUv2 (segmentation 2 metrics, depth 2, normals 5) ``delta_m`` gives the
normals 5/9 of the weight, ``delta_p`` 1/3. LibMTL writes its weight as
``w = 1`` for higher-is-better, ``(-1)^w (B - N) / B``: the same sign.
LibMTL's function returns a fraction (0.0123) where its docstring and this
function say percent (1.23).
"""
from typing import Collection, Dict, List, Mapping, Optional, Sequence, Union

from mmseg.registry import EVALUATOR
from .evaluator import (DEFAULT_LOWER_IS_BETTER, MultiTaskEvaluator,
                        is_lower_better)

__all__ = ['delta_p', 'LibMTLEvaluator']


def delta_p(metrics: Mapping[str, float],
            baseline: Mapping[str, Mapping[str, float]],
            lower_is_better: Collection[str] = DEFAULT_LOWER_IS_BETTER
            ) -> float:
    """LibMTL's multi-task gain (%) of ``metrics`` over ``baseline``.

    ``100 / T * sum_t mean_{k in t} (-1)^{l_k} (M_k - B_k) / B_k`` over the
    T tasks of ``baseline`` (see the module docstring for the definitions
    of both gains): **positive = better than the baseline**.

    Args:
        metrics: evaluated metrics; may hold keys the baseline lacks.
        baseline: ``{task: {metric key: value}}``, every task non-empty and
            every value non-zero.
        lower_is_better: metric names where lower is better (full key or
            the part after its last '/').

    Returns:
        The gain in percent.
    """
    if not baseline:
        raise ValueError('delta_p needs a non-empty baseline '
                         '{task: {metric key: value}}')
    task_means: List[float] = []
    for task, values in baseline.items():
        if not isinstance(values, Mapping) or not values:
            raise ValueError(f'delta_p: baseline of task {task!r} must be a '
                             f'non-empty {{metric key: value}}, got '
                             f'{values!r}')
        terms = []
        for key, ref in values.items():
            if key not in metrics:
                raise KeyError(f'delta_p: baseline key {key!r} of task '
                               f'{task!r} is not reported by any metric; '
                               f'available: {sorted(metrics)}')
            if ref == 0:
                raise ValueError(f'delta_p: baseline value of {key!r} '
                                 f'(task {task!r}) is 0; the relative gain '
                                 'is undefined')
            sign = -1.0 if is_lower_better(key, lower_is_better) else 1.0
            terms.append(sign * (float(metrics[key]) - ref) / ref)
        task_means.append(sum(terms) / len(terms))
    return 100.0 * sum(task_means) / len(task_means)


@EVALUATOR.register_module()
class LibMTLEvaluator(MultiTaskEvaluator):
    """:class:`MultiTaskEvaluator` that also reports LibMTL's ``delta_p``.

    With a baseline grouped by task, e.g.::

        baseline=dict(
            seg=dict(mIoU=50.0, aAcc=75.0),
            depth={'depth/abs_err': 0.4, 'depth/abs_rel': 0.16},
            normal={'mean': 22.0, 'median': 16.0, 'within_11.25': 38.0,
                    'within_22.5': 64.0, 'within_30': 75.0})

    the results hold ``delta_m``, ``delta_m/<task>`` (the project's gains)
    and ``delta_p`` (:func:`delta_p`, the mean over tasks of
    ``delta_m/<task>``). The numbers above only show the format; the
    baseline is the single-task result of the same protocol.

    Args:
        metrics: metric configs or instances, as for mmengine's
            ``Evaluator``.
        baseline: ``{task: {metric key: value}}`` or the path of a JSON
            file holding it; a flat ``{metric key: value}`` is an error
            (``delta_p`` needs the tasks). Without it no gain is reported.
        lower_is_better: see :class:`MultiTaskEvaluator`.
    """

    def __init__(self,
                 metrics: Union[dict, Sequence],
                 baseline: Optional[Union[dict, str]] = None,
                 lower_is_better: Optional[Sequence[str]] = None) -> None:
        super().__init__(metrics, baseline, lower_is_better)
        prefix = 'delta_m/'
        #: ``{task: {metric key: baseline}}`` of ``delta_p``
        self.task_baselines: Dict[str, Dict[str, float]] = {
            name[len(prefix):]: values
            for name, values in self.baselines.items()
            if name.startswith(prefix)
        }
        if self.baselines and not self.task_baselines:
            raise ValueError('LibMTLEvaluator: delta_p needs a baseline '
                             'grouped by task ({task: {metric key: value}}), '
                             'got a flat {metric key: value}')

    @property
    def gain_keys(self) -> Dict[str, List[str]]:
        """``{result key: metric keys that enter it}`` of every gain."""
        keys = super().gain_keys
        # also read by MultiTaskEvaluator.__init__, before task_baselines
        if getattr(self, 'task_baselines', None):
            keys['delta_p'] = [
                k for values in self.task_baselines.values() for k in values
            ]
        return keys

    def gains(self, metrics: Dict[str, float]) -> Dict[str, float]:
        """``delta_m``, ``delta_m/<task>`` and ``delta_p`` of ``metrics``.

        Args:
            metrics: evaluated metrics.

        Returns:
            ``{result key: gain in percent}``; empty without a baseline.
        """
        out = super().gains(metrics)
        if self.task_baselines:
            out['delta_p'] = delta_p(metrics, self.task_baselines,
                                     self.lower_is_better)
        return out
