"""Coverage-path planning in a local metric frame (x east, y north, metres).

Pure geometry: shapely 2 polygons in, numpy polylines out; no lon/lat, no I/O.

The pipeline for one zone (:func:`plan_sweep`):

1. cut the keep-out areas (no-fly polygons buffered by ``clearance_m``) out of the zone;
2. screen every angle (1 degree grid plus edge directions) with a vectorised estimate, the
   flight time of a serpentine over the lane extents where lines across each lane's slab cross
   the area's edges (:func:`_screen_angles`); keep the best few, plus a +-1, 2 degree refinement;
3. at each kept angle, every layout strategy (:data:`_LAYOUTS`, one function each, same
   signature) proposes sweeps: :func:`layout_cells` (vertex-event boustrophedon cells, per-cell
   lanes with exact ends, :func:`_cell_lanes`) and :func:`layout_bands` (one lane per
   connected piece of a ``spacing_m`` band, exact ends too, flown cell by cell or band by
   band);
4. rank by the time of the runs joined straight, improve the best cell orders (2-opt and an
   exact entry-corner choice), assemble with :class:`TransitGraph` detours where a leg would
   enter a keep-out area; where keep-out areas lie inside the zone also try lanes laid over
   them, cut at their edge and flown round them;
5. keep the fastest assembled path (by :func:`flight_time_s`) covering >= 99.5% of the free
   area (else the best covering one);
6. run steps 3-5 once more with the angle forced to 0 degrees and keep the better of the two
   assembled paths, so the plan is never slower than axis-aligned lanes with the same
   coverage guarantee and no-fly avoidance.

Turn costs are physical, not tunable here: on a 500 m square at 60 m the floor for any
back-and-forth is 9 lanes (1.08 x area/spacing/speed) plus 16 half-speed corners, 1.19 x.

A zone whose free area is empty raises :class:`~dronepatrol.errors.PlanningError`
("nothing left to cover after removing no-fly areas"); the caller adds the zone's name.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
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
    return _flight_time(_path(path_xy, "path_xy"), kin)


def _flight_time(pts: np.ndarray, kin: Kinematics) -> float:
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
    """The polyline buffered by ``radius`` (one buffer; leg by leg if GEOS balks)."""
    d = np.diff(pts, axis=0)
    keep = np.hypot(d[:, 0], d[:, 1]) > _MIN_LEG_M
    if not keep.any():
        return Point(pts[0]).buffer(radius, quad_segs=16)
    line = np.vstack([pts[:1], pts[1:][keep]])
    try:
        swath = shapely.buffer(LineString(line), radius, quad_segs=16)
        if swath.is_valid and not swath.is_empty:
            return swath
    except shapely.errors.GEOSException:  # pragma: no cover - fall back to leg by leg
        pass
    segs = np.stack([line[:-1], line[1:]], axis=1)  # pragma: no cover
    return shapely.union_all(shapely.buffer(shapely.linestrings(segs), radius, quad_segs=16))


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
    improve: Callable[[], _Sweep] | None = None
    """The same lanes in a better cell order (2-opt); None if there is nothing to improve."""


def _rotate(xy: np.ndarray, angle_rad: float) -> np.ndarray:
    """Rotate points clockwise by ``angle_rad``: direction ``angle_rad`` becomes +x."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return xy @ np.array([[c, -s], [s, c]])


Lane = tuple[float, float, float]  # (y, x0, x1) in the rotated frame


@dataclass
class _Rings:
    """The free area's rings (world frame, open) and, per vertex, whether a y-extremum there
    always splits cells (rings of holes and keep-out edges: lanes must not jump them)."""

    coords: list[np.ndarray]
    exact: list[np.ndarray]


def _rings_of(free: BaseGeometry, keep_out: BaseGeometry) -> _Rings:
    coords: list[np.ndarray] = []
    exact: list[np.ndarray] = []
    for poly in shapely.get_parts(free):
        rings = [(poly.exterior, False)] + [(r, True) for r in poly.interiors]
        for ring, interior in rings:
            c = np.asarray(ring.coords)[:-1]
            if len(c) < 3:
                continue
            if interior:
                flag = np.ones(len(c), dtype=bool)
            elif keep_out.is_empty:
                flag = np.zeros(len(c), dtype=bool)
            else:
                flag = np.asarray(shapely.dwithin(keep_out, shapely.points(c), 1e-6), dtype=bool)
            coords.append(c)
            exact.append(flag)
    return _Rings(coords, exact)


def _events(rings: _Rings, theta: float, gap: float) -> np.ndarray:
    """Sorted y values (rotated frame) where cells may split.

    Every y-extremum of a hole or keep-out edge is kept exactly (cells then never straddle
    one); the other vertices are kept greedily at least ``gap`` apart, so a jagged boundary
    does not shatter the area into slivers.
    """
    c, s = math.cos(theta), math.sin(theta)
    hard, soft = [], []
    for xy, flag in zip(rings.coords, rings.exact, strict=True):
        y = -xy[:, 0] * s + xy[:, 1] * c
        yp, yn = np.roll(y, 1), np.roll(y, -1)
        ext = ((yp >= y) & (yn >= y)) | ((yp <= y) & (yn <= y))
        h = ext & flag
        hard.append(y[h])
        soft.append(y[~h])
    ys_all = np.concatenate(hard + soft)
    lo, hi = float(ys_all.min()), float(ys_all.max())
    tol = 1e-7 * max(1.0, hi - lo, abs(lo), abs(hi))
    ex = np.unique(np.concatenate([*hard, [lo, hi]]))
    ex = ex[np.concatenate([[True], np.diff(ex) > tol])]
    out = ex.tolist()
    last = -math.inf
    for y in np.unique(np.concatenate(soft)).tolist():
        if y - last < gap:
            continue
        k = int(np.searchsorted(ex, y))
        near = min(
            abs(y - ex[k - 1]) if k > 0 else math.inf, abs(ex[k] - y) if k < len(ex) else math.inf
        )
        if near < gap:
            continue
        out.append(y)
        last = y
    return np.unique(np.asarray(out))


def _clip(geom: BaseGeometry, x0: float, y0: float, x1: float, y1: float) -> BaseGeometry:
    try:  # rectangle clipping is ~10x faster than a general overlay
        return shapely.clip_by_rect(geom, x0, y0, x1, y1)
    except shapely.errors.GEOSException:  # pragma: no cover - invalid input after rotation
        return shapely.intersection(geom, shapely.box(x0, y0, x1, y1))


def _touch(a: tuple[float, float] | None, b: tuple[float, float] | None, eps: float) -> bool:
    return a is not None and b is not None and min(a[1], b[1]) - max(a[0], b[0]) > eps


def _cells(
    free_rot: BaseGeometry,
    events: np.ndarray,
    spacing: float,
    jump_m: float,
    bridge_m: float = 0.0,
    keep_out_rot: BaseGeometry | None = None,
) -> list[list[Polygon]]:
    """Boustrophedon cells (lists of strip pieces, bottom to top) in the rotated frame.

    The area is cut into strips at ``events``; a piece continues the cell of the one piece it
    touches below when that piece touches nothing else above (the sweep line's connectivity
    does not change) and neither end of the shared line jumps by more than ``jump_m`` (a
    width jump, as at the inner corner of an L, would otherwise stretch a lane across it).
    Pieces of one strip less than ``bridge_m`` apart (overlapping x-extents always) form one
    piece, so a lane crosses the gap between them, unless a keep-out area lies in the gap.
    """
    minx, _, maxx, _ = free_rot.bounds
    min_area = 1e-9 * spacing * spacing
    cells: list[list[Polygon]] = []
    prev: list[tuple[int, tuple[float, float] | None]] = []  # (cell, top interval)
    for y0, y1 in zip(events[:-1].tolist(), events[1:].tolist(), strict=True):
        eps = 1e-7 * max(1.0, abs(y0), abs(y1))
        strip = _clip(free_rot, minx - 1.0, y0, maxx + 1.0, y1)
        cur: list[tuple[int, tuple[float, float] | None]] = []
        polys = [
            p for p in shapely.get_parts(strip) if isinstance(p, Polygon) and p.area > min_area
        ]
        polys.sort(key=lambda p: p.bounds[0])
        groups: list[list[Polygon]] = []
        right = -math.inf
        for p in polys:
            x0, _, x1, _ = p.bounds
            if (
                groups
                and x0 - right <= bridge_m
                and (
                    x0 <= right
                    or keep_out_rot is None
                    or keep_out_rot.is_empty
                    or not keep_out_rot.intersects(shapely.box(right, y0, x0, y1))
                )
            ):
                groups[-1].append(p)
                right = max(right, x1)
            else:
                groups.append([p])
                right = x1
        bots: list[tuple[float, float] | None] = []
        tops: list[tuple[float, float] | None] = []
        for grp in groups:
            c = shapely.get_coordinates(grp)
            b = c[np.abs(c[:, 1] - y0) <= eps, 0]
            t = c[np.abs(c[:, 1] - y1) <= eps, 0]
            bots.append((float(b.min()), float(b.max())) if len(b) else None)
            tops.append((float(t.min()), float(t.max())) if len(t) else None)

        below = [[k for k, (_, top) in enumerate(prev) if _touch(top, bot, eps)] for bot in bots]
        up_deg = [sum(k in bl for bl in below) for k in range(len(prev))]
        for grp, bot, top, bl in zip(groups, bots, tops, below, strict=True):
            cell = -1
            if len(bl) == 1 and up_deg[bl[0]] == 1:
                ptop = prev[bl[0]][1]
                assert ptop is not None and bot is not None
                if abs(ptop[0] - bot[0]) <= jump_m and abs(ptop[1] - bot[1]) <= jump_m:
                    cell = prev[bl[0]][0]
            if cell < 0:
                cells.append([])
                cell = len(cells) - 1
            cells[cell].extend(grp)
            cur.append((cell, top))
        prev = cur
    return [c for c in cells if c]


def _cell_lanes(pieces: list[Polygon], spacing: float) -> list[Lane]:
    """Lanes of one cell: ceil(height / spacing) lanes spread evenly over the cell's height,
    each cut to the exact extent its slab of the cell needs.

    Lane k owns the slab ``|y - y_k| <= d / 2`` (d = height / n <= spacing). A point of that
    slab at offset dy is within ``r = spacing / 2`` of the lane's end x1 iff
    ``x - x1 <= sqrt(r^2 - dy^2)``; the left side of that is convex in the point, so its
    maximum over the slab piece is at a vertex: ``x1 = max(x_v - sqrt(r^2 - dy_v^2))``.
    """
    bounds = np.array([p.bounds for p in pieces])
    ylo, yhi = float(bounds[:, 1].min()), float(bounds[:, 3].max())
    height = yhi - ylo
    n = max(1, math.ceil(height / spacing - 1e-9))
    d = height / n
    r2 = (spacing / 2.0) ** 2
    lanes: list[Lane] = []
    for k in range(n):
        yc = ylo + d * (k + 0.5)
        a, b = yc - d / 2.0, yc + d / 2.0
        pts = []
        for p, bd in zip(pieces, bounds, strict=True):
            if bd[3] <= a or bd[1] >= b:
                continue
            if bd[1] >= a and bd[3] <= b:
                pts.append(shapely.get_coordinates(p))
            else:
                pts.append(shapely.get_coordinates(_clip(p, bd[0] - 1.0, a, bd[2] + 1.0, b)))
        c = np.vstack(pts) if pts else np.zeros((0, 2))
        if len(c) == 0:
            continue
        w = np.sqrt(np.maximum(r2 - (c[:, 1] - yc) ** 2, 0.0))
        x1 = float(np.max(c[:, 0] - w))
        x0 = float(np.min(c[:, 0] + w))
        if x0 > x1:  # narrow slab: any point in [x1, x0] covers it
            x0 = x1 = (x0 + x1) / 2.0
        lanes.append((yc, x0, x1))
    return lanes


def _serpentine(cell: list[Lane], variant: int) -> list[np.ndarray]:
    """Variant ``2 * from_top + first_leftward`` of a back-and-forth over the cell's lanes."""
    lanes = cell[::-1] if variant >= 2 else cell
    out = []
    left = bool(variant & 1)
    for y, x0, x1 in lanes:
        out.append(np.array([[x1, y], [x0, y]]) if left else np.array([[x0, y], [x1, y]]))
        left = not left
    return out


def _reverse_variant(variant: int, n_lanes: int) -> int:
    """The variant that flies the same lanes backwards."""
    t, left = variant >> 1, variant & 1
    last_left = left ^ ((n_lanes - 1) & 1)
    return 2 * (1 - t) + (1 - last_left)


def _seq_cost(
    seq: list[tuple[int, int]], entry: np.ndarray, exit_: np.ndarray, start: np.ndarray | None
) -> float:
    """Straight-line length of the joins of a (cell, variant) sequence."""
    en = np.array([entry[c, v] for c, v in seq])
    ex = np.array([exit_[c, v] for c, v in seq])
    total = float(np.hypot(*(ex[:-1] - en[1:]).T).sum()) if len(seq) > 1 else 0.0
    if start is not None:
        total += float(np.hypot(*(en[0] - start)))
    return total


def _order_cells(
    entry: np.ndarray,
    exit_: np.ndarray,
    rev: np.ndarray,
    start: np.ndarray | None,
    *,
    improve: bool = True,
) -> list[tuple[int, int]]:
    """Order cells and choose each one's variant (entry corner): greedy nearest entry, then
    2-opt (a reversed stretch flies each cell backwards) and an exact variant choice for the
    order, repeated while the straight-line join length drops.

    ``entry`` and ``exit_`` are (C, 4, 2); ``rev`` (C, 4) maps a variant to its reverse.
    """
    n = len(entry)
    en_flat, ex_flat = entry.reshape(-1, 2), exit_.reshape(-1, 2)

    def greedy(first: int | None) -> list[int]:
        dead = np.zeros(4 * n, dtype=bool)
        if first is None:
            assert start is not None
            first = int(np.argmin(np.hypot(*(en_flat - start).T)))
        seq = [first]
        while len(seq) < n:
            c = seq[-1] // 4
            dead[4 * c : 4 * c + 4] = True
            d = np.hypot(*(en_flat - ex_flat[seq[-1]]).T)
            d[dead] = np.inf
            seq.append(int(np.argmin(d)))
        return seq

    if start is not None:
        cands = [greedy(None)]
    else:
        firsts = range(4 * n) if n <= 6 else range(4) if n <= 60 else range(1)
        cands = [greedy(f) for f in firsts]
    seqs = [[(k // 4, k % 4) for k in s] for s in cands]
    seq = min(seqs, key=lambda s: _seq_cost(s, entry, exit_, start))
    if not improve or n < 2:
        return seq
    best = _seq_cost(seq, entry, exit_, start)
    for _ in range(4):
        seq = _two_opt(seq, entry, exit_, rev, start)
        seq = _best_variants([c for c, _ in seq], entry, exit_, start)
        cost = _seq_cost(seq, entry, exit_, start)
        if cost >= best - 1e-9:
            break
        best = cost
    return seq


def _two_opt(
    seq: list[tuple[int, int]],
    entry: np.ndarray,
    exit_: np.ndarray,
    rev: np.ndarray,
    start: np.ndarray | None,
    passes: int = 8,
) -> list[tuple[int, int]]:
    """First-improvement 2-opt on an open path whose items have an entry and an exit."""
    seq = list(seq)
    n = len(seq)
    for _ in range(passes):
        en = np.array([entry[c, v] for c, v in seq])
        ex = np.array([exit_[c, v] for c, v in seq])
        improved = False
        for i in range(n):
            # reverse seq[i..j] for all j >= i at once
            j = np.arange(i, n)
            if i > 0:
                before = ex[i - 1]
                old_a = float(np.hypot(*(before - en[i])))
                new_a = np.hypot(*(ex[j] - before).T)
            elif start is not None:
                old_a = float(np.hypot(*(start - en[0])))
                new_a = np.hypot(*(ex[j] - start).T)
            else:
                old_a, new_a = 0.0, np.zeros(len(j))
            nxt = np.minimum(j + 1, n - 1)
            has_next = j + 1 < n
            old_b = np.where(has_next, np.hypot(*(ex[j] - en[nxt]).T), 0.0)
            new_b = np.where(has_next, np.hypot(*(en[i] - en[nxt]).T), 0.0)
            gain = old_a + old_b - new_a - new_b
            k = int(np.argmax(gain))
            if gain[k] > 1e-7:  # best move for this i; keep scanning with updated ends
                jj = int(j[k])
                seq[i : jj + 1] = [(c, int(rev[c, v])) for c, v in reversed(seq[i : jj + 1])]
                seg_en = en[i : jj + 1][::-1].copy()
                en[i : jj + 1] = ex[i : jj + 1][::-1]
                ex[i : jj + 1] = seg_en
                improved = True
        if not improved:
            break
    return seq


def _best_variants(
    order: list[int], entry: np.ndarray, exit_: np.ndarray, start: np.ndarray | None
) -> list[tuple[int, int]]:
    """Exact (dynamic programming) choice of each cell's variant for a fixed order."""
    first = order[0]
    cost = np.hypot(*(entry[first] - start).T) if start is not None else np.zeros(entry.shape[1])
    back = []
    for a, b in zip(order[:-1], order[1:], strict=True):
        d = exit_[a][:, None, :] - entry[b][None, :, :]
        tot = cost[:, None] + np.hypot(d[..., 0], d[..., 1])
        arg = np.argmin(tot, axis=0)
        back.append(arg)
        cost = tot[arg, np.arange(tot.shape[1])]
    v = int(np.argmin(cost))
    variants = [v]
    for arg in reversed(back):
        v = int(arg[v])
        variants.append(v)
    variants.reverse()
    return list(zip(order, variants, strict=True))


def _sweep_cells(
    cells: list[list[Lane]],
    theta: float,
    angle_deg: float,
    start: np.ndarray | None,
    *,
    improve: bool = True,
) -> _Sweep:
    """Order the cells' lanes into one sweep (runs in world coordinates)."""
    cells = [c for c in cells if c]
    plans = [[_serpentine(c, v) for v in range(4)] for c in cells]
    entry = np.array([[p[0][0] for p in cp] for cp in plans])
    exit_ = np.array([[p[-1][1] for p in cp] for cp in plans])
    rev = np.array([[_reverse_variant(v, len(c)) for v in range(4)] for c in cells])
    start_rot = None if start is None else _rotate(start[None], theta)[0]
    seq = _order_cells(entry, exit_, rev, start_rot, improve=improve)
    runs: list[np.ndarray] = []
    breaks: list[bool] = []
    for c, v in seq:
        for k, run in enumerate(plans[c][v]):
            runs.append(_rotate(run, -theta))
            breaks.append(k == 0)
    again = None
    if not improve and len(cells) > 1:

        def again() -> _Sweep:
            return _sweep_cells(cells, theta, angle_deg, start, improve=True)

    return _Sweep(angle_deg % 180.0, runs, breaks, len(cells), again)


@dataclass
class _Frame:
    """The free area seen at one sweep angle: rotated once, shared by every layout."""

    angle_deg: float
    theta: float
    free_rot: BaseGeometry
    keep_out_rot: BaseGeometry | None
    rings: _Rings

    @classmethod
    def at(
        cls, free: BaseGeometry, rings: _Rings, keep_out: BaseGeometry, angle_deg: float
    ) -> _Frame:
        theta = math.radians(angle_deg)
        free_rot = shapely.transform(free, lambda xy: _rotate(xy, theta))
        ko_rot = (
            None
            if keep_out.is_empty
            else shapely.transform(keep_out, lambda xy: _rotate(xy, theta))
        )
        return cls(angle_deg % 180.0, theta, free_rot, ko_rot, rings)


def _sweeps_at(
    free: BaseGeometry,
    rings: _Rings,
    keep_out: BaseGeometry,
    angle_deg: float,
    spacing: float,
    start: np.ndarray | None,
    variants: Sequence[tuple[float, float]],
) -> list[_Sweep]:
    """Cell-layout sweeps at one angle, one per decomposition variant ``(jump_m, bridge_m)``."""
    return _cell_sweeps(_Frame.at(free, rings, keep_out, angle_deg), spacing, start, variants)


def _cell_sweeps(
    frame: _Frame,
    spacing: float,
    start: np.ndarray | None,
    variants: Sequence[tuple[float, float]],
    *,
    improve: bool = True,
) -> list[_Sweep]:
    events = _events(frame.rings, frame.theta, spacing / 2.0)
    out = []
    seen: set[tuple[int, ...]] = set()
    for jump, bridge in variants:
        cells = _cells(frame.free_rot, events, spacing, jump, bridge, frame.keep_out_rot)
        key = tuple(len(c) for c in cells)
        if key in seen:
            continue  # same decomposition as an earlier variant
        seen.add(key)
        lanes = [_cell_lanes(c, spacing) for c in cells]
        out.append(_sweep_cells(lanes, frame.theta, frame.angle_deg, start, improve=improve))
    return out


# --------------------------------------------------------------------------- layouts
# A layout turns one angle's frame into candidate sweeps; the planner keeps the fastest
# assembled path over every (angle, layout) pair it tries. Same signature for all.


def layout_cells(frame: _Frame, spacing: float, start: np.ndarray | None) -> list[_Sweep]:
    """Vertex-event cells, per-cell lanes with exact ends (two decomposition variants)."""
    variants = ((math.inf, math.inf), (2.0 * spacing, 0.0))
    return _cell_sweeps(frame, spacing, start, variants, improve=False)


def layout_bands(frame: _Frame, spacing: float, start: np.ndarray | None) -> list[_Sweep]:
    """Bands ``spacing`` wide over the whole area, one lane per connected piece of a band,
    cut where its round ends still reach the piece; flown cell by cell and band by band
    (lane-major)."""
    bands = _band_lanes(frame.free_rot, spacing)
    if not bands:
        return []
    cells = _band_cells(bands)
    out = [_sweep_cells(cells, frame.theta, frame.angle_deg, start, improve=False)]
    if len(cells) > 1:
        runs, breaks = _band_serpentine(bands)
        world = [_rotate(r, -frame.theta) for r in runs]
        out.append(_Sweep(frame.angle_deg, world, breaks, len(cells)))
    return out


_Layout = Callable[[_Frame, float, "np.ndarray | None"], list[_Sweep]]
_LAYOUTS: tuple[_Layout, ...] = (layout_cells, layout_bands)
_GOOD_COVER = 0.995  # coverage a path needs to win on time alone
_TRY_DETOURS = True  # also lay lanes across keep-out areas inside the zone, flown round them


def _band_lanes(free_rot: BaseGeometry, spacing: float) -> list[tuple[int, list[Lane]]]:
    """Per non-empty band (bottom to top): band index and lanes (y, x0, x1) sorted by x; a
    lane spans one connected piece of the band (pieces whose x-extents overlap share one),
    cut at both ends as far as its round ends allow (:func:`_exact_ends`), so every point
    of the band is within ``spacing / 2`` of a lane."""
    minx, miny, maxx, maxy = free_rot.bounds
    height = maxy - miny
    n = max(1, math.ceil(height / spacing - 1e-9))
    ys = miny + (height - (n - 1) * spacing) / 2.0 + spacing * np.arange(n)
    try:
        pieces = np.array(
            [
                shapely.clip_by_rect(
                    free_rot, minx - 1.0, y - spacing / 2, maxx + 1.0, y + spacing / 2
                )
                for y in ys.tolist()
            ],
            dtype=object,
        )
    except shapely.errors.GEOSException:  # pragma: no cover - invalid input after rotation
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
        lo, hi = _exact_ends(parts, ys[idx], spacing / 2.0)
        reach = -math.inf  # right end (bounds) of the lane being grown, for connectivity
        for k in np.lexsort((b[:, 0], idx)).tolist():
            band = bands[idx[k]]
            x0, x1 = float(b[k, 0]), float(b[k, 2])
            if band and x0 <= reach + 1e-9:
                y, px0, px1 = band[-1]
                band[-1] = (y, min(px0, lo[k]), max(px1, hi[k]))
                reach = max(reach, x1)
            else:
                band.append((float(ys[idx[k]]), lo[k], hi[k]))
                reach = x1
    return [(i, band) for i, band in enumerate(bands) if band]


def _exact_ends(
    parts: np.ndarray, ys: np.ndarray, radius: float
) -> tuple[list[float], list[float]]:
    """Per polygon piece of a band with centre line ``ys``: the shortest lane [lo, hi] on
    that line whose round ends still reach every point of the piece (as in
    :func:`_cell_lanes`: ``hi = max(x_v - sqrt(r^2 - dy_v^2))`` over the piece's vertices)."""
    xy, which = shapely.get_coordinates(parts, return_index=True)
    w = np.sqrt(np.maximum(radius * radius - (xy[:, 1] - ys[which]) ** 2, 0.0))
    m = len(parts)
    hi = np.full(m, -np.inf)
    lo = np.full(m, np.inf)
    np.maximum.at(hi, which, xy[:, 0] - w)
    np.minimum.at(lo, which, xy[:, 0] + w)
    mid = (lo + hi) / 2.0
    return np.minimum(lo, mid).tolist(), np.maximum(hi, mid).tolist()


def _band_cells(bands: list[tuple[int, list[Lane]]]) -> list[list[Lane]]:
    """A lane continues the cell of the one lane it overlaps below, if that lane overlaps
    nothing else above."""

    def overlap(a: Lane, b: Lane) -> bool:
        return a[1] <= b[2] and b[1] <= a[2]

    cells: list[list[Lane]] = []
    prev_cell: list[int] = []
    prev_band: list[Lane] = []
    prev_i = -2
    for i, band in bands:
        if i != prev_i + 1:
            prev_band, prev_cell = [], []
        cur_cell = []
        for lane in band:
            below = [k for k, p in enumerate(prev_band) if overlap(p, lane)]
            if len(below) == 1 and sum(overlap(prev_band[below[0]], q) for q in band) == 1:
                cells[prev_cell[below[0]]].append(lane)
                cur_cell.append(prev_cell[below[0]])
            else:
                cells.append([lane])
                cur_cell.append(len(cells) - 1)
        prev_cell, prev_band, prev_i = cur_cell, band, i
    return cells


def _band_serpentine(bands: list[tuple[int, list[Lane]]]) -> tuple[list[np.ndarray], list[bool]]:
    """Lane-major order: band by band in alternating direction, lanes by x."""
    runs, breaks = [], []
    right = False
    for _, band in bands:
        lanes = band[::-1] if right else band
        for k, (y, x0, x1) in enumerate(lanes):
            runs.append(np.array([[x1, y], [x0, y]]) if right else np.array([[x0, y], [x1, y]]))
            breaks.append(k > 0)
        right = not right
    return runs, breaks


# --------------------------------------------------------------------------- angle screening


def _flight_times(paths: np.ndarray, kin: Kinematics) -> np.ndarray:
    """:func:`flight_time_s` of M polylines at once, (M, P, 2); rows may end in repeats of
    their last point (zero-length legs cost nothing). Zero-length legs inside a row count as
    a right-angle turn (the single-path function drops them): good enough to rank angles."""
    d = np.diff(paths, axis=1)
    length = np.hypot(d[..., 0], d[..., 1])  # (M, P - 1)
    real = length > _MIN_LEG_M
    unit = d / np.where(real, length, 1.0)[..., None] * real[..., None]
    cos_t = np.clip(np.einsum("mij,mij->mi", unit[:, :-1], unit[:, 1:]), -1.0, 1.0)
    v, a = float(kin.speed_mps), float(kin.accel_mps2)
    m, p = paths.shape[:2]
    lim = np.zeros((m, p))
    both = real[:, :-1] & real[:, 1:]
    lim[:, 1:-1] = np.where(real[:, 1:], v * (1.0 + cos_t) / 2.0, 0.0)
    two_a_len = 2.0 * a * length
    for i in range(1, p):
        lim[:, i] = np.minimum(lim[:, i], np.sqrt(lim[:, i - 1] ** 2 + two_a_len[:, i - 1]))
    for i in range(p - 2, -1, -1):
        lim[:, i] = np.minimum(lim[:, i], np.sqrt(lim[:, i + 1] ** 2 + two_a_len[:, i]))
    u, w = lim[:, :-1], lim[:, 1:]
    peak = np.sqrt((two_a_len + u * u + w * w) / 2.0)
    triangular = (2.0 * peak - u - w) / a
    trapezoid = (2.0 * v - u - w) / a + (length - (2.0 * v * v - u * u - w * w) / (2.0 * a)) / v
    legs = np.where(peak <= v, triangular, trapezoid)
    theta = np.arccos(cos_t)
    turns = np.where(both, theta / math.radians(kin.turn_rate_dps) * (1.0 - cos_t) / 2.0, 0.0)
    return legs.sum(axis=1) + turns.sum(axis=1)


def _lane_turn_s(spacing: float, kin: Kinematics) -> float:
    """Marginal time of one more lane beyond flying its length: the cost of a lane change."""
    long = max(20.0 * spacing, 4.0 * kin.speed_mps**2 / kin.accel_mps2)

    def t(n: int) -> float:
        pts = []
        for k in range(n):
            xs = (0.0, long) if k % 2 == 0 else (long, 0.0)
            pts.extend([(xs[0], k * spacing), (xs[1], k * spacing)])
        return flight_time_s(np.asarray(pts), kin)

    return t(3) - t(2) - long / kin.speed_mps


def _screen_angles(
    free: BaseGeometry, spacing: float, kin: Kinematics, angles_deg: np.ndarray
) -> np.ndarray:
    """Estimated flight time per angle, without any layout (vectorised over angles).

    For each angle the lanes of :func:`_cell_lanes` (``ceil(height / spacing)`` spread
    evenly) are estimated from where three lines across each lane's slab cross the free
    area's edges: a lane piece per pair of crossings, length from the signed crossing
    abscissae (rings oriented, so no sorting), cut at both ends as exact lane ends allow.
    Estimate: total lane length / speed + pieces * cost of a lane change.
    """
    p_list, q_list = [], []
    for poly in shapely.get_parts(shapely.orient_polygons(free)):
        for ring in [poly.exterior, *poly.interiors]:
            c = np.asarray(ring.coords)
            p_list.append(c[:-1])
            q_list.append(c[1:])
    p, q = np.concatenate(p_list), np.concatenate(q_list)
    theta = np.radians(np.asarray(angles_deg, dtype=float))
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    xp, yp = p[:, 0] * c + p[:, 1] * s, -p[:, 0] * s + p[:, 1] * c  # (M, E)
    xq, yq = q[:, 0] * c + q[:, 1] * s, -q[:, 0] * s + q[:, 1] * c
    ylo, yhi = yp.min(axis=1), yp.max(axis=1)
    height = yhi - ylo
    n = np.maximum(1, np.ceil(height / spacing - 1e-9)).astype(int)
    d = height / n
    r = spacing / 2.0
    cut = np.sqrt(np.maximum(r * r - (d / 2.0) ** 2, 0.0))
    dy = yq - yp
    safe = np.where(dy == 0.0, 1.0, dy)
    fracs = np.array([0.02, 0.5, 0.98])
    nmax = int(n.max())
    k = np.arange(nmax)
    n_edges = p.shape[0]
    chunk = max(1, int(3e6 // (nmax * len(fracs) * n_edges)))
    est = np.empty(len(theta))
    turn = _lane_turn_s(spacing, kin)
    for a in range(0, len(theta), chunk):
        sl = slice(a, a + chunk)
        ys = ylo[sl, None, None] + d[sl, None, None] * (k[None, :, None] + fracs[None, None, :])
        y = ys[..., None]  # (m, K, F, 1)
        ypa, yqa = yp[sl, None, None, :], yq[sl, None, None, :]
        cross = (ypa <= y) != (yqa <= y)
        xc = xp[sl, None, None, :] + (y - ypa) / safe[sl, None, None, :] * (
            xq[sl, None, None, :] - xp[sl, None, None, :]
        )
        pieces = (cross.sum(axis=-1) // 2).max(axis=-1)  # (m, K)
        lo = np.where(cross, xc, np.inf).min(axis=(-1, -2)) + cut[sl, None]
        hi = np.where(cross, xc, -np.inf).max(axis=(-1, -2)) - cut[sl, None]
        with np.errstate(invalid="ignore"):  # inf - inf where a line misses the area
            mid = (lo + hi) / 2.0
            lo, hi = np.minimum(lo, mid), np.maximum(hi, mid)
        # the serpentine over lanes [lo, hi] at each slab centre, costed for all angles at once
        m_, kk = lo.shape
        yk = ylo[sl, None] + d[sl, None] * (k[None, :] + 0.5)
        valid = (k[None, :] < n[sl, None]) & np.isfinite(lo)
        order = np.argsort(~valid, axis=1, kind="stable")  # real lanes first, in order
        rows = np.arange(m_)[:, None]
        lo, hi, yk = lo[rows, order], hi[rows, order], yk[rows, order]
        count = valid.sum(axis=1)
        flip = (k[None, :] % 2) == 1
        first = np.where(flip, hi, lo)
        second = np.where(flip, lo, hi)
        xs = np.stack([first, second], axis=2).reshape(m_, 2 * kk)
        path = np.stack([xs, np.repeat(yk, 2, axis=1)], axis=2)
        last = np.maximum(2 * count - 1, 0)
        pad = np.arange(2 * kk)[None, :] > last[:, None]
        path = np.where(pad[..., None], path[rows, last[:, None]], path)
        path = np.nan_to_num(path, posinf=0.0, neginf=0.0)
        extra = np.where(k[None, :] < n[sl, None], np.maximum(pieces - 1, 0), 0).sum(axis=1)
        est[sl] = _flight_times(path, kin) + extra * turn
    return est


def _best_angles(
    free: BaseGeometry, spacing: float, kin: Kinematics, keep: int, apart_deg: float = 4.0
) -> list[float]:
    """The ``keep`` best angles by :func:`_screen_angles` over a 1 degree grid plus the edge
    directions of the free area, at least ``apart_deg`` from each other."""
    angles = np.unique(np.round(np.r_[np.arange(0.0, 180.0, 1.0), _edge_angles(free)], 6))
    est = _screen_angles(free, spacing, kin, angles)
    picked: list[float] = []
    for i in np.argsort(est, kind="stable").tolist():
        a = float(angles[i])
        if all(min(abs(a - b), 180.0 - abs(a - b)) >= apart_deg for b in picked):
            picked.append(a)
            if len(picked) >= keep:
                break
    return picked


def _edge_angles(free: BaseGeometry, edges: int = 8) -> np.ndarray:
    """Directions (mod 180) of the longest edges of the free area."""
    coords = [
        np.asarray(ring.coords)
        for poly in shapely.get_parts(free)
        for ring in [poly.exterior, *poly.interiors]
    ]
    d = np.concatenate([np.diff(c, axis=0) for c in coords])
    ln = np.hypot(d[:, 0], d[:, 1])
    top = np.argsort(-ln)[:edges]
    return np.degrees(np.arctan2(d[top, 1], d[top, 0])) % 180.0


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


_Finish = Callable[["_Sweep | None"], tuple[float, np.ndarray, list[str]]]
_Result = tuple[float, np.ndarray, list[str], "_Sweep | None", "float | None"]


def _search(
    free: BaseGeometry,
    zone: BaseGeometry,
    graph: TransitGraph,
    spacing: float,
    kin: Kinematics,
    forced: float | None,
    pos: np.ndarray | None,
    lead_xy: list[np.ndarray],
    finish: _Finish,
    *,
    keep_angles: int = 4,
    refine_deg: Sequence[float] = (-2.0, -1.0, 1.0, 2.0),
) -> _Result:
    """Fastest assembled sweep over the screened angles and every layout.

    Candidates are ranked by the flight time of their runs joined by straight legs (which
    is the final path when no keep-out area is near); the best few are assembled for real.
    Where keep-out areas lie inside the zone, the layouts are also run on the zone with them
    filled in: lanes cross the keep-out, are cut at its edge and joined round it by
    :class:`TransitGraph` paths; such a path wins only if faster and covering as much.
    Returns (time, waypoints, kinds, sweep, measured coverage or None).
    """
    layouts = _LAYOUTS  # read at call time: tests restrict it to one strategy
    near = graph.keep_out
    if not near.is_empty:
        x0, y0, x1, y1 = free.bounds
        pad = 2.0 * spacing
        near = _polygonal(_clip(near, x0 - pad, y0 - pad, x1 + pad, y1 + pad))
    inside = not near.is_empty and zone.area - free.area > 1e-6 * zone.area
    if forced is not None:
        angles = [forced % 180.0]
    else:
        angles = _best_angles(free, spacing, kin, keep_angles)
        if inside:  # lanes may also cross keep-out areas: screen the zone without them too
            angles += [a for a in _best_angles(zone, spacing, kin, 2) if a not in angles]

    def straight_s(sw: _Sweep) -> float:
        return flight_time_s(np.vstack([*lead_xy, *sw.runs]), kin)

    def pool(
        area: BaseGeometry, keep_out: BaseGeometry, angles: Sequence[float]
    ) -> list[tuple[float, _Sweep]]:
        rings = _rings_of(area, keep_out)
        out: list[tuple[float, _Sweep]] = []
        for a in angles:
            frame = _Frame.at(area, rings, keep_out, a)
            for layout in layouts:
                out.extend((straight_s(sw), sw) for sw in layout(frame, spacing, pos))
        return out

    def top(cands: list[tuple[float, _Sweep]], keep: int) -> list[_Sweep]:
        """The ``keep`` best sweeps by straight-joined time, cell orders improved (2-opt)."""
        cands = sorted(cands, key=lambda c: c[0])[: keep + 1]
        better = [sw.improve() for _, sw in cands if sw.improve is not None]
        cands += [(straight_s(sw), sw) for sw in better]
        return [sw for _, sw in sorted(cands, key=lambda c: c[0])[:keep]]

    cands = pool(free, near, angles)
    if forced is None:
        a0 = min(cands, key=lambda c: c[0])[1].angle_deg
        cands += pool(free, near, [(a0 + d) % 180.0 for d in refine_deg])
    if near.is_empty:  # straight joins: the screened path is the final one, fully covering
        sw = top(cands, 1)[0]
        return (*finish(sw), sw, None)
    # Lanes cut at a keep-out edge may leave slivers beside it: among the assembled paths,
    # the fastest one covering at least _GOOD_COVER of the free area wins (else the best
    # covering one).
    finals = [(*finish(sw), sw) for sw in top(cands, 5)]
    if inside and _TRY_DETOURS:
        angle = min(finals, key=lambda r: r[0])[3].angle_deg
        finals += [(*finish(sw), sw) for sw in top(pool(zone, Polygon(), [angle]), 2)]
    finals.sort(key=lambda r: r[0])
    best: _Result | None = None
    for t, xy, kinds, sw in finals:
        got = covered_fraction(free, xy, spacing)
        if best is None or got > (best[4] or 0.0):
            best = (t, xy, kinds, sw, got)
        if got >= _GOOD_COVER:
            best = (t, xy, kinds, sw, got)
            break
    assert best is not None
    return best


def _rank(result: _Result) -> tuple[bool, float]:
    """Sort key of a search result: covering paths (or unmeasured: no keep-out near, lanes
    cover by construction) first, fastest first; among poorly covering ones, best covering."""
    t, _, _, _, got = result
    if got is None or got >= _GOOD_COVER:
        return (False, t)
    return (True, -got)


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

    best: list  # [time, waypoints, kinds, sweep]
    measured: float | None = None
    if perimeter == "only":
        t, xy, kinds = finish(None)
        best = [t, xy, kinds, None]
    else:
        lead = ([] if start is None else [start[None]]) + [p for p, _ in head]
        found = _search(free, geom, graph, spacing, kinematics, forced, pos, lead, finish)
        if forced is None:
            # axis-aligned lanes are always a fully assembled candidate: the chosen path is
            # never slower than ``angle_deg=0`` (at equal coverage)
            axis = _search(free, geom, graph, spacing, kinematics, 0.0, pos, lead, finish)
            found = min(found, axis, key=_rank)
        *best, measured = found

    t, xy, kinds, sweep = best
    length = float(np.hypot(*np.diff(xy, axis=0).T).sum()) if len(xy) > 1 else 0.0
    return SweepPath(
        waypoints_xy=xy,
        kinds=tuple(kinds),
        angle_deg=None if sweep is None else float(sweep.angle_deg),
        cells=0 if sweep is None else sweep.cells,
        length_m=length,
        duration_s=t,
        covered_fraction=(
            measured
            if measured is not None
            else covered_fraction(free, xy, spacing)
            if len(xy)
            else 0.0
        ),
    )
