"""Vectorised ray casting of a :class:`~.scene.Scene`.

Two passes over the primitives, all in numpy:

1. *Visibility*: each primitive is intersected analytically with the rays of
   the pixels inside its projected bounding rectangle (a conservative
   screen-space cull) and a z-buffer keeps the nearest hit. The room is hit
   from inside, so every ray has a hit.
2. *Shading*: per primitive, the visible pixels get the local hit point, the
   analytic normal (rotated to camera coordinates), the class id and the
   procedural albedo; RGB = albedo x (ambient + key x max(0, n.l) +
   head x max(0, n_z)) + Gaussian noise. Light depends on the true normal
   only, so shading carries the geometry the normal task must recover.

Kinect-like defects (:class:`~.scene.SensorModel`): depth/normals are invalid
on windows (glass), beyond ``max_range``, inside random holes and, at random,
at depth discontinuities; labels are 255 inside random blobs and, at random,
on class boundaries.

``mirror=True`` renders the scene reflected in the camera's ``x`` axis
(``x -> -x`` in camera coordinates), applied to the geometry, the light and
the texture coordinates; the sensor's random fields are mirrored with the
image. Because ``cx = W / 2`` and IEEE arithmetic is sign-symmetric, the
result equals the horizontally flipped normal render bit for bit (RGB and
labels identical, normals with ``x`` negated).
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from mtlnas_mm.structures.choices import check_choice
from . import scene as S
from .textures import EMISSIVE, TEXTURES

#: Rays closer than this (m) are clipped, like a camera's near plane.
NEAR = 0.05
#: Integer code of each split in the per-image seed ``(seed, split, index)``.
SPLIT_CODES = {'train': 0, 'test': 1, 'val': 1}

_MIRROR = np.diag([-1.0, 1.0, 1.0])


@dataclass
class SyntheticSample:
    """One rendered image and its dense labels.

    Attributes:
        image: HxWx3 uint8, **RGB**.
        seg40: HxW uint8, 0-based NYUv2-40 ids, 255 = unlabeled.
        normal: HxWx3 float32 unit normals in camera coordinates (x right,
            y up, z towards the camera); invalid pixels are (0, 0, 0).
        depth: HxW float32 depth along the optical axis in metres, 0 =
            invalid.
        scene: the scene that was rendered.
        mirror: whether the mirrored scene was rendered.
    """
    image: np.ndarray
    seg40: np.ndarray
    normal: np.ndarray
    depth: np.ndarray
    scene: S.Scene
    mirror: bool = False


def _camera_pose(scene: S.Scene, prim: S.Primitive,
                 mirror: bool) -> Tuple[np.ndarray, np.ndarray]:
    rot, trans = scene.camera.world_to_camera(prim.rotation, prim.centre)
    if mirror:
        rot = _MIRROR @ rot @ _MIRROR
        trans = _MIRROR @ trans
    return rot, trans


def _screen_rect(prim: S.Primitive, rot: np.ndarray, trans: np.ndarray,
                 cam: S.Camera) -> Optional[Tuple[int, int, int, int]]:
    """Conservative pixel rectangle ``(v0, v1, u0, u1)`` that contains the
    primitive's projection, or None if it lies behind the camera."""
    if prim.kind == 'room':
        return 0, cam.height, 0, cam.width
    pts = prim.local_corners() @ rot.T + trans
    z = -pts[:, 2]
    if (z <= NEAR).all():
        return None
    if (z <= NEAR).any():
        return 0, cam.height, 0, cam.width
    u = cam.fx * pts[:, 0] / z + cam.cx - 0.5
    v = cam.cy - cam.fy * pts[:, 1] / z - 0.5
    u0 = max(int(np.floor(u.min())) - 2, 0)
    u1 = min(int(np.ceil(u.max())) + 3, cam.width)
    v0 = max(int(np.floor(v.min())) - 2, 0)
    v1 = min(int(np.ceil(v.max())) + 3, cam.height)
    if u0 >= u1 or v0 >= v1:
        return None
    return v0, v1, u0, u1


def _local_rays(rot: np.ndarray, trans: np.ndarray, dx: np.ndarray,
                dy: np.ndarray):
    """Ray origin (3 floats) and directions (3 arrays) in the local frame.

    Camera rays are ``(dx, dy, -1)`` from the origin; local coordinates are
    ``R^T (p - t)``.
    """
    rt = rot.T
    o = [-float(rt[i, 0] * trans[0] + rt[i, 1] * trans[1] +
                rt[i, 2] * trans[2]) for i in range(3)]
    d = [float(rt[i, 0]) * dx + float(rt[i, 1]) * dy - float(rt[i, 2])
         for i in range(3)]
    return o, d


def _nonzero(a: np.ndarray) -> np.ndarray:
    return np.where(a == 0, np.float32(1e-12), a)


def _hit_box(o, d, size, inside: bool) -> np.ndarray:
    """Slab test; returns the ray parameter of the entry (outside) or exit
    (inside) point, ``inf`` where the ray misses."""
    tmin = tmax = None
    for i in range(3):
        inv = 1.0 / _nonzero(d[i])
        t1 = (-size[i] - o[i]) * inv
        t2 = (size[i] - o[i]) * inv
        lo, hi = np.minimum(t1, t2), np.maximum(t1, t2)
        tmin = lo if tmin is None else np.maximum(tmin, lo)
        tmax = hi if tmax is None else np.minimum(tmax, hi)
    if inside:
        return np.where(tmax > NEAR, tmax, np.float32(np.inf))
    ok = (tmin <= tmax) & (tmin > NEAR)
    return np.where(ok, tmin, np.float32(np.inf))


def _hit_sphere(o, d, size) -> np.ndarray:
    r = size[0]
    a = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    b = o[0] * d[0] + o[1] * d[1] + o[2] * d[2]
    c = o[0] ** 2 + o[1] ** 2 + o[2] ** 2 - r * r
    disc = b * b - a * c
    t = (-b - np.sqrt(np.maximum(disc, 0))) / a
    return np.where((disc >= 0) & (t > NEAR), t, np.float32(np.inf))


def _hit_cylinder(o, d, size) -> np.ndarray:
    r, h = size
    a = _nonzero(d[0] * d[0] + d[2] * d[2])
    b = o[0] * d[0] + o[2] * d[2]
    c = o[0] ** 2 + o[2] ** 2 - r * r
    disc = b * b - a * c
    t = (-b - np.sqrt(np.maximum(disc, 0))) / a
    y = o[1] + t * d[1]
    t = np.where((disc >= 0) & (t > NEAR) & (np.abs(y) <= h), t,
                 np.float32(np.inf))
    if abs(o[1]) > h:  # a cap can only be seen from above / below it
        ycap = h if o[1] > 0 else -h
        tc = (ycap - o[1]) / _nonzero(d[1])
        xc, zc = o[0] + tc * d[0], o[2] + tc * d[2]
        ok = (tc > NEAR) & (xc * xc + zc * zc <= r * r)
        t = np.where(ok & (tc < t), tc, t)
    return t


def _intersect(prim: S.Primitive, o, d) -> np.ndarray:
    if prim.kind == 'room':
        return _hit_box(o, d, prim.size, inside=True)
    if prim.kind == 'box':
        return _hit_box(o, d, prim.size, inside=False)
    if prim.kind == 'sphere':
        return _hit_sphere(o, d, prim.size)
    if prim.kind == 'cylinder':
        return _hit_cylinder(o, d, prim.size)
    raise ValueError(f'unknown primitive kind {prim.kind!r}')


def _local_normal(prim: S.Primitive, p) -> list:
    """Analytic normal at local points ``p`` (outward; inward for room)."""
    if prim.kind == 'sphere':
        r = np.sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2])
        return [p[0] / r, p[1] / r, p[2] / r]
    if prim.kind == 'cylinder':
        r, h = prim.size
        rad = np.sqrt(p[0] * p[0] + p[2] * p[2])
        cap = np.abs(p[1]) / np.float32(h) > rad / np.float32(r)
        rad = np.maximum(rad, np.float32(1e-12))
        zero = np.zeros_like(rad)
        return [np.where(cap, zero, p[0] / rad),
                np.where(cap, np.sign(p[1]), zero),
                np.where(cap, zero, p[2] / rad)]
    ratios = np.stack([np.abs(p[i]) / np.float32(prim.size[i])
                       for i in range(3)])
    axis = np.argmax(ratios, axis=0)
    sign = np.float32(-1.0 if prim.kind == 'room' else 1.0)
    return [np.where(axis == i, sign * np.sign(p[i]), np.float32(0))
            for i in range(3)]


def _ellipse_mask(h: int, w: int, ellipses) -> np.ndarray:
    mask = np.zeros((h, w), dtype=bool)
    for (uc, vc, ru, rv) in ellipses:
        u0, u1 = max(int(uc - ru) - 1, 0), min(int(uc + ru) + 2, w)
        v0, v1 = max(int(vc - rv) - 1, 0), min(int(vc + rv) + 2, h)
        if u0 >= u1 or v0 >= v1:
            continue
        uu = (np.arange(u0, u1) + 0.5 - uc) / ru
        vv = (np.arange(v0, v1) + 0.5 - vc) / rv
        mask[v0:v1, u0:u1] |= (vv[:, None]**2 + uu[None, :]**2) <= 1
    return mask


def _pair_edges(a: np.ndarray, differ: np.ndarray,
                differ_v: np.ndarray) -> np.ndarray:
    """Mark both pixels of every horizontal / vertical pair flagged in
    ``differ`` (Hx(W-1)) / ``differ_v`` ((H-1)xW); symmetric under flips."""
    m = np.zeros(a.shape, dtype=bool)
    m[:, 1:] |= differ
    m[:, :-1] |= differ
    m[1:] |= differ_v
    m[:-1] |= differ_v
    return m


def render_scene(scene: S.Scene, mirror: bool = False) -> SyntheticSample:
    """Render a scene (or its mirror image) into RGB, labels, normals and
    depth. See the module docstring for the model."""
    cam = scene.camera
    h, w = cam.height, cam.width
    dx_row = ((np.arange(w, dtype=np.float32) + np.float32(0.5) -
               np.float32(cam.cx)) / np.float32(cam.fx))
    dy_col = -((np.arange(h, dtype=np.float32) + np.float32(0.5) -
                np.float32(cam.cy)) / np.float32(cam.fy))
    dx = np.broadcast_to(dx_row[None, :], (h, w))
    dy = np.broadcast_to(dy_col[:, None], (h, w))

    poses = [_camera_pose(scene, p, mirror) for p in scene.primitives]

    # pass 1: visibility
    tbuf = np.full((h, w), np.inf, dtype=np.float32)
    ids = np.zeros((h, w), dtype=np.int16)
    rects = []
    for i, (prim, (rot, trans)) in enumerate(zip(scene.primitives, poses)):
        rect = _screen_rect(prim, rot, trans, cam)
        rects.append(rect)
        if rect is None:
            continue
        v0, v1, u0, u1 = rect
        o, d = _local_rays(rot, trans, dx[v0:v1, u0:u1], dy[v0:v1, u0:u1])
        t = _intersect(prim, o, d)
        tb = tbuf[v0:v1, u0:u1]
        closer = t < tb
        tb[closer] = t[closer]
        ids[v0:v1, u0:u1][closer] = i

    # pass 2: normals, classes, albedo
    normal = np.zeros((h, w, 3), dtype=np.float32)
    albedo = np.zeros((h, w, 3), dtype=np.float32)
    seg = np.zeros((h, w), dtype=np.uint8)
    emit = np.zeros((h, w), dtype=np.float32)
    for i, (prim, (rot, trans)) in enumerate(zip(scene.primitives, poses)):
        if rects[i] is None:
            continue
        v0, v1, u0, u1 = rects[i]  # a primitive is only seen in its rect
        vv, uu = np.nonzero(ids[v0:v1, u0:u1] == i)
        if vv.size == 0:
            continue
        vv += v0
        uu += u0
        o, d = _local_rays(rot, trans, dx[vv, uu], dy[vv, uu])
        t = tbuf[vv, uu]
        p = [o[k] + t * d[k] for k in range(3)]
        nl = _local_normal(prim, p)
        nc = [float(rot[k, 0]) * nl[0] + float(rot[k, 1]) * nl[1] +
              float(rot[k, 2]) * nl[2] for k in range(3)]
        normal[vv, uu] = np.stack(nc, axis=1)
        if prim.kind == 'room':
            cls = np.full(vv.size, S.WALL, dtype=np.uint8)
            cls[nl[1] > 0.5] = S.FLOOR
            cls[nl[1] < -0.5] = S.CEILING
            seg[vv, uu] = cls
        else:
            seg[vv, uu] = prim.class_id
        tex_x = -p[0] if mirror else p[0]
        albedo[vv, uu] = TEXTURES[prim.class_id](tex_x, p[1], p[2], nl,
                                                 prim.texture)
        if prim.class_id in EMISSIVE:
            emit[vv, uu] = EMISSIVE[prim.class_id]

    # guard: normals face the camera (ray direction is (dx, dy, -1))
    facing = normal[..., 0] * dx + normal[..., 1] * dy - normal[..., 2]
    normal[facing > 0] *= -1

    light = cam.rotation.T @ scene.light_dir
    if mirror:
        light = _MIRROR @ light
    lam = (normal[..., 0] * float(light[0]) + normal[..., 1] *
           float(light[1]) + normal[..., 2] * float(light[2]))
    shade = (np.float32(scene.ambient) +
             np.float32(scene.key) * np.maximum(lam, 0) +
             np.float32(scene.head) * np.maximum(normal[..., 2], 0))
    shade = np.maximum(shade, emit)

    # sensor: random fields are drawn in image space, mirrored with it
    sensor = scene.sensor
    rng = np.random.default_rng(sensor.seed)
    noise = rng.standard_normal((h, w, 3), dtype=np.float32)
    drop_field = rng.random((h, w), dtype=np.float32)
    unl_field = rng.random((h, w), dtype=np.float32)
    holes = _ellipse_mask(h, w, sensor.holes)
    blobs = _ellipse_mask(h, w, sensor.unlabeled_blobs)
    if mirror:
        noise, drop_field, unl_field = (noise[:, ::-1], drop_field[:, ::-1],
                                        unl_field[:, ::-1])
        holes, blobs = holes[:, ::-1], blobs[:, ::-1]

    rgb = albedo * shade[..., None] + noise * np.float32(sensor.rgb_noise)
    image = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)

    depth = tbuf
    rel = np.float32(0.08)
    dh = np.abs(depth[:, 1:] - depth[:, :-1]) > rel * np.minimum(
        depth[:, 1:], depth[:, :-1])
    dv = np.abs(depth[1:] - depth[:-1]) > rel * np.minimum(
        depth[1:], depth[:-1])
    edges = _pair_edges(depth, dh, dv)
    invalid = ((depth > sensor.max_range) | (seg == S.WINDOW) | holes |
               (edges & (drop_field < sensor.edge_dropout)))
    depth = np.where(invalid, np.float32(0), depth)
    normal[invalid] = 0

    bounds = _pair_edges(seg, seg[:, 1:] != seg[:, :-1], seg[1:] != seg[:-1])
    unlabeled = blobs | (bounds & (unl_field < sensor.boundary_unlabeled))
    seg[unlabeled] = 255
    return SyntheticSample(image=image, seg40=seg, normal=normal,
                           depth=depth, scene=scene, mirror=mirror)


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of image ``index`` of ``split``: independent of the
    order in which images are made, so any number of workers agree."""
    check_choice(split, SPLIT_CODES, 'image_rng: split')
    return np.random.default_rng([int(seed), SPLIT_CODES[split], int(index)])


def render_sample(seed: int, split: str, index: int, height: int = 240,
                  width: int = 320, mirror: bool = False) -> SyntheticSample:
    """Sample and render image ``index`` of ``split`` for a global seed."""
    scene = S.sample_scene(image_rng(seed, split, index), height, width)
    return render_scene(scene, mirror=mirror)
