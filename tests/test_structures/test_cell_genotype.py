"""The 'cell_genotype' architecture kind: round trip, merge, bad files."""
import json
import re

import pytest

import mtlnas_mm  # noqa: F401
from mtlnas_mm.structures import (PRIMITIVES, CellArchitecture, CellGenotype,
                                  SpaceGenotype, load_architecture,
                                  random_cell_architecture)

NORMAL = CellGenotype((('sep_conv_3x3', 0), ('sep_conv_5x5', 1),
                       ('skip_connect', 0), ('dil_conv_3x3', 2),
                       ('max_pool_3x3', 1), ('avg_pool_3x3', 3),
                       ('dil_conv_5x5', 4), ('sep_conv_3x3', 0)))
REDUCE = CellGenotype((('max_pool_3x3', 0), ('max_pool_3x3', 1),
                       ('skip_connect', 2), ('max_pool_3x3', 1),
                       ('avg_pool_3x3', 0), ('skip_connect', 2),
                       ('skip_connect', 2), ('avg_pool_3x3', 1)))


def _arch(probs=True):
    uniform = [[1.0 / len(PRIMITIVES)] * len(PRIMITIVES)] * 14
    return CellArchitecture(
        {'backbone': SpaceGenotype(NORMAL, REDUCE),
         'branches.seg': SpaceGenotype(NORMAL)},
        probs={'backbone': {'normal': uniform, 'reduce': uniform}}
        if probs else None,
        meta={'iter': 3})


@pytest.mark.parametrize('suffix', ['json', 'yaml'])
def test_round_trip_through_the_file(tmp_path, suffix):
    arch = _arch()
    path = str(tmp_path / f'g.{suffix}')
    arch.dump(path)
    back = load_architecture(path)
    assert isinstance(back, CellArchitecture) and back == arch
    assert back.meta == {'iter': 3}
    assert back.genotypes['branches.seg'].reduce is None
    assert back.soft_values()['backbone.reduce.13.none'] == \
        pytest.approx(1 / 8)


def test_merge_joins_disjoint_spaces():
    a = CellArchitecture({'backbone': SpaceGenotype(NORMAL, REDUCE)})
    b = CellArchitecture({'branches.seg': SpaceGenotype(NORMAL)})
    merged = CellArchitecture.merge([a, b])
    assert sorted(merged.genotypes) == ['backbone', 'branches.seg']
    with pytest.raises(ValueError, match='appear twice'):
        CellArchitecture.merge([a, a])


def _write(tmp_path, mutate):
    data = _arch().to_dict()
    mutate(data)
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize('mutate, key, msg', [
    (lambda d: d['genotypes']['backbone']['normal'][3].__setitem__(
        0, 'conv_7x7'), 'genotypes.backbone.normal', "unknown op 'conv_7x7'"),
    (lambda d: d['genotypes']['backbone']['normal'][2].__setitem__(1, 3),
     'genotypes.backbone.normal', 'node 1 can read inputs 0..2'),
    (lambda d: d['genotypes']['backbone']['normal'][1].__setitem__(1, 0),
     'genotypes.backbone.normal', 'reads input 0 twice'),
    (lambda d: d['genotypes']['backbone']['normal'].pop(),
     'genotypes.backbone.normal', '2 \\(op, input\\) pairs per node'),
    (lambda d: d['genotypes']['backbone']['reduce'].__setitem__(0, 'x'),
     r'genotypes.backbone.reduce\[0\]', 'expected \\[op name, input'),
    (lambda d: d['genotypes']['branches.seg'].pop('normal'),
     'genotypes.branches.seg.normal', 'missing'),
    (lambda d: d['genotypes']['backbone'].__setitem__('up', []),
     'genotypes.backbone.up', 'unknown cell type'),
    (lambda d: d.pop('genotypes'), 'genotypes', 'missing'),
    (lambda d: d.__setitem__('primitives', ['none']), 'primitives',
     'expected'),
    (lambda d: d['probs']['backbone']['normal'].pop(),
     'probs.backbone.normal', 'expected 14 edges'),
    (lambda d: d['probs']['backbone']['reduce'].__setitem__(2, [2.0] * 8),
     r'probs.backbone.reduce\[2\]', 'weights in \\[0, 1\\]'),
    (lambda d: d['probs'].__setitem__('branches.depth', {}),
     'probs.branches.depth', 'no genotype'),
])
def test_bad_files_name_the_file_and_the_key(tmp_path, mutate, key, msg):
    path = _write(tmp_path, mutate)
    with pytest.raises(ValueError) as err:
        load_architecture(path)
    text = str(err.value)
    assert text.startswith(f'{path}: key "'), text
    assert re.search(f'key "{key}"', text), text
    assert re.search(msg, text), text


def test_a_fusion_edge_loader_refuses_a_cell_genotype(tmp_path):
    from mtlnas_mm.structures import Architecture
    path = str(tmp_path / 'g.json')
    _arch(probs=False).dump(path)
    with pytest.raises(ValueError, match='key "kind": expected a '
                       "'fusion_edges' architecture, got 'cell_genotype'"):
        Architecture.load(path)


def _ink(img):
    """Fraction of non-white pixels."""
    return float((img[..., :3].min(axis=-1) < 0.9).mean())


def test_the_genotype_picture_has_a_panel_per_part_and_cell(tmp_path):
    """One panel per (part, cell type): the three cells drawn carry ink
    (nodes, labelled edges), the part without reduction cell leaves its
    panel blank below the title; a drawer of another kind is refused."""
    import matplotlib.image as mpimg

    from mtlnas_mm.structures import Architecture, build_candidate_edges
    from mtlnas_mm.visualization import (ARCH_DRAWERS, draw_architecture,
                                         draw_cell_genotype)
    assert ARCH_DRAWERS['cell_genotype'] is draw_cell_genotype
    out = draw_architecture(_arch(), str(tmp_path / 'g.png'))
    img = mpimg.imread(out)
    h, w = img.shape[:2]
    # rows: backbone, branches.seg; columns: normal, reduce; skip titles
    panels = {(r, c): img[r * h // 2 + h // 8:(r + 1) * h // 2 - 10,
                          c * w // 2 + 10:(c + 1) * w // 2 - 10]
              for r in range(2) for c in range(2)}
    for rc in [(0, 0), (0, 1), (1, 0)]:
        assert _ink(panels[rc]) > 0.01, rc
    assert _ink(panels[(1, 1)]) == 0.0
    edges = build_candidate_edges(['a', 'b'], [0, 1, 2])
    with pytest.raises(TypeError, match="got 'fusion_edges'"):
        draw_cell_genotype(Architecture(edges, edges[:1]),
                           str(tmp_path / 'f.png'))


def test_visualize_arch_tool_draws_a_genotype_file(tmp_path):
    import os.path as osp

    from runner_utils import load_tool
    tool = load_tool('tools/analysis_tools/visualize_arch.py')
    path = str(tmp_path / 'g.json')
    _arch().dump(path)
    tool.main([path])
    assert osp.getsize(str(tmp_path / 'architecture.png')) > 1000
    # gate curves belong to fusion edges: refused before drawing anything
    with pytest.raises(ValueError, match="g.json is 'cell_genotype'"):
        tool.main([path, '--history', path, '--out-dir',
                   str(tmp_path / 'h')])
    assert not osp.exists(str(tmp_path / 'h'))


def test_random_cell_architecture_is_a_valid_seeded_draw(tmp_path):
    """random_cell_architecture: every space of the layout, valid cells
    (2 distinct earlier inputs per node, no 'none'), the same genotype for
    the same seed, another for another seed, every op and input drawn;
    the file round-trips."""
    layout = {'backbone': (4, True), 'branches.seg': (4, False),
              'branches.normal': (3, False)}
    arch = random_cell_architecture(layout, seed=5)
    assert arch.layout() == layout
    assert arch.meta == {'random_seed': 5}
    for g in arch.genotypes.values():
        for cell in filter(None, g.cells().values()):
            for node in range(cell.steps):
                (op_a, a), (op_b, b) = cell.node_edges(node)
                assert a != b and 0 <= min(a, b) and max(a, b) < 2 + node
                assert 'none' not in (op_a, op_b)
    assert random_cell_architecture(layout, seed=5) == arch
    assert random_cell_architecture(layout, seed=6) != arch
    path = str(tmp_path / 'random.json')
    arch.dump(path)
    back = load_architecture(path)
    assert back == arch and back.meta == {'random_seed': 5}
    # over many draws every op other than 'none' and every input of the
    # last node occurs (a uniform draw, not a fixed pattern)
    ops, inputs = set(), set()
    for seed in range(50):
        cell = random_cell_architecture({'b': (4, False)}, seed).genotypes[
            'b'].normal
        ops.update(op for op, _ in cell.edges)
        inputs.update(i for _, i in cell.node_edges(3))
    assert ops == set(PRIMITIVES) - {'none'}
    assert inputs == set(range(5))
    with pytest.raises(ValueError, match='empty layout'):
        random_cell_architecture({}, 0)
