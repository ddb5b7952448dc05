"""The MTNAS network: cell trunk + per-task cell decoder branches."""

import pytest
import torch

import mtlnas_mm  # noqa: F401
from mmseg.registry import MODELS
from mtlnas_mm.structures import (PRIMITIVES, CellArchitecture, edge_offset,
                                  load_architecture)
from builders import PRETRAINED, mtnas_network_cfg


def _spaces(net):
    return net.backbone.spaces()


def test_shapes_taps_and_spaces():
    torch.manual_seed(0)
    net = MODELS.build(mtnas_network_cfg())
    trunk = net.backbone.trunk
    x = torch.randn(2, 3, 32, 32)
    taps = trunk(x)
    assert [t.shape[1:] for t in taps] == [(16, 8, 8), (32, 4, 4),
                                           (64, 2, 2), (128, 1, 1)]
    assert trunk.out_channels == [16, 32, 64, 128]
    feats = net.backbone(x)
    assert set(feats) == {'seg', 'normal'}
    assert [f.shape[1:] for f in feats['seg']] == [(16, 8, 8), (16, 4, 4),
                                                   (16, 2, 2), (16, 1, 1)]
    out = net(x, mode='tensor')
    assert out['seg'].shape == (2, 40, 8, 8)
    assert out['normal'].shape == (2, 3, 8, 8)
    names = [s.space_name for s in _spaces(net)]
    assert names == ['backbone', 'branches.seg', 'branches.normal']
    assert sorted(trunk.space.alphas) == ['normal', 'reduce']
    assert sorted(net.backbone.branches['seg'].space.alphas) == ['normal']
    # every branch has its own alphas
    a = net.backbone.branches['seg'].space.alphas['normal']
    b = net.backbone.branches['normal'].space.alphas['normal']
    assert a is not b and not torch.equal(a, b)


def test_genotype_file_rebuilds_the_derived_network(tmp_path):
    torch.manual_seed(0)
    search = MODELS.build(mtnas_network_cfg())
    with torch.no_grad():
        for s in _spaces(search):
            for alpha in s.alphas.values():
                alpha.normal_()
    arch = CellArchitecture.merge([s.derive() for s in _spaces(search)])
    path = str(tmp_path / 'genotype.yaml')
    arch.dump(path)
    assert load_architecture(path) == arch

    fixed = MODELS.build(mtnas_network_cfg(genotype=path))
    for s in _spaces(fixed):
        assert not s.searchable
        assert s.derive().genotypes == {
            s.space_name: arch.genotypes[s.space_name]}
    # the search checkpoint loads strictly into the derived network
    fixed.load_state_dict(search.state_dict())
    x = torch.randn(2, 3, 32, 32)
    fixed.eval()
    out = fixed(x, mode='tensor')
    assert out['seg'].shape == (2, 40, 8, 8)
    # the derived network computes the supernet's forward at one-hot
    # weights: compare with the search network whose softmax is made
    # one-hot by large alphas
    with torch.no_grad():
        for s in _spaces(search):
            for t, alpha in s.alphas.items():
                alpha.fill_(-1e4)
                g = arch.genotypes[s.space_name].cells()[t]
                for node in range(g.steps):
                    for op, i in g.node_edges(node):
                        alpha[edge_offset(node) + i,
                              PRIMITIVES.index(op)] = 1e4
    # an edge the genotype drops then has weight 1/8 on every op; give it
    # zero weight instead through the none op, as the genotype does
    with torch.no_grad():
        for s in _spaces(search):
            for t, alpha in s.alphas.items():
                dropped = alpha.max(-1).values < 0
                alpha[dropped, 0] = 1e4
    search.eval()
    torch.testing.assert_close(search(x, mode='tensor'), out)

    slim = MODELS.build(mtnas_network_cfg(genotype=path, discard_unused=True))
    n_slim = sum(p.numel() for p in slim.parameters())
    n_full = sum(p.numel() for p in fixed.parameters())
    assert n_slim < n_full
    slim.load_state_dict(search.state_dict(), strict=False)
    slim.eval()
    torch.testing.assert_close(slim(x, mode='tensor'), out)


def test_frozen_trunk_keeps_weights_and_statistics():
    net = MODELS.build(mtnas_network_cfg(trunk=dict(
        channels=4, num_cells=4, reductions=(1, 2, 3), frozen=True,
        init_cfg=PRETRAINED)))
    trunk = net.backbone.trunk
    assert all(not p.requires_grad for n, p in trunk.named_parameters()
               if 'alphas' not in n)
    assert any(p.requires_grad for p in net.backbone.branches.parameters())
    net.train()
    assert not trunk.training and net.backbone.branches.training


def test_frozen_trunk_without_given_weights_is_refused():
    trunk = dict(channels=4, num_cells=4, reductions=(1, 2, 3), frozen=True)
    for init_cfg in (None, dict(type='Kaiming'), [dict(type='Kaiming')]):
        with pytest.raises(ValueError, match="type='Pretrained'"):
            MODELS.build(mtnas_network_cfg(trunk=dict(trunk, init_cfg=init_cfg)))
    MODELS.build(mtnas_network_cfg(trunk=dict(trunk, init_cfg=[PRETRAINED])))


def test_bad_layouts_are_refused():
    with pytest.raises(ValueError, match='reductions must be increasing'):
        MODELS.build(mtnas_network_cfg(trunk=dict(num_cells=4,
                                            reductions=(0, 2))))
    with pytest.raises(KeyError, match='is filled in'):
        MODELS.build(mtnas_network_cfg(branch=dict(in_channels=[4])))
