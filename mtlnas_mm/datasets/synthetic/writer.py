"""Write rendered samples in the two NYUv2 on-disk layouts.

``nddr`` (NDDR-CNN / MTL-NAS release)::

    DIR/image/{train,test}/%06d.png    RGB
    DIR/seg40/{train,test}/%06d.png    uint8 NYUv2-40 ids 0..39, 255 ignore
    DIR/normal/{train,test}/%06d.png   RGB, (n+1)/2*255, invalid (255,255,255)
    DIR/depth/{train,test}/%06d.png    uint16 millimetres, 0 invalid
    DIR/list/{training,testing}_{seg,normal_mask,depth}.txt
    DIR/list/{training,testing}_scene.txt   image-level labels
    DIR/nyu_v2_mean.npy                per-channel RGB mean of train images

List lines are ``'/image/train/000000.png /seg40/train/000000.png'``: paths
start with ``/`` and are appended to the data root. The ``scene`` lists hold
``'/image/train/000000.png 3'``: the image-level label (index into
``DOMINANT_OBJECT_CLASSES``, see :mod:`.image_label`).

``npy`` (mtan / LibMTL preprocessed)::

    DIR/{train,val}/image/<i>.npy   HxWx3 float32 RGB in [0, 1]
    DIR/{train,val}/label/<i>.npy   HxW float32 NYUv2-13 ids, -1 ignore
    DIR/{train,val}/depth/<i>.npy   HxWx1 float32 metres, 0 invalid
    DIR/{train,val}/normal/<i>.npy  HxWx3 float32 in [-1, 1], 0 invalid

The test split of the generator is written as ``val`` in this layout.
"""
import multiprocessing as mp
import os
import os.path as osp
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from mtlnas_mm.structures.choices import check_choice
from mtlnas_mm.utils.output import claim_output_dir
from ..nyuv2 import NYU40_TO_NYU13
from ..transforms.loading import encode_normal_png
from .image_label import dominant_object_label
from .render import SyntheticSample, render_sample

LAYOUTS = ('nddr', 'npy', 'both')
_LISTS = {'train': 'training', 'test': 'testing'}
_LIST_TASKS = (('seg', 'seg40'), ('normal_mask', 'normal'), ('depth',
                                                             'depth'))
_NYU40_TO_13 = np.full(256, -1, dtype=np.float32)
_NYU40_TO_13[:40] = NYU40_TO_NYU13


def seg40_to_seg13(seg40: np.ndarray) -> np.ndarray:
    """NYUv2-40 ids (255 ignore) -> NYUv2-13 ids as float (-1 ignore)."""
    return _NYU40_TO_13[seg40]


def _imwrite(path: str, arr: np.ndarray) -> None:
    if not cv2.imwrite(path, arr):
        raise OSError(f'could not write {path}')


def encode_depth_png(depth: np.ndarray) -> np.ndarray:
    """Metres -> uint16 millimetres (0 stays invalid)."""
    return np.clip(np.rint(depth * 1000.0), 0, 65535).astype(np.uint16)


def write_nddr(out: str, split: str, index: int,
               sample: SyntheticSample) -> None:
    """Write one sample as the four PNGs of the nddr layout."""
    name = f'{index:06d}.png'
    _imwrite(osp.join(out, 'image', split, name), sample.image[..., ::-1])
    _imwrite(osp.join(out, 'seg40', split, name), sample.seg40)
    _imwrite(osp.join(out, 'normal', split, name),
             encode_normal_png(sample.normal)[..., ::-1])
    _imwrite(osp.join(out, 'depth', split, name),
             encode_depth_png(sample.depth))


def write_npy(out: str, split: str, index: int,
              sample: SyntheticSample) -> None:
    """Write one sample as the four arrays of the npy layout."""
    folder = osp.join(out, 'val' if split == 'test' else split)
    name = f'{index}.npy'
    np.save(osp.join(folder, 'image', name),
            sample.image.astype(np.float32) / np.float32(255))
    np.save(osp.join(folder, 'label', name), seg40_to_seg13(sample.seg40))
    np.save(osp.join(folder, 'depth', name), sample.depth[..., None])
    np.save(osp.join(folder, 'normal', name), sample.normal)


def _make_dirs(out: str, layout: str, splits: Sequence[str]) -> None:
    for split in splits:
        if layout in ('nddr', 'both'):
            for kind in ('image', 'seg40', 'normal', 'depth'):
                os.makedirs(osp.join(out, kind, split), exist_ok=True)
        if layout in ('npy', 'both'):
            folder = 'val' if split == 'test' else split
            for kind in ('image', 'label', 'depth', 'normal'):
                os.makedirs(osp.join(out, folder, kind), exist_ok=True)
    if layout in ('nddr', 'both'):
        os.makedirs(osp.join(out, 'list'), exist_ok=True)


#: what a worker returns: split, index, image-level label, RGB channel sums
_JobResult = Tuple[str, int, int, np.ndarray]


def _job(args: Tuple[str, int, str, int, int, int, str]) -> _JobResult:
    out, seed, split, index, height, width, layout = args
    sample = render_sample(seed, split, index, height, width)
    if layout in ('nddr', 'both'):
        write_nddr(out, split, index, sample)
    if layout in ('npy', 'both'):
        write_npy(out, split, index, sample)
    return (split, index, dominant_object_label(sample.seg40),
            sample.image.reshape(-1, 3).sum(0, dtype=np.float64))


def _write_lines(path: str, lines: List[str]) -> None:
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + ('\n' if lines else ''))


def write_lists(out: str, image_labels: Dict[str, List[int]]) -> None:
    """Write the eight list files of the nddr layout: per split, the three
    dense-task lists and the ``scene`` list of ``image_labels`` (one label
    per image of the split)."""
    for split, labels in image_labels.items():
        count = len(labels)
        for task, folder in _LIST_TASKS:
            _write_lines(
                osp.join(out, 'list', f'{_LISTS[split]}_{task}.txt'), [
                    f'/image/{split}/{i:06d}.png /{folder}/{split}/{i:06d}.png'
                    for i in range(count)
                ])
        _write_lines(
            osp.join(out, 'list', f'{_LISTS[split]}_scene.txt'), [
                f'/image/{split}/{i:06d}.png {label}'
                for i, label in enumerate(labels)
            ])


def generate_dataset(out: str,
                     num_train: int,
                     num_test: int,
                     height: int = 240,
                     width: int = 320,
                     seed: int = 0,
                     layout: str = 'nddr',
                     workers: int = 1,
                     log: Optional[Callable[[str], None]] = None) -> dict:
    """Render and write a synthetic NYUv2 data set.

    Image ``i`` of a split depends only on ``(seed, split, i)``, so the
    output does not depend on ``workers``.  ``out`` is claimed first
    (:func:`~mtlnas_mm.utils.claim_output_dir`): a new or empty directory,
    or one a project tool generated before; an existing data set of the
    user's is refused with nothing written.

    Returns:
        dict: ``num_images``, ``seconds``, ``images_per_s`` and ``mean``
        (per-channel RGB mean of the train images, also saved as
        ``nyu_v2_mean.npy``).
    """
    check_choice(layout, LAYOUTS, 'generate_dataset: layout')
    if num_train < 0 or num_test < 0:
        raise ValueError('image counts must be >= 0')
    counts = {'train': num_train, 'test': num_test}
    claim_output_dir(out, 'generate_dataset')
    _make_dirs(out, layout, list(counts))
    jobs = [(out, seed, split, i, height, width, layout)
            for split, n in counts.items() for i in range(n)]
    start = time.perf_counter()
    channel_sum = np.zeros(3, dtype=np.float64)
    image_labels = {split: [0] * n for split, n in counts.items()}
    done = 0
    step = max(len(jobs) // 10, 1)

    def consume(res: _JobResult) -> None:
        nonlocal done, channel_sum
        split, index, label, sums = res
        image_labels[split][index] = label
        if split == 'train':
            channel_sum += sums
        done += 1
        if log is not None and (done % step == 0 or done == len(jobs)):
            log(f'{done}/{len(jobs)} images')

    if workers > 1 and len(jobs) > 1:
        with mp.get_context('fork').Pool(workers) as pool:
            for res in pool.imap_unordered(_job, jobs, chunksize=4):
                consume(res)
    else:
        for job in jobs:
            consume(_job(job))
    seconds = time.perf_counter() - start
    if layout in ('nddr', 'both'):
        write_lists(out, image_labels)
    mean = channel_sum / max(num_train * height * width, 1)
    np.save(osp.join(out, 'nyu_v2_mean.npy'), mean)
    return dict(num_images=len(jobs), seconds=seconds,
                images_per_s=len(jobs) / max(seconds, 1e-9), mean=mean)


def benchmark(num_images: int = 40, height: int = 240, width: int = 320,
              seed: int = 0) -> Dict[str, float]:
    """Single-process throughput: rendering alone, and rendering plus PNG
    encoding of the four nddr files (in memory)."""
    start = time.perf_counter()
    samples: List[SyntheticSample] = [
        render_sample(seed, 'train', i, height, width)
        for i in range(num_images)
    ]
    render_s = time.perf_counter() - start
    start = time.perf_counter()
    for s in samples:
        for arr in (s.image[..., ::-1], s.seg40,
                    encode_normal_png(s.normal)[..., ::-1],
                    encode_depth_png(s.depth)):
            cv2.imencode('.png', arr)
    encode_s = time.perf_counter() - start
    return dict(render_images_per_s=num_images / render_s,
                total_images_per_s=num_images / (render_s + encode_s))
