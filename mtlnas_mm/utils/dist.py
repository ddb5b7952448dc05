"""Run ``--launcher pytorch`` (DDP) on CPU-only machines, with gloo.

mmengine 0.10.7's ``init_dist(launcher='pytorch')`` always calls
``torch.cuda.set_device(LOCAL_RANK)``, which raises on a machine without
CUDA, and the configs ask for the ``nccl`` backend, which needs GPUs.
:func:`init_cpu_distributed` is the explicit fix, called by
``tools/train.py``, ``tools/test.py`` and the DDP test worker before they
build the runner: on a machine without CUDA it sets
``cfg.env_cfg.dist_cfg.backend = 'gloo'`` and initialises the default
process group itself from torchrun's environment variables (``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``).  ``Runner.setup_env``
then skips ``init_dist``, because it only initialises ``if not
is_distributed()``.  (DDP's ``device_ids`` is dropped for CPU modules by
``DeviceAwareDistributedDataParallel``.)

Nothing is patched, and nothing changes on machines with CUDA or for other
launchers: mmengine initialises the group as usual.
"""
import datetime

import torch
import torch.distributed as torch_dist
from mmengine.config import Config


def init_cpu_distributed(cfg: Config) -> bool:
    """Initialise gloo DDP on a CPU-only machine for ``cfg.launcher``.

    Args:
        cfg: the run's config, after ``cfg.launcher`` is set; its
            ``env_cfg.dist_cfg`` (``backend``, ``timeout`` in seconds) is
            read and, on CPU-only machines, its backend set to ``gloo``.

    Returns:
        True when this call initialised the process group, False when it
        left that to mmengine (CUDA available, launcher not ``pytorch``, or
        the group already initialised).
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'  # nccl needs GPUs
    if torch_dist.is_initialized():
        return False
    kwargs = {}
    if dist_cfg.get('timeout') is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
    torch_dist.init_process_group(backend='gloo', init_method='env://',
                                  **kwargs)
    return True
