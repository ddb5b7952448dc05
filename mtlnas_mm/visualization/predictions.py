"""A picture of multi-task predictions next to the ground truth."""
from typing import Dict, List, Optional, Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import mmcv  # noqa: E402
import numpy as np  # noqa: E402


def colorize_labels(labels: np.ndarray, palette: Sequence[Sequence[int]],
                    ignore_index: int = 255) -> np.ndarray:
    """HxW class ids -> HxWx3 uint8 (ignored pixels black)."""
    pal = np.zeros((256, 3), np.uint8)
    pal[:len(palette)] = np.asarray(palette, np.uint8)
    out = pal[labels.astype(np.int64).clip(0, 255)]
    out[labels == ignore_index] = 0
    return out


def normals_to_rgb(normals: np.ndarray) -> np.ndarray:
    """3xHxW unit vectors (0 = invalid) -> HxWx3 uint8 ((n+1)/2 colours)."""
    n = np.moveaxis(normals, 0, -1)
    rgb = ((n + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    rgb[np.abs(n).sum(-1) == 0] = 0
    return rgb


def _panels(sample, palette) -> Dict[str, np.ndarray]:
    panels = {'image': mmcv.imread(sample.img_path, channel_order='rgb')}
    for name in ('gt_sem_seg', 'pred_sem_seg'):
        if name in sample:
            panels[name] = colorize_labels(
                sample.get(name).data[0].detach().cpu().numpy(), palette)
    for name in ('gt_normal_map', 'pred_normal_map'):
        if name in sample:
            normals = sample.get(name).data.detach().cpu().numpy()
            panels[name] = normals_to_rgb(normals)
    for name in ('gt_depth_map', 'pred_depth_map'):
        if name in sample:
            panels[name] = sample.get(name).data[0].detach().cpu().numpy()
    return panels


def image_caption(sample,
                  img_classes: Optional[Sequence[str]] = None) -> str:
    """``'gt <class> | pred <class>'`` of an image-level task ('' if the
    sample has neither)."""
    parts = []
    for name, field in (('gt', 'gt_label'), ('pred', 'pred_label')):
        if field in sample:
            idx = int(sample.get(field).reshape(-1)[0])
            label = img_classes[idx] if img_classes and \
                0 <= idx < len(img_classes) else str(idx)
            parts.append(f'{name} {label}')
    return ' | '.join(parts)


def draw_predictions(samples: List,
                     palette: Sequence[Sequence[int]],
                     out: str,
                     title: Optional[str] = None,
                     img_classes: Optional[Sequence[str]] = None) -> str:
    """One row per sample: image, then ground truth / prediction pairs of
    the dense tasks; the image-level label (``gt_label`` / ``pred_label``,
    named by ``img_classes``) is written under the image."""
    rows = [_panels(s, palette) for s in samples]
    captions = [image_caption(s, img_classes) for s in samples]
    cols = list(rows[0])
    fig, axes = plt.subplots(
        len(rows), len(cols), figsize=(2.2 * len(cols), 1.8 * len(rows)),
        squeeze=False)
    for r, panels in enumerate(rows):
        for c, name in enumerate(cols):
            ax = axes[r][c]
            img = panels[name]
            ax.imshow(img, cmap='viridis' if img.ndim == 2 else None)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0 and captions[r]:
                ax.set_xlabel(captions[r], fontsize=7)
            if r == 0:
                ax.set_title(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
