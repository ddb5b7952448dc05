"""tools/mtnas_pipeline.py: the three MTNAS stages chained at minimal
iterations, each export feeding the next; every shipped MTNAS config
builds once its genotype is filled in."""
import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mtlnas_mm  # noqa: F401
from mmseg.registry import MODELS
from mtlnas_mm.structures import (CellArchitecture, SpaceGenotype,
                                  load_architecture)
from mtlnas_mm.utils import set_stage_genotype
from runner_utils import (ROOT, assert_resumed_run_equal, generate_data,
                          load_state, load_tool, tiny_cfg)

STAGES = ['configs/mtnas/mtnas_cells-tiny_synthetic_stage1-branches.py',
          'configs/mtnas/mtnas_cells-tiny_synthetic_stage2-backbone.py',
          'configs/mtnas/mtnas_cells-tiny_synthetic_stage3-retrain.py']
START = 'configs/mtnas/genotypes/start_backbone.json'


def _tool():
    return load_tool('tools/mtnas_pipeline.py')


@pytest.mark.slow
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
    # the backbone's op weights are stage 2's: stage 1 had none, and
    # stage 2's two arch steps moved them (the history after iterations
    # 1 and 2 differs), ending at the exported ones
    assert 'backbone' not in g1.probs and 'backbone' in g2.probs
    with open(osp.join(work, 'backbone', 'arch', 'gate_history.jsonl')) as f:
        history = {line['iter']: line['gates']
                   for line in map(json.loads, f)}
    assert sorted(history) == [1, 2]

    def backbone(gates):
        return {k: v for k, v in gates.items() if k.startswith('backbone.')}

    assert backbone(history[1]) and backbone(history[1]) != \
        backbone(history[2])
    assert backbone(history[2]) == pytest.approx(backbone(g2.soft_values()))
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


@pytest.mark.slow
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
    assert_resumed_run_equal(
        full, resumed, ('train/loss', 'train/arch.loss'),
        last=2)


MTNAS_CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', 'mtnas', '*.py')))


@pytest.mark.parametrize('config', MTNAS_CONFIGS)
def test_mtnas_config_builds_model(config, tmp_path, mmseg_scope):
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
        # no weights are shipped for the starting backbone: it is trained
        assert not network.backbone.trunk.frozen
    elif 'stage2' in config:
        assert searched == ['backbone']
    else:
        assert searched == [] and cfg.train_cfg.type == 'IterBasedTrainLoop'
    if 'release' in config:
        trunk = network.backbone.trunk
        assert len(trunk.space.cells) == 14 and trunk.reductions == [6, 9, 12]
        assert trunk.out_channels == [128, 256, 512, 1024]


def _benchmark_tool():
    return load_tool('tools/analysis_tools/benchmark_mtnas.py')


def test_benchmark_points_rebuild_the_release_network():
    """tools/analysis_tools/benchmark_mtnas.py: the point 14:32:321 is the
    release configs' network (its default reductions are the release's),
    every head reads the branch width, bad points are refused."""
    tool = _benchmark_tool()
    point = tool.parse_point('14:32:321')
    assert point['reductions'] == [6, 9, 12]
    assert tool.parse_point('6:8:64')['reductions'] == [3, 4, 5]
    assert tool.parse_point('9:4:64:2-4-6')['reductions'] == [2, 4, 6]
    for bad in ('14:32', 'big', '14:x:64'):
        with pytest.raises(ValueError, match='CELLS:C:CROP'):
            tool.parse_point(bad)
    for stage, (_, release) in tool.STAGE_CONFIGS.items():
        ours = tool.stage_config(stage, point).model.network
        shipped = Config.fromfile(osp.join(ROOT, release)).model.network
        assert ours.backbone.to_dict() == shipped.backbone.to_dict(), stage
        assert ours.tasks.to_dict() == shipped.tasks.to_dict(), stage
    small = tool.stage_config('backbone', tool.parse_point('9:4:64'))
    heads = small.model.network.tasks
    assert heads.seg.head.in_channels == 16
    assert heads.normal.head.decoder.in_channels == 16


def test_benchmark_memory_fit_recovers_its_law():
    """fit_memory: records made by the law (per image, (H W / 64^2)
    (a C + b)) give back a and b with zero residuals; a layout measured
    at one width only is not fitted."""
    tool = _benchmark_tool()

    def rec(cells, c, crop, batch=2, stage='backbone'):
        per_image = (crop / 64)**2 * (3.5 * c + 2.0)
        return dict(stage=stage, point=f'{cells}:{c}:{crop}', crop=crop,
                    batch=batch, peak_above_state_mib=per_image * batch,
                    trunk=dict(num_cells=cells, channels=c,
                               reductions=[cells - 8, cells - 5,
                                           cells - 2]))

    records = [rec(14, 4, 64), rec(14, 8, 64, batch=4), rec(14, 4, 128),
               rec(9, 4, 64), rec(9, 4, 96)]
    (fit, ) = tool.fit_memory(records)
    assert (fit['stage'], fit['cells']) == ('backbone', 14)
    assert fit['a_mib'] == pytest.approx(3.5)
    assert fit['b_mib'] == pytest.approx(2.0)
    assert all(abs(v) < 1e-9 for v in fit['points'].values())
