"""The MTNAS evidence: the ResNet-18 "multiple" baseline of about the
derived networks' FLOPs, the pipeline's per-stage lengths, and
tools/analysis_tools/mtnas_evidence.py end to end at 2 iterations."""
import json
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mtlnas_mm  # noqa: F401
from mmseg.registry import MODELS
from mtlnas_mm.structures import (CellArchitecture, SpaceGenotype,
                                  load_architecture)
from mtlnas_mm.utils import model_complexity, set_stage_genotype
from runner_utils import ROOT, generate_data, load_tool, tiny_cfg

pytestmark = pytest.mark.usefixtures('mmseg_scope')

RESNET = 'configs/baselines/multiple_resnet18-narrow_synthetic.py'
RETRAIN = 'configs/mtnas/mtnas_cells-tiny_synthetic_stage3-retrain.py'
START = 'configs/mtnas/genotypes/start_backbone.json'


def _derived_network(tmp_path):
    """The tiny MTNAS derived network of the starting backbone genotype
    (its normal cell for the branches)."""
    start = load_architecture(osp.join(ROOT, START)).genotypes
    genotypes = dict(start)
    genotypes.update({f'branches.{t}': SpaceGenotype(start['backbone'].normal)
                      for t in ('seg', 'normal')})
    path = str(tmp_path / 'genotype.json')
    CellArchitecture(genotypes).dump(path)
    cfg = Config.fromfile(osp.join(ROOT, RETRAIN))
    set_stage_genotype(cfg, path)
    return MODELS.build(cfg.model)


@pytest.mark.slow
def test_resnet_baseline_is_a_shared_resnet_of_the_mtnas_flops(tmp_path):
    """The narrow ResNetV1c-18: one trunk for both heads, output stride 8
    (12x16 features and logits of a 96x128 image) and FLOPs within 25 %
    of a derived tiny MTNAS network's."""
    cfg = Config.fromfile(osp.join(ROOT, RESNET))
    model = MODELS.build(cfg.model).eval()
    assert type(model.backbone).__name__ == 'ResNetV1c'
    layers = [getattr(model.backbone, n) for n in model.backbone.res_layers]
    assert [len(layer) for layer in layers] == [2, 2, 2, 2]  # depth 18
    x = torch.zeros(1, 3, 96, 128)
    with torch.no_grad():
        (feat, ) = model.backbone(x)
        out = model(x, mode='tensor')
    assert feat.shape == (1, 24, 12, 16)
    assert out['seg'].shape == (1, 40, 12, 16)
    assert out['normal'].shape == (1, 3, 12, 16)
    ours = model_complexity(model, (96, 128))
    mtnas = model_complexity(_derived_network(tmp_path), (96, 128))
    assert 0.75 < ours['flops'] / mtnas['flops'] < 1.25, (ours, mtnas)


@pytest.mark.slow
def test_resnet_baseline_trains_and_tests(tmp_path):
    data = generate_data(str(tmp_path / 'data'), num_train=4, num_test=2)
    cfg = tiny_cfg(RESNET, str(tmp_path / 'work'), data, iters=2)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    assert 0 <= metrics['mIoU'] <= 100 and 0 < metrics['mean'] <= 180


def test_pipeline_sets_the_search_and_retraining_lengths():
    """--search-iters / --retrain-iters set the two searches' and the
    retraining's loops and schedules; --iters the others; no option
    keeps the configs' lengths."""
    tool = load_tool('tools/mtnas_pipeline.py')
    args = tool.parse_args(['a.py', 'b.py', 'c.py', '--work-dir', 'w',
                            '--iters', '7', '--search-iters', '3',
                            '--retrain-iters', '5'])
    paths = [osp.join(ROOT, 'configs', 'mtnas',
                      f'mtnas_cells-tiny_synthetic_stage{s}.py')
             for s in ('1-branches', '2-backbone', '3-retrain')]

    def lengths(**kw):
        cfgs = [Config.fromfile(p) for p in paths]
        tool.set_stage_iters(cfgs, **kw)
        for cfg in cfgs:
            scheds = cfg.param_scheduler
            groups = scheds.values() if isinstance(scheds, dict) else \
                [scheds]
            ends = {s['end'] for g in groups for s in g}
            assert ends == {cfg.train_cfg.max_iters}
        return [c.train_cfg.max_iters for c in cfgs]

    assert lengths(iters=args.iters, search_iters=args.search_iters,
                   retrain_iters=args.retrain_iters) == [3, 3, 5]
    assert lengths(iters=7, retrain_iters=5) == [7, 7, 5]
    assert lengths(search_iters=3) == [3, 3, 600]
    assert lengths() == [600, 600, 600]
    with pytest.raises(ValueError, match='>= 1'):
        lengths(search_iters=0)


def _demo_results(path, tmp_path):
    """A tools/demo.py-like results file: the MTL-NAS architecture of the
    tiny search model, the single-task pair and a derived row 10 % worse
    in mIoU."""
    cfg = Config.fromfile(osp.join(ROOT,
                                   'configs/mtlnas/mtlnas_vgg-tiny_'
                                   'synthetic.py'))
    arch = MODELS.build(cfg.model).export()
    base = {'mIoU': 40.0, 'aAcc': 80.0, 'mean': 20.0, 'median': 12.0,
            'rmse': 28.0, 'within_11.25': 50.0, 'within_22.5': 70.0,
            'within_30': 80.0}
    worse = dict(base, mIoU=36.0)
    with open(path, 'w') as f:
        json.dump(dict(results={
            'single-task (1500 + 300 it)': base,
            'MTL-NAS derived (alpha>0, no retraining)': worse},
            architecture=arch.to_dict()), f)
    return path


def _reference(path, seeds):
    """A compare_seeds.py results file of the single-task pair: one run
    per seed."""
    runs = [{'mIoU': 30.0 + s, 'aAcc': 80.0, 'mean': 30.0, 'median': 25.0,
             'rmse': 35.0, 'within_11.25': 20.0, 'within_22.5': 45.0,
             'within_30': 60.0} for s in seeds]
    with open(path, 'w') as f:
        json.dump(dict(seeds=list(seeds), configs={'st': 'st.py'},
                       runs={'st': runs}), f)
    return path


@pytest.mark.slow
def test_evidence_tool_runs_the_rows_and_reuses_them(tmp_path, monkeypatch):
    """Two seeds of the random-genotype and ResNet rows at 2 iterations:
    every row trained, tested and counted, delta_m against the same
    seed's single-task pair of a compare_seeds.py file (0 for the pair
    itself), the random genotypes drawn per seed from the retraining
    network's space, the MTL-NAS demo rows against the demo's pair; a
    second call reads the finished runs instead of training again."""
    monkeypatch.chdir(tmp_path)  # the configs' data/synthetic_nyuv2
    generate_data(str(tmp_path / 'data' / 'synthetic_nyuv2'), num_train=4,
                  num_test=2)
    tool = load_tool('tools/analysis_tools/mtnas_evidence.py')
    demo = _demo_results(str(tmp_path / 'demo.json'), tmp_path)
    reference = _reference(str(tmp_path / 'st.json'), (0, 1))
    work = str(tmp_path / 'evidence')
    argv = ['--work-dir', work, '--seeds', '0', '1', '--retrain-iters', '2',
            '--rows', 'random', 'multiple', '--reference', reference,
            '--mtlnas-demo', demo]
    summary = tool.main(argv)
    assert set(summary) == {'random', 'multiple', 'single-task',
                            'MTL-NAS derived', 'MTL-NAS single-task'}
    for row in ('random', 'multiple'):
        s = summary[row]
        assert s['mIoU']['n'] == 2 and s['flops']['mean'] > 0
        assert osp.isfile(osp.join(work, row, 'seed1', 'iter_2.pth'))
    with open(osp.join(work, 'evidence.json')) as f:
        runs = json.load(f)['runs']
    for r in runs['multiple']:  # against its own seed's reference
        assert r['metrics']['delta_m/seg'] == pytest.approx(
            ((r['metrics']['mIoU'] - 30 - r['seed']) / (30 + r['seed']) +
             (r['metrics']['aAcc'] - 80) / 80) / 2 * 100)
    st = summary['single-task']
    assert st['delta_m'] == dict(mean=0.0, std=0.0, n=2)
    assert st['mIoU']['mean'] == pytest.approx(30.5)
    assert st['flops']['mean'] > 10 * summary['multiple']['flops']['mean']
    # the demo row: 10 % lower mIoU, the rest equal: delta_m/seg = -5 %
    derived = summary['MTL-NAS derived']
    assert derived['delta_m/seg']['mean'] == pytest.approx(-5.0)
    assert derived['delta_m']['mean'] == pytest.approx(-10.0 / 8)
    genotypes = [load_architecture(osp.join(work, 'random', f'seed{s}',
                                            'random_genotype.json'))
                 for s in (0, 1)]
    assert genotypes[0] != genotypes[1]
    assert genotypes[0].layout() == {'backbone': (4, True),
                                     'branches.seg': (4, False),
                                     'branches.normal': (4, False)}
    stamps = {p: os.stat(p).st_mtime_ns
              for p in (osp.join(work, r, 'seed0', 'iter_2.pth')
                        for r in ('random', 'multiple'))}
    again = tool.main(argv)
    assert again == summary
    assert stamps == {p: os.stat(p).st_mtime_ns for p in stamps}
    with pytest.raises(ValueError, match='no run of seed'):
        tool.main(argv[:3] + ['0', '2'] + argv[5:])
