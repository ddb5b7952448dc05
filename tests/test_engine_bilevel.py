"""Bilevel optimizer constructor, training step and split sampler."""
import copy

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapperDict

import mtlnas_mm  # noqa: F401
from mtlnas_mm.engine import bilevel_train_step
from mtlnas_mm.engine.optimizers import BilevelOptimWrapperConstructor
from mtlnas_mm.engine.runner import MixedSplitSampler


class ToySearchModel(BaseModel):
    """y = w2 * (x * w1 + g * x * v) with gate g = sigmoid(alpha)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.neck = nn.Linear(4, 4, bias=False)
        self.head = nn.Linear(4, 1)
        self.alpha = nn.Parameter(torch.zeros(2))
        self.entropy_weight = 0.0
        self.modes = []
        self.train_cfg = dict(arch_gate_mode='sigmoid',
                              weight_gate_mode='relaxed')

    def arch_parameters(self):
        return [self.alpha]

    def set_gate_mode(self, mode):
        self.modes.append(mode)

    def entropy(self):
        p = torch.sigmoid(self.alpha)
        return -(p * p.log() + (1 - p) * (1 - p).log()).mean()

    def forward(self, inputs, data_samples=None, mode='tensor'):
        g = torch.sigmoid(self.alpha)
        h = self.body(inputs) + g[0] * self.neck(inputs) + g[1] * inputs
        out = self.head(h)
        if mode == 'loss':
            return {'toy.loss': ((out - data_samples)**2).mean()}
        return out


def _batch(seed):
    g = torch.Generator().manual_seed(seed)
    return dict(inputs=torch.randn(8, 4, generator=g),
                data_samples=torch.randn(8, 1, generator=g))


def _constructor(**weights_kw):
    weights = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9))
    weights.update(weights_kw)
    return BilevelOptimWrapperConstructor(
        dict(weights=weights,
             arch=dict(optimizer=dict(type='Adam', lr=0.01))))


def test_constructor_splits_parameters_and_applies_lr_mult():
    model = ToySearchModel()
    ow = _constructor(
        paramwise_cfg=dict(custom_keys={'neck': dict(lr_mult=100.0)}))(model)
    assert isinstance(ow, OptimWrapperDict)
    arch_params = [
        p for g in ow['arch'].optimizer.param_groups for p in g['params']
    ]
    weight_params = [
        p for g in ow['weights'].optimizer.param_groups for p in g['params']
    ]
    assert len(arch_params) == 1 and arch_params[0] is model.alpha
    assert all(p is not model.alpha for p in weight_params)
    assert len(weight_params) == len(list(model.parameters())) - 1
    lrs = {id(p): g['lr'] for g in ow['weights'].optimizer.param_groups
           for p in g['params']}
    assert lrs[id(model.neck.weight)] == pytest.approx(10.0)
    assert lrs[id(model.body.weight)] == pytest.approx(0.1)


def test_constructor_rejects_bad_keys():
    with pytest.raises(KeyError, match='missing'):
        BilevelOptimWrapperConstructor(dict(weights=dict(
            optimizer=dict(type='SGD', lr=0.1))))


def test_bilevel_step_has_no_gradient_leak():
    """Each optimizer must step with the gradient of its own loss only."""
    torch.manual_seed(0)
    model = ToySearchModel()
    ow = _constructor()(model)
    arch_batch, weight_batch = _batch(1), _batch(2)
    # expected gradients, each computed in isolation
    ref = ToySearchModel()
    ref.load_state_dict(model.state_dict())
    ref.zero_grad()
    ref(**arch_batch, mode='loss')['toy.loss'].backward()
    expected_alpha_grad = ref.alpha.grad.clone()

    seen = {}
    arch_step, weight_step = ow['arch'].step, ow['weights'].step

    def spy_arch(*a, **k):
        seen['alpha'] = model.alpha.grad.clone()
        return arch_step(*a, **k)

    def spy_weights(*a, **k):
        seen['body'] = model.body.weight.grad.clone()
        # training gradient alone, at the current (post-arch-step) alphas
        now = copy.deepcopy(model)
        now.zero_grad()
        now(**weight_batch, mode='loss')['toy.loss'].backward()
        seen['expected_body'] = now.body.weight.grad.clone()
        return weight_step(*a, **k)

    ow['arch'].step, ow['weights'].step = spy_arch, spy_weights
    log = bilevel_train_step(
        model, dict(weight=weight_batch, arch=arch_batch), ow)
    torch.testing.assert_close(seen['alpha'], expected_alpha_grad)
    # the body gradient of the architecture step was discarded before the
    # weight step: the weight optimizer saw exactly the training gradient
    torch.testing.assert_close(seen['body'], seen['expected_body'])
    assert model.modes == ['sigmoid', 'relaxed']
    assert 'arch.loss' in log and 'loss' in log
    # nothing is left behind for the next iteration
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0
               for p in model.parameters())


def test_entropy_term_only_in_arch_step():
    model = ToySearchModel()
    model.entropy_weight = 10.0
    ow = _constructor()(model)
    log = bilevel_train_step(model, dict(weight=_batch(3), arch=_batch(4)),
                             ow)
    assert 'arch.loss_entropy' in log
    assert 'loss_entropy' not in log
    assert log['arch.entropy'] == pytest.approx(0.6931, abs=1e-3)


def test_non_finite_loss_stops_before_update():
    model = ToySearchModel()
    ow = _constructor()(model)
    bad = _batch(5)
    bad['data_samples'][0, 0] = float('nan')
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(FloatingPointError, match=r'toy\.loss'):
        bilevel_train_step(model, dict(weight=_batch(6), arch=bad), ow)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_mixed_split_sampler_parts_are_disjoint_and_cover():
    data = list(range(11))
    w = MixedSplitSampler(data, part='weight', seed=3)
    a = MixedSplitSampler(data, part='arch', seed=3)
    for pass_idx in range(3):
        wi, ai = w.part_indices(pass_idx), a.part_indices(pass_idx)
        assert not set(wi) & set(ai)
        assert sorted(wi + ai) == data
    assert w.part_indices(0) != w.part_indices(1)  # redrawn per pass
    it = iter(w)
    first = [next(it) for _ in range(len(w.part_indices(0)))]
    assert first == w.part_indices(0)
    with pytest.raises(ValueError, match='part'):
        MixedSplitSampler(data, part='val')
