"""Small helpers shared by the command-line tools."""
import argparse
import os
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config, DictAction

from mtlnas_mm.structures import STEPS, WEIGHT_STEP


def parse_tool_args(parser: argparse.ArgumentParser,
                    argv: Optional[Sequence[str]] = None
                    ) -> argparse.Namespace:
    """Add the arguments every mmseg tool has (``--cfg-options``,
    ``--launcher``, ``--local-rank``), parse, and export ``LOCAL_RANK``."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, xxx=yyy format')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def finalize_tool_cfg(cfg: Config, config_path: str, launcher: str,
                      work_dir: Optional[str]) -> Config:
    """Apply what mmseg's tools do to every config: ``cfg.launcher`` and
    the work dir (``--work-dir`` > ``cfg.work_dir`` >
    ``./work_dirs/<config name>``).  (On machines without CUDA the tools
    then call :func:`mtlnas_mm.utils.init_cpu_distributed`, which makes the
    ``nccl`` backend of the configs ``gloo``.)
    """
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])
    return cfg


def name_run(cfg: Config, name: str) -> Config:
    """Give a run of a multi-run tool (demo, seed comparison) its own
    experiment and visualizer names: mmengine hands a new runner the
    visualizer *instance* of the same name, so with the configs' fixed
    ``name='visualizer'`` every later run would log into the first run's
    ``vis_data``."""
    cfg.experiment_name = name
    if cfg.get('visualizer') is not None:
        cfg.visualizer.name = name
    return cfg


def use_fixed_architecture(cfg: Config, arch_file: str,
                           source: str = 'config') -> Config:
    """Make ``cfg.model`` (a NAS algorithm) the derived network of
    ``arch_file`` (``fix_subnet``): its search spaces compute only what the
    file keeps; parameter names and shapes stay those of the search, so a
    search checkpoint loads into it unchanged."""
    if 'network' not in cfg.model:
        raise KeyError(f'{source}: a fixed architecture needs a NAS '
                       "algorithm model (model=dict(type='MTLNAS', "
                       'network=...))')
    cfg.model.fix_subnet = arch_file
    return cfg


def _weight_optimizer(cfg: Config) -> dict:
    """The optim wrapper of the network weights: ``optim_wrapper`` of a
    plain config, its ``'weight'`` entry in a search config."""
    ow = cfg.optim_wrapper
    return ow[WEIGHT_STEP] if WEIGHT_STEP in ow else ow


def set_weight_lr(cfg: Config, lr: float) -> Config:
    """Set the base lr of the network weights: ``optim_wrapper.optimizer``
    of a plain config, the ``'weight'`` optimizer of a search config
    (``OptimWrapperDict``, keys :data:`STEPS`). lr multipliers
    (``paramwise_cfg``) and the architecture optimizer are kept, so the
    fusion ops keep their x100 of the new lr."""
    _weight_optimizer(cfg).optimizer.lr = lr
    return cfg


#: the parameter-name key of the cross-task fusion ops in ``paramwise_cfg``
FUSION_KEY = 'backbone.edges'


def set_fusion_lr_mult(cfg: Config, lr_mult: float) -> Config:
    """Set the lr multiplier of the cross-task fusion ops
    (``paramwise_cfg.custom_keys['backbone.edges']``, x100 in the paper's
    recipe) of a fused config's weight optimizer, plain or search.

    Raises:
        KeyError: the config has no fusion-op multiplier to change (e.g. a
            single-task config), so the option would do nothing.
    """
    keys = _weight_optimizer(cfg).get('paramwise_cfg',
                                      {}).get('custom_keys', {})
    if FUSION_KEY not in keys:
        raise KeyError(
            f'set_fusion_lr_mult: the weight optimizer of this config has no '
            f'paramwise_cfg.custom_keys[{FUSION_KEY!r}] (no fusion ops?)')
    keys[FUSION_KEY].lr_mult = float(lr_mult)
    return cfg


def enable_amp(cfg: Config, source: str = '--amp') -> Config:
    """Switch ``cfg`` to mixed precision as mmseg's ``tools/train.py --amp``
    does: every ``OptimWrapper`` becomes an ``AmpOptimWrapper`` with dynamic
    loss scaling; for a search, both optimizers of
    ``BilevelOptimWrapperConstructor`` (keys :data:`STEPS`), each then with
    its own scaler.  No ``dtype`` is set: mmengine's default, float16 on a
    GPU; on a CPU-only machine the constructors build
    ``CPUAmpOptimWrapper`` (bfloat16).  A wrapper that is AMP already is
    left as it is (logged); any other wrapper type is an error.
    """
    from mmengine.logging import print_log

    ow = cfg.optim_wrapper
    if ow.get('constructor') == 'BilevelOptimWrapperConstructor':
        wrappers = {f'optim_wrapper.{k}': ow[k] for k in STEPS}
    else:
        wrappers = {'optim_wrapper': ow}
    for name, wrapper in wrappers.items():
        kind = wrapper.get('type', 'OptimWrapper')
        if kind == 'AmpOptimWrapper':
            print_log(f'{source}: {name} is AmpOptimWrapper already',
                      logger='current')
            continue
        if kind != 'OptimWrapper':
            raise ValueError(f'{source}: {name}.type is {kind!r}; mixed '
                             'precision replaces OptimWrapper only')
        wrapper['type'] = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
    return cfg


def set_max_iters(cfg: Config, iters: int, validate: bool = True) -> Config:
    """Shorten (or lengthen) an iteration-based config to ``iters``.

    Sets the loop length, the end of every parameter schedule (a list, or a
    dict of lists per optimizer for a search) and the validation interval
    (validate at the end only, or never with ``validate=False``).
    """
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters if validate else iters + 1
    scheds = cfg.get('param_scheduler') or []
    for group in (scheds.values() if isinstance(scheds, dict) else [scheds]):
        for sched in group:
            sched['end'] = iters
    if not validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    return cfg


def set_stage_genotype(cfg: Config, genotype: str,
                       source: str = 'config') -> Config:
    """Hand a ``'cell_genotype'`` file to an MTNAS stage config: a search
    stage (``model.type='MTNAS'``) reads it as the genotype of the spaces
    it does not search (``model.genotype``), a retraining stage (a plain
    network with a ``CellMultiTaskBackbone``) as its derived network
    (``model.backbone.genotype``)."""
    model = cfg.model
    if model.get('type') == 'MTNAS':
        model.genotype = genotype
    elif model.get('backbone', {}).get('type') == 'CellMultiTaskBackbone':
        model.backbone.genotype = genotype
    else:
        raise KeyError(f'{source}: not an MTNAS stage (model type MTNAS, or '
                       'a network with a CellMultiTaskBackbone); got model '
                       f'type {model.get("type")!r}')
    return cfg
