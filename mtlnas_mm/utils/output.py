"""Where the project's tools may write: one rule for every tool.

* A **directory** a tool fills with many files (a work dir, a generated
  data set, a benchmark's output folder) is *claimed* with
  :func:`claim_output_dir`: a new or empty directory is created and marked
  with :data:`OUTPUT_MARKER`; a directory marked before (an earlier run of
  a project tool: rerun, resume) is reused; any other existing directory
  is refused before anything is written.
* A **named output file** (``--out``, ``--metrics-out``, an architecture
  file, a report) is checked with :func:`claim_output_file`: an existing
  file is refused unless the user passed ``overwrite`` (the tools'
  ``--overwrite`` flag).

Both raise :class:`OutputExistsError` (a ``FileExistsError``) whose message
names the path, the rule and what to do; nothing has been written when it
is raised.
"""
import json
import os
import os.path as osp
from typing import Optional

#: written by the project's tools into an output directory they created:
#: the only non-empty directories they (re)write into
OUTPUT_MARKER = '.mtlnas_mm_output'


class OutputExistsError(FileExistsError):
    """A tool was pointed at an existing file or a directory it did not
    create; nothing was written."""


def is_claimed(path: str) -> bool:
    """Whether ``path`` is a directory a project tool created (marked)."""
    return osp.isfile(osp.join(path, OUTPUT_MARKER))


def claim_output_dir(path: str, tool: str, reuse_hint: str = '') -> str:
    """Return ``path`` as an output directory ``tool`` may write into.

    Args:
        path: the directory.
        tool: the tool's name, for the marker and the messages.
        reuse_hint: appended to the refusal (e.g. how to resume).

    Returns:
        ``path``, created and marked with :data:`OUTPUT_MARKER`.

    Raises:
        OutputExistsError: ``path`` is a file, or a non-empty directory
            without the marker (a folder of the user's: a dataset,
            ``docs/``, another program's outputs).
    """
    if osp.exists(path) and not osp.isdir(path):
        raise OutputExistsError(
            f'{tool}: {path} exists and is not a directory; nothing was '
            'written.')
    if osp.isdir(path) and not is_claimed(path) and os.listdir(path):
        raise OutputExistsError(
            f'{tool}: {path} exists and was not created by a mtlnas_mm tool '
            f'(no {OUTPUT_MARKER} in it); nothing was written. Choose a new '
            f'or empty directory{reuse_hint}.')
    os.makedirs(path, exist_ok=True)
    if not is_claimed(path):
        with open(osp.join(path, OUTPUT_MARKER), 'w') as f:
            f.write(f'written by {tool} (mtlnas_mm); safe to delete with '
                    'the outputs\n')
    return path


def claim_output_file(path: str, tool: str, overwrite: bool = False,
                      what: str = 'output file') -> str:
    """Return ``path`` as a file ``tool`` may (over)write, creating its
    folder.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False, or
            ``path`` is a directory.
    """
    if osp.isdir(path):
        raise OutputExistsError(f'{tool}: {what} {path} is a directory; '
                                'nothing was written.')
    if osp.exists(path) and not overwrite:
        raise OutputExistsError(
            f'{tool}: {what} {path} exists; nothing was written. Choose '
            'another path, or pass --overwrite to replace it.')
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    return path


def write_json_report(result: dict, out: Optional[str], tool: str = 'report',
                      overwrite: bool = False) -> str:
    """Print ``result`` as indented JSON and, if ``out`` is given, write
    the same text there (:func:`claim_output_file`); returns the text.  The
    report format of the benchmark tools."""
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        claim_output_file(out, tool, overwrite, 'report')
        with open(out, 'w') as f:
            f.write(text + '\n')
    return text


def is_launch_main() -> bool:
    """Whether this process is rank 0 of a launch (``RANK`` 0 or unset);
    readable before ``torch.distributed`` is initialised."""
    return int(os.environ.get('RANK', '0')) == 0


def claim_work_dir(path: str, tool: str, accept_run: bool = False) -> str:
    """Claim a runner's work dir (:func:`claim_output_dir`) on the main
    process (``RANK`` 0 or unset; the other ranks write nothing there).

    With ``accept_run`` (``tools/train.py --resume``; ``tools/test.py``,
    which adds a log folder to a run's work dir) a directory holding
    mmengine's ``last_checkpoint`` record is accepted (and marked) even
    without the marker, e.g. a work dir an older version wrote.
    """
    if not is_launch_main():
        return path
    if accept_run and osp.isfile(osp.join(path, 'last_checkpoint')):
        if not is_claimed(path):
            with open(osp.join(path, OUTPUT_MARKER), 'w') as f:
                f.write(f'continued by {tool} (mtlnas_mm)\n')
        return path
    return claim_output_dir(
        path, tool, reuse_hint=' for --work-dir (a work dir this project '
        'wrote is reused; --resume continues a run whose last_checkpoint '
        'is there)')
