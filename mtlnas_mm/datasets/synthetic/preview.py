"""A picture strip of rendered samples: RGB | labels | normals | depth."""
from typing import Sequence, Tuple

import cv2
import numpy as np

from ..nyuv2 import NYU40_PALETTE
from .render import SyntheticSample

_PALETTE = np.zeros((256, 3), dtype=np.uint8)
_PALETTE[:40] = np.asarray(NYU40_PALETTE, dtype=np.uint8)  # 255 -> black


def colourise_labels(seg40: np.ndarray) -> np.ndarray:
    """NYUv2-40 ids -> RGB with the dataset palette (255 = black)."""
    return _PALETTE[seg40]


def colourise_normals(normal: np.ndarray) -> np.ndarray:
    """Unit normals -> RGB ``(n + 1) / 2`` (invalid = black)."""
    rgb = np.rint((normal + 1) * 127.5).astype(np.uint8)
    rgb[~np.any(normal != 0, axis=-1)] = 0
    return rgb


def colourise_depth(depth: np.ndarray, max_depth: float = 8.0) -> np.ndarray:
    """Depth -> RGB, near = warm, far = cool (invalid = black)."""
    t = np.clip(depth / max_depth, 0, 1)
    rgb = np.stack([1 - t, 1 - np.abs(2 * t - 1), t], axis=-1)
    rgb = np.rint(rgb * 255).astype(np.uint8)
    rgb[depth <= 0] = 0
    return rgb


def make_strip(samples: Sequence[SyntheticSample],
               tile_hw: Tuple[int, int] = (120, 160)) -> np.ndarray:
    """One row per sample, four tiles per row; returns an RGB uint8 image."""
    h, w = tile_hw
    rows = []
    for s in samples:
        tiles = [
            cv2.resize(s.image, (w, h), interpolation=cv2.INTER_AREA),
            cv2.resize(colourise_labels(s.seg40), (w, h),
                       interpolation=cv2.INTER_NEAREST),
            cv2.resize(colourise_normals(s.normal), (w, h),
                       interpolation=cv2.INTER_NEAREST),
            cv2.resize(colourise_depth(s.depth), (w, h),
                       interpolation=cv2.INTER_NEAREST)
        ]
        sep = np.full((h, 2, 3), 255, dtype=np.uint8)
        row = [tiles[0]]
        for t in tiles[1:]:
            row += [sep, t]
        rows.append(np.concatenate(row, axis=1))
    gap = np.full((2, rows[0].shape[1], 3), 255, dtype=np.uint8)
    out = [rows[0]]
    for r in rows[1:]:
        out += [gap, r]
    return np.concatenate(out, axis=0)


def save_strip(path: str, samples: Sequence[SyntheticSample],
               tile_hw: Tuple[int, int] = (120, 160)) -> None:
    """Write :func:`make_strip` as a PNG."""
    strip = make_strip(samples, tile_hw)
    if not cv2.imwrite(path, strip[..., ::-1],
                       [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f'could not write {path}')
