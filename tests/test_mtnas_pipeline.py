"""tools/mtnas_pipeline.py: the three MTNAS stages chained at minimal
iterations, each export feeding the next; every shipped MTNAS config
builds once its genotype is filled in."""
import glob
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mtlnas_mm  # noqa: F401
from mmseg.registry import MODELS
from mtlnas_mm.structures import (CellArchitecture, SpaceGenotype,
                                  load_architecture)
from mtlnas_mm.utils import set_stage_genotype
from runner_utils import (ROOT, assert_same_state, generate_data, load_state,
                          tiny_cfg)

torch.set_num_threads(1)
STAGES = ['configs/mtnas/mtnas_cells-tiny_synthetic_stage1-branches.py',
          'configs/mtnas/mtnas_cells-tiny_synthetic_stage2-backbone.py',
          'configs/mtnas/mtnas_cells-tiny_synthetic_stage3-retrain.py']
START = 'configs/mtnas/genotypes/start_backbone.json'


def _tool():
    spec = importlib.util.spec_from_file_location(
        'mtnas_pipeline', osp.join(ROOT, 'tools', 'mtnas_pipeline.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_pipeline_chains_the_three_stages(tmp_path):
    data = generate_data(str(tmp_path / 'data'), num_train=4, num_test=2)
    cfgs = [tiny_cfg(c, str(tmp_path / 'unused'), data, iters=2)
            for c in STAGES]
    cfgs[0].model.genotype = osp.join(ROOT, START)
    work = str(tmp_path / 'pipe')
    summary = _tool().run_pipeline(cfgs, work)
    g1 = load_architecture(summary['genotypes']['branches'])
    g2 = load_architecture(summary['genotypes']['backbone'])
    start = load_architecture(osp.join(ROOT, START))
    # stage 1: the backbone is the given one, the branches were searched
    assert g1.genotypes['backbone'] == start.genotypes['backbone']
    assert g1.probs and set(g1.probs) == {'branches.seg', 'branches.normal'}
    # stage 2: the branches are stage 1's, the backbone was searched
    for t in ('seg', 'normal'):
        assert g2.genotypes[f'branches.{t}'] == g1.genotypes[f'branches.{t}']
    assert g2.probs['backbone'] != g1.probs.get('backbone')
    # stage 3: the derived network was trained, tested and counted
    assert {'mIoU', 'mean'} <= {k.split('/')[-1]
                                for k in summary['test_metrics']}
    assert summary['complexity']['flops'] > 0
    assert summary['complexity']['params'] > 0
    assert osp.isfile(osp.join(work, 'pipeline.json'))
    # each search stage's genotype picture, next to its file
    for stage in ('branches', 'backbone'):
        pic = summary['pictures'][stage]
        assert pic == summary['genotypes'][stage][:-len('json')] + 'png'
        assert osp.getsize(pic) > 1000


def test_branch_search_resumes_after_a_crash(tmp_path):
    """A stage-1 search killed after iteration 2 of 4 and resumed from its
    iteration-2 checkpoint ends with the alphas, weights, optimizer states
    (the bilevel constructor's merged groups), schedules and losses of the
    uninterrupted 4-iteration run."""
    data = generate_data(str(tmp_path / 'data'), num_train=4, num_test=2)
    full_dir, resumed_dir = str(tmp_path / 'full'), str(tmp_path / 'resumed')

    def cfg(work_dir):
        c = tiny_cfg(STAGES[0], work_dir, data, iters=4,
                     checkpoint_interval=2)
        c.model.genotype = osp.join(ROOT, START)
        return c

    Runner.from_cfg(cfg(full_dir)).train()
    resumed_cfg = cfg(resumed_dir)
    resumed_cfg.resume = True
    resumed_cfg.load_from = osp.join(full_dir, 'iter_2.pth')
    runner = Runner.from_cfg(resumed_cfg)
    runner.train()
    assert runner.iter == 4
    half = load_state(osp.join(full_dir, 'iter_2.pth'))['state_dict']
    full = load_state(osp.join(full_dir, 'iter_4.pth'))
    resumed = load_state(osp.join(resumed_dir, 'iter_4.pth'))
    alphas = [k for k in full['state_dict'] if '.alphas.' in k]
    searched = [k for k in alphas if '.branches.' in k]
    assert searched, sorted(full['state_dict'])[:10]
    # the second half moved the searched alphas: equality below is not the
    # checkpoint merely loaded
    assert all(not torch.equal(half[k], full['state_dict'][k])
               for k in searched)
    assert_same_state(full['state_dict'], resumed['state_dict'], 'state_dict')
    assert_same_state(full['optimizer'], resumed['optimizer'], 'optimizer')
    assert_same_state(full['param_schedulers'],
                      resumed['param_schedulers'], 'param_schedulers')
    hub_full = full['message_hub']['log_scalars']
    hub_res = resumed['message_hub']['log_scalars']
    for key in ('train/loss', 'train/arch.loss'):
        assert_same_state(hub_full[key].data[0][-2:],
                          hub_res[key].data[0][-2:], key)


MTNAS_CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', 'mtnas', '*.py')))


@pytest.mark.parametrize('config', MTNAS_CONFIGS)
def test_mtnas_config_builds_model(config, tmp_path):
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(ROOT, config))
    if 'nyuv2' in config:
        # the synthetic release stage with NYUv2's data: same model,
        # schedule and optimizers
        twin = Config.fromfile(osp.join(ROOT, config.replace('nyuv2',
                                                             'synthetic')))
        for key in ('model', 'optim_wrapper', 'param_scheduler',
                    'train_cfg'):
            assert cfg.to_dict()[key] == twin.to_dict()[key], key
        data = cfg.train_dataloader.dataset
        assert data.data_root == 'data/nyu_v2'
        assert dict(type='RandomCrop', crop_size=(321, 321)) in data.pipeline
    if 'stage1' not in config:
        # a genotype for every space (genotypes do not depend on widths):
        # the starting backbone's, its normal cell for every branch
        start = load_architecture(osp.join(ROOT, START)).genotypes
        tasks = (cfg.model.get('network') or cfg.model).tasks
        genotypes = dict(start)
        genotypes.update({f'branches.{t}': SpaceGenotype(
            start['backbone'].normal) for t in tasks})
        path = str(tmp_path / 'genotype.json')
        CellArchitecture(genotypes).dump(path)
        set_stage_genotype(cfg, path)
    model = MODELS.build(cfg.model)
    network = model.network if cfg.model.type == 'MTNAS' else model
    spaces = network.backbone.spaces()
    searched = [s.space_name for s in spaces if s.searchable]
    if 'stage1' in config:
        assert searched == [f'branches.{t}' for t in network.task_names]
    elif 'stage2' in config:
        assert searched == ['backbone']
    else:
        assert searched == [] and cfg.train_cfg.type == 'IterBasedTrainLoop'
    if 'release' in config:
        trunk = network.backbone.trunk
        assert len(trunk.space.cells) == 14 and trunk.reductions == [6, 9, 12]
        assert trunk.out_channels == [128, 256, 512, 1024]
