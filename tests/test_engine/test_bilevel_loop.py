"""Bilevel optimizer constructor, training step and split sampler."""
import copy
import itertools

import pytest
import torch
from mmengine.optim import OptimWrapperDict

import mtlnas_mm  # noqa: F401
from mtlnas_mm.engine.optimizers import BilevelOptimWrapperConstructor
from mtlnas_mm.engine.runner import MixedSplitSampler
from mtlnas_mm.models import BaseSearchSpace
from builders import ToySearchModel, toy_batch, toy_constructor


def test_constructor_splits_parameters_and_applies_lr_mult():
    model = ToySearchModel()
    ow = toy_constructor(
        paramwise_cfg=dict(custom_keys={'mixer': dict(lr_mult=100.0)}))(model)
    assert isinstance(ow, OptimWrapperDict)
    arch_params = [
        p for g in ow['arch'].optimizer.param_groups for p in g['params']
    ]
    weight_params = [
        p for g in ow['weight'].optimizer.param_groups for p in g['params']
    ]
    alpha = model.network.gates.alpha
    assert len(arch_params) == 1 and arch_params[0] is alpha
    assert all(p is not alpha for p in weight_params)
    assert len(weight_params) == len(list(model.parameters())) - 1
    lrs = {id(p): g['lr'] for g in ow['weight'].optimizer.param_groups
           for p in g['params']}
    assert lrs[id(model.network.mixer.weight)] == pytest.approx(10.0)
    assert lrs[id(model.network.body.weight)] == pytest.approx(0.1)


def test_constructor_rejects_bad_keys():
    with pytest.raises(KeyError, match='missing'):
        BilevelOptimWrapperConstructor(dict(weight=dict(
            optimizer=dict(type='SGD', lr=0.1))))
    with pytest.raises(KeyError, match='unknown'):
        BilevelOptimWrapperConstructor(dict(weights=dict(), arch=dict()))
    # a custom key that matches no parameter is an error, not a silent no-op
    with pytest.raises(KeyError, match=r"\['neck'\] match no parameter"):
        toy_constructor(paramwise_cfg=dict(
            custom_keys={'neck': dict(lr_mult=100.0)}))(ToySearchModel())


def test_bilevel_step_has_no_gradient_leak():
    """Each optimizer must step with the gradient of its own loss only."""
    torch.manual_seed(0)
    model = ToySearchModel()
    model.network.gates.record_updates = True
    ow = toy_constructor()(model)
    arch_batch, weight_batch = toy_batch(1), toy_batch(2)
    # expected gradients, each computed in isolation
    ref = ToySearchModel()
    ref.load_state_dict(model.state_dict())
    ref.zero_grad()
    ref(**arch_batch, mode='loss')['toy.loss'].backward()
    expected_alpha_grad = ref.network.gates.alpha.grad.clone()

    seen = {}
    arch_step, weight_step = ow['arch'].step, ow['weight'].step

    def spy_arch(*a, **k):
        seen['alpha'] = model.network.gates.alpha.grad.clone()
        return arch_step(*a, **k)

    def spy_weights(*a, **k):
        seen['body'] = model.network.body.weight.grad.clone()
        # training gradient alone, at the current (post-arch-step) alphas
        now = copy.deepcopy(model)
        now.zero_grad()
        now(**weight_batch, mode='loss')['toy.loss'].backward()
        seen['expected_body'] = now.network.body.weight.grad.clone()
        return weight_step(*a, **k)

    ow['arch'].step, ow['weight'].step = spy_arch, spy_weights
    log = model.train_step(dict(weight=weight_batch, arch=arch_batch), ow)
    torch.testing.assert_close(seen['alpha'], expected_alpha_grad)
    # the body gradient of the architecture step was discarded before the
    # weight step: the weight optimizer saw exactly the training gradient
    torch.testing.assert_close(seen['body'], seen['expected_body'])
    # the steps (the space told after the architecture update, at the
    # updated alphas), then back to the configured training relaxation
    steps = model.network.gates.steps
    assert steps[0] == 'arch' and steps[2:] == ['weight', None]
    assert steps[1][0] == 'updated'
    assert steps[1][1] == model.network.gates.alpha.detach().tolist()
    assert steps[1][1] != [0.0, 0.0]
    assert 'arch.loss' in log and 'loss' in log
    # nothing is left behind for the next iteration
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0
               for p in model.parameters())


def test_entropy_term_only_in_arch_step():
    model = ToySearchModel()
    model.set_regularizer_weight(10.0)
    ow = toy_constructor()(model)
    log = model.train_step(dict(weight=toy_batch(3), arch=toy_batch(4)), ow)
    assert 'arch.loss_regularizer' in log
    assert 'loss_regularizer' not in log
    assert log['arch.regularizer'] == pytest.approx(0.6931, abs=1e-3)


def test_non_finite_loss_stops_before_update():
    model = ToySearchModel()
    ow = toy_constructor()(model)
    bad = toy_batch(5)
    bad['data_samples'][0, 0] = float('nan')
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(FloatingPointError, match=r'toy\.loss'):
        model.train_step(dict(weight=toy_batch(6), arch=bad), ow)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_mixed_split_sampler_parts_are_disjoint_and_cover():
    data = list(range(11))
    w = MixedSplitSampler(data, part='weight', seed=3)
    a = MixedSplitSampler(data, part='arch', seed=3)
    for round_idx in range(3):
        wi, ai = w.part_indices(round_idx), a.part_indices(round_idx)
        assert not set(wi) & set(ai)
        assert sorted(wi + ai) == data
    assert w.part_indices(0) != w.part_indices(1)  # redrawn per round
    it = iter(w)
    first = [next(it) for _ in range(len(w.part_indices(0)))]
    assert first == w.part_indices(0)
    with pytest.raises(ValueError, match='part'):
        MixedSplitSampler(data, part='val')


def test_a_search_space_must_implement_the_contract():
    class Incomplete(BaseSearchSpace):
        def arch_parameters(self):
            return []

    with pytest.raises(TypeError, match='abstract'):
        Incomplete()


@pytest.mark.parametrize('rounding, sizes', [('round', (398, 397)),
                                             ('floor', (397, 398))])
def test_mixed_split_rounding_gives_the_official_sizes(rounding, sizes):
    """795 images at ratio 0.5: 398 / 397 by default, the official
    int(0.5 * 795) = 397 weight / 398 search images with 'floor'."""
    data = list(range(795))
    parts = [MixedSplitSampler(data, part=p, seed=0, rounding=rounding)
             for p in ('weight', 'arch')]
    assert tuple(len(s.part_indices(0)) for s in parts) == sizes
    with pytest.raises(ValueError, match='rounding'):
        MixedSplitSampler(data, rounding='ceil')


@pytest.mark.parametrize('size', [5, 11, 60, 240, 794, 795])
@pytest.mark.parametrize('batch_size', [1, 2, 3, 8])
@pytest.mark.parametrize('world_size', [1, 2])
def test_weight_and_arch_batches_never_share_an_image(
        size, batch_size, world_size, monkeypatch):
    """In every iteration, over all ranks, the weight batches and the
    architecture batches are disjoint, whatever the set and batch size
    (before, the two streams drifted apart at pass boundaries); each round
    shows the larger part completely."""
    from mtlnas_mm.engine.runner import samplers
    data = list(range(size))
    streams = {}
    for part in ('weight', 'arch'):
        streams[part] = []
        for rank in range(world_size):
            monkeypatch.setattr(samplers, 'get_dist_info',
                                lambda r=rank: (r, world_size))
            streams[part].append(MixedSplitSampler(
                data, part=part, batch_size=batch_size, seed=7))
    rounds = streams['weight'][0].round_iters
    assert rounds == streams['arch'][0].round_iters
    for it in range(3 * rounds + 2):
        batch = {part: {i for s in samplers_ for i in s.batch_indices(it)}
                 for part, samplers_ in streams.items()}
        assert not batch['weight'] & batch['arch'], it
    larger = max(streams.values(), key=lambda s: len(s[0].part_indices(0)))
    seen = {i for it in range(rounds) for s in larger
            for i in s.batch_indices(it)}
    assert seen == set(larger[0].part_indices(0))
    # the iterator yields the batches in order, and skip() resumes exactly
    sampler = streams['arch'][0]
    flat = list(itertools.islice(iter(sampler), 5 * batch_size))
    assert flat == [i for it in range(5) for i in sampler.batch_indices(it)]
    sampler.skip(2 * batch_size)
    assert list(itertools.islice(iter(sampler), batch_size)) == \
        sampler.batch_indices(2)
