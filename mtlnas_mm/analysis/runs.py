"""What the benchmark tools share around a measurement: a measurement in a
fresh process (so its peak resident set size is its own), results of
several runs joined into one, the output rule and the recorded command.

The measuring process is the tool itself, run as
``python TOOL --child ARGS... --option value ...``: its child branch
measures (stdout redirected to stderr, :func:`quiet_logger`) and prints the
record as one JSON document on stdout (:func:`report_to_parent`), which
:func:`run_child` reads back.
"""
import contextlib
import json
import os.path as osp
import shlex
import subprocess
import sys
from typing import Iterable, List, Optional, Sequence, Tuple

from ..utils import claim_output_file


class MeasurementError(RuntimeError):
    """The measuring process exited with an error (``returncode``, its
    ``stderr``)."""

    def __init__(self, returncode: int, stderr: str) -> None:
        super().__init__(f'the measuring process failed (exit {returncode})')
        self.returncode = returncode
        self.stderr = stderr


def run_child(tool: str, args: Sequence[str], cwd: str,
              timeout: Optional[float] = None, **options) -> dict:
    """Run ``python tool --child *args`` with ``--option value`` for every
    keyword of ``options`` (``_`` as ``-``; ``None`` left out) in a fresh
    process in ``cwd``; the JSON record it printed.

    Raises ``subprocess.TimeoutExpired`` past ``timeout`` seconds and
    :class:`MeasurementError` if it fails."""
    cmd = [sys.executable, osp.abspath(tool), '--child', *args]
    for key, value in options.items():
        if value is not None:
            cmd += [f'--{key.replace("_", "-")}', str(value)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)
    if proc.returncode != 0:
        raise MeasurementError(proc.returncode, proc.stderr)
    return json.loads(proc.stdout)


def report_to_parent(record: dict) -> dict:
    """The child's side of :func:`run_child`: ``record`` as JSON on
    stdout."""
    print(json.dumps(record))
    return record


def quiet_logger(name: str) -> None:
    """mmengine's logger at WARNING, created with stdout sent to stderr
    (stdout carries the tools' JSON only)."""
    from mmengine.logging import MMLogger
    with contextlib.redirect_stdout(sys.stderr):
        MMLogger.get_instance(name, log_level='WARNING')


def read_runs(paths: Sequence[str], key: str,
              derived: Iterable[str] = ()) -> Tuple[List[dict], List[dict]]:
    """The result files ``paths`` of several runs (``--merge``): each run
    without its ``key`` entries and its ``derived`` parts (summaries that
    the merge recomputes), with its ``file`` name; and the ``key`` entries
    of all runs, each with the index of its ``run``."""
    runs, entries = [], []
    for k, path in enumerate(paths):
        with open(path) as f:
            run = json.load(f)
        entries += [dict(e, run=k) for e in run.pop(key)]
        for part in derived:
            run.pop(part, None)
        runs.append(dict(run, file=osp.basename(path)))
    return runs, entries


def claim_outputs(paths: Iterable[Optional[str]], tool: str,
                  overwrite: bool = False) -> None:
    """:func:`~mtlnas_mm.utils.claim_output_file` of every given path,
    before anything is measured."""
    for path in paths:
        if path:
            claim_output_file(path, tool, overwrite)


def command_line(tool: str, argv: Optional[Sequence[str]] = None) -> str:
    """The command that ran ``tool`` (repository-relative path) with
    ``argv`` (default: this process' arguments), for the result."""
    return shlex.join(['python', tool] +
                      list(sys.argv[1:] if argv is None else argv))
