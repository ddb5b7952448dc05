"""A search (and NDDR-CNN) starts from separately trained single-task
networks: loading is strict and per task, and at step 0 the search model
computes what the single-task networks compute."""
import pytest
import torch

import mtlnas_mm  # noqa: F401
from mmseg.registry import MODELS
from mtlnas_mm.models.layers import NDDRFusion

BACKBONE = dict(type='VGGLargeFOV', base_channels=4)
HEADS = dict(
    seg=dict(type='LargeFOVHead', in_channels=32, channels=8,
             num_classes=5, fc6_dilation=2),
    normal=dict(type='DenseRegressionHead', task='normal',
                decoder=dict(type='LargeFOVHead', in_channels=32,
                             channels=8, fc6_dilation=2)))
SEARCH_EDGES = dict(type='FusionEdges', fusion=dict(type='nddr',
                                                    init=(1.0, 0.0)))


def network(tasks, edges=None, **kw):
    return dict(type='MultiTaskNetwork',
                tasks={t: dict(head=HEADS[t]) for t in tasks},
                backbone=dict(type='TaskColumns', backbone=BACKBONE,
                              edges=edges), **kw)


def train_single(task, path, seed):
    """A single-task network trained apart (a few SGD steps on its own
    loss, so BN statistics and weights differ from any init)."""
    torch.manual_seed(seed)
    model = MODELS.build(network([task]))
    model.init_weights()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(seed)
    for _ in range(3):
        out = model(torch.randn(2, 3, 32, 32, generator=g), mode='tensor')
        loss = out[task].pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.save({'state_dict': model.state_dict()}, path)
    return model.eval()


@pytest.fixture(scope='module')
def singles(tmp_path_factory):
    root = tmp_path_factory.mktemp('singles')
    return {t: (train_single(t, str(root / f'{t}.pth'), seed),
                str(root / f'{t}.pth'))
            for t, seed in (('seg', 1), ('normal', 2))}


def test_search_at_step_0_equals_the_single_task_networks(singles):
    init_from = {t: dict(checkpoint=p) for t, (_, p) in singles.items()}
    torch.manual_seed(5)
    search = MODELS.build(dict(
        type='MTLNAS',
        network=network(['seg', 'normal'], SEARCH_EDGES,
                        init_from=init_from)))
    search.init_weights()
    search.eval()
    # with fusion init (1, 0) each of the 13 fusion ops is ReLU(BN(own))
    # with fresh BN statistics (mean 0, var 1): own / sqrt(1 + eps) on a
    # non-negative input.  With var = 1 - eps instead, BN(own) = own
    # exactly in eval mode, and the search model must then compute the
    # single-task networks (columns and heads loaded) to float rounding
    for module in search.modules():
        if isinstance(module, NDDRFusion):
            module.bn.running_var.fill_(1 - module.bn.eps)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = search(x, mode='tensor')
        ref = {t: m(x, mode='tensor')[t] for t, (m, _) in singles.items()}
    for t in ('seg', 'normal'):
        assert out[t].shape == ref[t].shape
        rel = (out[t] - ref[t]).norm() / ref[t].norm()
        assert rel < 1e-5, (t, rel)
    # ... and a random search model is far from them
    torch.manual_seed(6)
    fresh = MODELS.build(dict(type='MTLNAS', network=network(
        ['seg', 'normal'], SEARCH_EDGES))).eval()
    with torch.no_grad():
        far = fresh(x, mode='tensor')['seg']
    assert (far - ref['seg']).norm() / ref['seg'].norm() > 0.1


def test_nddr_from_single_tasks_and_task_renaming(singles):
    """A baseline network loads the same way; a task may come from a
    checkpoint that named it differently."""
    seg_model, seg_path = singles['seg']
    nddr = dict(type='FusionEdges', gate_mode='ones',
                fusion_layers='block_ends',
                connectivity=dict(same_layer_only=True))
    model = MODELS.build(network(['seg', 'normal'], nddr, init_from=dict(
        seg=dict(checkpoint=seg_path),
        normal=dict(checkpoint=singles['normal'][1]))))
    model.init_weights()
    for k, v in seg_model.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    # the seg checkpoint used for a task called 'parts'
    heads = dict(HEADS, parts=HEADS['seg'])
    cfg = dict(type='MultiTaskNetwork',
               tasks=dict(parts=dict(head=heads['parts'])),
               backbone=dict(type='TaskColumns', backbone=BACKBONE),
               init_from=dict(parts=dict(checkpoint=seg_path, task='seg')))
    parts = MODELS.build(cfg)
    parts.init_weights()
    assert torch.equal(parts.heads['parts'].conv_seg.weight,
                       seg_model.heads['seg'].conv_seg.weight)


def test_bad_checkpoints_name_the_file_and_key(singles, tmp_path):
    seg_path = singles['seg'][1]

    def build(**init_from):
        model = MODELS.build(network(['seg', 'normal'], SEARCH_EDGES,
                                     init_from=init_from))
        model.init_weights()

    with pytest.raises(KeyError, match=r"seg\.pth: no backbone\.columns\."
                       r"normal\.\* keys"
                       r".*tasks \['seg'\]"):
        build(normal=dict(checkpoint=seg_path))

    def edited(name, edit):
        """A copy of the seg checkpoint changed by ``edit(state)``."""
        state = torch.load(seg_path)['state_dict']
        edit(state)
        path = str(tmp_path / name)
        torch.save({'state_dict': state}, path)
        return dict(checkpoint=path)

    w = 'heads.seg.conv_seg.weight'
    # a shape mismatch (a 3-class head) names both keys
    with pytest.raises(ValueError, match=r"bad_shape\.pth: key 'heads\.seg"
                       r"\.conv_seg\.weight' has shape \(3,"):
        build(seg=edited('bad_shape.pth',
                         lambda s: s.update({w: s[w][:3]})))
    # a key of the task that maps nowhere here
    with pytest.raises(KeyError, match=r"extra\.pth: key 'heads\.seg\.extra"
                       r"\.weight' maps to nothing"):
        build(seg=edited('extra.pth', lambda s: s.update(
            {'heads.seg.extra.weight': torch.zeros(1)})))
    # a missing tensor of the column
    with pytest.raises(KeyError, match=r"missing\.pth: no key 'backbone\."
                       r"columns\.seg\.features\.0\.conv\.weight'"):
        build(seg=edited('missing.pth', lambda s: s.pop(
            'backbone.columns.seg.features.0.conv.weight')))
    with pytest.raises(KeyError, match='unknown task'):
        build(depth=dict(checkpoint=seg_path))


def share_routes(init_from=None, **kw):
    return dict(type='MultiTaskNetwork',
                tasks={t: dict(head=HEADS[t]) for t in ('seg', 'normal')},
                backbone=dict(type='ShareRoutes', backbone=BACKBONE, **kw),
                init_from=init_from)


def test_share_routes_load_one_copy_per_task(singles):
    """Share routing starts from the single-task networks too: task ``i``'s
    column loads into sub-network copy ``i``; with the own routes (almost)
    certain and the gates on the own input the network is the pair."""
    init_from = {t: dict(checkpoint=p) for t, (_, p) in singles.items()}
    model = MODELS.build(dict(
        type='ShareRouting',
        network=share_routes(route_init=dict(own=30.0, cross=-30.0),
                             gate_own_bias=30.0, init_from=init_from)))
    model.init_weights()
    space = model.search_space
    own = space.route_probs()[:, 0][[
        space.block_keys.index(k) for k in space.block_keys
        if k.endswith('.0') or k == 'seg'
    ]]
    assert torch.all(own > 0.99)
    for t, (single, _) in singles.items():
        i = ('seg', 'normal').index(t)
        for k, v in single.backbone.columns[t].state_dict().items():
            assert torch.equal(space.subnets[i].state_dict()[k], v), (t, k)
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        with space.eval_relaxation('expected'):  # every copy computed
            expected = model(x, mode='tensor')
        hard = model(x, mode='tensor')  # the configured eval mode
        for t, (single, _) in singles.items():
            ref = single(x, mode='tensor')[t]
            for out in (expected, hard):
                torch.testing.assert_close(out[t], ref, rtol=1e-4,
                                           atol=1e-5)
    # the default init (p = 0.5, averaged inputs) mixes the columns
    mixed = MODELS.build(dict(type='ShareRouting', network=share_routes(
        init_from=init_from)))
    mixed.init_weights()
    mixed.eval()
    with torch.no_grad(), mixed.search_space.eval_relaxation('expected'):
        far = mixed(x, mode='tensor')['seg']
        ref = singles['seg'][0](x, mode='tensor')['seg']
    assert (far - ref).norm() / ref.norm() > 0.05


def test_share_routes_init_from_needs_a_copy_per_task(singles):
    with pytest.raises(TypeError, match='one sub-network copy per task'):
        MODELS.build(share_routes(
            num_subnets=3,
            init_from=dict(seg=dict(checkpoint=singles['seg'][1])))
        ).init_weights()
    with pytest.raises(KeyError, match=r'route_init: expected a float or '
                       r'dict\(own=\.\.\., cross=\.\.\.\)'):
        MODELS.build(share_routes(route_init=dict(own=1.0)))
