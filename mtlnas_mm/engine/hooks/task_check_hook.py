"""Check, before any work, that the model's tasks fit the data sets."""
from typing import Optional

from mmengine.hooks import Hook

from mmseg.registry import HOOKS
from mtlnas_mm.structures import task_kind
from .utils import runner_model


@HOOKS.register_module()
class TaskCheckHook(Hook):
    """Fail early, with the config key, when tasks and data disagree.

    mmseg would otherwise train a 13-class head on 40-class labels without
    a word (ids < 13 pass, the others crash deep in the loss much later), or
    fail at the first batch of a task whose annotation the data set does not
    load.  Before training / validation / testing this hook checks, for
    every task of a multi-task model:

    * a segmentation head's ``num_classes`` equals the number of classes in
      the data set's metainfo (``classes``), an image classification head's
      the number of image-level classes (``img_classes``);
    * the first sample of the data set carries the ground truth of the
      task's kind (``TASK_KINDS``: ``gt_sem_seg``, ``gt_normal_map``,
      ``gt_depth_map``, ``gt_label``).

    The model is a :class:`MultiTaskNetwork` or an algorithm holding one
    (``network``).
    """

    #: task kind -> metainfo key of its class names
    class_keys = dict(seg='classes', label='img_classes')

    priority = 'VERY_HIGH'

    def __init__(self, check_samples: bool = True) -> None:
        self.check_samples = check_samples
        self._checked = set()  # splits already checked (val runs often)

    def _check(self, runner, dataloader, split: str) -> None:
        model = runner_model(runner)
        network = getattr(model, 'network', model)
        kinds = getattr(network, 'task_kinds', None)
        if kinds is None or dataloader is None or split in self._checked:
            return
        self._checked.add(split)
        dataset = dataloader.dataset
        name = f'{split}_dataloader.dataset ({type(dataset).__name__})'
        metainfo = getattr(dataset, 'metainfo', None) or {}
        sample: Optional[dict] = None
        if self.check_samples and len(dataset) > 0:
            sample = dataset[0]['data_samples']
        for task, kind in kinds.items():
            head = network.heads[task]
            gt_field = task_kind(kind).gt_field
            key = self.class_keys.get(kind)
            classes = metainfo.get(key) if key else None
            if classes is not None and head.num_classes != len(classes):
                raise ValueError(
                    f'model.tasks.{task}.head.num_classes is '
                    f'{head.num_classes} but {name} has {len(classes)} '
                    f'{key}; make them agree')
            if sample is not None and gt_field not in sample:
                raise KeyError(
                    f'model.tasks.{task} needs "{gt_field}" but the samples '
                    f'of {name} do not have it: load it in the pipeline '
                    '(LoadSegMap / LoadNormalMap / LoadDepthMap) and enable '
                    'it in the data set (with_normal / with_depth / '
                    'with_img_label), or remove the task')

    def before_train(self, runner) -> None:
        self._check(runner, runner.train_dataloader, 'train')

    def before_val(self, runner) -> None:
        self._check(runner, runner.val_dataloader, 'val')

    def before_test(self, runner) -> None:
        self._check(runner, runner.test_dataloader, 'test')
