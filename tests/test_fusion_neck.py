"""FusionEdgeNeck: edges, fusion ops, gate modes, pruning."""
import math

import pytest
import torch

from mtlnas_mm.models import (CrossStitchFusion, FusionEdgeNeck, NDDRFusion,
                              VGGLargeFOV)
from mtlnas_mm.structures import Architecture

TASKS = ['seg', 'normal']


def make(tasks=TASKS, seed=0, **kw):
    torch.manual_seed(seed)
    backbones = torch.nn.ModuleDict(
        {t: VGGLargeFOV(base_channels=4) for t in tasks})
    bb = backbones[tasks[0]]
    neck = FusionEdgeNeck(tasks, bb.layer_channels, bb.layer_blocks, **kw)
    return neck, backbones


def run(neck, backbones, x):
    stems = {t: b.forward_stem(x) for t, b in backbones.items()}
    return neck(stems, backbones)


def flat(outs):
    return torch.cat([o.flatten() for t in outs for o in outs[t]])


X = torch.randn(2, 3, 32, 32)


def test_nddr_fusion_init():
    op = NDDRFusion(4, 2, init=(0.9, 0.1)).eval()
    w = op.conv.weight[:, :, 0, 0]
    assert torch.allclose(w[:, :4], 0.9 * torch.eye(4))
    assert torch.allclose(w[:, 4:8], 0.05 * torch.eye(4))
    own, s1, s2 = (torch.randn(1, 4, 3, 3) for _ in range(3))
    out = op(own, [s1, s2])
    ref = torch.relu((0.9 * own + 0.05 * s1 + 0.05 * s2) /
                     math.sqrt(1 + 1e-3))
    assert torch.allclose(out, ref, atol=1e-6)
    # only slot 1 computed: the conv uses its columns only
    assert torch.allclose(op(own, [s2], [1]),
                          torch.relu((0.9 * own + 0.05 * s2) /
                                     math.sqrt(1 + 1e-3)), atol=1e-6)
    # a parent's generic init does not destroy the identity init
    torch.nn.init.zeros_(op.conv.weight)
    op.init_weights()
    assert torch.allclose(op.conv.weight[:, :4, 0, 0], 0.9 * torch.eye(4))
    cs = CrossStitchFusion(4, 2, init=(0.9, 0.1))
    assert torch.allclose(cs(own, [s1, s2], gates=[None, torch.tensor(0.)]),
                          0.9 * own + 0.05 * s1)


def test_edges_and_fusion_shapes():
    neck, _ = make()
    assert len(neck.edges) == 48 and len(neck.arch_parameters()) == 2
    assert neck.fusions['seg']['6'].conv.in_channels == 16 * 4
    assert neck.fusions['normal']['0'].conv.in_channels == 4 * 2
    three, _ = make(tasks=['seg', 'normal', 'depth'])
    assert len(three.edges) == 144
    nddr, _ = make(connectivity=dict(same_layer_only=True),
                   fusion_layers='block_ends', gate_mode='ones',
                   fusion=dict(type='nddr', init=(0.9, 0.1)))
    assert sorted(nddr.fusions['seg'].keys(), key=int) == [
        '1', '3', '6', '9', '12']
    assert len(nddr.edges) == 10 and nddr.arch_parameters() == []
    with pytest.raises(ValueError, match='fusion_layers'):
        make(connectivity=dict(target_layers=[0, 1]), fusion_layers=[1])
    with pytest.raises(KeyError, match='fusion.type'):
        make(fusion=dict(type='concat'))
    with pytest.raises(ValueError, match='gate_mode'):
        make(gate_mode='softmax')


def test_forward_outputs_and_identity_init():
    neck, bbs = make()
    neck.eval()
    bbs.eval()
    outs = run(neck, bbs, X)
    assert [o.shape[1] for o in outs['seg']] == [4, 8, 16, 32, 32]
    # init (1, 0): every fusion is ReLU(BN(own)); in eval with fresh BN
    # stats that is own / sqrt(1 + eps): the single-task network, rescaled
    x = X
    scale = 1 / math.sqrt(1 + 1e-3)
    ends = []
    for i in range(13):
        x = bbs['seg'].forward_layer(i, x) * scale
        if i in (1, 3, 6, 9, 12):
            ends.append(x)
    for a, b in zip(outs['seg'], ends):
        assert torch.allclose(a, b, atol=1e-5)


def test_gradients_reach_alphas():
    neck, bbs = make(fusion=dict(type='nddr', init=(0.9, 0.1)))
    neck.train()
    flat(run(neck, bbs, X)).pow(2).mean().backward()
    for a in neck.arch_parameters():
        assert a.grad is not None and bool((a.grad != 0).all())
    assert neck.fusions['seg']['5'].conv.weight.grad.abs().sum() > 0

    # init (1, 0): zero source weights -> no alpha gradient at step 0 ...
    neck, bbs = make()
    flat(run(neck, bbs, X)).pow(2).mean().backward()
    assert all(bool((a.grad == 0).all()) for a in neck.arch_parameters())
    # ... until one SGD step on the fusion weights moved them
    fusion_params = [p for n, p in neck.named_parameters()
                     if n.startswith('fusions')]
    torch.optim.SGD(fusion_params, lr=1.0).step()
    neck.zero_grad()
    flat(run(neck, bbs, X)).pow(2).mean().backward()
    assert all(bool((a.grad != 0).any()) for a in neck.arch_parameters())


def test_relaxed_mode_and_entropy():
    neck, bbs = make(gate_mode='relaxed', temperature=0.5)
    gates = neck.gates.soft_gates('relaxed', 0.5)
    g = torch.stack(gates['seg'])
    assert bool(((g > 0) & (g < 1)).all())
    flat(run(neck.train(), bbs, X)).sum().backward()
    assert neck.gates.alphas['seg'].grad is not None
    ent = neck.entropy()
    assert ent.dim() == 0
    assert ent.item() == pytest.approx(math.log(2), rel=1e-6)
    ent.backward()  # differentiable
    with torch.no_grad():
        neck.gates.alphas['seg'].fill_(20.)
        neck.gates.alphas['normal'].fill_(-20.)
    assert neck.entropy().item() < 1e-6
    with pytest.raises(ValueError):
        neck.set_temperature(0.0)


def set_alphas(neck, seed=1, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for a in neck.gates.alphas.values():
            a.copy_(torch.randn(a.shape, generator=g).sign() * scale)


def test_hard_equals_sigmoid_at_large_alphas():
    neck, bbs = make(fusion=dict(type='nddr', init=(0.9, 0.1)))
    set_alphas(neck, scale=40.0)
    neck.eval()
    bbs.eval()
    neck.eval_gate_mode = 'sigmoid'
    soft = flat(run(neck, bbs, X))
    neck.eval_gate_mode = 'hard'
    hard = flat(run(neck, bbs, X))
    assert torch.allclose(soft, hard, atol=1e-6)
    arch = neck.architecture()
    kept = set(arch.kept)
    mask = neck.gates.kept_mask()
    assert kept == {e for e, k in zip(neck.edges, mask) if k}
    assert 0 < len(kept) < 48


def pruning_checks(neck, bbs, kept):
    """Pruned edges are never read: NaN in their weight columns leaves the
    output finite, only kept sources are concatenated and retained."""
    seen = {}

    def pre_hook(module, args):
        sources, slots = args[1], args[2]
        seen[id(module)] = (len(sources), list(slots))

    handles = [op.register_forward_pre_hook(pre_hook)
               for ops in neck.fusions.values() for op in ops.values()]
    with torch.no_grad():
        for (t, i), edges in neck._slots.items():
            w = neck.fusions[t][str(i)].conv.weight
            c = w.shape[0]
            for slot, e in enumerate(edges):
                if e not in kept:
                    w[:, c * (slot + 1):c * (slot + 2)] = float('nan')
    out = flat(run(neck, bbs, X))
    assert bool(torch.isfinite(out).all())
    for (t, i), edges in neck._slots.items():
        op = neck.fusions[t][str(i)]
        n, slots = seen[id(op)]
        assert slots == [s for s, e in enumerate(edges) if e in kept]
        assert op.input_channels(slots) == op.channels * (1 + n)
    assert neck.last_retained == {(e.source_task, e.source_layer)
                                  for e in kept}
    for h in handles:
        h.remove()


def test_hard_mode_prunes():
    neck, bbs = make(fusion=dict(type='nddr', init=(0.9, 0.1)))
    set_alphas(neck, seed=3)
    neck.eval()
    bbs.eval()
    kept = neck.architecture().kept
    pruning_checks(neck, bbs, kept)


def test_fixed_mode(tmp_path):
    neck, _ = make()
    set_alphas(neck, seed=2)
    arch = neck.architecture()
    path = str(tmp_path / 'arch.yaml')
    arch.dump(path)
    fixed, bbs = make(architecture=path)
    assert fixed.gate_mode == 'fixed' and fixed.arch_parameters() == []
    assert fixed.architecture().kept == arch.kept
    assert fixed.entropy().item() == 0.0
    # same parameter shapes as the searched neck
    sd = neck.state_dict()
    fixed.load_state_dict(sd)
    for mode in (True, False):
        fixed.train(mode)
        pruning_checks(fixed, bbs, arch.kept)
    with pytest.raises(RuntimeError, match='fixed'):
        fixed.set_gate_mode('sigmoid')
    with pytest.raises(ValueError, match='architecture'):
        make(gate_mode='fixed')
    # nothing kept: no source is ever retained
    empty = Architecture(arch.edges, [])
    none_neck, bbs = make(architecture=empty)
    run(none_neck, bbs, X)
    assert none_neck.last_retained == set()


def test_ones_mode_uses_all_edges():
    neck, bbs = make(gate_mode='ones',
                     fusion=dict(type='nddr', init=(0.9, 0.1)))
    seen = []
    for ops in neck.fusions.values():
        for op in ops.values():
            op.register_forward_pre_hook(
                lambda m, a: seen.append((len(a[1]), m.num_sources)))
    run(neck, bbs, X)
    assert all(n == k for n, k in seen) and len(seen) == 26
    assert neck.arch_parameters() == []
    assert torch.equal(neck.gate_probs(), torch.ones(48))
    assert len(neck.architecture().kept) == 48
