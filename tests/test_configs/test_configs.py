"""Every shipped config loads and builds its model, dataset and evaluator
classes (no data needed: the NYUv2 configs point at data that is not here)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

import mtlnas_mm  # noqa: F401
from mmseg.registry import MODELS
from runner_utils import ROOT

CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', '*', '*.py'))
    # the MTNAS stages need the previous stage's genotype:
    # test_mtnas_pipeline.py builds them
    if '_base_' not in p and osp.join('configs', 'mtnas', '') not in p)


def test_configs_are_found():
    assert len(CONFIGS) >= 14


def _pair_routes(path: str, tasks, num_layers: int, num_subnets: int) -> str:
    """An exported share-routing architecture of only own routes (the
    single-task pair's), for configs that retrain a given one."""
    from mtlnas_mm.structures import RouteArchitecture, block_keys
    from mtlnas_mm.structures.share_routes import own_predecessor
    keys = block_keys(tasks, num_layers, num_subnets)
    RouteArchitecture(
        tasks, num_layers, num_subnets,
        routes={k: [own_predecessor(k, tasks, num_subnets)] for k in keys},
        queries={k: 'own' for k in keys}).dump(path)
    return path


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds_model(config, mmseg_scope, tmp_path):
    cfg = Config.fromfile(osp.join(ROOT, config))
    if cfg.model.get('backbone', {}).get('architecture') == 'ARCH_FILE':
        # a retraining config: the user passes the derived routes
        cfg.model.backbone.architecture = _pair_routes(
            str(tmp_path / 'routes.json'), ('seg', 'normal'), 5, 2)
    assert cfg.default_scope == 'mmseg'
    assert cfg.custom_imports['imports'] == ['mtlnas_mm']
    model = MODELS.build(cfg.model)
    if cfg.model.type == 'EncoderDecoder':  # mmseg's own reference
        assert type(model.backbone).__name__ == 'VGGLargeFOV'
        return
    searchable = cfg.train_cfg.type == 'BilevelIterBasedTrainLoop'
    network = model.network if searchable else model
    n_tasks = len(network.task_names)
    assert len(network.heads) == n_tasks
    assert hasattr(model, 'arch_parameters') == searchable
    if searchable and cfg.model.type == 'ShareRouting':
        space = model.search_space  # (L - 1) * K sub-network blocks + tasks
        assert space.route_logits.shape == (
            (space.num_layers - 1) * space.num_subnets + n_tasks,
            space.num_subnets)
    elif searchable:
        per_pair = {'vgg16': 24, 'vgg-tiny': 24, 'r50': 36}
        key = next(k for k in per_pair if k in osp.basename(config))
        expected = per_pair[key] * n_tasks * (n_tasks - 1)
        assert model.search_space.gate_probs().numel() == expected
        assert len(model.arch_parameters()) == n_tasks


def _types(node):
    """Every ``type`` value of a config tree."""
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            yield node['type']
        for value in node.values():
            yield from _types(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _types(value)


@pytest.mark.parametrize(
    'config', [c for c in CONFIGS if c.startswith('configs/baselines')])
def test_baselines_use_the_plain_network(config):
    """A baseline is the plain network under mmengine's plain training:
    no search algorithm, loop, optimizer or wrapper in its config."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert cfg.model.type in ('MultiTaskNetwork', 'EncoderDecoder')
    for name in _types(cfg.to_dict()):
        assert not any(w in name.lower()
                       for w in ('supernet', 'bilevel', 'nas')), name


DATASET_BASE = 'configs/_base_/datasets/synthetic_seg_normal.py'
DEPTH_CONFIGS = sorted(
    osp.relpath(p, ROOT) for d in ('mtlnas', 'mtnas')
    for p in glob.glob(osp.join(ROOT, 'configs', d, '*synthetic*depth*.py')))


@pytest.mark.parametrize('config', DEPTH_CONFIGS)
def test_depth_configs_use_the_dataset_pipelines(config):
    """The synthetic depth configs load depth with the data set's own
    pipelines (its crop size, one place), not copies of them."""
    base = Config.fromfile(osp.join(ROOT, DATASET_BASE))
    cfg = Config.fromfile(osp.join(ROOT, config))
    for loader, pipeline in (('train_dataloader', base.train_pipeline),
                             ('val_dataloader', base.test_pipeline)):
        ours = cfg[loader].dataset.pipeline
        assert dict(type='LoadDepthMap') in ours, loader
        assert [t for t in ours if t.type != 'LoadDepthMap'] == pipeline
    crops = [t.crop_size for t in cfg.train_dataloader.dataset.pipeline
             if t.type == 'RandomCrop']
    assert crops == [base.crop_size]


def test_depth_configs_are_found():
    assert len(DEPTH_CONFIGS) == 4, DEPTH_CONFIGS
