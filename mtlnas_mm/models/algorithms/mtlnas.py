"""MTL-NAS (Gao et al., CVPR 2020): single-shot gradient-based search of
cross-task fusion edges, with a minimum-entropy regulariser."""
from mmseg.registry import MODELS
from .base import BaseNASAlgorithm


@MODELS.register_module()
class MTLNAS(BaseNASAlgorithm):
    """MTL-NAS over a network whose :class:`TaskColumns` carry searched
    :class:`FusionEdges`.

    The regulariser is the mean binary entropy of the gates
    (``FusionEdges.regularizer``), weighted by ``regularizer_weight``
    (scheduled by :class:`MinEntropyHook`: 0 at t = 0, then 10) and added to
    the architecture loss only; it drives the gates to 0/1 so the derived
    network (``alpha > 0``) is evaluated without retraining.  The spaces'
    gate modes per step are ``FusionEdges.step_gate_modes`` (sigmoid gates
    in the architecture step, relaxed-Bernoulli samples in the weight
    step).

    Config::

        model = dict(
            type='MTLNAS',
            network=dict(type='MultiTaskNetwork', tasks=..., backbone=dict(
                type='TaskColumns', backbone=...,
                edges=dict(type='FusionEdges', ...))))
    """

    regularizer_name = 'entropy'
