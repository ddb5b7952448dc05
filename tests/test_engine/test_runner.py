"""Configs run end to end through mmengine's Runner (train, test, resume)."""
import os.path as osp

import pytest
import torch
from mmengine.runner import Runner

import mtlnas_mm  # noqa: F401
from mtlnas_mm.structures import Architecture
from mtlnas_mm.utils import use_fixed_architecture
from runner_utils import (TINY_SEARCH, assert_resumed_run_equal,
                          generate_data, load_state, tiny_cfg)

BASELINES = ['single-task', 'multiple', 'cross-stitch', 'nddr', 'supernet']


@pytest.mark.slow
@pytest.mark.parametrize('name', BASELINES)
def test_baseline_trains_and_tests(name, data_root, tmp_path):
    cfg = tiny_cfg(f'configs/baselines/{name}_vgg-tiny_synthetic.py',
                   str(tmp_path), data_root, iters=2)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    for key in ('mIoU', 'aAcc', 'mean', 'median', 'rmse', 'within_11.25'):
        assert key in metrics, (name, sorted(metrics))
    assert 0 <= metrics['mIoU'] <= 100
    assert 0 < metrics['mean'] <= 180
    assert osp.isfile(osp.join(str(tmp_path), 'iter_2.pth'))


@pytest.mark.slow
def test_search_exports_architecture_and_evaluates_it(data_root, tmp_path):
    cfg = tiny_cfg(TINY_SEARCH, str(tmp_path), data_root, iters=3)
    runner = Runner.from_cfg(cfg)
    runner.train()
    arch = Architecture.load(osp.join(str(tmp_path), 'arch',
                                      'arch_final.json'))
    assert len(arch.edges) == 48
    hard = runner.test()
    # rebuilt as a fixed architecture from the exported file, the search
    # checkpoint loads unchanged and gives the same metrics
    fixed_cfg = tiny_cfg(TINY_SEARCH, str(tmp_path / 'fixed'), data_root,
                         iters=3)
    use_fixed_architecture(
        fixed_cfg, osp.join(str(tmp_path), 'arch', 'arch_final.json'))
    fixed_cfg.load_from = osp.join(str(tmp_path), 'iter_3.pth')
    fixed = Runner.from_cfg(fixed_cfg).test()
    for key in hard:
        assert fixed[key] == pytest.approx(hard[key], abs=1e-4), key


@pytest.mark.slow
def test_resumed_search_replays_uninterrupted_run(data_root, tmp_path):
    """Kill after iteration 3 of 6, resume: same gates, weights, optimizer
    states, schedule positions and losses as the uninterrupted run."""
    full_dir, resumed_dir = str(tmp_path / 'full'), str(tmp_path / 'resumed')
    Runner.from_cfg(
        tiny_cfg(TINY_SEARCH, full_dir, data_root, iters=6,
                 checkpoint_interval=3)).train()
    cfg = tiny_cfg(TINY_SEARCH, resumed_dir, data_root, iters=6,
                   checkpoint_interval=3)
    cfg.resume = True
    cfg.load_from = osp.join(full_dir, 'iter_3.pth')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 6
    full = load_state(osp.join(full_dir, 'iter_6.pth'))
    resumed = load_state(osp.join(resumed_dir, 'iter_6.pth'))
    assert_resumed_run_equal(
        full, resumed, ('train/loss', 'train/arch.loss', 'train/arch.entropy'),
        last=3)


@pytest.mark.slow
def test_image_level_task_set_searches_and_evaluates(tmp_path):
    """Seg + normals + image classification from the config alone: the
    search runs, the new column gets edges, mmpretrain's Accuracy reads the
    predictions, and a head / data set class mismatch is caught."""
    data = generate_data(str(tmp_path / 'data'), num_train=8, num_test=4)
    config = 'configs/mtlnas/mtlnas_vgg-tiny_synthetic_seg-normal-scene.py'
    cfg = tiny_cfg(config, str(tmp_path / 'work'), data, iters=2)
    runner = Runner.from_cfg(cfg)
    model = runner.model
    assert model.network.task_names == ['seg', 'normal', 'scene']
    space = model.search_space
    assert len(space.edges) == 144
    start = space.alphas['scene'].detach().clone()
    runner.train()
    assert not torch.equal(space.alphas['scene'].detach(), start)
    metrics = runner.test()
    assert 0 <= metrics['accuracy/top1'] <= 100
    assert {'mIoU', 'mean'} <= set(metrics)

    bad = tiny_cfg(config, str(tmp_path / 'bad'), data, iters=1)
    bad.model.network.tasks.scene.head.num_classes = 5
    with pytest.raises(ValueError, match=r'scene\.head\.num_classes is 5 .* '
                       '9 img_classes'):
        Runner.from_cfg(bad).train()
