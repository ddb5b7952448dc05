"""A multi-task regressor for tabular data: backbone -> one tower per
task (the MMoE paper's setting, Ma et al., KDD 2018)."""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel, ModuleDict
from torch import Tensor

from mmseg.registry import MODELS
from mtlnas_mm.structures import check_task_name
from ..utils import check_finite, fill_backbone_tasks


@MODELS.register_module()
class MultiTaskRegressor(BaseModel):
    """Tabular multi-task regression: ``inputs (N, D)``, targets
    ``data_samples (N, T)`` (one column per task, in task order).

    The backbone returns ``{task: (features, )}`` (e.g. :class:`ShareRoutes`
    with :class:`StagedMLP` sub-networks; it gets ``tasks``) or one shared
    ``(features, )`` tuple; each task has a tower ``Linear(in_channels,
    tower_channels)`` + ReLU + ``Linear(tower_channels, 1)`` and a mean
    squared error loss (``'<task>.loss'``).  ``predict`` returns ``(N, T)``.

    Args:
        tasks: task names, in order.
        backbone: backbone config.
        in_channels: width of the backbone features.
        tower_channels: hidden width of every tower.
        data_preprocessor: mmengine data preprocessor config.
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 tasks: Sequence[str],
                 backbone: dict,
                 in_channels: int,
                 tower_channels: int = 8,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.task_names = [
            check_task_name(t, 'MultiTaskRegressor.tasks') for t in tasks
        ]
        self.backbone = MODELS.build(fill_backbone_tasks(
            backbone, self.task_names, 'MultiTaskRegressor'))
        self.towers = ModuleDict({
            t: nn.Sequential(nn.Linear(in_channels, tower_channels),
                             nn.ReLU(inplace=True),
                             nn.Linear(tower_channels, 1))
            for t in self.task_names
        })

    def predict_tensor(self, inputs: Tensor) -> Tensor:
        """``(N, T)`` predictions."""
        feats = self.backbone(inputs)
        if not isinstance(feats, dict):
            feats = {t: feats for t in self.task_names}
        return torch.cat([self.towers[t](feats[t][-1])
                          for t in self.task_names], 1)

    def forward(self, inputs: Tensor, data_samples: Optional[Tensor] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], Tensor]:
        pred = self.predict_tensor(inputs)
        if mode == 'loss':
            return {
                f'{t}.loss': F.mse_loss(pred[:, i], data_samples[:, i])
                for i, t in enumerate(self.task_names)
            }
        if mode in ('predict', 'tensor'):
            return pred
        raise RuntimeError(f'Invalid mode "{mode}"')

    def parse_losses(self, losses: Dict[str, Tensor]
                     ) -> Tuple[Tensor, Dict[str, Tensor]]:
        loss, log_vars = super().parse_losses(losses)
        check_finite(loss, losses)
        return loss, log_vars
