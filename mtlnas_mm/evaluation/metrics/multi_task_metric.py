"""Several task metrics under one evaluator, plus the multi-task gain."""
import json
from typing import (Any, Collection, Dict, List, Optional, Sequence,
                    Union)

from mmengine.evaluator import BaseMetric, Evaluator

from mmseg.registry import EVALUATOR, METRICS

#: Metric names (the part after the last '/') where lower is better.
DEFAULT_LOWER_IS_BETTER = frozenset({
    'mean', 'median', 'rmse', 'rmse_log', 'abs_rel', 'sq_rel', 'abs_err',
    'log10', 'silog'
})


def is_lower_better(key: str,
                    lower_is_better: Collection[str] = DEFAULT_LOWER_IS_BETTER
                    ) -> bool:
    """Whether lower values of metric ``key`` (full key or the part after
    the last '/') are better."""
    return key in lower_is_better or \
        key.rsplit('/', 1)[-1] in lower_is_better


def delta_m(metrics: Dict[str, float],
            baseline: Dict[str, float],
            lower_is_better: Collection[str] = DEFAULT_LOWER_IS_BETTER
            ) -> float:
    """Multi-task gain (%) of ``metrics`` over ``baseline``.

    ``1/K * sum_k (-1)^{l_k} (M_k - B_k) / B_k * 100`` over the K keys of
    ``baseline``, ``l_k = 1`` where lower is better: **positive = better
    than the baseline**.
    """
    if not baseline:
        raise ValueError('delta_m needs a non-empty baseline')
    terms = []
    for key, ref in baseline.items():
        if key not in metrics:
            raise KeyError(f'baseline key {key!r} is not reported by any '
                           f'metric; available: {sorted(metrics)}')
        sign = -1.0 if is_lower_better(key, lower_is_better) else 1.0
        terms.append(sign * (float(metrics[key]) - ref) / ref * 100.0)
    return sum(terms) / len(terms)


@METRICS.register_module()
class MultiTaskMetric(BaseMetric):
    """Run several metrics as one and report the multi-task gain Delta_m.

    Each entry of ``metrics`` (a config dict or a built ``BaseMetric``, e.g.
    mmseg ``IoUMetric`` and :class:`SurfaceNormalMetric`) receives every
    ``process`` call and the ``dataset_meta``; ``evaluate`` returns the
    union of their keys (a key reported twice is an error: give one metric
    a ``prefix``).

    With ``baseline`` (single-task reference results: a dict such as
    ``dict(mIoU=33.5, mean=15.6)`` or the path of a JSON file holding one)
    it also reports::

        delta_m = 1/K * sum_k (-1)^{l_k} * (M_k - B_k) / B_k * 100

    over the K baseline keys, where ``l_k = 1`` if lower is better for
    metric k. **Positive delta_m means better than the baseline** on
    average. A baseline key that no metric reports is an error naming it.

    Args:
        metrics (list): metric configs or instances.
        baseline (dict | str, optional): reference values or a JSON path.
        lower_is_better (Sequence[str], optional): metric keys (full key or
            the part after the last '/') where lower is better. Defaults to
            angle errors, rmse, rmse_log, abs_rel, sq_rel, abs_err, log10,
            silog; every other metric (mIoU, aAcc, within-threshold %,
            depth d1..d3, ...) counts as higher-is-better.
        collect_device, prefix, collect_dir: see mmengine ``BaseMetric``.

    Config forms: ``val_evaluator = dict(type='MultiTaskMetric',
    metrics=[...])`` (mmengine's runner sends a dict with a ``metrics`` key
    to the EVALUATOR registry, where :class:`MultiTaskEvaluator` answers to
    this name) and ``val_evaluator = [dict(type='MultiTaskMetric',
    metrics=[...])]`` both work.
    """

    def __init__(self,
                 metrics: Sequence[Union[dict, BaseMetric]],
                 baseline: Optional[Union[Dict[str, float], str]] = None,
                 lower_is_better: Optional[Sequence[str]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix,
                         collect_dir=collect_dir)
        if not metrics:
            raise ValueError('MultiTaskMetric needs at least one metric')
        self.metrics: List[BaseMetric] = [
            m if isinstance(m, BaseMetric) else METRICS.build(m)
            for m in metrics
        ]
        self.baseline = self._load_baseline(baseline)
        self.lower_is_better = (frozenset(lower_is_better)
                                if lower_is_better is not None else
                                DEFAULT_LOWER_IS_BETTER)

    @staticmethod
    def _load_baseline(baseline: Optional[Union[Dict[str, float], str]]
                       ) -> Optional[Dict[str, float]]:
        if baseline is None:
            return None
        source = 'baseline'
        if isinstance(baseline, str):
            source = baseline
            with open(baseline) as f:
                baseline = json.load(f)
        if not isinstance(baseline, dict) or not baseline:
            raise ValueError(f'{source}: expected a non-empty mapping from '
                             f'metric key to value, got {baseline!r}')
        out = {}
        for key, value in baseline.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(f'{source}: value of {key!r} must be a '
                                 f'number, got {value!r}')
            if value == 0:
                raise ValueError(f'{source}: value of {key!r} is 0; the '
                                 'relative gain is undefined')
            out[str(key)] = float(value)
        return out

    @property
    def dataset_meta(self) -> Optional[dict]:
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        self._dataset_meta = dataset_meta
        for m in self.metrics:
            m.dataset_meta = dataset_meta

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        for m in self.metrics:
            m.process(data_batch, data_samples)

    def compute_metrics(self, results: list) -> dict:
        raise NotImplementedError(
            'MultiTaskMetric evaluates through its sub-metrics')

    def is_lower_better(self, key: str) -> bool:
        """Whether lower values of metric ``key`` are better."""
        return is_lower_better(key, self.lower_is_better)

    def delta_m(self, metrics: Dict[str, float]) -> float:
        """:func:`delta_m` against this metric's ``baseline``."""
        return delta_m(metrics, self.baseline or {}, self.lower_is_better)

    def evaluate(self, size: int) -> dict:
        """Evaluate every sub-metric (each collects its results across
        ranks), merge their keys and add ``delta_m``."""
        out: Dict[str, float] = {}
        owner: Dict[str, str] = {}
        for m in self.metrics:
            for key, value in m.evaluate(size).items():
                if key in out:
                    raise ValueError(
                        f'metric key {key!r} is reported by both '
                        f'{owner[key]} and {type(m).__name__}; set a prefix '
                        'on one of them')
                out[key] = value
                owner[key] = type(m).__name__
        if self.baseline:
            out['delta_m'] = self.delta_m(out)
        if self.prefix:
            out = {f'{self.prefix}/{k}': v for k, v in out.items()}
        return out


@EVALUATOR.register_module(name='MultiTaskMetric')
class MultiTaskEvaluator(Evaluator):
    """An ``Evaluator`` holding one :class:`MultiTaskMetric`.

    mmengine's ``Runner.build_evaluator`` treats a config dict that has a
    ``metrics`` key as an evaluator config and builds it from the EVALUATOR
    registry; registering this class there under the name
    ``'MultiTaskMetric'`` makes ``val_evaluator = dict(type=
    'MultiTaskMetric', metrics=[...], baseline=...)`` work.

    Args:
        **kwargs: :class:`MultiTaskMetric` arguments.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(metrics=[MultiTaskMetric(**kwargs)])
