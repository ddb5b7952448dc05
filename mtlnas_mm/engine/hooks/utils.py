"""What the hooks share."""
import torch.nn as nn
from mmengine.model import is_model_wrapper

from mtlnas_mm.models.algorithms import BaseNASAlgorithm


def runner_model(runner) -> nn.Module:
    """The runner's model without its DDP wrapper."""
    model = runner.model
    return model.module if is_model_wrapper(model) else model


def nas_algorithm(runner, owner: str):
    """The runner's NAS algorithm (a ``BaseNASAlgorithm``), or a clear
    error naming the hook that needs it."""
    model = runner_model(runner)
    if not isinstance(model, BaseNASAlgorithm):
        raise TypeError(f'{owner} needs a NAS algorithm model (e.g. '
                        f"model=dict(type='MTLNAS', network=...)), got "
                        f'{type(model).__name__}')
    return model
