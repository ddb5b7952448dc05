"""Surface normals from a depth map (pinhole camera, camera frame).

Two estimators, both vectorised in numpy and both with a depth-discontinuity
threshold so that a normal is never fitted across an occlusion edge:

``'plane_fit'`` (local least squares)
    Every pixel's neighbours inside a ``window x window`` square (sampled
    every ``stride`` pixels) are back-projected; those whose depth differs
    from the centre's by at most ``max_rel_jump x`` the centre's depth are
    kept, and the normal is the direction of least variance of the kept
    points (the total-least-squares plane, the smallest eigenvector of their
    3x3 covariance). Needs at least ``min_points`` kept points that do not
    lie on a line.

``'cross'`` (cross product of neighbour differences)
    The tangents ``P(u + s) - P(u - s)`` along the row and along the column
    (``s = step``; one-sided where one neighbour is missing or across a
    jump larger than ``max_rel_jump x`` depth) and their cross product;
    optionally averaged over a ``smooth x smooth`` square of valid normals
    and renormalised.

The threshold compares every neighbour with the centre, whatever its
distance: on surfaces seen at grazing angles (far floors) depth changes by
more than the threshold over a wide window or step, and those pixels get
fewer neighbours or no normal; the benchmark's ``coverage`` measures it.

The normals follow the project's convention (:mod:`mtlnas_mm.structures.
normal_space`): unit vectors in the camera frame with ``x`` right, ``y`` up
and ``z`` towards the viewer, oriented to face the camera; an invalid pixel
is the zero vector. Pixel ``(u, v)`` (0-based column, row) back-projects to
``((u + o - cx) d / fx, -(v + o - cy) d / fy, -d)`` for depth ``d`` along the
optical axis, where ``o`` is :attr:`Intrinsics.pixel_offset` (1 for the
1-based pixel coordinates of the NYU toolbox, 0.5 for pixel centres).

Which method and parameters to use is measured, not assumed:
``tools/analysis_tools/normals_from_depth_benchmark.py`` runs them on
rendered scenes with exact normals and Kinect-like depth noise.
"""
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from mtlnas_mm.structures.choices import check_choice

#: The estimators of :func:`normals_from_depth`.
NORMAL_METHODS = ('plane_fit', 'cross')


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of the camera a depth map is registered to.

    Attributes:
        fx, fy: focal lengths in pixels.
        cx, cy: principal point in pixels.
        pixel_offset: added to the 0-based pixel index before ``cx``/``cy``
            are subtracted: 1.0 for parameters calibrated in 1-based
            (MATLAB) pixel coordinates, 0.5 for pixel centres.
    """
    fx: float
    fy: float
    cx: float
    cy: float
    pixel_offset: float = 0.0

    def as_dict(self) -> Dict[str, float]:
        """The fields as a JSON-ready dict."""
        return asdict(self)


#: The RGB camera of the NYU Depth v2 Kinect, to which the labeled release's
#: depth maps are registered: ``camera_params.m`` of the NYU Depth v2
#: toolbox (Silberman et al., ECCV 2012), calibrated in MATLAB's 1-based
#: pixel coordinates.
NYU_RGB_INTRINSICS = Intrinsics(
    fx=5.1885790117450188e+02,
    fy=5.1946961112127485e+02,
    cx=3.2558244941119034e+02,
    cy=2.5373616633400465e+02,
    pixel_offset=1.0)

#: Defaults of each method's parameters: the best of each method in
#: ``tools/analysis_tools/normals_from_depth_benchmark.py`` (Kinect-like
#: noise at 480x640; docs/preparing_nyuv2.md has the table).
DEFAULT_PARAMS: Dict[str, Dict[str, float]] = {
    'plane_fit': dict(window=41, stride=5, max_rel_jump=0.05, min_points=6),
    'cross': dict(step=8, smooth=15, max_rel_jump=0.05),
}


def backproject(depth: np.ndarray,
                intrinsics: Intrinsics) -> Tuple[np.ndarray, ...]:
    """Camera-frame coordinates ``(X, Y, Z)`` (each HxW float32) of every
    pixel of ``depth`` (metres along the optical axis); see the module
    docstring for the frame."""
    h, w = depth.shape
    d = depth.astype(np.float32)
    xs = ((np.arange(w, dtype=np.float64) + intrinsics.pixel_offset -
           intrinsics.cx) / intrinsics.fx).astype(np.float32)
    ys = (-(np.arange(h, dtype=np.float64) + intrinsics.pixel_offset -
            intrinsics.cy) / intrinsics.fy).astype(np.float32)
    return xs[None, :] * d, ys[:, None] * d, -d


def _face_camera(normal: np.ndarray, points: Tuple[np.ndarray, ...]) -> None:
    """Flip (in place) normals that point away from the camera: the camera
    sees ``P`` along ``P`` itself, so a facing normal has ``n . P < 0``."""
    dot = (normal[..., 0] * points[0] + normal[..., 1] * points[1] +
           normal[..., 2] * points[2])
    normal[dot > 0] *= -1


def _check_inputs(
        depth: np.ndarray,
        valid: Optional[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f'depth must be HxW, got shape {depth.shape}')
    if not np.issubdtype(depth.dtype, np.floating):
        raise TypeError(f'depth must be floating point metres, got '
                        f'{depth.dtype}')
    finite = np.isfinite(depth) & (depth > 0)
    if valid is None:
        valid = finite
    else:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != depth.shape:
            raise ValueError(f'valid mask shape {valid.shape} differs from '
                             f'depth shape {depth.shape}')
        valid = valid & finite
    return np.where(valid, depth, 0).astype(np.float32), valid


def _shifted(a: np.ndarray, pad: int, dy: int, dx: int) -> np.ndarray:
    """The HxW view of the padded array ``a`` shifted by ``(dy, dx)``."""
    h, w = a.shape[0] - 2 * pad, a.shape[1] - 2 * pad
    return a[pad + dy:pad + dy + h, pad + dx:pad + dx + w]


def _smallest_eigenvector(c00: np.ndarray, c01: np.ndarray, c02: np.ndarray,
                          c11: np.ndarray, c12: np.ndarray,
                          c22: np.ndarray) -> np.ndarray:
    """Unit eigenvector (Nx3) of the smallest eigenvalue of N symmetric 3x3
    matrices given by their six distinct entries; zero where the plane is
    undetermined (points on a line or a single point).

    Closed form (trigonometric eigenvalues, then the longest cross product
    of two rows of ``C - lambda_min I``): measured 2.7x faster than batched
    ``np.linalg.eigh`` on 480x640 pixels, the same vectors to 2e-6 degrees
    on near-planar neighbourhoods.
    """
    q = (c00 + c11 + c22) / 3
    p1 = c01 * c01 + c02 * c02 + c12 * c12
    p2 = (c00 - q)**2 + (c11 - q)**2 + (c22 - q)**2 + 2 * p1
    p = np.sqrt(p2 / 6)
    safe = np.where(p > 0, p, 1.0)
    b00, b11, b22 = (c00 - q) / safe, (c11 - q) / safe, (c22 - q) / safe
    b01, b02, b12 = c01 / safe, c02 / safe, c12 / safe
    det = (b00 * (b11 * b22 - b12 * b12) - b01 * (b01 * b22 - b12 * b02) +
           b02 * (b01 * b12 - b11 * b02))
    phi = np.arccos(np.clip(det / 2, -1, 1)) / 3
    largest = q + 2 * p * np.cos(phi)
    smallest = q + 2 * p * np.cos(phi + 2 * np.pi / 3)
    middle = 3 * q - largest - smallest
    a00, a11, a22 = c00 - smallest, c11 - smallest, c22 - smallest
    # cross products of the rows (a00 c01 c02), (c01 a11 c12), (c02 c12 a22)
    x01 = (c01 * c12 - c02 * a11, c02 * c01 - a00 * c12, a00 * a11 - c01 * c01)
    x02 = (c01 * a22 - c02 * c12, c02 * c02 - a00 * a22, a00 * c12 - c01 * c02)
    x12 = (a11 * a22 - c12 * c12, c12 * c02 - c01 * a22, c01 * c12 - a11 * c02)
    n01, n02, n12 = (sum(c * c for c in x) for x in (x01, x02, x12))
    use02 = n02 > n01
    vec = [np.where(use02, b, a) for a, b in zip(x01, x02)]
    norm = np.where(use02, n02, n01)
    use12 = n12 > norm
    vec = np.stack([np.where(use12, b, a) for a, b in zip(vec, x12)], -1)
    norm = np.sqrt(np.where(use12, n12, norm))
    # a plane needs two directions of spread: middle eigenvalue > 0
    ok = (p > 0) & (middle > 1e-12 * np.maximum(largest, 1e-30)) & (norm > 0)
    return np.where(ok[:, None], vec / np.where(ok, norm, 1.0)[:, None], 0)


def plane_fit_normals(depth: np.ndarray,
                      intrinsics: Intrinsics,
                      valid: Optional[np.ndarray] = None,
                      window: int = 41,
                      stride: int = 5,
                      max_rel_jump: float = 0.05,
                      min_points: int = 6) -> np.ndarray:
    """Normals by a total-least-squares plane fit over a window.

    Args:
        depth: HxW depth in metres along the optical axis (0 / NaN =
            missing).
        intrinsics: the camera.
        valid: optional HxW mask of usable depth (ANDed with ``depth > 0``).
        window: side of the square neighbourhood in pixels (odd).
        stride: sample every ``stride``-th pixel of the window (a wide
            window at the cost of a small one).
        max_rel_jump: a neighbour is used only if its depth is within this
            fraction of the centre's depth (depth-discontinuity threshold).
        min_points: fewest kept points (centre included) for a normal.

    Returns:
        np.ndarray: HxWx3 float32 unit normals, zero where no normal was
        fitted (invalid centre, too few points, or points on a line).
    """
    if window < 3 or window % 2 == 0:
        raise ValueError(f'window must be an odd number >= 3, got {window}')
    if stride < 1 or (window - 1) % (2 * stride):
        raise ValueError(f'plane_fit: window {window} with stride {stride} '
                         'does not sample a symmetric window: window - 1 '
                         'must be a multiple of 2 * stride (e.g. window 9 '
                         'stride 1 or 2, window 41 stride 5)')
    if min_points < 3:
        raise ValueError(f'min_points must be >= 3, got {min_points}')
    depth, valid = _check_inputs(depth, valid)
    h, w = depth.shape
    pts = backproject(depth, intrinsics)
    r = window // 2
    padded = [np.pad(p, r) for p in pts]
    dpad = np.pad(depth, r)
    vpad = np.pad(valid, r)
    tol = np.float32(max_rel_jump) * depth
    # sums of the kept neighbours' offsets from the centre point (float32
    # is ample for offsets of a few centimetres) and of their products
    count = np.zeros((h, w), np.float32)
    s1 = [np.zeros((h, w), np.float32) for _ in range(3)]
    s2 = [np.zeros((h, w), np.float32) for _ in range(6)]
    pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
    offsets = range(-r, r + 1, stride)
    for dy in offsets:
        for dx in offsets:
            keep = (_shifted(vpad, r, dy, dx) & valid &
                    (np.abs(_shifted(dpad, r, dy, dx) - depth) <= tol))
            wgt = keep.astype(np.float32)
            count += wgt
            diff = [(_shifted(p, r, dy, dx) - c) * wgt
                    for p, c in zip(padded, pts)]
            for k in range(3):
                s1[k] += diff[k]
            for k, (i, j) in enumerate(pairs):
                s2[k] += diff[i] * diff[j]
    ok = valid & (count >= min_points)
    n = count[ok].astype(np.float64)
    mean = [s[ok] / n for s in s1]
    cov = [s2[k][ok] / n - mean[i] * mean[j] for k, (i, j) in enumerate(pairs)]
    normal = np.zeros((h, w, 3), np.float32)
    normal[ok] = _smallest_eigenvector(*cov).astype(np.float32)
    _face_camera(normal, pts)
    return normal


def _tangent(pts: Tuple[np.ndarray, ...], depth: np.ndarray,
             valid: np.ndarray, step: int, axis: int,
             max_rel_jump: float) -> Tuple[np.ndarray, np.ndarray]:
    """Difference vector along ``axis`` (1 = row direction, 0 = column)
    with ``step``: central where both neighbours are usable, one-sided
    where only one is; returns ``(HxWx3 vector, HxW ok)``."""
    pad = step
    dy, dx = (step, 0) if axis == 0 else (0, step)
    dpad = np.pad(depth, pad)
    vpad = np.pad(valid, pad)
    ppad = [np.pad(p, pad) for p in pts]
    tol = np.float32(max_rel_jump) * depth

    def usable(sy: int, sx: int) -> np.ndarray:
        return (_shifted(vpad, pad, sy, sx) & valid &
                (np.abs(_shifted(dpad, pad, sy, sx) - depth) <= tol))

    fwd, bwd = usable(dy, dx), usable(-dy, -dx)
    p_fwd = np.stack([_shifted(p, pad, dy, dx) for p in ppad], -1)
    p_bwd = np.stack([_shifted(p, pad, -dy, -dx) for p in ppad], -1)
    centre = np.stack(pts, -1)
    hi = np.where(fwd[..., None], p_fwd, centre)
    lo = np.where(bwd[..., None], p_bwd, centre)
    return hi - lo, fwd | bwd


def cross_normals(depth: np.ndarray,
                  intrinsics: Intrinsics,
                  valid: Optional[np.ndarray] = None,
                  step: int = 8,
                  smooth: int = 15,
                  max_rel_jump: float = 0.05) -> np.ndarray:
    """Normals as the cross product of row and column differences.

    Args:
        depth, intrinsics, valid: as :func:`plane_fit_normals`.
        step: distance in pixels of the neighbours differenced.
        smooth: side of the square over which the valid normals are
            averaged and renormalised (1 = no smoothing).
        max_rel_jump: depth-discontinuity threshold, as
            :func:`plane_fit_normals`.

    Returns:
        np.ndarray: HxWx3 float32 unit normals, zero where invalid.
    """
    if step < 1:
        raise ValueError(f'step must be >= 1, got {step}')
    if smooth < 1 or smooth % 2 == 0:
        raise ValueError(f'smooth must be an odd number >= 1, got {smooth}')
    depth, valid = _check_inputs(depth, valid)
    pts = backproject(depth, intrinsics)
    t_row, ok_row = _tangent(pts, depth, valid, step, 1, max_rel_jump)
    t_col, ok_col = _tangent(pts, depth, valid, step, 0, max_rel_jump)
    normal = np.cross(t_row, t_col).astype(np.float32)
    norm = np.linalg.norm(normal, axis=-1)
    ok = ok_row & ok_col & (norm > 0)
    normal = np.where(ok[..., None],
                      normal / np.maximum(norm, 1e-30)[..., None],
                      0).astype(np.float32)
    _face_camera(normal, pts)
    if smooth > 1:
        summed = cv2.boxFilter(normal, -1, (smooth, smooth), normalize=False,
                               borderType=cv2.BORDER_CONSTANT)
        norm = np.linalg.norm(summed, axis=-1)
        ok = ok & (norm > 1e-6)
        normal = np.where(ok[..., None],
                          summed / np.maximum(norm, 1e-30)[..., None],
                          0).astype(np.float32)
    return normal


def normals_from_depth(depth: np.ndarray,
                       intrinsics: Intrinsics,
                       method: str = 'cross',
                       valid: Optional[np.ndarray] = None,
                       **params) -> np.ndarray:
    """Surface normals of a depth map with one of :data:`NORMAL_METHODS`.

    ``params`` are the method's keyword arguments (see
    :func:`plane_fit_normals`, :func:`cross_normals`); missing ones take
    :data:`DEFAULT_PARAMS`. Returns HxWx3 float32 unit normals, zero where
    invalid.
    """
    check_choice(method, NORMAL_METHODS, 'normals_from_depth: method')
    unknown = set(params) - set(DEFAULT_PARAMS[method])
    if unknown:
        raise TypeError(f'normals_from_depth: unknown parameters '
                        f'{sorted(unknown)} for method {method!r} (known: '
                        f'{sorted(DEFAULT_PARAMS[method])})')
    kwargs = dict(DEFAULT_PARAMS[method], **params)
    fn = plane_fit_normals if method == 'plane_fit' else cross_normals
    return fn(depth, intrinsics, valid=valid, **kwargs)


def angle_errors(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-pixel angle in degrees between two HxWx3 (or Nx3) unit normal
    arrays."""
    dot = np.clip(np.sum(pred.astype(np.float64) * target, axis=-1), -1, 1)
    return np.degrees(np.arccos(dot))


# ------------------------------------------------------------- measurement
#: Kinect v1 IR focal length x baseline (580 px x 0.075 m, Khoshelham and
#: Oude Elberink, Sensors 2012): depth is triangulated from disparity
#: ``KINECT_FOCAL_BASELINE / z``.
KINECT_FOCAL_BASELINE = 580.0 * 0.075
#: The Kinect's disparity resolution in pixels (1/8 px sub-pixel steps).
KINECT_DISPARITY_STEP = 1.0 / 8.0


@dataclass(frozen=True)
class KinectNoise:
    """A Kinect-like depth sensor model for :func:`simulate_kinect_depth`.

    Attributes:
        sigma_z2: axial noise standard deviation per squared metre
            (``sigma = sigma_z2 * z**2``; 1.4e-3 matches the ~1.5 cm at 3 m
            reported for the Kinect v1).
        disparity_step: disparity quantisation in pixels (0 = none); the
            depth step is ``z**2 * step / focal_baseline`` (2.6 cm at 3 m).
        focal_baseline: focal length (px) x baseline (m).
        edge_band: pixels within this distance of a depth discontinuity
            (a relative jump above ``edge_jump``) may be lost ...
        edge_dropout: ... each with this probability (IR shadows).
        edge_jump: relative depth jump that counts as a discontinuity.
        dropout: probability that any pixel is lost (speckle).
        holes: number of random elliptical holes (specular or dark
            surfaces), radii ``hole_radius`` (fraction of the width).
        hole_radius: ``(min, max)`` hole radius as a fraction of the width.
    """
    sigma_z2: float = 1.4e-3
    disparity_step: float = KINECT_DISPARITY_STEP
    focal_baseline: float = KINECT_FOCAL_BASELINE
    edge_band: int = 2
    edge_dropout: float = 0.5
    edge_jump: float = 0.05
    dropout: float = 0.01
    holes: int = 2
    hole_radius: Tuple[float, float] = (0.01, 0.04)

    def as_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in asdict(self).items()}


def simulate_kinect_depth(depth: np.ndarray, rng: np.random.Generator,
                          noise: KinectNoise = KinectNoise()) -> np.ndarray:
    """Degrade an exact depth map (metres, 0 = invalid) like a Kinect:
    depth-dependent Gaussian noise, disparity quantisation, lost pixels at
    depth edges, random dropouts and holes. Returns float32 metres, 0 =
    missing."""
    depth = np.asarray(depth, dtype=np.float64)
    h, w = depth.shape
    valid = depth > 0
    z = depth + rng.standard_normal((h, w)) * noise.sigma_z2 * depth**2
    if noise.disparity_step > 0:
        disp = noise.focal_baseline / np.where(valid, z, 1.0)
        disp = np.maximum(np.round(disp / noise.disparity_step), 1) * \
            noise.disparity_step
        z = noise.focal_baseline / disp
    lost = rng.random((h, w)) < noise.dropout
    if noise.edge_band > 0 and noise.edge_dropout > 0:
        edge = np.zeros((h, w), np.uint8)
        ref = np.where(valid, depth, 0)
        jump_h = np.abs(ref[:, 1:] - ref[:, :-1]) > noise.edge_jump * \
            np.minimum(ref[:, 1:], ref[:, :-1])
        jump_v = np.abs(ref[1:] - ref[:-1]) > noise.edge_jump * \
            np.minimum(ref[1:], ref[:-1])
        edge[:, 1:] |= jump_h
        edge[:, :-1] |= jump_h
        edge[1:] |= jump_v
        edge[:-1] |= jump_v
        size = 2 * noise.edge_band - 1
        edge = cv2.dilate(edge, np.ones((size, size), np.uint8)) > 0
        lost |= edge & (rng.random((h, w)) < noise.edge_dropout)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(noise.holes):
        r = rng.uniform(*noise.hole_radius) * w
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        rx = r * rng.uniform(0.5, 2)
        lost |= ((yy - cy) / r)**2 + ((xx - cx) / rx)**2 <= 1
    return np.where(valid & ~lost, z, 0).astype(np.float32)


def error_stats(errors: np.ndarray, candidates: int) -> Dict[str, float]:
    """Statistics of per-pixel angle errors (degrees).

    Args:
        errors: the errors of the pixels that got a normal.
        candidates: the pixels that should have got one (for
            ``coverage``).

    Returns:
        dict: ``mean``, ``median`` (degrees), ``within_11.25``,
        ``within_22.5``, ``within_30`` (% of evaluated pixels),
        ``coverage`` (% of candidates with a normal) and ``pixels``.
    """
    errors = np.asarray(errors, dtype=np.float64)
    if errors.size == 0:
        nan = float('nan')
        return {'mean': nan, 'median': nan, 'within_11.25': nan,
                'within_22.5': nan, 'within_30': nan, 'coverage': 0.0,
                'pixels': 0}
    return {
        'mean': float(errors.mean()),
        'median': float(np.median(errors)),
        'within_11.25': float((errors < 11.25).mean() * 100),
        'within_22.5': float((errors < 22.5).mean() * 100),
        'within_30': float((errors < 30).mean() * 100),
        'coverage': float(errors.size / max(candidates, 1) * 100),
        'pixels': int(errors.size),
    }


def benchmark_normal_methods(
        scenes: Sequence[Tuple[np.ndarray, np.ndarray, Intrinsics]],
        configs: Sequence[Tuple[str, Dict[str, float]]],
        noise: Optional[KinectNoise] = KinectNoise(),
        seed: int = 0,
        log: Optional[Callable[[str], None]] = None) -> List[dict]:
    """Angle errors of normal estimators against exact normals.

    Args:
        scenes: ``(exact depth, exact normals, intrinsics)`` per scene
            (depth 0 / normal 0 = invalid).
        configs: ``(method, params)`` pairs to evaluate.
        noise: the sensor model applied to the exact depth (None: the
            exact depth is used). Scene ``i`` is degraded with the
            generator ``default_rng([seed, i])`` (the same noisy depth for
            every config).
        seed: seed of the noise.
        log: called with a line per config.

    Returns:
        list: per config, ``method``, ``params``, ``seconds_per_image``
        and the pooled :func:`error_stats` over the scenes' pixels whose
        exact normal and (noisy) depth are valid.
    """
    inputs = []
    for i, (depth, normal, intr) in enumerate(scenes):
        if noise is not None:
            depth = simulate_kinect_depth(depth,
                                          np.random.default_rng([seed, i]),
                                          noise)
        mask = (depth > 0) & np.any(normal != 0, axis=-1)
        inputs.append((depth, normal, intr, mask))
    results = []
    for method, params in configs:
        errors, candidates, seconds = [], 0, 0.0
        for depth, normal, intr, mask in inputs:
            start = time.perf_counter()
            pred = normals_from_depth(depth, intr, method, **params)
            seconds += time.perf_counter() - start
            have = mask & np.any(pred != 0, axis=-1)
            errors.append(angle_errors(pred[have], normal[have]))
            candidates += int(mask.sum())
        row = dict(method=method, params=dict(params),
                   seconds_per_image=seconds / max(len(inputs), 1),
                   **error_stats(np.concatenate(errors), candidates))
        results.append(row)
        if log is not None:
            log(f'{method} {params}: mean {row["mean"]:.2f} median '
                f'{row["median"]:.2f} <11.25 {row["within_11.25"]:.1f}% '
                f'coverage {row["coverage"]:.1f}%')
    return results
