"""The DARTS cell search space: ops, mixed op, cells, derivation, fix."""
import pytest
import torch

import mtlnas_mm  # noqa: F401
from mtlnas_mm.models.layers import build_op
from mtlnas_mm.models.search_spaces import DartsCellSpace, MixedOp, SearchCell
from mtlnas_mm.models.search_spaces.darts_cells import uniform_entropy
from mtlnas_mm.structures import (PRIMITIVES, CellArchitecture, CellGenotype,
                                  SpaceGenotype, derive_cell, edge_offset,
                                  num_cell_edges)

C = 4


def _space(genotype=None, reduction=True, name='backbone'):
    cells = [dict(c_prev_prev=C, c_prev=C, channels=C, reduction=False)]
    if reduction:
        cells.append(dict(c_prev_prev=C, c_prev=4 * C, channels=C,
                          reduction=True))
        cells.append(dict(c_prev_prev=4 * C, c_prev=4 * C, channels=C,
                          reduction=False, align='reduce'))
    return DartsCellSpace(name, cells, genotype=genotype)


def _run(space, x):
    """Stem-free stack of the test space: s0 = s1 = x."""
    w = space.cell_weights()
    s0, s1 = x, x
    for i in range(len(space.cells)):
        s0, s1 = s1, space.forward_cell(i, s0, s1, w)
    return s1


@pytest.mark.parametrize('size', [8, 5])
@pytest.mark.parametrize('stride', [1, 2])
def test_every_primitive_keeps_channels_and_strides(stride, size):
    x = torch.randn(2, C, size, size)
    out_size = size if stride == 1 else (size + 1) // 2
    for name in PRIMITIVES:
        y = build_op(name, C, stride)(x)
        assert y.shape == (2, C, out_size, out_size), name


def test_mixed_op_is_the_weighted_sum_of_its_ops():
    torch.manual_seed(0)
    op = MixedOp(C, 1).eval()
    x = torch.randn(2, C, 6, 6)
    w = torch.softmax(torch.randn(len(PRIMITIVES)), 0)
    expected = sum(w[k] * op.ops[k](x) for k in range(len(PRIMITIVES)))
    torch.testing.assert_close(op(x, w), expected)
    k = PRIMITIVES.index('sep_conv_3x3')
    torch.testing.assert_close(op(x, torch.eye(len(PRIMITIVES))[k]),
                               op.ops[k](x))


def test_cell_shapes_normal_reduction_and_alignments():
    n_edges = num_cell_edges(4)
    assert n_edges == 14
    w = torch.softmax(torch.zeros(n_edges, len(PRIMITIVES)), -1)
    x = torch.randn(2, C, 8, 8)
    normal = SearchCell(C, C, C, reduction=False)
    assert normal(x, x, w).shape == (2, 4 * C, 8, 8)
    reduce = SearchCell(C, C, C, reduction=True)
    y = reduce(x, x, w)
    assert y.shape == (2, 4 * C, 4, 4)
    after = SearchCell(C, 4 * C, 2 * C, reduction=False, align='reduce')
    assert after(x, y, w).shape == (2, 8 * C, 4, 4)
    decoder = SearchCell(4 * C, C, C, reduction=False, align='resize')
    assert decoder(y, x, w).shape == (2, 4 * C, 8, 8)


def test_derive_keeps_two_strongest_edges_without_none():
    n = num_cell_edges(4)
    probs = [[0.0] * len(PRIMITIVES) for _ in range(n)]
    ix = PRIMITIVES.index

    def put(node, inp, op, value):
        probs[edge_offset(node) + inp][ix(op)] = value

    # node 0: input 1 has 'none' strongest but sep_conv_5x5 0.3 beats
    # input 0's 0.2; both edges are kept (only two)
    put(0, 0, 'max_pool_3x3', 0.2)
    put(0, 1, 'none', 0.9)
    put(0, 1, 'sep_conv_5x5', 0.3)
    # node 1: inputs 0, 1, 2 (= node 0); keep 2 and 0
    put(1, 0, 'dil_conv_3x3', 0.5)
    put(1, 1, 'skip_connect', 0.1)
    put(1, 2, 'sep_conv_3x3', 0.6)
    # node 2: a 'none' of 0.99 on input 3 does not make it strong
    put(2, 3, 'none', 0.99)
    put(2, 3, 'avg_pool_3x3', 0.01)
    put(2, 1, 'dil_conv_5x5', 0.4)
    put(2, 2, 'skip_connect', 0.35)
    # node 3: ties broken towards the lower input / op index
    for inp in range(5):
        put(3, inp, 'sep_conv_3x3', 0.2)
        put(3, inp, 'dil_conv_3x3', 0.2)
    g = derive_cell(probs)
    assert g.edges == (
        ('max_pool_3x3', 0), ('sep_conv_5x5', 1),
        ('dil_conv_3x3', 0), ('sep_conv_3x3', 2),
        ('dil_conv_5x5', 1), ('skip_connect', 2),
        ('sep_conv_3x3', 0), ('sep_conv_3x3', 1))


def test_space_derive_uses_the_softmax_of_its_alphas():
    space = _space()
    with torch.no_grad():
        for alpha in space.alphas.values():
            alpha.zero_()
        # reduce cell, node 0: dil_conv_5x5 from input 1, avg pool from 0
        space.alphas['reduce'][1, PRIMITIVES.index('dil_conv_5x5')] = 2.0
        space.alphas['reduce'][0, PRIMITIVES.index('avg_pool_3x3')] = 1.0
    arch = space.derive()
    assert set(arch.genotypes) == {'backbone'}
    red = arch.genotypes['backbone'].reduce
    assert red.node_edges(0) == (('avg_pool_3x3', 0), ('dil_conv_5x5', 1))
    probs = arch.probs['backbone']['reduce']
    assert len(probs) == 14 and sum(probs[1]) == pytest.approx(1.0)
    # at alpha = 0 the regulariser is the entropy of a uniform edge
    with torch.no_grad():
        for alpha in space.alphas.values():
            alpha.zero_()
    assert space.regularizer().item() == pytest.approx(uniform_entropy())


def _genotype(shift=0, steps=4):
    """Every non-none op somewhere; node j reads input 0 and input j + 1."""
    ops = [p for p in PRIMITIVES if p != 'none']
    edges = []
    for node in range(steps):
        edges += [(ops[(2 * node + shift) % 7], 0),
                  (ops[(2 * node + 1 + shift) % 7], 1 + node)]
    return CellGenotype(tuple(edges))


def _one_hot_weights(genotype):
    w = torch.zeros(num_cell_edges(genotype.steps), len(PRIMITIVES))
    for node in range(genotype.steps):
        for op, i in genotype.node_edges(node):
            w[edge_offset(node) + i, PRIMITIVES.index(op)] = 1.0
    return w


def test_fix_equals_search_forward_with_one_hot_choice_and_prunes():
    torch.manual_seed(0)
    space = _space()
    normal, reduce = _genotype(), _genotype(shift=3)
    arch = CellArchitecture(
        {'backbone': SpaceGenotype(normal, reduce)})
    x = torch.randn(2, C, 8, 8)
    one_hot = {'normal': _one_hot_weights(normal),
               'reduce': _one_hot_weights(reduce)}
    s0 = s1 = x
    for i in range(len(space.cells)):
        s0, s1 = s1, space.forward_cell(i, s0, s1, one_hot)
    expected = s1
    names = [n for n, _ in space.named_parameters()]

    space.fix(arch, 'test')
    assert space.arch_parameters() == [] and not space.searchable
    assert space.regularizer().item() == 0.0
    assert space.derive().genotypes == arch.genotypes
    calls = []
    for cell in space.cells:
        used = {(e, k) for node in cell.plan for e, k in node}
        for e, edge in enumerate(cell.edges):
            for k, op in enumerate(edge.ops):
                if (e, k) not in used:
                    op.register_forward_hook(
                        lambda *a, key=(e, k): calls.append(key))
    torch.testing.assert_close(_run(space, x), expected)
    assert calls == []  # pruned ops are not computed
    # parameter names unchanged: a search checkpoint loads strictly
    assert [n for n, _ in space.named_parameters()] == names
    fresh = _space(genotype=arch)
    fresh.load_state_dict(space.state_dict())
    torch.testing.assert_close(_run(fresh, x), expected)
    # a retrained network drops the ops it never computes
    space.discard_unused()
    kept = [n for n, _ in space.named_parameters()]
    assert len(kept) < len(names) and set(kept) <= set(names)
    torch.testing.assert_close(_run(space, x), expected)


def test_fix_errors_name_the_source_and_key():
    space = _space(name='branches.seg', reduction=False)
    other = CellArchitecture({'backbone': SpaceGenotype(_genotype())})
    with pytest.raises(ValueError,
                       match=r'g\.json: key "genotypes\.branches\.seg"'):
        space.fix(other, 'g.json')
    extra = CellArchitecture(
        {'branches.seg': SpaceGenotype(_genotype(), _genotype())})
    with pytest.raises(ValueError, match=r'branches\.seg\.reduce": this part '
                       'has no reduce'):
        space.fix(extra, 'g.json')
    with pytest.raises(ValueError, match=r'backbone\.reduce": this part '
                       'needs reduce'):
        _space().fix(other, 'g.json')
