"""The share-routing search space: modes, the expected route, the cost
term, derivation and pruning."""
import itertools

import pytest
import torch

import mtlnas_mm  # noqa: F401
from mmseg.registry import MODELS
from mtlnas_mm.models import ShareRoutes
from mtlnas_mm.structures import RouteArchitecture

torch.set_num_threads(1)
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
    with pytest.raises(ValueError, match='architecture step needs'):
        mlp_space(step_route_modes=dict(arch='sample'))
    with pytest.raises(ValueError, match='num_subnets'):
        mlp_space(k=1)


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
                ref = ref + prob * q[b, c] * space._mix(t, h, route, query)
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
        (dict(num_subnets=1), 'key "num_subnets": 1 < 2 tasks'),
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
