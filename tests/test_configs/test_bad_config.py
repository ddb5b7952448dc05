"""Configs that do not fit the data, and runs that diverge, stop early with
a message naming the key, the iteration and the task."""
import pytest
from mmengine.runner import Runner

import mtlnas_mm  # noqa: F401
from runner_utils import TINY_SEARCH, tiny_cfg

NDDR = 'configs/baselines/nddr_vgg-tiny_synthetic.py'


def test_head_num_classes_must_match_dataset(data_root_small, tmp_path):
    cfg = tiny_cfg(NDDR, str(tmp_path), data_root_small, iters=1)
    cfg.model.tasks.seg.head.num_classes = 13
    with pytest.raises(ValueError, match=r'model\.tasks\.seg\.head\.'
                       r'num_classes is 13 .* 40 classes'):
        Runner.from_cfg(cfg).train()


def test_task_without_ground_truth_in_data(data_root_small, tmp_path):
    cfg = tiny_cfg(NDDR, str(tmp_path), data_root_small, iters=1)
    # a depth task, but the data set does not load depth maps
    cfg.model.tasks['depth'] = dict(
        head=dict(type='DenseRegressionHead', task='depth',
                  decoder=dict(type='LargeFOVHead', in_channels=64,
                               channels=16, fc6_dilation=4)))
    with pytest.raises(KeyError, match=r'model\.tasks\.depth needs '
                       r'"gt_depth_map"'):
        Runner.from_cfg(cfg).train()


def test_unknown_task_key_names_it(data_root_small, tmp_path):
    cfg = tiny_cfg(NDDR, str(tmp_path), data_root_small, iters=1)
    cfg.model.tasks.normal['heads'] = cfg.model.tasks.normal.head
    with pytest.raises(KeyError, match=r'tasks\.normal: unknown key'):
        Runner.from_cfg(cfg)


def test_diverging_baseline_stops_before_the_update(data_root_small, tmp_path):
    """Plain training keeps the non-finite check (MultiTaskNetwork's
    parse_losses), under mmengine's own train step."""
    cfg = tiny_cfg(NDDR, str(tmp_path), data_root_small, iters=30)
    cfg.optim_wrapper.optimizer.lr = 1e12
    with pytest.raises(FloatingPointError,
                       match=r'non-finite loss at iteration \d+ in the '
                       r'training step: (seg|normal)\.loss'):
        Runner.from_cfg(cfg).train()


def test_diverging_search_stops_with_iteration_and_task(data_root_small,
                                                        tmp_path):
    cfg = tiny_cfg(TINY_SEARCH, str(tmp_path), data_root_small, iters=30)
    cfg.optim_wrapper.weight.optimizer.lr = 1e12
    with pytest.raises(FloatingPointError,
                       match=r'non-finite loss at iteration \d+ in the '
                       r'(architecture|weight) step: (seg|normal)\.loss'):
        Runner.from_cfg(cfg).train()


def test_architecture_with_unknown_task_names_file_and_task(data_root_small,
                                                            tmp_path):
    """A derived architecture whose tasks the model does not have (here
    exported from a run that called the normal task 'normals')."""
    from mtlnas_mm.structures import Architecture, Edge
    from mtlnas_mm.utils import use_fixed_architecture
    edges = [Edge('seg', 0, 'normals', 0), Edge('normals', 0, 'seg', 0)]
    arch_file = str(tmp_path / 'arch_normals.json')
    Architecture(edges, edges[:1], tasks=['seg', 'normals']).dump(arch_file)
    cfg = tiny_cfg(TINY_SEARCH, str(tmp_path), data_root_small, iters=1)
    use_fixed_architecture(cfg, arch_file)
    with pytest.raises(ValueError, match=r'arch_normals\.json: edge .* uses '
                       r"unknown task 'normals'"):
        Runner.from_cfg(cfg)
