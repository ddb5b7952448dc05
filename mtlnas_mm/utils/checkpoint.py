"""Make mmengine 0.10.7 load its own checkpoints on torch >= 2.6.

torch 2.6 changed the default of ``torch.load`` to ``weights_only=True``.
mmengine 0.10.7 calls ``torch.load`` without the argument, so every resume
(``--resume``) and every ``load_from`` of a runner checkpoint fails with
``Unsupported global: mmengine.logging.history_buffer.HistoryBuffer``: the
checkpoint pickles the message hub and numpy arrays.  mmengine fixed this
after 0.10.7 (``weights_only=False`` for local files); we apply the same fix
here instead of asking users to set ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``.

Only the *local file* scheme is replaced: a checkpoint on the user's own disk
is trusted the same way a config file (which is executed Python) is trusted.
"""
import os.path as osp
from typing import Optional, Union

import torch
from mmengine.runner.checkpoint import CheckpointLoader

_PATCHED = False


def load_from_trusted_local(
        filename: str,
        map_location: Optional[Union[str, torch.device]] = None) -> dict:
    """Load a local checkpoint with full unpickling (trusted file)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found.')
    try:
        return torch.load(
            filename, map_location=map_location, weights_only=False)
    except Exception as err:  # truncated/corrupt files: name the file
        raise RuntimeError(
            f'failed to load checkpoint {filename}: {err}') from err


def register_trusted_local_checkpoint_loader() -> None:
    """Replace mmengine's local-file checkpoint scheme (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_trusted_local, force=True)
    _PATCHED = True
