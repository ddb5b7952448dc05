"""The share-routing search space: modes, the expected route, the cost
term, derivation and pruning."""
import itertools

import pytest
import torch

import mtlnas_mm  # noqa: F401
from mmseg.registry import MODELS
from mtlnas_mm.models import ShareRoutes
from mtlnas_mm.structures import RouteArchitecture

TASKS = ['a', 'b']


def mlp_space(k=3, channels=(6, 6), **kw) -> ShareRoutes:
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='ShareRoutes', tasks=TASKS, num_subnets=k,
        backbone=dict(type='StagedMLP', in_channels=4, channels=channels),
        **kw))


def randomize(space: ShareRoutes) -> None:
    """Non-trivial logits and gate weights (the gates start at zero)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in space.parameters():
            if p.dim():
                p.copy_(torch.randn(p.shape, generator=g))


def test_modes_shapes_and_arch_gradients():
    space = mlp_space()
    assert space.num_layers == 2 and space.block_keys == [
        '1.0', '1.1', '1.2', 'a', 'b'
    ]
    x = torch.randn(5, 4)
    for mode in ('expected', 'sample', 'hard'):
        space.route_mode = mode
        out = space(x)
        assert set(out) == set(TASKS)
        assert all(v[0].shape == (5, 6) for v in out.values())
    randomize(space)
    space.route_mode = 'expected'
    sum(v[0].sum() for v in space(x).values()).backward()
    # the expected route carries gradients to every route and query logit
    assert (space.route_logits.grad != 0).all()
    assert (space.query_logits.grad != 0).all()
    # the steps' modes, and back to the training mode
    space.set_step('weight')
    assert space.route_mode == 'sample'
    space.set_step('arch')
    assert space.route_mode == 'expected'
    space.set_step(None)
    assert space.route_mode == 'expected'
    with pytest.raises(ValueError,
                       match=r"step_route_modes\.arch.*\('expected', ?\)"):
        mlp_space(step_route_modes=dict(arch='sample'))
    with pytest.raises(ValueError, match='eval_route_mode .*needs an arch'):
        mlp_space(eval_route_mode='fixed')
    with pytest.raises(ValueError, match='route_mode="fixed" needs'):
        mlp_space(route_mode='fixed')
    assert mlp_space(step_route_modes=dict(weight='hard')).step_route_modes \
        == dict(arch='expected', weight='hard')
    with pytest.raises(ValueError, match='num_subnets'):
        mlp_space(k=11)


def test_expected_route_is_the_exact_expectation():
    """With one layer the output is one gated read per task: the expected
    mode must equal the average of the discrete reads over every route and
    query, weighted by their probabilities (computed through the discrete
    path)."""
    space = mlp_space(k=3, channels=(6, ), query_candidates=('own',
                                                             'embedding'))
    randomize(space)
    x = torch.randn(4, 4)
    space.route_mode = 'expected'
    expected = space(x)
    h = [space.run_subnet(0, k, x) for k in range(3)]
    p = space.route_probs().detach()
    q = space.query_probs().detach()
    for b, t in enumerate(TASKS, start=space.block_keys.index('a')):
        ref = 0
        norm = 1 - (1 - p[b]).prod()
        for mask in itertools.product((0, 1), repeat=3):
            if not any(mask):
                continue
            route = tuple(j for j in range(3) if mask[j])
            prob = torch.prod(torch.where(torch.tensor(mask) == 1, p[b],
                                          1 - p[b])) / norm
            for c, query in enumerate(space.query_candidates):
                ref = ref + prob * q[b, c] * space.mix(t, h, route, query)
        torch.testing.assert_close(expected[t][0], ref)


def test_cost_term_and_derivation():
    space = mlp_space()
    with torch.no_grad():
        space.route_logits.fill_(-30.0)
    assert space.regularizer().item() == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        space.route_logits.fill_(30.0)
    assert space.regularizer().item() == pytest.approx(1.0, abs=1e-6)
    with torch.no_grad():
        space.route_logits.fill_(0.0)
        # K = 3, p = 0.5: E|S| = 1.5 / (1 - 1/8)
        assert space.regularizer().item() == pytest.approx(
            (1.5 / 0.875 - 1) / 2)
        space.route_logits[0] = torch.tensor([2.0, -1.0, 3.0])  # 1.0
        space.route_logits[1] = torch.tensor([-3.0, -1.0, -2.0])  # 1.1
        space.query_logits[0] = torch.tensor([0.0, 0.0, 5.0])
    arch = space.derive()
    assert arch.routes['1.0'] == (0, 2) and arch.queries['1.0'] == 'input'
    # no p > 0.5: the most probable non-empty route, the likeliest input
    assert arch.routes['1.1'] == (1, )
    assert arch.route_probs['1.0'][2] == pytest.approx(torch.sigmoid(
        torch.tensor(3.0)).item())
    stats = space.log_stats()
    assert stats['routes_kept'] == arch.num_routes()


def test_sample_mode_draws_the_route_distribution():
    space = mlp_space(k=2)
    with torch.no_grad():
        space.route_logits.copy_(torch.tensor(
            [[2.0, -2.0]] * 4))  # p = (0.88, 0.12)
    torch.manual_seed(3)
    plans = [space.plan('sample') for _ in range(400)]
    freq = {r: sum(p['1.0'][0] == r for p in plans) / 400
            for r in ((0, ), (1, ), (0, 1))}
    ref = space.subset_probs()[0].tolist()  # subsets (1), (0), (0, 1)
    assert freq[(1, )] == pytest.approx(ref[0], abs=0.05)
    assert freq[(0, )] == pytest.approx(ref[1], abs=0.05)
    assert freq[(0, 1)] == pytest.approx(ref[2], abs=0.05)


def _calls(space):
    """Record ``(layer index, copy)`` of every sub-network layer run."""
    calls = []
    for k, net in enumerate(space.subnets):
        orig = net.forward_layer

        def spy(i, x, k=k, orig=orig):
            calls.append((i, k))
            return orig(i, x)

        net.forward_layer = spy
    return calls


def test_fixed_routes_prune_sub_networks(tmp_path):
    space = mlp_space(k=3)
    arch = RouteArchitecture(
        TASKS, 2, 3,
        routes={'1.0': [0], '1.1': [1, 2], '1.2': [2], 'a': [0],
                'b': [0, 1]},
        queries={'1.0': 'own', '1.1': 'own', '1.2': 'own', 'a': 'own',
                 'b': 'embedding'})
    assert arch.required_subnets() == {(1, 0), (1, 1), (0, 0), (0, 1),
                                       (0, 2)}
    # per task: 'a' reads 1.0 <- 0; 'b' mixes 1.0 and 1.1 <- {1, 2}
    assert arch.task_subnets('a') == {(1, 0), (0, 0)}
    assert arch.task_subnets('b') == arch.required_subnets()
    with pytest.raises(ValueError, match="unknown task 'c'"):
        arch.task_subnets('c')
    path = str(tmp_path / 'arch.yaml')
    arch.dump(path)
    fixed = mlp_space(k=3, architecture=path)
    assert fixed.arch_parameters() == [] and not fixed.searchable
    calls = _calls(fixed)
    out = fixed(torch.randn(2, 4))
    assert sorted(calls) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    assert out['a'][0].shape == (2, 6)
    # eval of a search: the derived architecture, pruned alike
    with torch.no_grad():
        space.route_logits.fill_(-5.0)
        space.route_logits[:, 0] = 5.0  # every block reads sub-network 0
    space.eval()
    calls = _calls(space)
    space(torch.randn(2, 4))
    assert sorted(calls) == [(0, 0), (1, 0)]
    with pytest.raises(ValueError, match='num_subnets'):
        mlp_space(k=2, architecture=path)


def _arch(space=None) -> RouteArchitecture:
    space = space or mlp_space(k=3)
    randomize(space)
    arch = space.derive()
    arch.meta['iter'] = 7
    return arch


@pytest.mark.parametrize('suffix', ['.json', '.yaml'])
def test_route_architecture_round_trip(tmp_path, suffix):
    from mtlnas_mm.structures import load_architecture
    arch = _arch()
    path = str(tmp_path / f'routes{suffix}')
    arch.dump(path)
    loaded = load_architecture(path)
    assert isinstance(loaded, RouteArchitecture) and loaded == arch
    assert loaded.meta == dict(iter=7)
    assert loaded.to_dict()['kind'] == 'share_routes'
    assert loaded.required_subnets() == arch.required_subnets()
    assert set(arch.soft_values()) == {
        f'{key}<-{j}' for key in arch.block_keys for j in range(3)}
    # a fusion-edge model refuses it, naming the kind
    from mtlnas_mm.structures import Architecture
    with pytest.raises(ValueError, match="key \"kind\".*'fusion_edges'"):
        Architecture.load(path)


def test_route_architecture_bad_files_name_file_and_key(tmp_path):
    import json
    good = _arch().to_dict()

    def load(**changes):
        data = {**good, **changes}
        for k in [k for k, v in changes.items() if v is KeyError]:
            del data[k]
        path = tmp_path / 'bad_routes.json'
        path.write_text(json.dumps(data))
        return RouteArchitecture.load(str(path))

    cases = [
        (dict(routes=KeyError), 'key "routes": missing'),
        (dict(num_subnets=0), 'key "num_subnets": must be a positive int'),
        (dict(num_layers='2'), 'key "num_layers": must be a positive int'),
        (dict(routes={**good['routes'], '1.1': []}),
         'key "routes.1.1": must be a non-empty list'),
        (dict(routes={**good['routes'], 'b': [0, 3]}),
         r'key "routes.b": .*\[0, 3\)'),
        (dict(routes={k: v for k, v in good['routes'].items()
                      if k != '1.2'}), 'key "routes.1.2": missing'),
        (dict(queries={**good['queries'], 'x': 'own'}),
         'key "queries.x": unknown block'),
        (dict(queries={**good['queries'], 'a': 'random'}),
         'key "queries.a": unknown query'),
        (dict(route_probs={**good['route_probs'], '1.0': [0.5, 2.0, 0.1]}),
         'key "route_probs.1.0": need 3 probabilities'),
        (dict(query_probs={**good['query_probs'], 'b': {'own': -1}}),
         'key "query_probs.b"'),
        (dict(tasks=['a', 'a.b']), 'key "tasks"'),
    ]
    for changes, message in cases:
        with pytest.raises(ValueError, match='bad_routes.json: ' + message):
            load(**changes)


def test_route_architecture_picture(tmp_path):
    from mtlnas_mm.visualization import draw_architecture
    out = draw_architecture(_arch(), str(tmp_path / 'routes.png'))
    assert (tmp_path / 'routes.png').stat().st_size > 1000 and out


# ----------------------------------------------------------------------
# the special cases of the space, against dedicated implementations
# ----------------------------------------------------------------------
VGG = dict(type='VGGLargeFOV', depth=11, base_channels=4)


def _fixed_arch(tasks, num_layers, k, route, query='own'):
    """Every block's route: ``route(key, own index)``."""
    from mtlnas_mm.structures import block_keys
    from mtlnas_mm.structures.share_routes import own_predecessor
    keys = block_keys(tasks, num_layers, k)
    return RouteArchitecture(
        tasks, num_layers, k,
        {key: route(key, own_predecessor(key, tasks, k)) for key in keys},
        {key: query for key in keys})


def test_own_predecessor_routes_are_single_task_columns():
    """All routes "own predecessor only": task t's features are those of an
    independent column (TaskColumns without edges) holding copy t's
    weights; the third sub-network is never run."""
    torch.manual_seed(0)
    tasks = ['seg', 'normal']
    arch = _fixed_arch(tasks, 5, 3, lambda key, own: [own])
    space = MODELS.build(dict(type='ShareRoutes', tasks=tasks,
                              num_subnets=3, backbone=VGG,
                              architecture=arch))
    randomize(space)
    columns = MODELS.build(dict(type='TaskColumns', tasks=tasks,
                                backbone=dict(VGG, out_indices=(4, ))))
    for i, t in enumerate(tasks):
        columns.columns[t].load_state_dict(space.subnets[i].state_dict())
    calls = _calls(space)
    x = torch.randn(2, 3, 32, 32)
    out, ref = space(x), columns(x)
    assert {k for _, k in calls} == {0, 1}
    for t in tasks:
        torch.testing.assert_close(out[t][0], ref[t][0], rtol=0, atol=0)


class DedicatedMMoE(torch.nn.Module):
    """MMoE (Ma et al., KDD 2018) with learned per-task gate embeddings:
    ``f_t(x) = sum_k softmax(W_t e_t + b_t)_k expert_k(x)``."""

    def __init__(self, tasks, num_experts, in_dims, dims, embed_dims=16):
        super().__init__()
        self.tasks = tasks
        self.experts = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.Linear(in_dims, dims),
                                torch.nn.ReLU(),
                                torch.nn.Linear(dims, dims),
                                torch.nn.ReLU())
            for _ in range(num_experts))
        self.embed = torch.nn.ParameterDict({
            t: torch.nn.Parameter(torch.randn(embed_dims)) for t in tasks})
        self.gate = torch.nn.ModuleDict({
            t: torch.nn.Linear(embed_dims, num_experts) for t in tasks})

    def forward(self, x):
        h = torch.stack([e(x) for e in self.experts], 1)  # (N, K, C)
        return {t: torch.einsum('k,nkc->nc',
                                self.gate[t](self.embed[t]).softmax(-1), h)
                for t in self.tasks}


def _load_mmoe(space, mmoe):
    with torch.no_grad():
        for k, expert in enumerate(mmoe.experts):
            for i in range(2):
                layer = space.subnets[k].layers[i][0]
                layer.weight.copy_(expert[2 * i].weight)
                layer.bias.copy_(expert[2 * i].bias)
        for t in TASKS:
            space.gate(t).embedding.copy_(mmoe.embed[t])
            space.gate(t).embedding_proj.load_state_dict(
                mmoe.gate[t].state_dict())


def test_all_routes_with_embedding_query_are_mmoe():
    """Every route = all K experts, task-embedding query: MMoE; and the
    searched space reaches it continuously (expected route at saturated
    logits)."""
    torch.manual_seed(0)
    mmoe = DedicatedMMoE(TASKS, 3, 4, 6)
    backbone = dict(type='StagedMLP', in_channels=4, channels=(6, 6),
                    layer_blocks=(0, 0))  # one routing layer: the experts
    arch = _fixed_arch(TASKS, 1, 3, lambda key, own: [0, 1, 2],
                       query='embedding')
    fixed = MODELS.build(dict(type='ShareRoutes', tasks=TASKS,
                              num_subnets=3, backbone=backbone,
                              architecture=arch))
    searched = MODELS.build(dict(type='ShareRoutes', tasks=TASKS,
                                 num_subnets=3, backbone=backbone))
    x = torch.randn(5, 4)
    ref = mmoe(x)
    with torch.no_grad():
        searched.route_logits.fill_(40.0)
        searched.query_logits.copy_(torch.tensor([-40.0, 40.0, -40.0]))
    for space in (fixed, searched):
        _load_mmoe(space, mmoe)
        out = space(x)
        for t in TASKS:
            torch.testing.assert_close(out[t][0], ref[t], rtol=1e-5,
                                       atol=1e-6)
    assert fixed.derive().required_subnets() == {(0, 0), (0, 1), (0, 2)}


def test_one_sub_network_per_layer_is_hard_sharing():
    """K = 1: both tasks read the one trunk (a plain VGG) in every mode;
    there is nothing to search (cost 0)."""
    torch.manual_seed(0)
    space = MODELS.build(dict(type='ShareRoutes', tasks=['seg', 'normal'],
                              num_subnets=1, backbone=VGG))
    trunk = MODELS.build(dict(VGG, out_indices=(4, )))
    trunk.load_state_dict(space.subnets[0].state_dict())
    x = torch.randn(2, 3, 32, 32)
    ref = trunk(x)[0]
    for mode in ('expected', 'sample', 'hard'):
        space.route_mode = mode
        out = space(x)
        for t in ('seg', 'normal'):
            torch.testing.assert_close(out[t][0], ref, rtol=1e-6, atol=1e-6)
    assert space.regularizer().item() == 0.0


def test_hard_sharing_of_two_tasks_and_pruned_flops():
    """Two tasks on one shared column of K = 2 (every route reads
    sub-network 0): the second column costs nothing, counted by
    mmengine.analysis; own-column routes cost two columns."""
    from mmengine.analysis import FlopAnalyzer
    backbone = dict(type='StagedMLP', in_channels=4, channels=(8, 8, 8))

    def flops(route):
        arch = _fixed_arch(TASKS, 3, 2, route, query='embedding')
        space = MODELS.build(dict(type='ShareRoutes', tasks=TASKS,
                                  num_subnets=2, backbone=backbone,
                                  architecture=arch)).eval()
        out = space(torch.randn(3, 4))
        return FlopAnalyzer(space, (torch.randn(1, 4), )).total(), out

    shared, out = flops(lambda key, own: [0])
    torch.testing.assert_close(out['a'][0], out['b'][0], rtol=0, atol=0)
    columns, _ = flops(lambda key, own: [own])
    column = 4 * 8 + 8 * 8 + 8 * 8  # multiply-adds of one MLP column
    assert shared == column and columns == 2 * column


def test_parameters_left_unused_by_the_training_forward_are_declared():
    """The DDP wrappers turn on ``find_unused_parameters`` for a space whose
    training forward computes part of the network: the sampled weight step,
    a hard or a fixed route; only ``'expected'`` everywhere uses all."""
    from mtlnas_mm.engine.model_wrappers.nas_ddp import \
        unused_parameter_spaces
    space = mlp_space()
    assert space.leaves_parameters_unused
    assert unused_parameter_spaces(torch.nn.Sequential(space)) == [
        'ShareRoutes'
    ]
    # proof that the default weight step leaves parameters out
    space.set_step('weight')
    sum(v[0].sum() for v in space(torch.randn(3, 4)).values()).backward()
    assert any(p.grad is None for p in space.parameters())
    dense = mlp_space(step_route_modes=dict(weight='expected'))
    assert not dense.leaves_parameters_unused
    assert unused_parameter_spaces(dense) == []
    fixed = mlp_space(architecture=space.derive())
    assert fixed.leaves_parameters_unused
