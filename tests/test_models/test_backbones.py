"""Staged backbones: layer stepping, output stride, parameter layout."""
import pytest
import torch

from mtlnas_mm.models import StagedResNet, VGGLargeFOV


def step_all(backbone, x):
    x = backbone.forward_stem(x)
    outs = []
    for i in range(backbone.num_layers):
        x = backbone.forward_layer(i, x)
        if i in backbone.block_ends:
            outs.append(x)
    return outs


def test_vgg_largefov_layers_and_stride():
    torch.manual_seed(0)
    m = VGGLargeFOV(depth=16, base_channels=4).eval()
    assert m.num_layers == 13
    assert m.layer_blocks == [0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert m.layer_channels == [4, 4, 8, 8, 16, 16, 16, 32, 32, 32, 32, 32,
                                32]
    assert m.block_ends == [1, 3, 6, 9, 12]
    x = torch.randn(2, 3, 64, 48)
    outs = m(x)
    assert [o.shape[-2:] for o in outs] == [(64, 48), (32, 24), (16, 12),
                                            (8, 6), (8, 6)]
    for a, b in zip(step_all(m, x), outs):
        assert torch.equal(a, b)
    # odd input sizes: the 3x3/s2 pools round up like TF "SAME"
    assert m(torch.randn(1, 3, 65, 65))[-1].shape[-2:] == (9, 9)
    # block 5 is dilated
    assert m.features[14].conv.dilation == (2, 2)
    assert m.features[13].stride == 1
    bn = m.features[0].bn
    assert bn.eps == 1e-3 and bn.momentum == 0.05


@pytest.mark.parametrize('depth,layers', [(11, 8), (13, 10), (19, 16)])
def test_vgg_depths(depth, layers):
    m = VGGLargeFOV(depth=depth, base_channels=2, out_indices=(4, ))
    assert m.num_layers == layers
    assert len(m(torch.randn(1, 3, 32, 32))) == 1


def test_vgg_matches_mmpretrain_layout():
    """An mmpretrain vgg16_bn checkpoint loads key for key."""
    from mmpretrain.models.backbones import VGG
    ref = VGG(16, norm_cfg=dict(type='BN'))
    ours = VGGLargeFOV(depth=16)
    ref_sd, our_sd = ref.state_dict(), ours.state_dict()
    assert list(ref_sd) == list(our_sd)
    assert all(ref_sd[k].shape == our_sd[k].shape for k in ref_sd)
    # with the Pretrained prefix 'backbone.' of an mmpretrain classifier
    ckpt = {f'backbone.{k}': v for k, v in ref_sd.items()}
    ours.load_state_dict({k[len('backbone.'):]: v for k, v in ckpt.items()})
    assert torch.equal(ours.features[16].conv.weight,
                       ref.features[16].conv.weight)


def test_staged_resnet_stepping_and_layout():
    from mmseg.models.backbones import ResNetV1c
    torch.manual_seed(0)
    kw = dict(depth=18, stem_channels=8, base_channels=4)
    m = StagedResNet(**kw).eval()
    assert m.layer_blocks == [0, 0, 1, 1, 2, 2, 3, 3]
    assert m.layer_channels == [4, 4, 8, 8, 16, 16, 32, 32]
    x = torch.randn(2, 3, 64, 64)
    outs = m(x)
    assert [o.shape[-1] for o in outs] == [16, 8, 8, 8]  # output stride 8
    for a, b in zip(step_all(m, x), outs):
        assert torch.allclose(a, b)
    ref = ResNetV1c(
        strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), contract_dilation=True,
        **kw)
    ref.load_state_dict(m.state_dict())  # same names and shapes
    ref.eval()
    for a, b in zip(ref(x), outs):
        assert torch.allclose(a, b)
    r50 = StagedResNet(depth=50, stem_channels=8, base_channels=2)
    assert r50.num_layers == 16
    assert r50.layer_blocks == [0] * 3 + [1] * 4 + [2] * 6 + [3] * 3
    assert r50.layer_channels[0] == 8 and r50.layer_channels[-1] == 64
    assert m.train() is m
