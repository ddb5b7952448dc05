"""Entropy/temperature schedules of MinEntropyHook."""
import pytest

import mtlnas_mm  # noqa: F401
from mtlnas_mm.engine.hooks import MinEntropyHook, poly_ramp


def test_poly_ramp_official_default_is_constant_after_first_iter():
    assert poly_ramp(0.0, 0.0, 10.0, (0.0, 0.0), 1.0) == 0.0
    assert poly_ramp(1e-4, 0.0, 10.0, (0.0, 0.0), 1.0) == 10.0
    assert poly_ramp(0.5, 0.0, 10.0, (0.0, 1.0), 1.0) == pytest.approx(5.0)
    assert poly_ramp(0.75, 0.0, 10.0, (0.5, 1.0), 2.0) == pytest.approx(2.5)
    assert poly_ramp(1.0, 0.0, 10.0, (0.0, 1.0), 1.0) == 10.0


def test_hook_schedule_matches_spec():
    hook = MinEntropyHook(entropy_weight=10.0)
    assert hook.schedule(0, 20000) == (0.0, 1.0)
    w, tau = hook.schedule(5000, 20000)
    assert w == 10.0 and tau == pytest.approx(0.5625)
    w, tau = hook.schedule(20000, 20000)
    assert tau == pytest.approx(1e-3)  # clamped, never 0
    ramp = MinEntropyHook(entropy_weight=10.0, entropy_period=(0.0, 1.0))
    assert ramp.schedule(2500, 10000)[0] == pytest.approx(2.5)
    with pytest.raises(ValueError):
        MinEntropyHook(entropy_period=(0.5, 0.1))
