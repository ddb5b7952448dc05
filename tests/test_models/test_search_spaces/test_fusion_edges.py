"""TaskColumns + FusionEdges (the MTL-NAS search space): edges, fusion ops,
gate modes, pruning, the search-space interface."""
import math

import pytest
import torch

from mtlnas_mm.models import CrossStitchFusion, NDDRFusion, TaskColumns
from mtlnas_mm.structures import Architecture
from builders import COLUMN_BACKBONE, COLUMN_TASKS, fusion_columns


def flat(outs):
    return torch.cat([o.flatten() for t in outs for o in outs[t]])


def slots_of(space, task, layer):
    """Candidate edges of one fusion op, in slot order (candidate order)."""
    return [e for e in space.edges
            if e.target_task == task and e.target_layer == layer]


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
    space = fusion_columns().edges
    assert len(space.edges) == 48 and len(space.arch_parameters()) == 2
    assert space.fusions['seg']['6'].conv.in_channels == 16 * 4
    assert space.fusions['normal']['0'].conv.in_channels == 4 * 2
    assert len(fusion_columns(tasks=['seg', 'normal', 'depth']).edges.edges) == 144
    nddr = fusion_columns(connectivity=dict(same_layer_only=True),
                fusion_layers='block_ends', gate_mode='ones',
                fusion=dict(type='nddr', init=(0.9, 0.1))).edges
    assert sorted(nddr.fusions['seg'].keys(), key=int) == [
        '1', '3', '6', '9', '12']
    assert len(nddr.edges) == 10 and nddr.arch_parameters() == []
    assert not nddr.searchable
    with pytest.raises(ValueError, match='fusion_layers'):
        fusion_columns(connectivity=dict(target_layers=[0, 1]), fusion_layers=[1])
    with pytest.raises(KeyError, match='fusion.type'):
        fusion_columns(fusion=dict(type='concat'))
    with pytest.raises(ValueError, match='gate_mode'):
        fusion_columns(gate_mode='softmax')
    with pytest.raises(ValueError, match='step'):
        fusion_columns(step_gate_modes=dict(test='sigmoid'))
    with pytest.raises(ValueError, match='search step'):
        fusion_columns(step_gate_modes=dict(weight='ones'))
    with pytest.raises(ValueError, match='eval_gate_mode .*needs an arch'):
        fusion_columns(eval_gate_mode='fixed')
    with pytest.raises(ValueError, match='gate_mode="fixed" needs'):
        fusion_columns(gate_mode='fixed')
    # the defaults of a search, and a step override
    space = fusion_columns(step_gate_modes=dict(weight='hard')).edges
    assert space.step_gate_modes == dict(arch='sigmoid', weight='hard')
    assert space.gate_mode == 'sigmoid' and space.eval_gate_mode == 'hard'


def test_columns_need_staged_backbones_of_one_layout():
    with pytest.raises(TypeError, match='staged backbone'):
        TaskColumns(COLUMN_TASKS, dict(type='ResNetV1c', depth=18),
                    edges=dict(type='FusionEdges'))
    with pytest.raises(ValueError, match='same layers'):
        TaskColumns(COLUMN_TASKS, COLUMN_BACKBONE, edges=dict(type='FusionEdges'),
                    overrides=dict(normal=dict(depth=13)))
    with pytest.raises(KeyError, match='overrides'):
        TaskColumns(COLUMN_TASKS, COLUMN_BACKBONE, overrides=dict(depth=dict()))
    # without edges any backbone works, one per task
    cols = TaskColumns(COLUMN_TASKS, COLUMN_BACKBONE, overrides=dict(normal=dict(depth=13)))
    assert len(cols.columns['normal'].layer_channels) == 10


def test_forward_outputs_and_identity_init():
    cols = fusion_columns().eval()
    outs = cols(X)
    assert [o.shape[1] for o in outs['seg']] == [4, 8, 16, 32, 32]
    # init (1, 0): every fusion is ReLU(BN(own)); in eval with fresh BN
    # stats that is own / sqrt(1 + eps): the single-task network, rescaled
    x = X
    scale = 1 / math.sqrt(1 + 1e-3)
    ends = []
    col = cols.columns['seg']
    for i in range(13):
        x = col.forward_layer(i, x) * scale
        if i in (1, 3, 6, 9, 12):
            ends.append(x)
    for a, b in zip(outs['seg'], ends):
        assert torch.allclose(a, b, atol=1e-5)


def test_gradients_reach_alphas():
    cols = fusion_columns(fusion=dict(type='nddr', init=(0.9, 0.1))).train()
    space = cols.edges
    flat(cols(X)).pow(2).mean().backward()
    for a in space.arch_parameters():
        assert a.grad is not None and bool((a.grad != 0).all())
    assert space.fusions['seg']['5'].conv.weight.grad.abs().sum() > 0

    # init (1, 0): zero source weights -> no alpha gradient at step 0 ...
    cols = fusion_columns()
    space = cols.edges
    flat(cols(X)).pow(2).mean().backward()
    assert all(bool((a.grad == 0).all()) for a in space.arch_parameters())
    # ... until one SGD step on the fusion weights moved them
    torch.optim.SGD(space.fusions.parameters(), lr=1.0).step()
    cols.zero_grad()
    flat(cols(X)).pow(2).mean().backward()
    assert all(bool((a.grad != 0).any()) for a in space.arch_parameters())


def test_steps_relaxed_mode_and_entropy():
    cols = fusion_columns(temperature=0.5,
                fusion=dict(type='nddr', init=(0.9, 0.1))).train()
    space = cols.edges
    assert space.gate_mode == 'sigmoid'
    space.set_step('weight')
    assert space.active_gate_mode == 'relaxed'
    # relaxed gates are random: two forwards differ, and reach the alphas
    a, b = flat(cols(X)), flat(cols(X))
    assert not torch.equal(a, b)
    b.sum().backward()
    assert space.alphas['seg'].grad is not None
    space.set_step('arch')
    assert space.active_gate_mode == 'sigmoid'
    space.set_step('weight')
    space.set_step(None)  # after the iteration: the configured mode
    assert space.gate_mode == 'sigmoid'
    ent = space.regularizer()
    assert ent.dim() == 0
    assert ent.item() == pytest.approx(math.log(2), rel=1e-6)
    ent.backward()  # differentiable
    with torch.no_grad():
        space.alphas['seg'].fill_(20.)
        space.alphas['normal'].fill_(-20.)
    assert space.regularizer().item() < 1e-6
    stats = space.log_stats()
    assert stats['gate_binary_frac'] == 1.0 and stats['gate_kept'] == 24
    # 0 is allowed (the official schedule has no floor): only < 0 raises
    with pytest.raises(ValueError, match='>= 0'):
        space.set_temperature(-0.1)
    with pytest.raises(ValueError, match='step'):
        space.set_step('eval')


def set_alphas(space, seed=1, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for a in space.alphas.values():
            a.copy_(torch.randn(a.shape, generator=g).sign() * scale)


def test_hard_equals_sigmoid_at_large_alphas():
    cols = fusion_columns(fusion=dict(type='nddr', init=(0.9, 0.1))).eval()
    space = cols.edges
    set_alphas(space, scale=40.0)
    with space.eval_relaxation('sigmoid'):
        soft = flat(cols(X))
    assert space.eval_gate_mode == 'hard'  # restored on exit
    hard = flat(cols(X))
    assert torch.allclose(soft, hard, atol=1e-6)
    with pytest.raises(ValueError, match='eval_relaxation'):
        with space.eval_relaxation('soft'):
            pass
    with pytest.raises(RuntimeError), space.eval_relaxation('ones'):
        raise RuntimeError('an error inside the block')
    assert space.eval_gate_mode == 'hard'  # restored on errors too
    arch = space.derive()
    logits = space.logits()
    assert arch.kept == {e for e, a in zip(space.edges, logits) if a > 0}
    assert 0 < len(arch.kept) < 48


def pruning_checks(cols, kept):
    """Pruned edges are never read: NaN in their weight columns leaves the
    output finite, and only kept sources reach the fusion ops."""
    space = cols.edges
    seen = {}

    def pre_hook(module, args):
        sources, slots = args[1], args[2]
        seen[id(module)] = (len(sources), list(slots))

    handles = [op.register_forward_pre_hook(pre_hook)
               for ops in space.fusions.values() for op in ops.values()]
    with torch.no_grad():
        for t in space.tasks:
            for i in space.fusion_layers:
                w = space.fusions[t][str(i)].conv.weight
                c = w.shape[0]
                for slot, e in enumerate(slots_of(space, t, i)):
                    if e not in kept:
                        w[:, c * (slot + 1):c * (slot + 2)] = float('nan')
    out = flat(cols(X))
    assert bool(torch.isfinite(out).all())
    for t in space.tasks:
        for i in space.fusion_layers:
            n, slots = seen[id(space.fusions[t][str(i)])]
            assert slots == [s for s, e in enumerate(slots_of(space, t, i))
                             if e in kept]
            assert n == len(slots)
    for h in handles:
        h.remove()


def test_hard_mode_prunes():
    cols = fusion_columns(fusion=dict(type='nddr', init=(0.9, 0.1))).eval()
    set_alphas(cols.edges, seed=3)
    pruning_checks(cols, cols.edges.derive().kept)


def test_fixed_mode(tmp_path):
    searched = fusion_columns()
    set_alphas(searched.edges, seed=2)
    arch = searched.edges.derive()
    path = str(tmp_path / 'arch.yaml')
    arch.dump(path)
    fixed = fusion_columns(architecture=path)
    space = fixed.edges
    assert space.gate_mode == 'fixed' and space.arch_parameters() == []
    assert space.derive().kept == arch.kept
    assert space.regularizer().item() == 0.0
    # same parameter names and shapes as the searched columns
    fixed.load_state_dict(searched.state_dict())
    for mode in (True, False):
        fixed.train(mode)
        pruning_checks(fixed, arch.kept)
    space.set_step('arch')  # a fixed space ignores the search steps
    assert space.gate_mode == 'fixed'
    with pytest.raises(ValueError, match='architecture'):
        fusion_columns(gate_mode='fixed')
    # fix() after build: the same; other candidates are refused, naming it
    later = fusion_columns()
    later.edges.fix(arch, 'arch.yaml')
    assert later.edges.derive() is arch and not later.edges.searchable
    other = fusion_columns(connectivity=dict(same_layer_only=True)).edges.derive()
    with pytest.raises(ValueError, match='my.json.*candidate edges'):
        fusion_columns().edges.fix(other, 'my.json')
    # nothing kept: no source reaches any fusion op
    none_cols = fusion_columns(architecture=Architecture(arch.edges, []))
    pruning_checks(none_cols, set())


def test_ones_mode_uses_all_edges():
    cols = fusion_columns(gate_mode='ones', fusion=dict(type='nddr', init=(0.9, 0.1)))
    space = cols.edges
    seen = []
    for ops in space.fusions.values():
        for op in ops.values():
            op.register_forward_pre_hook(
                lambda m, a: seen.append((len(a[1]), m.num_sources)))
    cols(X)
    assert all(n == k for n, k in seen) and len(seen) == 26
    assert space.arch_parameters() == []
    assert torch.equal(space.gate_probs(), torch.ones(48))
    assert len(space.derive().kept) == 48


def test_edge_pruning_during_the_search():
    """``prune=dict(below, patience)``: an edge whose gate stayed below the
    threshold for ``patience`` architecture updates is computed in neither
    step, stays pruned when its alpha rises, is never kept, and stays a
    candidate of the export (``meta['pruned']``)."""
    cols = fusion_columns(prune=dict(below=0.05, patience=3))
    space = cols.edges
    set_alphas(space, seed=3, scale=4.0)  # gates 0.018 or 0.982
    closed = {e for e, a in zip(space.edges, space.logits()) if a < 0}
    kept_before = space.derive().kept
    assert not space.pruned_edges
    for n in range(3):
        assert not space.pruned_edges, n  # patience not reached yet
        space.after_arch_update()
    assert space.pruned_edges == closed
    # an edge whose gate opened in between restarts its count
    reopened = next(iter(closed))
    cols2 = fusion_columns(prune=dict(below=0.05, patience=3))
    set_alphas(cols2.edges, seed=3, scale=4.0)
    for n in range(3):
        if n == 1:
            with torch.no_grad():
                a = cols2.edges.alphas[reopened.target_task]
                a[cols2.edges.task_index[reopened]] = 0.0
                cols2.edges.after_arch_update()
                a[cols2.edges.task_index[reopened]] = -4.0
                continue
        cols2.edges.after_arch_update()
    assert cols2.edges.pruned_edges == closed - {reopened}
    # pruned edges stay pruned and are not computed, in both steps' modes
    with torch.no_grad():
        for a in space.alphas.values():
            a.fill_(4.0)  # every gate open again
    assert space.pruned_edges == closed
    cols.train()
    for step in ('arch', 'weight'):
        space.set_step(step)
        pruning_checks(cols, set(space.edges) - closed)
    space.set_step(None)
    arch = space.derive()
    assert arch.kept == set(space.edges) - closed
    assert list(arch.edges) == space.edges
    assert sorted(arch.meta['pruned']) == sorted(e.key for e in closed)
    assert kept_before == set(space.edges) - closed
    assert space.log_stats()['gate_pruned'] == len(closed)
    # the counters are state: a new model loading the state continues
    fresh = fusion_columns(prune=dict(below=0.05, patience=3))
    fresh.load_state_dict(cols.state_dict())
    assert fresh.edges.pruned_edges == closed


def test_edge_pruning_is_off_by_default_and_checked():
    space = fusion_columns().edges
    assert 'pruned' not in dict(space.named_buffers())
    set_alphas(space, scale=40.0)
    for _ in range(5):
        space.after_arch_update()
    assert not space.pruned_edges
    assert 'gate_pruned' not in space.log_stats()
    for bad, match in ((dict(below=0.6, patience=2), r'in \(0, 0\.5\]'),
                       (dict(below=0.05, patience=0), 'integer >= 1'),
                       (dict(below=0.05), 'expected None or')):
        with pytest.raises((ValueError, KeyError), match=match):
            fusion_columns(prune=bad)
