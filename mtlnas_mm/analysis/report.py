"""The summary of a ``benchmark.py`` run: per-case medians, the ratios
against the single-task pair and the official implementation, the FLOP
floor (:mod:`.cases`), the targets with pass / fail, and the markdown
tables of all of it."""
import statistics
from typing import Dict, List, Optional

from ..structures import ARCH_STEP, WEIGHT_STEP
from .cases import iteration_work
from .official import OFFICIAL_BACKBONE
from .timing import Case

#: (name, direction, limit, description); limit None: computed (see
#: :func:`summarise`); targets against the official code need
#: --official-root
TARGETS = (
    ('search_iter_speedup_vs_official', '>=', 1.3,
     'official search iteration time / mtlnas_mm search iteration time'),
    ('search_iter_vs_floor', '<=', 1.15,
     'search iteration time / its FLOP floor (5 F + F_fuse at the '
     'measured 3x3-conv throughput)'),
    ('weight_step_vs_single_step', '<=', None,
     'weight step (in the iteration) / single-task-pair training step; '
     'limit: their forward-FLOP ratio F / F_1'),
    ('search_mem_vs_official', '<=', 0.75,
     'search-iteration peak memory / the official one\'s'),
    ('derived_infer_vs_single', '<=', 1.13,
     'derived-model inference time / single-task-pair inference time'),
)


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    """``a / b``, ``None`` if either is missing or ``b`` is 0."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def _median_entry(times: List[float]) -> dict:
    """Median, min, max and every time of a list of timings."""
    return dict(median_s=statistics.median(times), min_s=min(times),
                max_s=max(times), times_s=times)


def summarise(cases: List[Case], backbone: str = OFFICIAL_BACKBONE) -> dict:
    """``results`` (per kind and case: medians, memory, FLOPs, info),
    ``vs_single``, ``floor``, ``targets`` and, with official cases,
    ``vs_official`` of measured ``cases``; the official targets are judged
    only if ``backbone`` is the official network's."""
    results: Dict[str, Dict[str, dict]] = {}
    for c in cases:
        entry = _median_entry(c.times)
        if c.batch:
            entry['images_per_s'] = c.batch / entry['median_s']
        if c.phase_times:
            entry['phases'] = {p: _median_entry(t)
                               for p, t in c.phase_times.items()}
        entry.update(c.mem)
        entry.update(c.flops)
        entry.update(c.info)
        results.setdefault(c.kind, {})[c.name] = entry

    def get(kind, name, key='median_s'):
        return results.get(kind, {}).get(name, {}).get(key)

    def phase(kind, name, step):
        return results.get(kind, {}).get(name, {}).get(
            'phases', {}).get(step, {}).get('median_s')

    # -------- the FLOP floor
    conv = results.get('floor', {}).get('conv3x3')
    throughput = (conv['work_gflops'] / conv['median_s']
                  if conv else None)
    if conv:
        conv['gflops_per_s'] = throughput
    floor: Dict[str, dict] = dict(
        conv3x3_gflops_per_s=throughput,
        method=('work (GFLOP) / conv3x3 throughput; work from the profiled '
                'forward GFLOPs: architecture step 2 F + F_fuse, weight '
                'step 3 F, search iteration 5 F + F_fuse, single-task-pair '
                'step 3 F_1, inference F (F: one search forward, F_1: the '
                'single-task pair, F_fuse = F - F_1)'))
    for impl in ('train', 'official'):
        f_iter = get(impl, 'search_iter', 'fwd_gflops')
        f_one = get(impl, 'single', 'fwd_gflops')
        if f_iter is None or f_one is None:
            continue
        work = iteration_work(f_iter / 2, f_one)
        measured = dict(arch_step=phase(impl, 'search_iter', ARCH_STEP),
                        weight_step=phase(impl, 'search_iter', WEIGHT_STEP),
                        search_iter=get(impl, 'search_iter'),
                        single_step=get(impl, 'single'))
        floor_s = {k: ratio(work[k], throughput) for k in measured}
        floor['mtlnas_mm' if impl == 'train' else 'official'] = dict(
            work_gflops=work, floor_s=floor_s,
            measured_vs_floor={k: ratio(measured[k], floor_s[k])
                               for k in measured})
    infer_floor = {}
    for name, r in results.get('infer', {}).items():
        fs = ratio(r.get('fwd_gflops'), throughput)
        infer_floor[name] = dict(work_gflops=r.get('fwd_gflops'),
                                 floor_s=fs,
                                 measured_vs_floor=ratio(r['median_s'], fs))
    if infer_floor:
        floor['inference'] = infer_floor

    # -------- the targets
    f_search = get('train', 'search_iter', 'fwd_gflops')
    f_single = get('train', 'single', 'fwd_gflops')
    flop_ratio = ratio(None if f_search is None else f_search / 2, f_single)
    comparable = backbone == OFFICIAL_BACKBONE
    values = dict(
        search_iter_speedup_vs_official=ratio(
            get('official', 'search_iter'), get('train', 'search_iter')),
        search_iter_vs_floor=floor.get('mtlnas_mm', {}).get(
            'measured_vs_floor', {}).get('search_iter'),
        weight_step_vs_single_step=ratio(
            phase('train', 'search_iter', WEIGHT_STEP),
            get('train', 'single')),
        search_mem_vs_official=ratio(
            get('train', 'search_iter', 'peak_mib'),
            get('official', 'search_iter', 'peak_mib')),
        derived_infer_vs_single=ratio(get('infer', 'derived'),
                                      get('infer', 'single')))
    flop_values = dict(
        search_iter_speedup_vs_official=None,
        search_iter_vs_floor=1.0,
        weight_step_vs_single_step=flop_ratio,
        search_mem_vs_official=None,
        derived_infer_vs_single=ratio(get('infer', 'derived', 'fwd_gflops'),
                                      get('infer', 'single', 'fwd_gflops')))
    targets = {}
    for name, direction, limit, desc in TARGETS:
        if limit is None:
            limit = flop_ratio
        v = values[name]
        note = None
        if name.endswith('_official') and not comparable and v is not None:
            note = (f'not judged: the official network is the full VGG-16, '
                    f'the project ran --backbone {backbone}')
        passed = None
        if v is not None and limit is not None and note is None:
            passed = bool(v >= limit if direction == '>=' else v <= limit)
        targets[name] = dict(value=v, direction=direction, limit=limit,
                             description=desc, passed=passed,
                             flop_model_value=flop_values[name])
        if note:
            targets[name]['note'] = note

    # -------- ratios against the single-task pair and the official code
    vs_single = {}
    for kind in ('train', 'infer'):
        for name in results.get(kind, {}):
            vs_single[f'{kind}:{name}'] = dict(
                time=ratio(get(kind, name), get(kind, 'single')),
                memory=ratio(get(kind, name, 'peak_mib'),
                             get(kind, 'single', 'peak_mib')))
    out = dict(results=results, vs_single=vs_single, floor=floor,
               targets=targets)
    if 'official' in results:
        out['vs_official'] = dict(
            search_iter=ratio(get('train', 'search_iter'),
                              get('official', 'search_iter')),
            arch_step=ratio(phase('train', 'search_iter', ARCH_STEP),
                            phase('official', 'search_iter', ARCH_STEP)),
            weight_step=ratio(phase('train', 'search_iter', WEIGHT_STEP),
                              phase('official', 'search_iter', WEIGHT_STEP)),
            single_step=ratio(get('train', 'single'),
                              get('official', 'single')),
            search_peak_memory=ratio(
                get('train', 'search_iter', 'peak_mib'),
                get('official', 'search_iter', 'peak_mib')),
            comparable=comparable,
            what='mtlnas_mm / official (below 1: the project is faster / '
            'smaller)')
    return out


def fmt(v: Optional[float], spec: str = '.2f', none: str = '-') -> str:
    """``v`` formatted by ``spec``, ``none`` if missing."""
    return none if v is None else format(v, spec)


def fmt_gf(v: Optional[float], none: str = '-') -> str:
    """GFLOPs: one decimal from 10 on, three significant digits below."""
    return none if v is None else format(v, '.1f' if abs(v) >= 10 else '.3g')


#: what each case measures (the markdown's ``what`` column)
WHAT = {
    'train:single': 'training step, single-task pair',
    'train:nddr': 'training step, NDDR-CNN',
    'train:search_iter': 'search iteration (architecture + weight step)',
    'train:search_iter/arch': '  architecture step',
    'train:search_iter/weight': '  weight step',
    'infer:single': 'inference, single-task pair',
    'infer:nddr': 'inference, NDDR-CNN',
    'infer:derived': 'inference, derived model ({} of {} edges)',
    'infer:supernet': 'inference, all-edges supernet (sigmoid gates)',
}


def markdown(result: dict) -> str:
    """The markdown tables of a result: the cases, the FLOP floor, the
    official comparison (if measured) and the targets."""
    s = result['settings']
    m = result['machine']
    load = m.get('load_average')
    lines = [
        f"{s['backbone']}, {s['batch']} x 3 x {s['size'][0]} x "
        f"{s['size'][1]}, median of {s['repeats']} runs after "
        f"{s['warmup']} warm-up runs, cases interleaved; {m['device']}: "
        f"{m.get('gpu', m['cpu_model'])} ({m['cpu_usable']} cores usable, "
        f"{m['torch_threads']} torch threads"
        + (f", load average {load[0]:.2f} at the end" if load else '')
        + f"), torch {m['torch']}; memory: {result['memory_method']}.",
        '',
        '| case | what | time (s) | x single | peak mem (MiB) | x single '
        '| fwd GFLOPs | executed GFLOPs | FLOP floor (s) | x floor '
        '| images/s |',
        '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ]
    res = result['results']
    floor = result['floor']
    ours = floor.get('mtlnas_mm', {})
    step_floor = {'train:single': 'single_step',
                  'train:search_iter': 'search_iter',
                  'train:search_iter/arch': 'arch_step',
                  'train:search_iter/weight': 'weight_step'}

    def row(key, desc, r, t, vs=None, batch=None):
        fs = ours.get('floor_s', {}).get(step_floor.get(key, ''))
        if key.startswith('infer:'):
            fs = floor.get('inference', {}).get(key[6:], {}).get('floor_s')
        vs = vs or {}
        lines.append(
            f"| {key} | {desc} | {fmt(t, '.3f')} | {fmt(vs.get('time'))} | "
            f"{fmt(r.get('peak_mib'), '.0f')} | {fmt(vs.get('memory'))} | "
            f"{fmt_gf(r.get('fwd_gflops'))} | "
            f"{fmt_gf(r.get('executed_gflops'))} | {fmt(fs, '.3f')} | "
            f"{fmt(ratio(t, fs))} | {fmt(ratio(batch, t), '.2f')} |")

    for kind in ('train', 'infer'):
        for name, r in res.get(kind, {}).items():
            key = f'{kind}:{name}'
            desc = WHAT.get(key, key)
            if name == 'derived':
                desc = desc.format(r.get('kept'), r.get('edges'))
            row(key, desc, r, r['median_s'], result['vs_single'][key],
                s['batch'])
            for p, pr in r.get('phases', {}).items():
                row(f'{key}/{p}', WHAT.get(f'{key}/{p}', p), {},
                    pr['median_s'])
    conv = res.get('floor', {}).get('conv3x3')
    if conv:
        lines += ['', f"FLOP floor: the network's {conv['convs']} distinct "
                  f"3x3 convs, forward + input and weight gradients "
                  f"({conv['backend']}): {fmt_gf(conv['work_gflops'])} "
                  f"GFLOP in "
                  f"{conv['median_s']:.3f} s = "
                  f"**{fmt(floor['conv3x3_gflops_per_s'], '.1f')} GFLOP/s**."]
        for impl in ('mtlnas_mm', 'official'):
            f = floor.get(impl)
            if not f:
                continue
            wk, vf = f['work_gflops'], f['measured_vs_floor']
            lines.append(
                f"{impl}: F = {fmt_gf(wk['forward'])}, F_1 = "
                f"{fmt_gf(wk['single_forward'])}, F_fuse = "
                f"{fmt_gf(wk['fusion_forward'])} GFLOP; iteration work "
                f"5 F + F_fuse = {fmt_gf(wk['search_iter'])} GFLOP, floor "
                f"{fmt(f['floor_s']['search_iter'], '.3f')} s, measured "
                f"{fmt(vf['search_iter'])}x it (architecture step "
                f"{fmt(vf['arch_step'])}x, weight step "
                f"{fmt(vf['weight_step'])}x, single-task step "
                f"{fmt(vf['single_step'])}x).")
    if 'official' in res:
        off, vs = res['official'], result['vs_official']
        ours_r = res.get('train', {})

        def ph(r, p):
            return r.get('phases', {}).get(p, {}).get('median_s')
        it_o, it_m = off.get('search_iter', {}), ours_r.get('search_iter', {})
        lines += [
            '', 'Against the official implementation '
            f"({next(iter(off.values()))['root']}"
            + ('' if vs['comparable'] else
               '; **not like for like**: the official network is the full '
               'VGG-16') + '):', '',
            '| case | official | mtlnas_mm | mtlnas_mm / official |',
            '|---|---:|---:|---:|',
            f"| search iteration (s) | {fmt(it_o.get('median_s'), '.3f')} | "
            f"{fmt(it_m.get('median_s'), '.3f')} | {fmt(vs['search_iter'])} |",
            f"| architecture step (s) | {fmt(ph(it_o, ARCH_STEP), '.3f')} | "
            f"{fmt(ph(it_m, ARCH_STEP), '.3f')} | {fmt(vs['arch_step'])} |",
            f"| weight step (s) | {fmt(ph(it_o, WEIGHT_STEP), '.3f')} | "
            f"{fmt(ph(it_m, WEIGHT_STEP), '.3f')} | "
            f"{fmt(vs['weight_step'])} |",
            f"| single-task-pair training step (s) | "
            f"{fmt(off.get('single', {}).get('median_s'), '.3f')} | "
            f"{fmt(ours_r.get('single', {}).get('median_s'), '.3f')} | "
            f"{fmt(vs['single_step'])} |",
            f"| search peak memory (MiB) | {fmt(it_o.get('peak_mib'), '.0f')}"
            f" | {fmt(it_m.get('peak_mib'), '.0f')} | "
            f"{fmt(vs['search_peak_memory'])} |",
            f"| search iteration, forward GFLOPs | "
            f"{fmt_gf(it_o.get('fwd_gflops'))} | "
            f"{fmt_gf(it_m.get('fwd_gflops'))} | "
            f"{fmt(ratio(it_m.get('fwd_gflops'), it_o.get('fwd_gflops')))} |",
            f"| search iteration, executed GFLOPs | "
            f"{fmt_gf(it_o.get('executed_gflops'))} | "
            f"{fmt_gf(it_m.get('executed_gflops'))} | "
            f"{fmt(ratio(it_m.get('executed_gflops'), it_o.get('executed_gflops')))}"  # noqa: E501
            ' |']
    lines += ['', '| target | measured | limit | result | FLOP model |',
              '|---|---:|---:|---|---:|']
    for name, t in result['targets'].items():
        passed = {True: 'pass', False: '**fail**', None: '-'}[t['passed']]
        if t.get('note'):
            passed = 'not judged'
        lines.append(f"| {t['description']} | {fmt(t['value'], '.3f')} | "
                     f"{t['direction']} {fmt(t['limit'], '.3g')} | {passed} "
                     f"| {fmt(t['flop_model_value'], '.3f')} |")
    return '\n'.join(lines) + '\n'


def target_lines(result: dict) -> List[str]:
    """One line per target: PASS / FAIL / n/a and the figures."""
    out = []
    for name, t in result['targets'].items():
        verdict = {True: 'PASS', False: 'FAIL', None: 'n/a'}[t['passed']]
        why = t.get('note') or ('' if t['value'] is not None else
                                'not measured in this run')
        out.append(f"target {name}: {verdict}  {fmt(t['value'], '.3f')} "
                   f"{t['direction']} {fmt(t['limit'], '.3g')}"
                   + (f'  ({why})' if why else ''))
    return out
