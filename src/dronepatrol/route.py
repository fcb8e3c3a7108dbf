"""Routes: sweeps of several zones joined by transits that avoid every no-fly area.

A :class:`Route` is one flight from a base back to a base, in the local metric frame. Every
leg is labelled with what it is (``transit``, ``sweep``, ``connect``, ``perimeter``) and the
zone it serves (``None`` in transit), so that broadcast scheduling and reports can tell where
the drone is over which zone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dronepatrol.coverage import Kinematics, SweepPath, TransitGraph, flight_time_s
from dronepatrol.errors import PlanningError


@dataclass(frozen=True)
class Route:
    """One flight: waypoints (x, y metres, local frame) with per-leg labels.

    ``leg_kinds[i]`` and ``leg_zones[i]`` describe the leg from waypoint i to i+1.
    ``altitudes_m[i]`` is the altitude above home at waypoint i.
    """

    name: str
    waypoints_xy: NDArray[np.float64]
    altitudes_m: NDArray[np.float64]
    leg_kinds: tuple[str, ...]
    leg_zones: tuple[str | None, ...]
    zones: tuple[str, ...]
    start_base: str
    end_base: str
    speed_mps: float
    length_m: float
    duration_s: float

    def __post_init__(self) -> None:
        n = len(self.waypoints_xy)
        if len(self.leg_kinds) != n - 1 or len(self.leg_zones) != n - 1:
            raise PlanningError(f"route {self.name}: legs do not match waypoints")
        if len(self.altitudes_m) != n:
            raise PlanningError(f"route {self.name}: altitudes do not match waypoints")

    @property
    def transit_length_m(self) -> float:
        """Length flown in transit (not over a zone)."""
        return float(sum(
            _leg_len(self.waypoints_xy, i) for i, k in enumerate(self.leg_kinds) if k == "transit"
        ))


def _leg_len(xy: NDArray[np.float64], i: int) -> float:
    return float(math.hypot(*(xy[i + 1] - xy[i])))


def polyline_length_m(xy: NDArray[np.float64]) -> float:
    """Length of an (N, 2) polyline in metres."""
    if len(xy) < 2:
        return 0.0
    return float(np.sum(np.hypot(*np.diff(xy, axis=0).T)))


def climb_time_s(altitude_m: float, climb_mps: float = 2.5, descent_mps: float = 1.5) -> float:
    """Time to take off to ``altitude_m`` and land from it again (ArduCopter default speeds)."""
    return altitude_m / climb_mps + altitude_m / descent_mps


@dataclass(frozen=True)
class ZoneSweep:
    """A zone's sweep path and the altitude it is flown at."""

    zone: str
    sweep: SweepPath
    altitude_m: float

    def oriented(self, reverse: bool) -> NDArray[np.float64]:
        """The sweep's waypoints, reversed if asked."""
        wp = self.sweep.waypoints_xy
        return wp[::-1] if reverse else wp

    def kinds(self, reverse: bool) -> tuple[str, ...]:
        """Per-leg kinds, in the flown order."""
        k = self.sweep.kinds
        return tuple(reversed(k)) if reverse else k


def order_sweeps(
    sweeps: Sequence[ZoneSweep], graph: TransitGraph, start_xy: tuple[float, float],
    end_xy: tuple[float, float],
) -> list[tuple[int, bool]]:
    """Visit order of the sweeps, each with a reversal flag, keeping transits short.

    Greedy nearest neighbour on avoid-no-fly transit distances, then 2-opt on the order.
    """
    n = len(sweeps)
    if n == 0:
        return []
    ends = [(s.sweep.waypoints_xy[0], s.sweep.waypoints_xy[-1]) for s in sweeps]

    def entry_exit(i: int, rev: bool) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        a, b = ends[i]
        return (b, a) if rev else (a, b)

    def dist(p: NDArray[np.float64] | tuple[float, float], q: NDArray[np.float64]) -> float:
        p_t = (float(p[0]), float(p[1]))
        q_t = (float(q[0]), float(q[1]))
        if not graph.blocked(p_t, q_t):
            return math.hypot(q_t[0] - p_t[0], q_t[1] - p_t[1])
        return graph.distance_m(p_t, q_t)

    order: list[tuple[int, bool]] = []
    left = set(range(n))
    here: NDArray[np.float64] | tuple[float, float] = start_xy
    while left:
        best = min(
            ((dist(here, entry_exit(i, r)[0]), i, r) for i in left for r in (False, True)),
            key=lambda t: t[0],
        )
        _, i, r = best
        order.append((i, r))
        left.remove(i)
        here = entry_exit(i, r)[1]

    def tour_cost(o: list[tuple[int, bool]]) -> float:
        cost = 0.0
        pos: NDArray[np.float64] | tuple[float, float] = start_xy
        for i, r in o:
            a, b = entry_exit(i, r)
            cost += dist(pos, a)
            pos = b
        return cost + dist(pos, np.asarray(end_xy))

    if n <= 60:
        best_cost = tour_cost(order)
        improved = True
        while improved:
            improved = False
            for i in range(n - 1):
                for j in range(i + 1, n):
                    cand = order[:i] + [(k, not r) for k, r in reversed(order[i : j + 1])]
                    cand += order[j + 1 :]
                    c = tour_cost(cand)
                    if c < best_cost - 1e-6:
                        order, best_cost, improved = cand, c, True
    return order


def assemble_route(
    name: str,
    sweeps: Sequence[ZoneSweep],
    graph: TransitGraph,
    *,
    start_xy: tuple[float, float],
    end_xy: tuple[float, float],
    start_base: str,
    end_base: str,
    transit_altitude_m: float,
    kinematics: Kinematics,
    order: Sequence[tuple[int, bool]] | None = None,
) -> Route:
    """Join sweeps into one route from ``start_xy`` to ``end_xy`` with no-fly-free transits.

    Raises :class:`PlanningError` naming the zone when a transit has no path.
    """
    if order is None:
        order = order_sweeps(sweeps, graph, start_xy, end_xy)
    pts: list[NDArray[np.float64]] = [np.asarray([start_xy], dtype=float)]
    alts: list[NDArray[np.float64]] = [np.asarray([transit_altitude_m])]
    kinds: list[str] = []
    zones: list[str | None] = []

    here = np.asarray(start_xy, dtype=float)

    def transit_to(target: NDArray[np.float64], what: str, alt_m: float) -> None:
        nonlocal here
        p = (float(here[0]), float(here[1]))
        q = (float(target[0]), float(target[1]))
        path = np.asarray([p, q]) if not graph.blocked(p, q) else graph.path(p, q)
        if path is None:
            raise PlanningError(f"route {name}: no path around the no-fly areas to {what}")
        inner = np.asarray(path, dtype=float)[1:]
        pts.append(inner)
        alts.append(np.full(len(inner), alt_m))
        here = inner[-1] if len(inner) else here
        kinds.extend(["transit"] * len(inner))
        zones.extend([None] * len(inner))

    for i, rev in order:
        s = sweeps[i]
        wp = s.oriented(rev)
        transit_to(wp[0], f"zone {s.zone}", transit_altitude_m)
        if len(alts[-1]):
            alts[-1][-1] = s.altitude_m  # arrive at the zone's altitude at its first waypoint
        pts.append(wp[1:])
        alts.append(np.full(len(wp) - 1, s.altitude_m))
        here = wp[-1]
        kinds.extend(s.kinds(rev))
        zones.extend([s.zone] * (len(wp) - 1))
    transit_to(np.asarray(end_xy, dtype=float), f"base {end_base}", transit_altitude_m)

    xy = np.concatenate(pts)
    alt = np.concatenate(alts)
    # drop zero-length legs (a sweep starting exactly where the last one ended)
    keep = np.ones(len(xy), dtype=bool)
    keep[1:] = np.hypot(*np.diff(xy, axis=0).T) > 1e-6
    leg_keep = keep[1:]
    xy, alt = xy[keep], alt[keep]
    kinds_t = tuple(k for k, kk in zip(kinds, leg_keep, strict=False) if kk)
    zones_t = tuple(z for z, kk in zip(zones, leg_keep, strict=False) if kk)
    length = polyline_length_m(xy)
    duration = flight_time_s(xy, kinematics) + climb_time_s(transit_altitude_m)
    return Route(
        name=name,
        waypoints_xy=xy,
        altitudes_m=alt,
        leg_kinds=kinds_t,
        leg_zones=zones_t,
        zones=tuple(sweeps[i].zone for i, _ in order),
        start_base=start_base,
        end_base=end_base,
        speed_mps=kinematics.speed_mps,
        length_m=length,
        duration_s=duration,
    )
