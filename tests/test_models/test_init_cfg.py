"""mmengine's initialisation reaches every module of a multi-task network:
a ``Pretrained`` ``init_cfg`` on a task column or on a head is applied, a
segmentation head gets mmseg's own default init, as the same head built by
mmseg, and a dense regression output its documented default."""
import copy

import pytest
import torch
from mmengine.config import Config

import mtlnas_mm  # noqa: F401
from mmseg.registry import MODELS
from runner_utils import ROOT

pytestmark = pytest.mark.usefixtures('mmseg_scope')
SINGLE = 'configs/baselines/single-task_vgg-tiny_synthetic.py'


def model_cfg() -> dict:
    return copy.deepcopy(Config.fromfile(f'{ROOT}/{SINGLE}').model)


def save_filled(module: torch.nn.Module, path: str, prefix: str,
                start: float = 1.0) -> dict:
    """Write a checkpoint holding ``module``'s floating-point tensors as
    distinct constants (``prefix`` before every key); returns them."""
    state = {}
    for i, (k, v) in enumerate(module.state_dict().items()):
        state[k] = torch.full_like(v, start + 0.01 * i) \
            if v.is_floating_point() else v.clone()
    torch.save({'state_dict': {prefix + k: v for k, v in state.items()}},
               path)
    return state


def assert_loaded(module: torch.nn.Module, state: dict) -> None:
    for k, v in module.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_pretrained_init_cfg_reaches_every_column(tmp_path):
    """The way an mmseg user loads ImageNet weights:
    ``backbone.backbone.init_cfg=dict(type='Pretrained', ...)``."""
    donor = MODELS.build(model_cfg()).backbone.columns['seg']
    path = str(tmp_path / 'backbone.pth')
    state = save_filled(donor, path, prefix='backbone.')
    cfg = model_cfg()
    cfg.backbone.backbone.init_cfg = dict(type='Pretrained', checkpoint=path,
                                          prefix='backbone.')
    model = MODELS.build(cfg)
    model.init_weights()
    for task in ('seg', 'normal'):
        assert_loaded(model.backbone.columns[task], state)


def test_pretrained_init_cfg_reaches_a_head(tmp_path):
    donor = MODELS.build(model_cfg()).heads['seg']
    path = str(tmp_path / 'head.pth')
    state = save_filled(donor, path, prefix='', start=-2.0)
    cfg = model_cfg()
    cfg.tasks.seg.head.init_cfg = dict(type='Pretrained', checkpoint=path)
    model = MODELS.build(cfg)
    model.init_weights()
    assert_loaded(model.heads['seg'], state)


def test_heads_get_mmseg_default_init():
    """A segmentation head gets mmseg's ``BaseDecodeHead`` init of
    ``conv_seg``, Normal(std=0.01), bias 0, as the same head built by mmseg
    alone.  The sample std of n = 64 x 41 = 2624 Normal(0.01) weights has
    a relative standard error of 1/sqrt(2n) = 1.4 %; the bound (25 %) lies
    far out and far from torch's default, 0.072 for 64 inputs."""
    torch.manual_seed(0)
    model = MODELS.build(model_cfg())
    model.init_weights()
    seg = model.heads['seg'].conv_seg
    assert seg.weight.std().item() == pytest.approx(0.01, rel=0.25)
    assert torch.count_nonzero(seg.bias) == 0
    alone = MODELS.build(model_cfg().tasks.seg.head)
    alone.init_weights()
    assert alone.conv_seg.weight.std().item() == pytest.approx(0.01,
                                                               rel=0.25)


def test_regression_output_starts_at_torch_scale():
    """The normals decoder's output conv: U(+-1/sqrt(64)) weights (std
    1/sqrt(3 * 64) = 0.072; over 192 weights the sample std lies within
    15 % of it by far), bias 0; a decoder ``init_cfg`` of the config wins.
    """
    torch.manual_seed(0)
    model = MODELS.build(model_cfg())
    model.init_weights()
    out = model.heads['normal'].decoder.conv_seg
    assert out.weight.abs().max().item() <= 1 / 8
    assert out.weight.std().item() == pytest.approx(1 / (3 * 64)**0.5,
                                                    rel=0.15)
    assert torch.count_nonzero(out.bias) == 0
    cfg = model_cfg()
    cfg.tasks.normal.head.decoder.init_cfg = dict(
        type='Normal', std=0.01, override=dict(name='conv_seg'))
    mmseg_like = MODELS.build(cfg)
    mmseg_like.init_weights()
    assert mmseg_like.heads['normal'].decoder.conv_seg.weight.std().item() \
        == pytest.approx(0.01, rel=0.25)
