"""mmengine's initialisation reaches every module of a multi-task network:
a ``Pretrained`` ``init_cfg`` on a task column or on a head is applied, and
a head gets mmseg's own default init, as the same head built by mmseg."""
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
    """mmseg's ``BaseDecodeHead`` initialises ``conv_seg`` as
    Normal(std=0.01), bias 0; torch's default would give std 0.072 for
    these 64 input channels.  The sample std of n Normal(0.01) weights has
    a relative standard error of 1/sqrt(2n): 5 % for the normal head's
    n = 192, 1.4 % for the seg head's 2624; the bound (25 %) lies 5
    standard errors out and far from 0.072."""
    torch.manual_seed(0)
    model = MODELS.build(model_cfg())
    model.init_weights()
    for head in (model.heads['seg'], model.heads['normal'].decoder):
        w = head.conv_seg.weight
        assert w.std().item() == pytest.approx(0.01, rel=0.25), w.std()
        assert torch.count_nonzero(head.conv_seg.bias) == 0
    # the same as the head built and initialised by mmseg alone
    alone = MODELS.build(model_cfg().tasks.seg.head)
    alone.init_weights()
    assert alone.conv_seg.weight.std().item() == pytest.approx(0.01,
                                                               rel=0.25)
