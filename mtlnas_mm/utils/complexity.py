"""FLOPs and parameters of a network, counted by ``mmengine.analysis``
(as mmseg's ``tools/analysis_tools/get_flops.py``): the one count behind
every complexity figure of the tools (MTNAS pipeline, evidence table)."""
import copy
import logging
from typing import Dict, Tuple

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.logging import MMLogger


def model_complexity(model: torch.nn.Module,
                     input_shape: Tuple[int, int]) -> Dict[str, object]:
    """FLOPs and parameters of ``model`` at one ``(H, W)`` RGB image
    (batch 1, the model's ``'tensor'`` forward, eval mode, on a copy).

    FLOPs are multiply-adds (fvcore's convention); only the modules the
    trace reaches count (a fixed cell network's unchosen ops, loss
    modules: none).

    Returns:
        ``dict(flops=..., params=..., input_shape=[H, W])``.
    """
    model = copy.deepcopy(model).eval()
    inputs = torch.zeros(1, 3, *input_shape)
    # the analysis warns with every module its trace never reached: in a
    # cell network (parameter-free placeholders of pruned ops, loss
    # modules) thousands of names
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with torch.no_grad():
            info = get_model_complexity_info(
                model, inputs=(inputs, ), show_table=False, show_arch=False)
    finally:
        logger.setLevel(level)
    return dict(flops=float(info['flops']), params=float(info['params']),
                input_shape=list(input_shape))
