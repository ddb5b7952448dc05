"""Mean +- std over seeds of ``tools/demo.py`` results.

    python tools/analysis_tools/summarize_demo.py RESULTS.json [RESULTS.json ...]
        [--out SUMMARY.json] [--overwrite]

Each ``results.json`` is one seed's run of the demo (same data and budgets,
other ``--seed``).  Rows are matched by name; the random-architecture row,
whose name carries its edge count, becomes ``random architecture, same
size``.  Prints the table of the metrics, per-task and overall delta_m, the
kept edges per seed, and writes every run and the summary as JSON.
"""
import argparse
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mtlnas_mm.evaluation.seed_summary import markdown_table, summarize
from mtlnas_mm.utils import claim_output_file

COLUMNS = ['mIoU', 'aAcc', 'mean', 'median', 'within_11.25', 'within_22.5',
           'within_30', 'delta_m/seg', 'delta_m/normal', 'delta_m']
RANDOM_ROW = 'random architecture, same size'


def row_name(name: str) -> str:
    return RANDOM_ROW if name.startswith('random ') else name


def load_runs(paths: Sequence[str]) -> Dict[str, List[Dict[str, float]]]:
    """``{row: [metrics of each file]}``; every file must have the same
    rows."""
    runs: Dict[str, List[Dict[str, float]]] = {}
    rows = None
    for path in paths:
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path} does not exist')
        with open(path) as f:
            results = json.load(f)['results']
        names = [row_name(n) for n in results]
        if rows is not None and names != rows:
            raise ValueError(f'{path}: rows {names} differ from the first '
                             f'file\'s {rows}')
        rows = names
        for name, metrics in results.items():
            runs.setdefault(row_name(name), []).append(metrics)
    return runs


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('results', nargs='+')
    parser.add_argument('--out', default=None, help='summary JSON file')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing --out file')
    args = parser.parse_args(argv)
    if args.out:
        claim_output_file(args.out, 'summarize_demo.py', args.overwrite)
    runs = load_runs(args.results)
    summary = summarize(runs)
    print(markdown_table(summary, [
        c for c in COLUMNS if all(c in m for m in summary.values())]))
    kept = []
    for path in args.results:
        with open(path) as f:
            arch = json.load(f)['architecture']
        kept.append(len(arch['kept_edges']))
    print(f'kept edges per file: {kept} of {len(arch["candidate_edges"])}')
    result = dict(files=list(args.results), kept_edges=kept, runs=runs,
                  summary=summary)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
        print(f'summary: {args.out}')
    return result


if __name__ == '__main__':
    main()
