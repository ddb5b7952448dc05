"""Mean and spread of metrics over seeds: one home for the tables of the
multi-seed tools (``compare_seeds.py``, ``summarize_demo.py``)."""
import statistics
from typing import Dict, List, Optional

Summary = Dict[str, Dict[str, Dict[str, float]]]


def summarize(runs: Dict[str, List[Dict[str, float]]]) -> Summary:
    """``{model: {metric: dict(mean, std, n)}}`` over the seeds (sample
    std; 0 for one seed); a metric missing from one run is left out."""
    out: Summary = {}
    for name, metrics in runs.items():
        keys = [k for k in metrics[0] if all(k in m for m in metrics)]
        out[name] = {}
        for k in keys:
            values = [m[k] for m in metrics]
            out[name][k] = dict(
                mean=statistics.fmean(values),
                std=statistics.stdev(values) if len(values) > 1 else 0.0,
                n=len(values))
    return out


def markdown_table(summary: Summary,
                   columns: Optional[List[str]] = None) -> str:
    """A markdown table of ``mean +- std`` per model and metric."""
    names = list(summary)
    columns = columns or [k for k in summary[names[0]]
                          if all(k in summary[n] for n in names)]
    n = summary[names[0]][columns[0]]['n'] if columns else 0
    lines = [f'| model (n={n} seeds) | ' + ' | '.join(columns) + ' |',
             '|---|' + '---:|' * len(columns)]
    for name in names:
        cells = [f'{summary[name][c]["mean"]:.2f} +- '
                 f'{summary[name][c]["std"]:.2f}' for c in columns]
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
