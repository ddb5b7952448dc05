"""ImageNet initialisation of the VGG-16 single-task networks: an mmpretrain
VGG-16-BN checkpoint converted by
``tools/model_converters/mmpretrain_vgg_to_largefov.py`` loads strictly into
every task column, layer for layer."""
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmpretrain.models import VGG

import mtlnas_mm  # noqa: F401
from mmseg.registry import MODELS
from runner_utils import ROOT, load_tool

CONFIG = osp.join(ROOT, 'configs/baselines/single-task_vgg16_nyuv2.py')
TASKS = ('seg', 'normal')


def converter():
    return load_tool('tools/model_converters/mmpretrain_vgg_to_largefov.py')


def layers(module: nn.Module):
    """Conv and BN modules, in order."""
    return [m for m in module.modules()
            if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]


@pytest.fixture(scope='module')
def source():
    """A random mmpretrain VGG-16-BN ImageClassifier state dict (random BN
    statistics too), with (small stand-in) classifier keys."""
    torch.manual_seed(0)
    vgg = VGG(depth=16, norm_cfg=dict(type='BN'))
    g = torch.Generator().manual_seed(1)
    for m in vgg.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5, generator=g)
            m.bias.data.normal_(generator=g)
            m.running_mean.normal_(generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)
            m.num_batches_tracked.fill_(1234)
        elif isinstance(m, nn.Conv2d):
            m.bias.data.normal_(generator=g)
    state = {'backbone.' + k: v for k, v in vgg.state_dict().items()}
    state['backbone.classifier.0.weight'] = torch.randn(16, 8)
    state['backbone.classifier.6.bias'] = torch.randn(10)
    state['head.fc.weight'] = torch.randn(10, 16)
    return vgg, state


def save(path, state):
    torch.save(dict(meta=dict(mmpretrain_version='1.2.0'), state_dict=state),
               str(path))
    return str(path)


def single_task_network(init_from=None):
    cfg = Config.fromfile(CONFIG).model
    cfg.data_preprocessor = None
    cfg.init_from = init_from
    return MODELS.build(cfg)


def test_convert_and_load(source, tmp_path):
    vgg, state = source
    src = save(tmp_path / 'vgg16_bn.pth', state)
    dst = str(tmp_path / 'out' / 'vgg16bn_largefov.pth')
    report = converter().convert_checkpoint(src, dst, TASKS)
    assert report == dict(converted=len(vgg.state_dict()), dropped=3,
                          defaulted=0)
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    assert all(k.startswith(('backbone.columns.seg.features.',
                             'backbone.columns.normal.features.'))
               for k in ckpt['state_dict'])
    assert ckpt['meta']['dropped_keys'] == sorted(
        k for k in state if not k.startswith('backbone.features.'))

    torch.manual_seed(0)
    fresh = single_task_network()
    fresh.init_weights()  # the same random init as ``net``'s below
    fresh_heads = fresh.heads.state_dict()
    torch.manual_seed(0)
    net = single_task_network(
        {t: dict(checkpoint=dst, with_head=False) for t in TASKS})
    net.init_weights()
    expected = layers(vgg)
    assert len(expected) == 26  # 13 conv + 13 BN
    for task in TASKS:
        got = layers(net.backbone.columns[task])
        assert [type(m) for m in got] == [type(m) for m in expected]
        for mine, theirs in zip(got, expected):
            assert mine.weight.shape == theirs.weight.shape
            for name, tensor in theirs.state_dict().items():
                assert torch.equal(mine.state_dict()[name], tensor), name
    # the heads (LargeFOV fc6 / fc7 / fc8) are not from the checkpoint
    for key, value in net.heads.state_dict().items():
        assert torch.equal(value, fresh_heads[key]), key

    # the strict default (column and head) refuses it, naming file and key
    with pytest.raises(KeyError, match=r'vgg16bn_largefov\.pth.*heads\.seg'):
        single_task_network({'seg': dict(checkpoint=dst)}).init_weights()

    # mmengine's load_from path (non-strict) loads the same tensors
    other = single_task_network()
    load_checkpoint(other, dst, map_location='cpu', strict=False)
    for key, value in net.backbone.state_dict().items():
        assert torch.equal(other.backbone.state_dict()[key], value), key

    net.eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 33, 33), mode='tensor')
    assert set(out) == set(TASKS)
    assert all(torch.isfinite(v).all() for v in out.values())


def test_cli_single_task(source, tmp_path, capsys):
    _, state = source
    state = {k: v for k, v in state.items()
             if not k.endswith('num_batches_tracked')}
    src = save(tmp_path / 'old.pth', state)
    dst = str(tmp_path / 'seg.pth')
    converter().main([src, dst, '--tasks', 'seg'])
    assert 'set to 0' in capsys.readouterr().out
    out = torch.load(dst, map_location='cpu', weights_only=True)
    keys = out['state_dict']
    assert len(out['meta']['defaulted_keys']) == 13
    assert keys['backbone.columns.seg.features.16.bn.num_batches_tracked'] \
        == 0
    assert torch.equal(keys['backbone.columns.seg.features.16.bn.weight'],
                       state['backbone.features.16.bn.weight'])
    # an existing output is replaced only when asked
    from mtlnas_mm.utils import OutputExistsError
    with pytest.raises(OutputExistsError, match=r'seg\.pth exists'):
        converter().main([src, dst, '--tasks', 'seg'])
    converter().main([src, dst, '--tasks', 'seg', '--overwrite'])
    assert not any('normal' in k for k in keys)


@pytest.mark.parametrize('edit, error, match', [
    ('shape', ValueError,
     r"bad\.pth: key 'backbone\.features\.3\.conv\.weight' has shape "
     r'\(128, 64, 1, 1\)'),
    ('missing', KeyError,
     r"bad\.pth: no key 'backbone\.features\.16\.bn\.running_var'"),
    ('no_bn', KeyError,
     r"bad\.pth: no key 'backbone\.features\.0\.bn\.weight'"),
    ('extra', KeyError,
     r"bad\.pth: key 'backbone\.features\.18\.conv\.weight' maps to "
     'nothing'),
    ('foreign', KeyError, r"bad\.pth: key 'module\.features\.0\.conv"),
])
def test_bad_checkpoint(source, tmp_path, edit, error, match):
    _, state = source
    state = dict(state)
    if edit == 'shape':
        state['backbone.features.3.conv.weight'] = torch.zeros(128, 64, 1, 1)
    elif edit == 'missing':
        del state['backbone.features.16.bn.running_var']
    elif edit == 'no_bn':  # a plain (BN-free) VGG-16
        state = {k: v for k, v in state.items() if '.bn.' not in k}
    elif edit == 'extra':
        state['backbone.features.18.conv.weight'] = torch.zeros(1)
    else:
        state['module.features.0.conv.weight'] = torch.zeros(1)
    src = save(tmp_path / 'bad.pth', state)
    dst = tmp_path / 'out.pth'
    with pytest.raises(error, match=match):
        converter().convert_checkpoint(src, str(dst), TASKS)
    assert not dst.exists()


def test_unsafe_checkpoint_refused(tmp_path):
    src = tmp_path / 'unsafe.pth'
    torch.save(dict(state_dict={}, meta=Config(dict(a=1))), str(src))
    with pytest.raises(ValueError, match=r'unsafe\.pth: cannot be read with '
                       'weights_only=True'):
        converter().convert_checkpoint(str(src), str(tmp_path / 'o.pth'))


def test_with_head_must_be_bool():
    from mtlnas_mm.models.networks.task_init import load_task_checkpoints
    net = single_task_network()
    with pytest.raises(TypeError, match='init_from.seg.with_head must be a '
                       "bool, got 'False'"):
        load_task_checkpoints(
            net, {'seg': dict(checkpoint='unused.pth', with_head='False')})
