"""What :class:`~mtlnas_mm.models.MultiTaskNetwork` needs of a task head.

Any mmseg decode head (``BaseDecodeHead``) satisfies it, as do the
project's regression and image-level heads; the network checks it when it
builds the heads, so a wrong ``tasks.<task>.head`` fails there, naming the
task, instead of at the first forward.
"""
from typing import Any, Dict, List, Protocol, runtime_checkable

from torch import Tensor


@runtime_checkable
class TaskHead(Protocol):
    """A head that computes its task's losses and predictions (mmseg's
    decode-head interface).  A head may also declare ``task_kind``
    (:mod:`mtlnas_mm.structures.task_fields`; without it, ``'seg'``)."""

    def loss(self, inputs: Any, batch_data_samples: List[Any],
             train_cfg: Any) -> Dict[str, Tensor]:
        """The task's losses on ``inputs`` (the backbone's features)."""

    def predict(self, inputs: Any, batch_img_metas: List[dict],
                test_cfg: Any) -> Tensor:
        """The task's prediction, restored to each image's shape."""


def head_kind(head: TaskHead) -> str:
    """The task kind of a head: its ``task_kind``; an mmseg decode head
    without one is ``'seg'``."""
    return getattr(head, 'task_kind', 'seg')
