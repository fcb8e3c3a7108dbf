"""Coverage-path planning in a local metric frame (x east, y north, metres).

Pure geometry: shapely 2 polygons in, numpy polylines out; no lon/lat, no I/O.

The pipeline for one zone (:func:`plan_sweep`):

1. cut the keep-out areas (no-fly polygons buffered by ``clearance_m``) out of the zone;
2. for a candidate sweep angle, slice the free area into bands ``spacing_m`` wide; each
   connected piece of a band gets one lane along the band's centre spanning the piece's
   whole extent, so every point of the free area is within ``spacing_m / 2`` of a lane;
3. group lanes into boustrophedon cells (a lane joins the cell of the single lane it overlaps
   in the previous band), order the cells greedily and join everything with straight legs,
   or with :class:`TransitGraph` shortest paths where a straight leg would enter a keep-out
   area;
4. cost the result with :func:`flight_time_s` and keep the fastest angle (edge directions
   plus a coarse grid, refined around the best).

A zone whose free area is empty raises :class:`~dronepatrol.errors.PlanningError`
("nothing left to cover after removing no-fly areas"); the caller adds the zone's name.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from dronepatrol.errors import PlanningError

__all__ = [
    "Kinematics",
    "SweepPath",
    "TransitGraph",
    "covered_fraction",
    "flight_time_s",
    "lower_bound_s",
    "plan_sweep",
]

_QUAD_SEGS = 4  # buffer resolution of keep-out areas (polygon circumscribes the true buffer)
_CORE_TOL_M = 1e-4  # a leg touching a keep-out boundary within this is not "inside"
_MIN_LEG_M = 1e-9


# --------------------------------------------------------------------------- validation


def _finite(value: object, name: str, *, positive: bool = False, nonneg: bool = False) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise PlanningError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise PlanningError(f"{name} must be finite, got {value!r}; give a real number")
    if positive and x <= 0:
        raise PlanningError(f"{name} must be > 0, got {x!r}")
    if nonneg and x < 0:
        raise PlanningError(f"{name} must be >= 0, got {x!r}")
    return x


def _point(value: object, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise PlanningError(f"{name} must be an (x, y) pair in metres, got {value!r}") from None
    if arr.shape != (2,) or not np.all(np.isfinite(arr)):
        raise PlanningError(f"{name} must be a finite (x, y) pair in metres, got {value!r}")
    return arr


def _path(value: object, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise PlanningError(f"{name} must be an (N, 2) array of metres") from None
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise PlanningError(f"{name} must have shape (N, 2), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise PlanningError(f"{name} contains NaN or infinite coordinates; remove them")
    return arr


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Only the polygonal parts of ``geom`` (after make_valid), as one geometry."""
    if geom.is_empty:
        return Polygon()
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, (Polygon, MultiPolygon))]
    return shapely.union_all(parts) if parts else Polygon()


def _area_arg(area: object, name: str = "area") -> BaseGeometry:
    if not isinstance(area, (Polygon, MultiPolygon)):
        raise PlanningError(
            f"{name} must be a shapely Polygon or MultiPolygon in metres, got {type(area).__name__}"
        )
    if area.is_empty:
        raise PlanningError(f"{name} is empty; give a polygon with a positive area")
    if not np.all(np.isfinite(shapely.get_coordinates(area))):
        raise PlanningError(f"{name} has NaN or infinite coordinates")
    geom = _polygonal(area)
    if geom.is_empty or geom.area <= 0:
        raise PlanningError(f"{name} has no area (degenerate polygon); give a real polygon")
    return geom


# --------------------------------------------------------------------------- kinematics


@dataclass(frozen=True, kw_only=True)
class Kinematics:
    """Vehicle motion limits used to cost a path.

    >>> Kinematics(speed_mps=10.0).accel_mps2
    2.0
    """

    speed_mps: float = 8.0
    accel_mps2: float = 2.0
    turn_rate_dps: float = 90.0

    def __post_init__(self) -> None:
        for name in ("speed_mps", "accel_mps2", "turn_rate_dps"):
            value = getattr(self, name)
            try:
                _finite(value, f"Kinematics.{name}", positive=True)
            except PlanningError as exc:
                raise PlanningError(f"{exc}; it must be a finite number > 0") from None


def flight_time_s(path_xy: np.ndarray, kin: Kinematics) -> float:
    """Time to fly a polyline (N, 2) from rest to rest.

    Each leg has a trapezoidal (or triangular) speed profile with ``kin.accel_mps2``, capped at
    ``kin.speed_mps``. At a vertex turning by angle t the speed is limited to
    ``speed * (1 + cos t) / 2`` (straight through: no limit; 90 degrees: half speed; U-turn:
    full stop) and the turn adds ``t / turn_rate * (1 - cos t) / 2`` seconds (a U-turn costs
    a full stop plus 180 degrees of yaw). Repeated points are ignored.

    >>> kin = Kinematics(speed_mps=8.0, accel_mps2=2.0, turn_rate_dps=90.0)
    >>> flight_time_s(np.array([[0.0, 0.0], [100.0, 0.0]]), kin)  # 4 s up, 8.5 s cruise, 4 s down
    16.5
    >>> flight_time_s(np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 0.0]]), kin)  # + 2 s of yaw
    35.0
    """
    pts = _path(path_xy, "path_xy")
    if len(pts) < 2:
        return 0.0
    d = np.diff(pts, axis=0)
    length = np.hypot(d[:, 0], d[:, 1])
    keep = length > _MIN_LEG_M
    if not keep.any():
        return 0.0
    d, length = d[keep], length[keep]
    unit = d / length[:, None]
    cos_t = np.clip(np.einsum("ij,ij->i", unit[:-1], unit[1:]), -1.0, 1.0)
    v, a = float(kin.speed_mps), float(kin.accel_mps2)
    n = len(length)
    vlim = np.empty(n + 1)
    vlim[0] = vlim[-1] = 0.0
    vlim[1:-1] = v * (1.0 + cos_t) / 2.0
    # forward / backward passes: a vertex speed must be reachable from its neighbours
    lim = vlim.tolist()
    two_a_len = (2.0 * a * length).tolist()
    for i in range(1, n + 1):
        reach = math.sqrt(lim[i - 1] * lim[i - 1] + two_a_len[i - 1])
        if reach < lim[i]:
            lim[i] = reach
    for i in range(n - 1, -1, -1):
        reach = math.sqrt(lim[i + 1] * lim[i + 1] + two_a_len[i])
        if reach < lim[i]:
            lim[i] = reach
    vv = np.asarray(lim)
    u, w = vv[:-1], vv[1:]
    peak = np.sqrt((2.0 * a * length + u * u + w * w) / 2.0)
    triangular = (2.0 * peak - u - w) / a
    cruise_len = length - (2.0 * v * v - u * u - w * w) / (2.0 * a)
    trapezoid = (2.0 * v - u - w) / a + cruise_len / v
    legs = np.where(peak <= v, triangular, trapezoid)
    theta = np.arccos(cos_t)
    turns = theta / math.radians(kin.turn_rate_dps) * (1.0 - cos_t) / 2.0
    return float(legs.sum() + turns.sum())


def lower_bound_s(area: Polygon | MultiPolygon, spacing_m: float, kin: Kinematics) -> float:
    """The ideal coverage time ``area / spacing / speed`` (no turns, no overlap)."""
    geom = _area_arg(area)
    spacing = _finite(spacing_m, "spacing_m", positive=True)
    return float(geom.area / spacing / kin.speed_mps)


def covered_fraction(area: Polygon | MultiPolygon, path_xy: np.ndarray, spacing_m: float) -> float:
    """Fraction of ``area`` within ``spacing_m / 2`` of the polyline ``path_xy`` (exact buffers).

    >>> square = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)])
    >>> covered_fraction(square, np.array([[0.0, 5.0], [10.0, 5.0]]), 10.0)
    1.0
    """
    geom = _area_arg(area)
    spacing = _finite(spacing_m, "spacing_m", positive=True)
    pts = _path(path_xy, "path_xy")
    if len(pts) == 0:
        return 0.0
    if len(pts) == 1:
        swath = Point(pts[0]).buffer(spacing / 2.0, quad_segs=16)
    else:
        swath = _swath(pts, spacing / 2.0)
    return float(min(1.0, shapely.intersection(geom, swath).area / geom.area))


def _swath(pts: np.ndarray, radius: float) -> BaseGeometry:
    """Union of the legs buffered by ``radius`` (legs buffered one by one: fast and robust)."""
    d = np.diff(pts, axis=0)
    keep = np.hypot(d[:, 0], d[:, 1]) > _MIN_LEG_M
    if not keep.any():
        return Point(pts[0]).buffer(radius, quad_segs=16)
    segs = np.stack([pts[:-1][keep], pts[1:][keep]], axis=1)
    lines = shapely.linestrings(segs)
    return shapely.union_all(shapely.buffer(lines, radius, quad_segs=16))


# --------------------------------------------------------------------------- transit graph


class TransitGraph:
    """Shortest paths that avoid every no-fly polygon buffered by ``clearance_m``.

    A visibility graph over the convex vertices of the keep-out areas (only bitangent edges
    are kept), searched with A*. The keep-out buffer circumscribes the exact buffer, so a
    path never comes closer than ``clearance_m`` to a no-fly polygon. Built once, queried
    many times.

    >>> g = TransitGraph([Polygon([(-1, -1), (1, -1), (1, 1), (-1, 1)])], clearance_m=0.0)
    >>> round(g.distance_m((-2, 0), (2, 0)), 3)
    4.828
    """

    def __init__(self, no_fly: Sequence[Polygon], *, clearance_m: float = 5.0) -> None:
        self.clearance_m = _finite(clearance_m, "clearance_m", nonneg=True)
        polys: list[BaseGeometry] = []
        for i, poly in enumerate(no_fly):
            polys.append(_area_arg(poly, f"no_fly[{i}]"))
        if polys:
            union = shapely.union_all(polys)
            if self.clearance_m > 0:
                radius = self.clearance_m / math.cos(math.pi / (4 * _QUAD_SEGS))
                union = union.buffer(radius, quad_segs=_QUAD_SEGS)
            keep_out = _polygonal(shapely.orient_polygons(union))
        else:
            keep_out = Polygon()
        self.keep_out: BaseGeometry = keep_out
        """The buffered no-fly union that no leg may enter (its boundary may be touched)."""
        self._core = keep_out.buffer(-_CORE_TOL_M) if not keep_out.is_empty else Polygon()
        shapely.prepare(self._core)
        self._build()

    # -- construction
    def _build(self) -> None:
        nodes, prevs, nexts = [], [], []
        for poly in shapely.get_parts(self.keep_out):
            for ring in [poly.exterior, *poly.interiors]:
                c = np.asarray(ring.coords)[:-1]
                if len(c) < 3:
                    continue
                p, q = np.roll(c, 1, axis=0), np.roll(c, -1, axis=0)
                turn = _cross(c - p, q - c)
                convex = turn > 1e-9  # obstacle on the left (oriented): left turn = convex
                nodes.append(c[convex])
                prevs.append(p[convex])
                nexts.append(q[convex])
        if nodes:
            self._nodes = np.concatenate(nodes)
            self._prev = np.concatenate(prevs)
            self._next = np.concatenate(nexts)
        else:
            self._nodes = self._prev = self._next = np.zeros((0, 2))
        n = len(self._nodes)
        self._adj: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        if n < 2:
            return
        i, j = np.triu_indices(n, k=1)
        d = self._nodes[j] - self._nodes[i]
        ok = self._tangent(i, d) & self._tangent(j, -d)
        i, j = i[ok], j[ok]
        lines = shapely.linestrings(np.stack([self._nodes[i], self._nodes[j]], axis=1))
        free = ~shapely.intersects(self._core, lines)
        i, j = i[free], j[free]
        w = np.hypot(*(self._nodes[j] - self._nodes[i]).T)
        for a, b, c in zip(i.tolist(), j.tolist(), w.tolist(), strict=True):
            self._adj[a].append((b, c))
            self._adj[b].append((a, c))

    def _tangent(self, idx: np.ndarray, d: np.ndarray) -> np.ndarray:
        """The line through node ``idx`` along ``d`` keeps both ring neighbours on one side."""
        c1 = _cross(d, self._prev[idx] - self._nodes[idx])
        c2 = _cross(d, self._next[idx] - self._nodes[idx])
        scale = 1e-9 * (np.abs(d).sum(axis=-1) + 1.0)
        return (c1 * c2 >= -scale * scale) | (np.abs(c1) <= scale) | (np.abs(c2) <= scale)

    # -- queries
    def blocked(self, a_xy: Sequence[float], b_xy: Sequence[float]) -> bool:
        """True if the straight segment a-b enters a keep-out area."""
        a, b = _point(a_xy, "a_xy"), _point(b_xy, "b_xy")
        return bool(self.blocked_many(a[None], b[None])[0])

    def blocked_many(self, a_xy: np.ndarray, b_xy: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`blocked` for (K, 2) start and end arrays."""
        a, b = np.asarray(a_xy, dtype=float), np.asarray(b_xy, dtype=float)
        if len(a) == 0 or self._core.is_empty:
            return np.zeros(len(a), dtype=bool)
        same = np.all(np.abs(a - b) <= _MIN_LEG_M, axis=1)
        geoms = np.where(
            same,
            shapely.points(a),
            shapely.linestrings(np.stack([a, b], axis=1)),
        )
        return np.asarray(shapely.intersects(self._core, geoms), dtype=bool)

    def _visible(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(self._nodes)
        if n == 0:
            return np.zeros(0, dtype=int), np.zeros(0)
        idx = np.arange(n)
        d = p[None, :] - self._nodes
        ok = self._tangent(idx, d)
        idx = idx[ok]
        idx = idx[~self.blocked_many(np.repeat(p[None], len(idx), axis=0), self._nodes[idx])]
        return idx, np.hypot(*(self._nodes[idx] - p).T)

    def path(self, start_xy: Sequence[float], goal_xy: Sequence[float]) -> np.ndarray | None:
        """Shortest polyline (M, 2) from start to goal avoiding keep-out areas, None if none."""
        s, g = _point(start_xy, "start_xy"), _point(goal_xy, "goal_xy")
        if not self.blocked_many(s[None], g[None])[0]:
            return np.stack([s, g])
        if self.blocked_many(np.stack([s, g]), np.stack([s, g])).any():
            return None  # start or goal inside a keep-out area
        src_idx, src_d = self._visible(s)
        goal_idx, goal_d = self._visible(g)
        if len(src_idx) == 0 or len(goal_idx) == 0:
            return None
        goal_cost = dict(zip(goal_idx.tolist(), goal_d.tolist(), strict=True))
        nodes = self._nodes
        h = np.hypot(*(nodes - g).T)
        n = len(nodes)
        goal_id = n  # virtual goal node
        best = {int(i): float(c) for i, c in zip(src_idx, src_d, strict=True)}
        parent: dict[int, int] = {}
        heap = [(c + h[i], c, i) for i, c in best.items()]
        heapq.heapify(heap)
        done: set[int] = set()
        while heap:
            _, cost, u = heapq.heappop(heap)
            if u in done:
                continue
            if u == goal_id:
                break
            done.add(u)
            if u in goal_cost:
                c = cost + goal_cost[u]
                if c < best.get(goal_id, math.inf):
                    best[goal_id] = c
                    parent[goal_id] = u
                    heapq.heappush(heap, (c, c, goal_id))
            for v, w in self._adj[u]:
                c = cost + w
                if c < best.get(v, math.inf):
                    best[v] = c
                    parent[v] = u
                    heapq.heappush(heap, (c + h[v], c, v))
        if goal_id not in parent:
            return None
        chain = []
        u = parent[goal_id]
        while True:
            chain.append(u)
            if u not in parent:
                break
            u = parent[u]
        chain.reverse()
        return np.vstack([s, nodes[chain], g])

    def distance_m(self, start_xy: Sequence[float], goal_xy: Sequence[float]) -> float:
        """Length of :meth:`path`, ``inf`` if the goal cannot be reached."""
        p = self.path(start_xy, goal_xy)
        if p is None:
            return math.inf
        return float(np.hypot(*np.diff(p, axis=0).T).sum())


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


# --------------------------------------------------------------------------- sweep planning


@dataclass(frozen=True)
class SweepPath:
    """A planned coverage path for one zone."""

    waypoints_xy: np.ndarray
    """(N, 2) flyable polyline, metres."""
    kinds: tuple[str, ...]
    """Per leg (N - 1): ``"sweep"``, ``"connect"`` or ``"perimeter"``."""
    angle_deg: float | None
    """Sweep direction, degrees counter-clockwise from east in [0, 180); None if no sweep."""
    cells: int
    """Number of boustrophedon cells."""
    length_m: float
    duration_s: float
    covered_fraction: float
    """Measured fraction of the no-fly-cut area within ``spacing_m / 2`` of the path."""


@dataclass
class _Sweep:
    """Sweep runs at one angle, in world coordinates."""

    angle_deg: float
    runs: list[np.ndarray]  # each (2, 2): one lane piece, in flying order
    breaks: list[bool]  # per run: preceded by a new cell (True) or a lane change (False)
    cells: int


def _rotate(xy: np.ndarray, angle_rad: float) -> np.ndarray:
    """Rotate points clockwise by ``angle_rad``: direction ``angle_rad`` becomes +x."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return xy @ np.array([[c, -s], [s, c]])


Lane = tuple[float, float, float]  # (y, x0, x1) in the rotated frame


def _lanes(free_rot: BaseGeometry, spacing: float) -> list[tuple[int, list[Lane]]]:
    """Per non-empty band (bottom to top): band index and lanes (y, x0, x1), sorted by x.

    A lane spans the whole x-extent of one connected piece of the band; pieces whose
    extents overlap share a lane.
    """
    minx, miny, maxx, maxy = free_rot.bounds
    height = maxy - miny
    n = max(1, math.ceil(height / spacing - 1e-9))
    ys = miny + (height - (n - 1) * spacing) / 2.0 + spacing * np.arange(n)
    try:  # rectangle clipping is ~10x faster than a general overlay; only extents are used
        pieces = np.array(
            [
                shapely.clip_by_rect(
                    free_rot, minx - 1.0, y - spacing / 2, maxx + 1.0, y + spacing / 2
                )
                for y in ys.tolist()
            ],
            dtype=object,
        )
    except shapely.errors.GEOSException:
        boxes = shapely.box(minx - 1.0, ys - spacing / 2.0, maxx + 1.0, ys + spacing / 2.0)
        pieces = shapely.intersection(boxes, free_rot)
    parts, idx = shapely.get_parts(pieces, return_index=True)
    poly = shapely.get_type_id(parts) == 3
    parts, idx = parts[poly], idx[poly]
    if len(parts):
        big = shapely.area(parts) > 1e-9 * spacing * spacing
        parts, idx = parts[big], idx[big]
    bands: list[list[Lane]] = [[] for _ in range(n)]
    if len(parts):
        b = shapely.bounds(parts)
        for k in np.lexsort((b[:, 0], idx)).tolist():
            band = bands[idx[k]]
            x0, x1 = float(b[k, 0]), float(b[k, 2])
            if band and x0 <= band[-1][2] + 1e-9:  # overlapping extents: one lane
                y, px0, px1 = band[-1]
                band[-1] = (y, px0, max(px1, x1))
            else:
                band.append((float(ys[idx[k]]), x0, x1))
    return [(i, band) for i, band in enumerate(bands) if band]


def _overlap(a: Lane, b: Lane) -> bool:
    return a[1] <= b[2] and b[1] <= a[2]


def _cells(bands: list[tuple[int, list[Lane]]]) -> list[list[Lane]]:
    """Boustrophedon cells: a lane continues the cell of the one lane it overlaps below,
    if that lane overlaps nothing else above."""
    cells: list[list[Lane]] = []
    prev_cell: list[int] = []
    prev_band: list[Lane] = []
    prev_i = -2
    for i, band in bands:
        if i != prev_i + 1:
            prev_band, prev_cell = [], []
        cur_cell = []
        for lane in band:
            below = [k for k, p in enumerate(prev_band) if _overlap(p, lane)]
            if len(below) == 1 and sum(_overlap(prev_band[below[0]], q) for q in band) == 1:
                cells[prev_cell[below[0]]].append(lane)
                cur_cell.append(prev_cell[below[0]])
            else:
                cells.append([lane])
                cur_cell.append(len(cells) - 1)
        prev_cell, prev_band, prev_i = cur_cell, band, i
    return cells


def _serpentine(cell: list[Lane], from_top: bool, from_right: bool) -> list[np.ndarray]:
    lanes = cell[::-1] if from_top else cell
    out = []
    right = from_right
    for y, x0, x1 in lanes:
        out.append(np.array([[x1, y], [x0, y]]) if right else np.array([[x0, y], [x1, y]]))
        right = not right
    return out


def _order_cells(
    cells: list[list[Lane]], start: np.ndarray | None
) -> tuple[list[np.ndarray], list[bool]]:
    """Greedy nearest-entry ordering of cells; returns runs (rotated frame) and cell breaks."""
    variants = [(t, r) for t in (False, True) for r in (False, True)]
    plans = [[_serpentine(c, t, r) for t, r in variants] for c in cells]
    entry = np.array([p[0][0] for cp in plans for p in cp])  # (4C, 2), index 4 * cell + variant
    exit_ = np.array([p[-1][1] for cp in plans for p in cp])
    n = len(cells)
    dist = None
    if n <= 400:
        diff = exit_[:, None, :] - entry[None, :, :]
        dist = np.hypot(diff[..., 0], diff[..., 1])

    def row(pos: int) -> np.ndarray:
        if dist is not None:
            return dist[pos].copy()
        return np.hypot(*(entry - exit_[pos]).T)

    def greedy(first: int | None) -> tuple[float, list[int]]:
        dead = np.zeros(4 * n, dtype=bool)
        seq: list[int] = []
        total = 0.0
        if first is None:
            assert start is not None
            d = np.hypot(*(entry - start).T)
            first = int(np.argmin(d))
            total = float(d[first])
        while True:
            seq.append(first)
            c = first // 4
            dead[4 * c : 4 * c + 4] = True
            if len(seq) == n:
                return total, seq
            d = row(first)
            d[dead] = np.inf
            first = int(np.argmin(d))
            total += float(d[first])

    if start is not None:
        _, seq = greedy(None)
    else:
        firsts = range(4 * n) if n <= 6 else range(4) if n <= 60 else range(1)
        seq = min((greedy(f) for f in firsts), key=lambda r: r[0])[1]
    seq_cv = [(k // 4, k % 4) for k in seq]
    runs: list[np.ndarray] = []
    breaks: list[bool] = []
    for c, v in seq_cv:
        for k, run in enumerate(plans[c][v]):
            runs.append(run)
            breaks.append(k == 0)
    return runs, breaks


def _serpentine_all(bands: list[tuple[int, list[Lane]]]) -> tuple[list[np.ndarray], list[bool]]:
    """Lane-major ordering: band by band, alternating direction, lanes by x."""
    runs, breaks = [], []
    right = False
    for _, band in bands:
        lanes = band[::-1] if right else band
        for k, (y, x0, x1) in enumerate(lanes):
            runs.append(np.array([[x1, y], [x0, y]]) if right else np.array([[x0, y], [x1, y]]))
            breaks.append(k > 0)
        right = not right
    return runs, breaks


def _sweeps_at(
    free: BaseGeometry,
    angle_deg: float,
    spacing: float,
    start: np.ndarray | None,
) -> list[_Sweep]:
    theta = math.radians(angle_deg)
    free_rot = shapely.transform(free, lambda xy: _rotate(xy, theta))
    bands = _lanes(free_rot, spacing)
    cells = _cells(bands)
    start_rot = None if start is None else _rotate(start[None], theta)[0]
    out = []
    for runs, breaks in (_order_cells(cells, start_rot), _serpentine_all(bands)):
        world = [_rotate(r, -theta) for r in runs]
        out.append(_Sweep(angle_deg % 180.0, world, breaks, len(cells)))
        if len(cells) == 1:
            break  # both orderings coincide
    return out


class _Assembler:
    """Joins runs into one polyline with straight or transit connections."""

    def __init__(self, graph: TransitGraph) -> None:
        self.graph = graph

    def clip_runs(self, runs: list[np.ndarray]) -> list[np.ndarray]:
        """Split lanes that cross a keep-out area into the pieces outside it."""
        if not runs or self.graph.keep_out.is_empty:
            return runs
        arr = np.stack(runs)
        bad = self.graph.blocked_many(arr[:, 0], arr[:, 1])
        if not bad.any():
            return runs
        out: list[np.ndarray] = []
        for run, b in zip(runs, bad, strict=True):
            if not b:
                out.append(run)
                continue
            rest = LineString(run).difference(self.graph.keep_out)
            pieces = [p for p in shapely.get_parts(rest) if isinstance(p, LineString)]
            direction = run[1] - run[0]
            keyed = []
            for p in pieces:
                c = np.asarray(p.coords)
                if len(c) < 2:
                    continue
                seg = np.array([c[0], c[-1]])
                if np.dot(seg[1] - seg[0], direction) < 0:
                    seg = seg[::-1]
                if np.hypot(*(seg[1] - seg[0])) > 1e-6:
                    keyed.append((float(np.dot(seg[0] - run[0], direction)), seg))
            out.extend(seg for _, seg in sorted(keyed, key=lambda t: t[0]))
        return out

    def join(
        self, pieces: list[tuple[np.ndarray, str]], start: np.ndarray | None
    ) -> tuple[np.ndarray, list[str]]:
        """Concatenate polylines (each with its leg kind), connecting consecutive ones."""
        if start is not None:
            pieces = [(start[None], "connect"), *pieces]
        firsts = np.array([p[0] for p, _ in pieces])
        lasts = np.array([p[-1] for p, _ in pieces])
        blocked = self.graph.blocked_many(lasts[:-1], firsts[1:])
        pts: list[np.ndarray] = [pieces[0][0]]
        kinds: list[str] = [pieces[0][1]] * (len(pieces[0][0]) - 1)
        for k in range(1, len(pieces)):
            poly, kind = pieces[k]
            a, b = lasts[k - 1], firsts[k]
            if blocked[k - 1]:
                link = self.graph.path(a, b)
                if link is None:
                    raise PlanningError(
                        f"part of the area near ({b[0]:.1f}, {b[1]:.1f}) m cannot be reached"
                        " without entering a no-fly area; widen the gap or drop that part"
                    )
                pts.append(link[1:])
                kinds.extend(["connect"] * (len(link) - 1))
            else:
                pts.append(b[None])
                kinds.append("connect")
            pts.append(poly[1:])
            kinds.extend([kind] * (len(poly) - 1))
        return _dedupe(np.vstack(pts), kinds)


def _dedupe(xy: np.ndarray, kinds: list[str]) -> tuple[np.ndarray, list[str]]:
    if len(xy) < 2:
        return xy, []
    d = np.hypot(*np.diff(xy, axis=0).T)
    keep_leg = d > _MIN_LEG_M
    keep_pt = np.concatenate([[True], keep_leg])
    return xy[keep_pt], [k for k, ok in zip(kinds, keep_leg, strict=True) if ok]


def _perimeter_rings(free: BaseGeometry, margin: float) -> list[np.ndarray]:
    inset = free.buffer(-margin, quad_segs=8) if margin > 0 else free
    inset = _polygonal(inset)
    if inset.is_empty:
        inset = free  # zone narrower than twice the margin: fly its edge
    rings = []
    for poly in shapely.get_parts(shapely.orient_polygons(inset)):
        c = np.asarray(poly.exterior.coords)
        if len(c) >= 4 and poly.area > 0:
            rings.append(c)
    return rings


def _rotate_ring(ring: np.ndarray, near: np.ndarray | None) -> np.ndarray:
    if near is None:
        return ring
    body = ring[:-1]
    k = int(np.argmin(np.hypot(*(body - near).T)))
    body = np.roll(body, -k, axis=0)
    return np.vstack([body, body[:1]])


def _candidate_angles(free: BaseGeometry, step_deg: float = 15.0, edges: int = 6) -> list[float]:
    """Grid angles plus the directions of the longest edges (mod 180)."""
    angles = list(np.arange(0.0, 180.0, step_deg))
    rings = []
    for poly in shapely.get_parts(free):
        rings.extend([poly.exterior, *poly.interiors])
    lengths, dirs = [], []
    for ring in rings:
        c = np.asarray(ring.coords)
        d = np.diff(c, axis=0)
        lengths.append(np.hypot(d[:, 0], d[:, 1]))
        dirs.append(np.degrees(np.arctan2(d[:, 1], d[:, 0])) % 180.0)
    if lengths:
        ln, dr = np.concatenate(lengths), np.concatenate(dirs)
        for k in np.argsort(-ln)[: edges * 4]:
            a = float(dr[k])
            if all(min(abs(a - b), 180 - abs(a - b)) > 1.0 for b in angles[-edges:] + angles):
                angles.append(a)
                if len(angles) >= int(180 / step_deg) + edges:
                    break
    return angles


def plan_sweep(
    area: Polygon | MultiPolygon,
    *,
    spacing_m: float,
    kinematics: Kinematics,
    no_fly: Sequence[Polygon] = (),
    clearance_m: float = 5.0,
    perimeter: Literal["none", "before", "only"] = "none",
    perimeter_margin_m: float | None = None,
    angle_deg: float | None = None,
    start_xy: tuple[float, float] | None = None,
    transit: TransitGraph | None = None,
) -> SweepPath:
    """Plan a back-and-forth coverage path over ``area`` minus the buffered ``no_fly``.

    Every point of the free area is within ``spacing_m / 2`` of the path (lanes span their
    band's whole extent); no leg enters a no-fly polygon buffered by ``clearance_m``. The sweep
    angle minimises :func:`flight_time_s` unless ``angle_deg`` forces one. ``perimeter``
    adds the free area's outer boundary inset by ``perimeter_margin_m`` (default
    ``spacing_m / 2``) before the sweep, or flies it instead. With ``start_xy`` the path
    starts there (its first legs are ``"connect"``). Pass a prebuilt ``transit`` graph (same
    no-fly list and clearance) to plan many zones without rebuilding it.

    Raises PlanningError for bad parameters and when nothing is left to cover.
    """
    geom = _area_arg(area)
    spacing = _finite(spacing_m, "spacing_m", positive=True)
    if not isinstance(kinematics, Kinematics):
        raise PlanningError(f"kinematics must be a Kinematics, got {type(kinematics).__name__}")
    clearance = _finite(clearance_m, "clearance_m", nonneg=True)
    if perimeter not in ("none", "before", "only"):
        raise PlanningError(f"perimeter must be 'none', 'before' or 'only', got {perimeter!r}")
    margin = (
        spacing / 2.0
        if perimeter_margin_m is None
        else _finite(perimeter_margin_m, "perimeter_margin_m", nonneg=True)
    )
    forced = None if angle_deg is None else _finite(angle_deg, "angle_deg")
    start = None if start_xy is None else _point(start_xy, "start_xy")
    graph = transit if transit is not None else TransitGraph(no_fly, clearance_m=clearance)

    free = _polygonal(geom.difference(graph.keep_out)) if not graph.keep_out.is_empty else geom
    if free.is_empty or free.area <= 1e-9 * max(geom.area, 1.0):
        raise PlanningError("nothing left to cover after removing no-fly areas")
    if start is not None and graph.blocked_many(start[None], start[None])[0]:
        raise PlanningError(
            f"start_xy ({start[0]:.1f}, {start[1]:.1f}) m is inside a no-fly area or its"
            f" {clearance:g} m clearance; start outside it"
        )
    asm = _Assembler(graph)

    head: list[tuple[np.ndarray, str]] = []
    pos = start
    if perimeter in ("before", "only"):
        rings = _perimeter_rings(free, margin)
        left = list(range(len(rings)))
        while left:
            if pos is None:
                k = left[0]
            else:
                k = min(left, key=lambda i: float(np.min(np.hypot(*(rings[i] - pos).T))))
            left.remove(k)
            ring = _rotate_ring(rings[k], pos)
            head.append((ring, "perimeter"))
            pos = ring[-1]

    def finish(sweep: _Sweep | None) -> tuple[float, np.ndarray, list[str]]:
        pieces = list(head)
        if sweep is not None:
            runs = asm.clip_runs(sweep.runs)
            pieces.extend((r, "sweep") for r in runs)
        xy, kinds = asm.join(pieces, start)
        return flight_time_s(xy, kinematics), xy, kinds

    best: tuple[float, np.ndarray, list[str], _Sweep | None]
    if perimeter == "only":
        t, xy, kinds = finish(None)
        best = (t, xy, kinds, None)
    else:
        # screening: straight joins (cheap); full assembly only for the best few angles
        sweeps: dict[float, list[_Sweep]] = {}
        screen: dict[float, float] = {}
        head_xy = [p for p, _ in head] + ([] if start is None else [start[None]])

        def quick(a: float) -> float:
            a = round(a % 180.0, 6)
            if a not in screen:
                sweeps[a] = _sweeps_at(free, a, spacing, pos)
                screen[a] = min(
                    flight_time_s(np.vstack([*head_xy, *sw.runs]), kinematics) for sw in sweeps[a]
                )
            return screen[a]

        def full(a: float) -> tuple[float, np.ndarray, list[str], _Sweep]:
            quick(a)
            a = round(a % 180.0, 6)
            return min(((*finish(sw), sw) for sw in sweeps[a]), key=lambda r: r[0])

        if forced is not None:
            best = full(forced)
        else:
            for a in _candidate_angles(free):
                quick(a)
            a0 = min(screen, key=screen.__getitem__)
            for step in (4.0, 2.0, 1.0):
                for a in (a0 - step, a0 + step):
                    quick(a)
                a0 = min(screen, key=screen.__getitem__)
            finalists = sorted(screen, key=screen.__getitem__)[:3]
            best = min((full(a) for a in finalists), key=lambda r: r[0])

    t, xy, kinds, sweep = best
    length = float(np.hypot(*np.diff(xy, axis=0).T).sum()) if len(xy) > 1 else 0.0
    return SweepPath(
        waypoints_xy=xy,
        kinds=tuple(kinds),
        angle_deg=None if sweep is None else float(sweep.angle_deg),
        cells=0 if sweep is None else sweep.cells,
        length_m=length,
        duration_s=t,
        covered_fraction=covered_fraction(free, xy, spacing) if len(xy) else 0.0,
    )
