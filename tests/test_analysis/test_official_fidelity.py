"""The project's official config computes what the official MTL-NAS code
computes: its search, run on the seeded weights, batches, gate uniforms
and dropout masks of :mod:`mtlnas_mm.analysis.fidelity`, agrees with the
stored official trace (``tests/data/official_fixture.json``, written by
``tools/analysis_tools/official_fixture.py`` from a checkout of
bhpfelix/MTLNAS), and one changed recipe value breaks the agreement.  No
official checkout is needed.
"""
import json
import os.path as osp

import pytest

from mtlnas_mm.analysis import fidelity

FIXTURE = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'data',
                   'official_fixture.json')
#: Measured (the project against the official code run live, float64,
#: this fixture's inputs, 1 and 2 threads alike), the largest relative
#: difference over the 5 iterations: losses 5.0e-11 (mmseg's cross-entropy
#: divides by the valid-pixel count + float32 eps, 1.2e-7 / 2435 pixels =
#: 4.9e-11; without that eps every loss agrees to 1.6e-13), gate gradients
#: 3.1e-10 (1.3e-12 at iteration 1), gates 2.1e-13, tensor norms 1.2e-12,
#: lrs 3.5e-16, schedule values 0.  For scale: a 1e-12 relative
#: perturbation of every seeded weight moves the gate gradients
#: (near-cancelling sums, the most sensitive quantity) by 7.9e-8 after 5
#: iterations (9.7e-10 at iteration 1) and everything else by 4.4e-10 at
#: most; the two implementations' rounding differs far less than that.
TOLERANCE = 1e-8
#: iteration 1 (nothing accumulated yet; measured 5.0e-11 at most)
TOLERANCE_FIRST = 1e-9
#: learning rates and schedule values are computed, not accumulated, and
#: some recipe changes move nothing else above TOLERANCE: PolyLR end 20002
#: -> 20001 moves the lr by 2.3e-9, max_iters 20001 -> 20000 the
#: temperature by 5e-9 (the norms by 1.1e-9 and 2.4e-10)
EXACT = 1e-12


def tolerance(quantity: str, iteration: int) -> float:
    if quantity == 'lr' or quantity.startswith('schedule.'):
        return EXACT
    return TOLERANCE_FIRST if iteration == 1 else TOLERANCE


@pytest.fixture(scope='module')
def official():
    with open(FIXTURE) as f:
        return json.load(f)


def _hook(cfg, key, value):
    hooks = [h for h in cfg.custom_hooks if h['type'] == 'MinEntropyHook']
    assert len(hooks) == 1
    hooks[0][key] = value


def test_fixture_matches_the_module(official):
    """The fixture was made with this module's inputs (else regenerate
    it with tools/analysis_tools/official_fixture.py)."""
    assert official['batch'] == [fidelity.BATCH, fidelity.HEIGHT,
                                 fidelity.WIDTH]
    assert official['norm_iters'] == [i for i in fidelity.NORM_ITERS
                                      if i <= official['iters']]
    assert len(official['iterations']) == official['iters'] == 5


def test_name_map_is_a_bijection(official):
    """Every parameter and BN buffer of the project's official-config
    model has exactly one official name and every official one is
    covered; the official gate order is the project's candidate edges."""
    name_map = fidelity.build_name_map(fidelity.build_project_model())
    names = official['iterations'][0]['norms']
    fidelity.check_bijection(name_map, list(names))
    assert [list(e) for e in name_map.edges] == official['edges']
    left_out = r'decoder\.conv_seg\.bias \(as net2\.head\.10\.bias\)'
    with pytest.raises(ValueError, match=left_out):
        fidelity.check_bijection(name_map, [n for n in names
                                            if n != 'net2.head.10.bias'])
    with pytest.raises(ValueError, match='no project tensor.*extra'):
        fidelity.check_bijection(name_map, list(names) + ['extra'])


@pytest.mark.slow
def test_project_trace_equals_official(official):
    """5 search iterations of the official config equal the official code
    (losses, gate gradients and gates, schedule, lrs, every tensor)."""
    project = fidelity.project_trace(official['seed'], official['iters'])
    result = fidelity.compare(official, project)
    bad = fidelity.failures(result, tolerance)
    assert not bad, '\n'.join(bad) + '\n' + fidelity.format_report(result)
    assert [e['iter'] for e in result['iterations']] == [1, 2, 3, 4, 5]
    assert set(result['iterations'][-1]['errors']) >= {
        'norms', 'alpha_grad', 'alpha', 'lr', 'loss.arch.total',
        'loss.weight.total', 'schedule.temperature'}


def _edit(key, cfg):
    if key == 'entropy_weight':
        _hook(cfg, 'entropy_weight', 5.0)
    elif key == 'temperature_power':
        _hook(cfg, 'temperature_power', 1.0)
    elif key == 'fusion_lr_mult':
        cfg.optim_wrapper.weight.paramwise_cfg.custom_keys[
            'backbone.edges']['lr_mult'] = 10.0
    elif key == 'arch_lr':
        cfg.optim_wrapper.arch.optimizer.lr = 3e-3
    elif key == 'weight_lr':
        cfg.optim_wrapper.weight.optimizer.lr = 2e-3
    elif key == 'poly_end':
        cfg.param_scheduler.weight[0].end = cfg.max_iters
    elif key == 'max_iters':
        cfg.train_cfg.max_iters = cfg.max_iters - 1
    else:
        raise KeyError(key)


#: recipe value -> (iterations it needs to show, a quantity it must move)
CHANGES = {
    'entropy_weight': (2, 'loss.arch.entropy'),
    'temperature_power': (2, 'schedule.temperature'),
    'max_iters': (2, 'schedule.temperature'),
    'fusion_lr_mult': (1, 'lr'),
    'arch_lr': (1, 'alpha'),
    'weight_lr': (1, 'lr'),
    'poly_end': (2, 'lr'),
}


@pytest.mark.slow
@pytest.mark.parametrize('key', sorted(CHANGES))
def test_changed_recipe_value_is_detected(official, key):
    """One recipe value changed in the official config: the comparison
    fails, on the quantity that value drives."""
    iters, quantity = CHANGES[key]
    cfg = fidelity.load_project_cfg()
    _edit(key, cfg)
    project = fidelity.project_trace(official['seed'], iters, cfg=cfg)
    bad = fidelity.failures(fidelity.compare(official, project), tolerance)
    assert any(f': {quantity} differs' in line for line in bad), bad
