"""Procedural albedo textures, one family per class.

Every texture is a function of the hit point in the primitive's *local*
frame (metres), so it sticks to the object and mirrors with it. Functions
take 1-D float32 arrays ``x, y, z`` (local hit points), the local normal
``n`` (3 arrays) and the per-instance parameter dict drawn in
:func:`.scene.sample_scene`, and return an ``(N, 3)`` float32 RGB albedo in
[0, 1]. Each class has its own look (plaster, planks/tiles, wood grain,
checked fabric, colourful prints, cardboard with tape, striped balls, ...)
so appearance carries class information the way it does in real rooms.
"""
from typing import Callable, Dict, Sequence

import numpy as np

from . import scene as S

Arr = np.ndarray
TextureFn = Callable[[Arr, Arr, Arr, Sequence[Arr], Dict[str, object]], Arr]


def _hash(k: Arr, salt: float) -> Arr:
    """Cheap deterministic pseudo-random value in [0, 1) per integer cell."""
    v = np.sin(k * np.float32(12.9898) + np.float32(salt * 78.233)) \
        * np.float32(43758.5453)
    return v - np.floor(v)


def _rgb(col: object) -> Arr:
    return np.asarray(col, dtype=np.float32).reshape(1, 3)


def _tint(base: object, gain: Arr) -> Arr:
    return _rgb(base) * gain[:, None]


def room(x: Arr, y: Arr, z: Arr, n: Sequence[Arr],
         p: Dict[str, object]) -> Arr:
    """Walls (plaster with faint wallpaper stripes), floor (planks or
    tiles), ceiling (white with a panel grid). The face is told apart by the
    inward local normal; ``y`` here is relative to the room centre."""
    out = np.empty((x.size, 3), dtype=np.float32)
    ny = n[1]
    floor = ny > 0.5
    ceil = ny < -0.5
    wall = ~(floor | ceil)
    if wall.any():
        along = np.where(np.abs(n[2][wall]) > 0.5, x[wall], z[wall])
        g = 0.93 + 0.07 * np.sin(along * np.float32(
            2 * np.pi / float(p['stripe'])) + np.float32(p['phase']))
        out[wall] = _tint(p['wall'], g.astype(np.float32))
    if floor.any():
        fx, fz = x[floor], z[floor]
        if p['floor'] == 'planks':
            plank = np.floor(fz / np.float32(0.18))
            shade = 0.75 + 0.25 * _hash(plank, float(p['seed']))
            grain = 0.06 * np.sin(fx * np.float32(23.0) +
                                  3 * np.sin(fz * np.float32(7.0) + plank))
            seam = (np.abs(fz / np.float32(0.18) - np.round(
                fz / np.float32(0.18))) < 0.05)
            g = (shade + grain) * np.where(seam, np.float32(0.55),
                                           np.float32(1.0))
            out[floor] = _tint(p['floor_rgb'], g.astype(np.float32))
        else:
            cell = (np.floor(fx / np.float32(0.5)) +
                    np.floor(fz / np.float32(0.5))) % 2
            g = np.where(cell > 0, np.float32(0.95), np.float32(0.6))
            out[floor] = _tint(np.asarray(p['floor_rgb']) * 0.4 + 0.5, g)
    if ceil.any():
        cx, cz = x[ceil], z[ceil]
        grid = (np.abs(cx / np.float32(0.6) - np.round(cx / np.float32(0.6)))
                < 0.02) | (np.abs(cz / np.float32(0.6) -
                                  np.round(cz / np.float32(0.6))) < 0.02)
        g = np.where(grid, np.float32(0.7), np.float32(1.0)) * np.float32(
            p['ceiling'])
        out[ceil] = g[:, None]
    return out


def wood(x: Arr, y: Arr, z: Arr, n: Sequence[Arr],
         p: Dict[str, object]) -> Arr:
    """Wood grain (cabinets, tables): wavy rings along local ``y``/``x``."""
    f = np.float32(p['grain'])
    g = 0.85 + 0.15 * np.sin(f * (y + x * np.float32(0.3)) +
                             np.float32(4.0) * np.sin(np.float32(3.0) * z +
                                                      np.float32(2.0) * x))
    door = np.abs(x) < 0.006  # a seam between two cabinet doors
    g = np.where(door, np.float32(0.4), g)
    return _tint(p['rgb'], g.astype(np.float32))


def fabric(x: Arr, y: Arr, z: Arr, n: Sequence[Arr],
           p: Dict[str, object]) -> Arr:
    """Checked bed cover."""
    c = np.float32(p['check'])
    cell = (np.floor(x / c) + np.floor(z / c) + np.floor(y / c)) % 2
    g = np.where(cell > 0, np.float32(1.0), np.float32(0.7))
    return _tint(p['rgb'], g)


def upholstery(x: Arr, y: Arr, z: Arr, n: Sequence[Arr],
               p: Dict[str, object]) -> Arr:
    """Sofas: corduroy ribs running across the seat."""
    g = 0.8 + 0.2 * np.abs(np.sin(np.float32(p['ribs']) * x))
    return _tint(p['rgb'], g.astype(np.float32))


def print_(x: Arr, y: Arr, z: Arr, n: Sequence[Arr],
           p: Dict[str, object]) -> Arr:
    """Pictures: a colourful mix of three colours with a dark frame."""
    cols = np.asarray(p['rgb'], dtype=np.float32)
    fr = np.asarray(p['freq'], dtype=np.float32)
    ph = np.asarray(p['phase'], dtype=np.float32)
    a = 0.5 + 0.5 * np.sin(fr[0] * x + ph[0]) * np.sin(fr[1] * y + ph[1])
    b = 0.5 + 0.5 * np.cos(fr[1] * x - ph[1])
    out = (cols[0] * a[:, None] + cols[1] * (1 - a)[:, None]) * \
        b[:, None] + cols[2] * (1 - b)[:, None]
    return out.astype(np.float32)


def window(x: Arr, y: Arr, z: Arr, n: Sequence[Arr],
           p: Dict[str, object]) -> Arr:
    """Window: sky gradient behind a white frame and a cross bar."""
    fw = np.float32(p['frame'])
    bar = (np.abs(x) < fw / 2) | (np.abs(y) < fw / 2)
    sky = _tint(p['rgb'], (0.85 + 0.3 * y).clip(0.6, 1.0).astype(np.float32))
    return np.where(bar[:, None], np.float32(0.95), sky).astype(np.float32)


def lamp(x: Arr, y: Arr, z: Arr, n: Sequence[Arr],
         p: Dict[str, object]) -> Arr:
    """Lamps: warm colour with horizontal rings."""
    g = 0.85 + 0.15 * np.sign(np.sin(np.float32(p['rings']) * y))
    return _tint(p['rgb'], g.astype(np.float32))


def ball(x: Arr, y: Arr, z: Arr, n: Sequence[Arr],
         p: Dict[str, object]) -> Arr:
    """Balls (otherprop): two-colour longitudinal sectors."""
    k = int(p['sectors'])  # type: ignore[arg-type]
    sector = np.floor((np.arctan2(z, x) + np.pi) / (2 * np.pi) * k) % 2
    return np.where(sector[:, None] > 0, _rgb(p['rgb']),
                    _rgb(p['rgb2'])).astype(np.float32)


def cardboard(x: Arr, y: Arr, z: Arr, n: Sequence[Arr],
              p: Dict[str, object]) -> Arr:
    """Cardboard boxes: fine corrugation and a tape strip around them."""
    g = 0.92 + 0.08 * np.sin(np.float32(120.0) * (x + z))
    tape = np.abs(z) < np.float32(p['tape'])
    out = _tint(p['rgb'], g.astype(np.float32))
    out[tape] = out[tape] * np.float32(0.6) + np.float32(0.35)
    return out


#: Texture function of each class id.
TEXTURES: Dict[int, TextureFn] = {
    S.WALL: room,
    S.CABINET: wood,
    S.TABLE: wood,
    S.BED: fabric,
    S.CHAIR: wood,
    S.SOFA: upholstery,
    S.PICTURE: print_,
    S.WINDOW: window,
    S.LAMP: lamp,
    S.OTHERPROP: ball,
    S.BOX: cardboard,
}

#: Classes that light themselves (not Lambert-shaded).
EMISSIVE = {S.WINDOW: 1.0, S.LAMP: 0.75}
