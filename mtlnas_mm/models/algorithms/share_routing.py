"""Share routing (Chen, Gu, Fu, arXiv 2009.00387): search which
sub-networks feed which, with gated soft sharing, by the bilevel loop."""
from typing import Optional, Union

import torch.nn as nn

from mmseg.registry import MODELS
from mtlnas_mm.structures import BaseArchitecture
from .base import BaseNASAlgorithm


@MODELS.register_module()
class ShareRouting(BaseNASAlgorithm):
    """The bilevel search of a network whose backbone is a
    :class:`ShareRoutes` space.

    Architecture step: the expected route (exact expectation of every block
    input over the routes and queries) on a held-out batch, loss = task
    losses + ``regularizer_weight`` * expected route density; weight step:
    one sampled discrete route per block on a training batch, only the
    sampled sub-networks computed (``ShareRoutes`` module docstring, the
    reasons).  Derivation: the most probable route and query per block
    (``export()``, kind ``'share_routes'``).

    Args:
        network: the network config, e.g. ``MultiTaskNetwork`` with
            ``backbone=dict(type='ShareRoutes', ...)``.
        regularizer_weight: weight of the cost term (a hook may schedule
            it through ``set_regularizer_weight``).
        fix_subnet, data_preprocessor, init_cfg: as
            :class:`BaseNASAlgorithm`.
    """

    regularizer_name = 'route_cost'

    def __init__(self,
                 network: Union[dict, nn.Module],
                 regularizer_weight: float = 0.0,
                 fix_subnet: Union[None, str, dict, BaseArchitecture] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(network, fix_subnet=fix_subnet,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.set_regularizer_weight(regularizer_weight)
