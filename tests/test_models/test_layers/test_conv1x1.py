"""The oneDNN 1x1 convolutions compute what F.conv2d computes (outputs and
gradients to float rounding), and the network parameters, their names and
their seeded initialisation are unchanged."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import mtlnas_mm  # noqa: F401
from mmseg.registry import MODELS
from mtlnas_mm.models.layers import Conv1x1, conv1x1, set_conv1x1_backend
from mtlnas_mm.models.layers.conv1x1 import use_onednn
from mtlnas_mm.models.layers.fusion_ops import concat_conv1x1

needs_onednn = pytest.mark.skipif(not torch.backends.mkldnn.is_available(),
                                  reason='torch built without oneDNN')


def assert_rounding_close(a, ref):
    """Equal up to float rounding of sums over hundreds of channels."""
    assert a.shape == ref.shape
    assert float((a - ref).abs().max()) <= 1e-5 * float(ref.abs().max())


def grads(fn, *tensors):
    tensors = [t.detach().clone().requires_grad_() for t in tensors]
    out = fn(*tensors)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(9))
    out.backward(g)
    return [out.detach()] + [t.grad for t in tensors]


@needs_onednn
@pytest.mark.parametrize('bias', [True, False])
def test_conv1x1_equals_conv2d(bias):
    x = torch.randn(2, 160, 9, 11)
    w = torch.randn(128, 160, 1, 1)
    b = torch.randn(128) if bias else None
    assert use_onednn(x, w, b)
    extra = (b, ) if bias else ()
    ours = grads(lambda x, w, *b: conv1x1(x, w, *b), x, w, *extra)
    ref = grads(lambda x, w, *b: F.conv2d(x, w, *b), x, w, *extra)
    for a, r in zip(ours, ref):
        assert_rounding_close(a, r)
    # the switch, and the cases that keep F.conv2d
    prev = set_conv1x1_backend('torch')
    try:
        assert not use_onednn(x, w)
    finally:
        set_conv1x1_backend(prev)
    assert not use_onednn(x.to(memory_format=torch.channels_last)[:, :, :,
                                                                  1:], w)
    assert not use_onednn(x.bfloat16(), w.bfloat16())
    assert not use_onednn(x, w[:64])  # narrow convs keep torch's kernel
    with pytest.raises(ValueError, match='not one of'):
        set_conv1x1_backend('mkl')


@needs_onednn
def test_concat_conv1x1_gradients_both_backends():
    parts = [torch.randn(2, 128, 7, 5) for _ in range(3)]
    w = torch.randn(128, 384, 1, 1)
    assert use_onednn(torch.cat(parts, 1), w)

    def fn(w, *p):
        return concat_conv1x1(list(p), w)
    results = {}
    for backend in ('auto', 'torch'):
        prev = set_conv1x1_backend(backend)
        try:
            results[backend] = grads(fn, w, *parts)
        finally:
            set_conv1x1_backend(prev)
    ref = grads(lambda w, *p: F.conv2d(torch.cat(p, 1), w), w, *parts)
    for backend, got in results.items():
        for a, r in zip(got, ref):
            assert_rounding_close(a, r)


def test_conv1x1_module_keeps_conv2d_parameters_and_init():
    torch.manual_seed(0)
    ref = nn.Conv2d(6, 4, 1)
    torch.manual_seed(0)
    ours = Conv1x1(6, 4, 1)
    assert torch.equal(ref.weight, ours.weight)
    rng = torch.random.get_rng_state()
    adopted = Conv1x1.adopt(ref)
    assert torch.equal(torch.random.get_rng_state(), rng)  # no new draws
    assert adopted.weight is ref.weight and adopted.bias is ref.bias
    x = torch.randn(2, 6, 5, 5)
    torch.testing.assert_close(adopted(x), ref(x), rtol=1e-5, atol=1e-6)
    # a strided 1x1 conv runs nn.Conv2d's own forward
    strided = Conv1x1(6, 4, 1, stride=2)
    assert strided(x).shape == (2, 4, 3, 3)


def test_largefov_head_state_and_seeded_init_unchanged():
    """The head's parameter names and seeded values are those of plain
    nn.Conv2d layers (checkpoints and seeded runs are unaffected)."""
    cfg = dict(type='LargeFOVHead', in_channels=8, channels=128,
               num_classes=5, fc6_dilation=2)
    torch.manual_seed(3)
    head = MODELS.build(cfg)
    head.init_weights()
    after = torch.random.get_rng_state()
    assert isinstance(head.fc7.conv, Conv1x1)
    assert isinstance(head.conv_seg, Conv1x1)
    # the same head with plain nn.Conv2d for fc7 (conv_seg adopts its
    # nn.Conv2d without drawing)
    torch.manual_seed(3)
    again = MODELS.build(dict(cfg, conv_cfg=dict(type='Conv2d')))
    again.init_weights()
    assert type(again.fc7.conv) is nn.Conv2d
    assert torch.equal(torch.random.get_rng_state(), after)
    state, other = head.state_dict(), again.state_dict()
    assert list(state) == list(other)
    for k in state:
        assert torch.equal(state[k], other[k]), k
    x = torch.randn(2, 8, 6, 6)
    head.eval()
    out = head([x])
    prev = set_conv1x1_backend('torch')
    try:
        ref = head([x])
    finally:
        set_conv1x1_backend(prev)
    assert_rounding_close(out, ref)


def test_nddr_save_concat_same_values_and_gradients():
    from mtlnas_mm.models import NDDRFusion
    torch.manual_seed(0)
    op = NDDRFusion(8, 2, init=None)
    own, s1, s2 = (torch.randn(2, 8, 5, 6) for _ in range(3))
    gates = [torch.tensor(0.3), torch.tensor(0.8)]
    results = []
    for save in (False, True):
        op.save_concat = save
        ins = [t.clone().requires_grad_() for t in (own, s1, s2)]
        g = [t.clone().requires_grad_() for t in gates]
        op.zero_grad()
        out = op(ins[0], ins[1:], [0, 1], g)
        out.square().sum().backward()
        results.append([out.detach()] + [t.grad for t in ins + g] +
                       [op.conv.weight.grad.clone()])
    for a, r in zip(*results):
        assert_rounding_close(a, r)
