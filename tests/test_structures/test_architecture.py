"""Candidate-edge rule and the Architecture export format."""
import json
import math

import pytest

from mtlnas_mm.structures import (Architecture, ConnectivityRule, Edge,
                                  build_candidate_edges, load_architecture)

VGG16_BLOCKS = [b for b, n in enumerate((2, 2, 3, 3, 3)) for _ in range(n)]
R50_BLOCKS = [b for b, n in enumerate((3, 4, 6, 3)) for _ in range(n)]


def in_degrees(edges, task, num_layers):
    deg = [0] * num_layers
    for e in edges:
        if e.target_task == task:
            deg[e.target_layer] += 1
    return deg


def test_vgg16_two_tasks_mtlnas_rule():
    edges = build_candidate_edges(['seg', 'normal'], VGG16_BLOCKS)
    assert len(edges) == 48
    for task in ('seg', 'normal'):
        assert in_degrees(edges, task, 13) == [1, 2, 1, 2, 1, 2, 3, 1, 2, 3,
                                               1, 2, 3]
    for e in edges:
        assert e.source_task != e.target_task
        assert e.source_layer <= e.target_layer
        assert e.target_layer - e.source_layer < 3
        assert VGG16_BLOCKS[e.source_layer] == VGG16_BLOCKS[e.target_layer]
    # fixed order: target task, target layer, source task, source layer
    assert edges[0] == Edge('seg', 0, 'normal', 0)
    assert edges[1:3] == [Edge('seg', 1, 'normal', 0),
                          Edge('seg', 1, 'normal', 1)]
    assert edges[24].target_task == 'normal'
    assert len(set(edges)) == 48


def test_resnet50_bottlenecks():
    edges = build_candidate_edges(['a', 'b'], R50_BLOCKS)
    assert len(edges) == 72
    assert sum(e.target_task == 'a' for e in edges) == 36
    assert max(in_degrees(edges, 'a', 16)) == 3


def test_rule_variants_and_k_tasks():
    tasks = ['seg', 'normal', 'depth']
    edges = build_candidate_edges(tasks, VGG16_BLOCKS)
    assert len(edges) == 6 * 24  # every ordered task pair
    # seg has sources from both other tasks
    assert in_degrees(edges, 'seg', 13)[6] == 6
    nddr = build_candidate_edges(['a', 'b'], VGG16_BLOCKS,
                                 dict(same_layer_only=True,
                                      target_layers=[1, 3, 6, 9, 12]))
    assert [(e.target_layer, e.source_layer) for e in nddr[:5]] == [
        (1, 1), (3, 3), (6, 6), (9, 9), (12, 12)]
    assert len(nddr) == 10
    free = build_candidate_edges(['a', 'b'], VGG16_BLOCKS,
                                 ConnectivityRule(same_block=False,
                                                  max_gap=None))
    assert len(free) == 2 * sum(range(1, 14))
    gap2 = build_candidate_edges(['a', 'b'], VGG16_BLOCKS, dict(max_gap=2))
    assert max(in_degrees(gap2, 'a', 13)) == 2
    with pytest.raises(KeyError, match='max_gapp'):
        build_candidate_edges(['a', 'b'], VGG16_BLOCKS, dict(max_gapp=2))
    with pytest.raises(ValueError, match='duplicate'):
        build_candidate_edges(['a', 'a'], VGG16_BLOCKS)
    with pytest.raises(ValueError, match='invalid task name'):
        build_candidate_edges(['a.b', 'c'], VGG16_BLOCKS)
    with pytest.raises(ValueError, match='target_layers'):
        build_candidate_edges(['a', 'b'], VGG16_BLOCKS,
                              dict(target_layers=[13]))


def test_edge_key_round_trip():
    e = Edge('normal', 4, 'seg', 2)
    assert e.key == 'seg.2->normal.4'
    assert Edge.from_key(e.key) == e
    with pytest.raises(ValueError, match='invalid edge key'):
        Edge.from_key('seg2->normal.4')


def _from_probs(edges, probs, **kwargs):
    """The architecture whose gates are ``probs`` (through the logits)."""
    logits = [math.log(p / (1 - p)) if 0 < p < 1 else
              (-1e3 if p == 0 else 1e3) for p in probs]
    return Architecture.from_logits(edges, logits, **kwargs)


def test_keep_rule_from_logits():
    edges = build_candidate_edges(['a', 'b'], VGG16_BLOCKS)
    probs = [0.9 if i % 3 == 0 else 0.2 for i in range(48)]
    arch = _from_probs(edges, probs)
    assert arch.kept_edges == [e for i, e in enumerate(edges) if i % 3 == 0]
    assert arch.gates[edges[0].key] == pytest.approx(0.9)
    # independent threshold per edge: all of a target's edges may survive
    arch_all = _from_probs(edges, [0.6] * 48)
    assert in_degrees(arch_all.kept_edges, 'a', 13) == in_degrees(edges, 'a', 13)
    # alpha > 0 is the rule, also where sigmoid rounds to 0.5
    arch2 = Architecture.from_logits(edges[:2], [1e-9, -1e-9])
    assert arch2.kept_edges == [edges[0]]
    assert arch2.gates[edges[0].key] == pytest.approx(0.5)


@pytest.mark.parametrize('suffix', ['.json', '.yaml'])
def test_dump_load_round_trip(tmp_path, suffix):
    edges = build_candidate_edges(['seg', 'normal', 'depth'], VGG16_BLOCKS)
    arch = _from_probs(
        edges, [(i % 7) / 7 for i in range(len(edges))], meta=dict(iter=5))
    path = str(tmp_path / f'arch{suffix}')
    arch.dump(path)
    loaded = Architecture.load(path)
    assert loaded == arch
    assert loaded.edges == arch.edges  # order preserved
    assert loaded.tasks == ('seg', 'normal', 'depth')
    assert loaded.meta == dict(iter=5)
    assert Architecture.from_dict(arch.to_dict()) == arch
    no_gates = Architecture(edges, edges[:3])
    no_gates.dump(path)
    assert Architecture.load(path).gates is None
    # any kind is read through the one entry point
    assert load_architecture(path) == no_gates
    assert arch.to_dict()['kind'] == 'fusion_edges'


def test_version_1_files_and_unknown_kinds(tmp_path):
    """Files written before kinds existed read as fusion edges; an unknown
    kind is an error naming the file and the key."""
    edges = build_candidate_edges(['a', 'b'], VGG16_BLOCKS)
    arch = Architecture(edges, edges[:4])
    old = {k: v for k, v in arch.to_dict().items() if k != 'kind'}
    old['format_version'] = 1
    assert Architecture.load(_write(tmp_path, old, 'v1.json')) == arch
    path = _write(tmp_path, dict(arch.to_dict(), kind='cells'), 'k.json')
    with pytest.raises(ValueError, match=r'k\.json: key "kind".*cells'):
        load_architecture(path)


def _write(tmp_path, data, name='bad.json'):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_bad_files(tmp_path):
    edges = build_candidate_edges(['a', 'b'], VGG16_BLOCKS)
    good = _from_probs(edges, [0.7] * 48).to_dict()
    with pytest.raises(FileNotFoundError, match='nope.json'):
        Architecture.load(str(tmp_path / 'nope.json'))
    with pytest.raises(ValueError, match='must end with'):
        Architecture.load(str(tmp_path / 'arch.txt'))
    path = _write(tmp_path, dict(good, format_version=99))
    with pytest.raises(ValueError, match=r'bad\.json.*format_version'):
        Architecture.load(path)
    path = _write(tmp_path, {k: v for k, v in good.items()
                             if k != 'kept_edges'})
    with pytest.raises(ValueError, match='bad.json.*kept_edges.*missing'):
        Architecture.load(path)
    path = _write(tmp_path, dict(good, kept_edges=['a.5->b.0']))
    with pytest.raises(ValueError, match='kept_edges.*not in candidate'):
        Architecture.load(path)
    path = _write(tmp_path, dict(good, candidate_edges=['oops']))
    with pytest.raises(ValueError, match=r'candidate_edges\[0\]'):
        Architecture.load(path)
    bad_gates = dict(good['gates'])
    bad_gates[edges[0].key] = 1.5
    path = _write(tmp_path, dict(good, gates=bad_gates))
    with pytest.raises(ValueError, match=r'gates\.b\.0->a\.0'):
        Architecture.load(path)
    path = _write(tmp_path, '{not json')
    with pytest.raises(ValueError, match='cannot parse'):
        Architecture.load(path)
    with pytest.raises(ValueError, match='not candidates'):
        Architecture(edges[:2], [edges[5]])


def test_check_choice_names_owner_options_and_value():
    from mtlnas_mm.structures import check_choice
    assert check_choice('b', ('a', 'b'), 'Owner: arg') == 'b'
    with pytest.raises(ValueError,
                       match=r"^Owner: arg must be one of \('a', 'b'\), "
                       r"got 'c'$"):
        check_choice('c', ('a', 'b'), 'Owner: arg')
    # unordered options are shown sorted; the error class is selectable
    with pytest.raises(KeyError, match=r"\(11, 16\), got 13"):
        check_choice(13, {16: 0, 11: 0}, 'VGG: depth', KeyError)
