"""Random indoor scenes for the synthetic NYUv2 stand-in.

A :class:`Scene` is a box-shaped room (floor, four walls, ceiling) furnished
with analytic primitives (oriented boxes, spheres, vertical cylinders), a
directional key light and a pinhole camera placed inside the room. Every
quantity is drawn from one ``numpy.random.Generator`` so a scene is a pure
function of its seed. Rendering lives in :mod:`.render`.

World frame: metres, ``y`` up, the floor is the plane ``y = 0`` and the room
is centred on the ``y`` axis. Camera frame (the normal-map convention of the
whole project): ``x`` right, ``y`` up, ``z`` towards the viewer, i.e. the
camera looks along ``-z``.

Class ids are the 0-based NYUv2-40 ids of the NDDR-CNN release (``seg40``
PNGs hold 0..39, 255 = unlabeled).
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

# 0-based NYUv2-40 ids of the classes the generator draws.
WALL = 0
FLOOR = 1
CABINET = 2
BED = 3
CHAIR = 4
SOFA = 5
TABLE = 6
WINDOW = 8
PICTURE = 10
CEILING = 21
BOX = 28
LAMP = 34
OTHERPROP = 39

#: Classes the generator can produce (room surfaces are always present).
SYNTHETIC_CLASSES: Tuple[int, ...] = (WALL, FLOOR, CABINET, BED, CHAIR,
                                      SOFA, TABLE, WINDOW, PICTURE, CEILING,
                                      BOX, LAMP, OTHERPROP)

#: Focal length of the Kinect colour camera of NYUv2 at 640 px width.
NYU_FOCAL_640 = 518.8579


def rot_x(a: float) -> np.ndarray:
    """Rotation matrix about ``x`` by ``a`` radians."""
    c, s = np.cos(a), np.sin(a)
    return np.array([[1., 0., 0.], [0., c, -s], [0., s, c]])


def rot_y(a: float) -> np.ndarray:
    """Rotation matrix about ``y`` by ``a`` radians."""
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0., s], [0., 1., 0.], [-s, 0., c]])


def rot_z(a: float) -> np.ndarray:
    """Rotation matrix about ``z`` by ``a`` radians."""
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.], [s, c, 0.], [0., 0., 1.]])


@dataclass
class Camera:
    """Pinhole camera.

    Pixel ``(u, v)`` (column, row; ``v`` grows downwards) has its centre at
    ``(u + 0.5, v + 0.5)``; its ray in camera coordinates is
    ``((u + 0.5 - cx) / fx, -(v + 0.5 - cy) / fy, -1)``, so the ray
    parameter of a hit equals its depth along the optical axis. ``cx`` is
    always ``width / 2``: then the rays of columns ``u`` and ``W - 1 - u``
    are exact mirror images, which makes the mirrored render equal to a
    horizontally flipped one bit for bit.

    Attributes:
        width, height: image size in pixels.
        fx, fy, cx, cy: intrinsics in pixels.
        rotation: 3x3 camera-to-world rotation (columns are the camera axes
            in world coordinates).
        position: camera centre in world coordinates (metres).
    """
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    rotation: np.ndarray
    position: np.ndarray

    def world_to_camera(self, rot_w: np.ndarray,
                        centre_w: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Express a world pose ``(R, t)`` in camera coordinates."""
        r_cw_t = self.rotation.T
        return r_cw_t @ rot_w, r_cw_t @ (centre_w - self.position)


@dataclass
class Primitive:
    """An analytic solid with its own local frame.

    Local shapes: ``'box'`` is ``|x|<=a0, |y|<=a1, |z|<=a2``; ``'sphere'``
    is ``|p| <= a0``; ``'cylinder'`` is ``x^2+z^2 <= a0^2, |y| <= a1``;
    ``'room'`` is a box seen from inside (its faces get the wall, floor and
    ceiling classes).

    Attributes:
        kind: one of ``'room'``, ``'box'``, ``'sphere'``, ``'cylinder'``.
        size: shape parameters (half extents / radius / half height).
        rotation: 3x3 local-to-world rotation.
        centre: world position of the local origin.
        class_id: NYUv2-40 id (0-based); for the room, the wall id.
        texture: per-instance texture parameters (see :mod:`.textures`).
    """
    kind: str
    size: Tuple[float, ...]
    rotation: np.ndarray
    centre: np.ndarray
    class_id: int
    texture: Dict[str, object] = field(default_factory=dict)

    def local_corners(self) -> np.ndarray:
        """8 corners (8x3) of a local box that bounds the primitive."""
        if self.kind in ('box', 'room'):
            a = np.asarray(self.size, dtype=np.float64)
        elif self.kind == 'sphere':
            a = np.full(3, self.size[0])
        else:  # cylinder
            a = np.array([self.size[0], self.size[1], self.size[0]])
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1)
                          for sz in (-1, 1)], dtype=np.float64)
        return signs * a


@dataclass
class SensorModel:
    """Kinect-like defects, drawn with the scene and applied in image space.

    Attributes:
        seed: seed of the per-pixel random fields (noise, dropout).
        max_range: depth (m) beyond which depth and normals are invalid.
        holes: invalid-depth ellipses ``(u, v, ru, rv)`` in pixels.
        unlabeled_blobs: ellipses ``(u, v, ru, rv)`` set to label 255.
        edge_dropout: probability that a pixel at a depth edge loses its
            depth/normal.
        boundary_unlabeled: probability that a pixel on a label boundary is
            left unlabeled (annotators' gaps in NYUv2).
        rgb_noise: standard deviation of the additive RGB noise (0..1 scale).
    """
    seed: int
    max_range: float
    holes: List[Tuple[float, float, float, float]]
    unlabeled_blobs: List[Tuple[float, float, float, float]]
    edge_dropout: float
    boundary_unlabeled: float
    rgb_noise: float


@dataclass
class Scene:
    """Everything needed to render one image (see :func:`sample_scene`)."""
    room_half: Tuple[float, float, float]
    primitives: List[Primitive]
    camera: Camera
    light_dir: np.ndarray
    ambient: float
    key: float
    head: float
    sensor: SensorModel


# ----------------------------------------------------------------- sampling
def _pastel(rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    return rng.uniform(lo, hi, size=3)


def _against_wall(rng: np.random.Generator,
                  room_half: Tuple[float, float, float], width: float,
                  depth: float) -> Tuple[np.ndarray, float]:
    """Floor position ``(x, z)`` and yaw for a footprint ``width x depth``
    standing against a random wall: local ``x`` runs along the wall and
    local ``+z`` points at it (the back of a sofa or chair)."""
    hx, _, hz = room_half
    side = int(rng.integers(4))
    gap = 0.02 + depth / 2
    if side < 2:  # walls z = +-hz
        along = rng.uniform(-hx + width / 2, hx - width / 2) \
            if hx > width / 2 else 0.0
        z = (hz - gap) * (1 if side == 0 else -1)
        return np.array([along, z]), (0.0 if side == 0 else np.pi)
    along = rng.uniform(-hz + width / 2, hz - width / 2) \
        if hz > width / 2 else 0.0
    x = (hx - gap) * (1 if side == 2 else -1)
    return np.array([x, along]), (np.pi / 2 if side == 2 else -np.pi / 2)


def _parts(parts: List[Tuple[str, Tuple[float, ...], Tuple[float, float,
                                                           float]]],
           xz: np.ndarray, yaw: float, cls: int,
           tex: Dict[str, object]) -> List[Primitive]:
    """Place a multi-part object: ``parts`` are ``(kind, size, offset)``
    in the object's frame (origin on the floor, ``+z`` = back)."""
    rot = rot_y(yaw)
    base = np.array([xz[0], 0.0, xz[1]])
    return [Primitive(kind, size, rot, base + rot @ np.asarray(off), cls, tex)
            for kind, size, off in parts]


def _chair_parts(seat_h: float, half: float):
    leg_h = (seat_h - 0.03) / 2
    parts = [('box', (half, 0.03, half), (0.0, seat_h, 0.0)),
             ('box', (half, 0.22, 0.02), (0.0, seat_h + 0.25, half - 0.02))]
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(('cylinder', (0.018, leg_h),
                          (sx * (half - 0.03), leg_h, sz * (half - 0.03))))
    return parts


def _sofa_parts(w: float, d: float, seat_h: float):
    return [('box', (w / 2, seat_h / 2, d / 2), (0.0, seat_h / 2, 0.0)),
            ('box', (w / 2, 0.22, 0.1), (0.0, seat_h + 0.22, d / 2 - 0.1)),
            ('box', (0.09, 0.12, d / 2), (-w / 2 + 0.09, seat_h + 0.12, 0.0)),
            ('box', (0.09, 0.12, d / 2), (w / 2 - 0.09, seat_h + 0.12, 0.0))]


def _wall_slot(rng: np.random.Generator,
               room_half: Tuple[float, float, float], width: float,
               height: float, y_centre: float,
               thickness: float) -> Tuple[np.ndarray, np.ndarray]:
    """Pose of a thin panel (picture, window) hung on a random wall."""
    hx, _, hz = room_half
    side = int(rng.integers(4))
    if side < 2:
        along = rng.uniform(-hx + width / 2 + 0.1, hx - width / 2 - 0.1)
        z = (hz - thickness) * (1 if side == 0 else -1)
        return np.array([along, y_centre, z]), rot_y(0.0)
    along = rng.uniform(-hz + width / 2 + 0.1, hz - width / 2 - 0.1)
    x = (hx - thickness) * (1 if side == 2 else -1)
    return np.array([x, y_centre, along]), rot_y(np.pi / 2)


def _clear_of_camera(cam_xz: np.ndarray, xz: np.ndarray,
                     radius: float) -> bool:
    return float(np.linalg.norm(cam_xz - xz)) > radius + 0.35


def sample_scene(rng: np.random.Generator, height: int = 240,
                 width: int = 320) -> Scene:
    """Draw a random furnished room and a camera inside it.

    Args:
        rng: the only source of randomness (one generator per image).
        height, width: image size; the focal length scales with the width
            like NYUv2's Kinect (518.86 px at 640 px).

    Returns:
        Scene: room, primitives (room first), camera, light and sensor model.
    """
    hx = rng.uniform(1.5, 3.2)
    hz = rng.uniform(1.7, 3.5)
    room_h = rng.uniform(2.4, 3.0)
    room_half = (hx, room_h / 2, hz)

    # camera: inside the room, eye height, looking slightly down
    cam_xz = np.array([rng.uniform(-hx + 0.5, hx - 0.5),
                       rng.uniform(-hz + 0.5, hz - 0.5)])
    cam_pos = np.array([cam_xz[0], rng.uniform(1.0, 1.7), cam_xz[1]])
    # look at a random point of the room at least 1.5 m away (or anywhere)
    yaw = rng.uniform(0, 2 * np.pi)
    for _ in range(8):
        target = np.array([rng.uniform(-hx, hx), rng.uniform(-hz, hz)])
        delta = target - cam_xz
        if np.hypot(*delta) > 1.5:
            yaw = float(np.arctan2(-delta[0], -delta[1]))
            break
    pitch = np.deg2rad(rng.uniform(-30, 8))
    roll = np.deg2rad(rng.uniform(-4, 4))
    rotation = rot_y(yaw) @ rot_x(pitch) @ rot_z(roll)
    focal = NYU_FOCAL_640 * width / 640.0
    camera = Camera(width=width, height=height, fx=focal, fy=focal,
                    cx=width / 2.0, cy=height / 2.0, rotation=rotation,
                    position=cam_pos)

    prims: List[Primitive] = []
    floor_kind = 'planks' if rng.random() < 0.6 else 'tiles'
    prims.append(
        Primitive('room', room_half, np.eye(3), np.array([0., room_h / 2, 0.]),
                  WALL,
                  dict(wall=_pastel(rng, 0.6, 0.9), floor=floor_kind,
                       floor_rgb=rng.uniform([0.45, 0.3, 0.15],
                                             [0.7, 0.5, 0.3]),
                       ceiling=rng.uniform(0.85, 0.95),
                       phase=rng.uniform(0, 2 * np.pi),
                       stripe=rng.uniform(0.15, 0.4), seed=rng.random())))

    hosts: List[Tuple[np.ndarray, float, float, float]] = []  # xz, top, w, d

    def add_furniture(cls: int, w: float, d: float, h: float,
                      tex: Dict[str, object]) -> None:
        for _ in range(4):
            xz, yaw_o = _against_wall(rng, room_half, w, d)
            yaw_o += np.deg2rad(rng.uniform(-4, 4))
            if _clear_of_camera(cam_xz, xz, np.hypot(w, d) / 2):
                prims.append(
                    Primitive('box', (w / 2, h / 2, d / 2), rot_y(yaw_o),
                              np.array([xz[0], h / 2, xz[1]]), cls, tex))
                hosts.append((xz, h, w, d))
                return

    if rng.random() < 0.5:  # bed
        add_furniture(BED, rng.uniform(1.4, 2.0), rng.uniform(1.9, 2.1),
                      rng.uniform(0.45, 0.6),
                      dict(rgb=_pastel(rng, 0.35, 0.9), check=rng.uniform(
                          0.08, 0.15)))
    for _ in range(int(rng.integers(1, 4))):  # cabinets
        add_furniture(CABINET, rng.uniform(0.5, 1.2), rng.uniform(0.4, 0.6),
                      rng.uniform(0.8, 2.0),
                      dict(rgb=rng.uniform([0.35, 0.2, 0.1], [0.6, 0.4, 0.25]),
                           grain=rng.uniform(25, 45)))

    if rng.random() < 0.4:  # sofa
        w, d, sh = rng.uniform(1.5, 2.2), rng.uniform(0.8, 0.95), 0.42
        for _ in range(4):
            xz, yaw_s = _against_wall(rng, room_half, w, d)
            if _clear_of_camera(cam_xz, xz, np.hypot(w, d) / 2):
                prims.extend(_parts(_sofa_parts(w, d, sh), xz, yaw_s, SOFA,
                                    dict(rgb=_pastel(rng, 0.15, 0.7),
                                         ribs=rng.uniform(60, 120))))
                break

    def add_chair(xz: np.ndarray, yaw_c: float) -> None:
        if _clear_of_camera(cam_xz, xz, 0.35):
            prims.extend(_parts(_chair_parts(0.45, 0.22), xz, yaw_c, CHAIR,
                                chair_tex))

    chair_tex = dict(rgb=_pastel(rng, 0.1, 0.9), grain=rng.uniform(60, 90))
    if rng.random() < 0.7:  # table: a slab on four cylinder legs
        for _ in range(4):
            w, d = rng.uniform(0.8, 1.6), rng.uniform(0.6, 0.9)
            top = rng.uniform(0.72, 0.78)
            xz = np.array([rng.uniform(-hx + 0.6, hx - 0.6),
                           rng.uniform(-hz + 0.6, hz - 0.6)])
            if not _clear_of_camera(cam_xz, xz, np.hypot(w, d) / 2):
                continue
            yaw_t = rng.uniform(0, np.pi)
            r_t = rot_y(yaw_t)
            tex = dict(rgb=rng.uniform([0.2, 0.1, 0.05], [0.4, 0.25, 0.15]),
                       grain=rng.uniform(30, 60))
            prims.append(
                Primitive('box', (w / 2, 0.02, d / 2), r_t,
                          np.array([xz[0], top - 0.02, xz[1]]), TABLE, tex))
            for sx in (-1, 1):
                for sz in (-1, 1):
                    leg = r_t @ np.array([sx * (w / 2 - 0.06), 0.,
                                          sz * (d / 2 - 0.06)])
                    prims.append(
                        Primitive('cylinder', (0.025, (top - 0.04) / 2),
                                  np.eye(3),
                                  np.array([xz[0] + leg[0], (top - 0.04) / 2,
                                            xz[1] + leg[2]]), TABLE, tex))
            hosts.append((xz, top, w * 0.8, d * 0.8))
            for side in range(4):  # chairs around the table, backs outwards
                if rng.random() < 0.5:
                    continue
                if side < 2:
                    off = np.array([0., (d / 2 + 0.2) * (1 - 2 * side)])
                else:
                    off = np.array([(w / 2 + 0.2) * (1 - 2 * (side - 2)), 0.])
                yaw_c = yaw_t + (0.0, np.pi, np.pi / 2, -np.pi / 2)[side]
                world = r_t @ np.array([off[0], 0., off[1]])
                add_chair(xz + world[[0, 2]], yaw_c)
            break
    for _ in range(int(rng.integers(0, 2))):  # a chair against a wall
        xz, yaw_c = _against_wall(rng, room_half, 0.5, 0.5)
        add_chair(xz, yaw_c + np.deg2rad(rng.uniform(-20, 20)))

    for _ in range(int(rng.integers(0, 3))):  # floor lamps
        xz = np.array([rng.uniform(-hx + 0.3, hx - 0.3),
                       rng.uniform(-hz + 0.3, hz - 0.3)])
        if not _clear_of_camera(cam_xz, xz, 0.5):
            continue
        pole = rng.uniform(1.2, 1.6)
        shade_r, shade_h = rng.uniform(0.14, 0.22), rng.uniform(0.25, 0.35)
        tex = dict(rgb=rng.uniform([0.8, 0.7, 0.4], [1.0, 0.9, 0.6]),
                   rings=rng.uniform(15, 30))
        prims.append(
            Primitive('cylinder', (0.02, pole / 2), np.eye(3),
                      np.array([xz[0], pole / 2, xz[1]]), LAMP, tex))
        prims.append(
            Primitive('cylinder', (shade_r, shade_h / 2), np.eye(3),
                      np.array([xz[0], pole + shade_h / 2 - 0.05, xz[1]]),
                      LAMP, tex))

    def place_prop(radius: float) -> Optional[np.ndarray]:
        """Floor or host-top position of a small prop (None if no room)."""
        if hosts and rng.random() < 0.5:
            xz, top, w, d = hosts[int(rng.integers(len(hosts)))]
            off = rng.uniform(-0.3, 0.3, size=2) * np.array([w, d])
            return np.array([xz[0] + off[0], top, xz[1] + off[1]])
        for _ in range(4):
            xz = np.array([rng.uniform(-hx + 0.3, hx - 0.3),
                           rng.uniform(-hz + 0.3, hz - 0.3)])
            if _clear_of_camera(cam_xz, xz, radius):
                return np.array([xz[0], 0.0, xz[1]])
        return None

    for _ in range(int(rng.integers(1, 4))):  # balls (otherprop)
        r = rng.uniform(0.08, 0.3)
        base = place_prop(r)
        if base is not None:
            prims.append(
                Primitive('sphere', (r, ), rot_y(rng.uniform(0, 2 * np.pi)),
                          base + np.array([0., r, 0.]), OTHERPROP,
                          dict(rgb=rng.uniform(0.2, 1.0, size=3),
                               rgb2=rng.uniform(0.2, 1.0, size=3),
                               sectors=int(rng.integers(4, 9)))))
    for _ in range(int(rng.integers(1, 4))):  # cardboard boxes
        a = rng.uniform(0.1, 0.3, size=3)
        base = place_prop(float(np.hypot(a[0], a[2])))
        if base is not None:
            prims.append(
                Primitive('box', tuple(a), rot_y(rng.uniform(0, np.pi)),
                          base + np.array([0., a[1], 0.]), BOX,
                          dict(rgb=rng.uniform([0.55, 0.4, 0.22],
                                               [0.75, 0.55, 0.35]),
                               tape=rng.uniform(0.02, 0.04))))
    for _ in range(int(rng.integers(0, 3))):  # pictures
        w, h = rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.7)
        centre, rot = _wall_slot(rng, room_half, w, h, rng.uniform(1.3, 1.8),
                                 0.015)
        prims.append(
            Primitive('box', (w / 2, h / 2, 0.015), rot, centre, PICTURE,
                      dict(rgb=rng.uniform(0.1, 1.0, size=(3, 3)),
                           freq=rng.uniform(4, 12, size=2),
                           phase=rng.uniform(0, 2 * np.pi, size=2))))
    if rng.random() < 0.6:  # window: bright, and no depth (glass)
        w, h = rng.uniform(0.8, 1.6), rng.uniform(0.8, 1.3)
        centre, rot = _wall_slot(rng, room_half, w, h,
                                 rng.uniform(1.3, 1.7), 0.01)
        prims.append(
            Primitive('box', (w / 2, h / 2, 0.01), rot, centre, WINDOW,
                      dict(rgb=rng.uniform([0.7, 0.8, 0.9], [0.85, 0.9, 1.0]),
                           frame=rng.uniform(0.03, 0.06))))

    el = np.deg2rad(rng.uniform(35, 75))
    az = rng.uniform(0, 2 * np.pi)
    light = np.array([np.cos(el) * np.cos(az), np.sin(el),
                      np.cos(el) * np.sin(az)])

    def ellipses(n: int, rmin: float,
                 rmax: float) -> List[Tuple[float, float, float, float]]:
        return [(float(rng.uniform(0, width)), float(rng.uniform(0, height)),
                 float(rng.uniform(rmin, rmax) * width / 320),
                 float(rng.uniform(rmin, rmax) * width / 320))
                for _ in range(n)]

    sensor = SensorModel(
        seed=int(rng.integers(2**31)),
        max_range=float(rng.uniform(5.5, 7.5)),
        holes=ellipses(int(rng.integers(0, 4)), 3, 18),
        unlabeled_blobs=ellipses(int(rng.integers(0, 3)), 4, 16),
        edge_dropout=float(rng.uniform(0.2, 0.6)),
        boundary_unlabeled=float(rng.uniform(0.0, 0.8)),
        rgb_noise=float(rng.uniform(0.005, 0.015)))
    return Scene(room_half=room_half, primitives=prims, camera=camera,
                 light_dir=light, ambient=float(rng.uniform(0.2, 0.3)),
                 key=float(rng.uniform(0.45, 0.6)),
                 head=float(rng.uniform(0.2, 0.3)), sensor=sensor)
