"""Fleet patrols: several drones, bases, battery endurance and a revisit period for every zone.

Pipeline (each stage small and replaceable, after a :class:`~dronepatrol.plan.PatrolPlan`):

1. **Split** (:func:`split_parts`): a zone whose sweep, flown alone from its nearest base and
   back, does not fit in one battery (endurance minus reserve) is cut into parts at lane
   boundaries (the connecting leg between two lanes is dropped and replaced by a transit).
   Every lane belongs to exactly one part; every part fits alone. The cuts minimise the
   summed flight plus one battery swap per part (a dynamic programme over the cut points).
2. **Loops** (:class:`LoopSolver`): the parts of each revisit period are grouped into sortie
   templates ("loops", base -> parts -> the same base) by a capacitated multi-depot
   vehicle-routing solver, which also picks each loop's base: capacity is the battery budget,
   the cost is flight time plus a fixed cost per loop (one take-off, landing and swap).
   Solvers: OR-Tools routing (:class:`OrToolsLoopSolver`), PyVRP (:class:`PyVrpLoopSolver`,
   the default) and the nearest-neighbour baseline (:class:`NearestLoopSolver`). (One problem
   per period over every base, rather than one per nearest base, flies the 200-zone benchmark
   city with 17 drones' worth of loops instead of 19.6.) Two loop sets are built: loops as
   long as a battery allows (fewest take-offs), and loops short enough (period minus swap)
   for one drone to fly back to back within the period. A third set
   (:meth:`_Planner._riders`) lets a base's few
   shortest-period parts (at most 3) ride along on its longer loops that can still carry
   them, ordered and topped up with copies of the riders' own loops so that their gap in
   the rotation stays within their period; it saves a drone that a small sealed zone
   beside a large precaution zone would otherwise take alone.
3. **Dispatch, rotations**: per base, loops are grouped into rotations (periods cut into
   consecutive classes, spare capacity filled with longer-period loops). A rotation of cycle
   C (sum of flight + swap of its loops) and k drones is flown by every drone back to back,
   drone d staggered by d C / k, so each loop is flown every C / k exactly: it meets the
   shortest period P of the rotation iff k >= ceil(C / P). Drones go one by one to the
   rotation with the worst gap ratio (drones with a home base only to rotations there).
   When every drone's home base is free, rotations spanning all bases are tried too
   (:meth:`_Planner.cross_configs`): the slots of a rotation go base by base along a short
   tour of the bases, the last sortie at each base lands at the next one: one of its loops
   flown on, or, where that costs less, the base's loops of one period re-cut by the solver
   into closed loops plus one that lands at the next base (:meth:`_Planner._through`), or a
   transit-only ferry sortie when nothing else fits the battery, so drones migrate round
   the bases and the whole-drone rounding is paid once per rotation, not once per base.
   Longer-period loops share a slot, ``m = floor(period / gap)`` loops
   flown in turn, each every ``m`` cycles / drones. Loops are then moved between rotations
   while that lowers the drones needed. The configuration with the lowest worst gap ratio
   for the given fleet is kept.
   Where the rotations miss on a small case (<= 60 loops), the event-driven
   earliest-deadline dispatcher (:func:`_dispatch_base`) is tried too and the better kept.
4. **Evaluate**: every part's sweep completion times give its gaps; a zone's worst gap is the
   longest time between two sweeps of any one part of it. For an unsplit zone that is exactly
   the gap between complete passes. The start-up (shift start to the first complete pass,
   ``first_pass_s``) and the tail (last sweep to shift end, ``tail_s``) are reported but not
   counted: at shift start every zone is due at once, and at its end the next shift takes
   over.

Lower bounds: ``workload_drones`` (sweep time per period) and ``lower_bound_drones``
(transit-aware: each zone's sweep per period plus the least overhead each sortie over it pays,
swap, take-off, landing and the straight round trip from its nearest base, spread over the
most sweeping one battery carries on such a sortie).

Revisit periods: a period shorter than the shortest possible sortie over the zone (one lane,
from the nearest base and back) is an error, since no fleet can meet it; any longer period is
met with enough drones (parts flown in parallel, loops in rotation), so it is reported as a
miss with the smallest fleet instead.

When targets are missed, the schedule says which zones miss and by how much, the smallest
fleet (same drones, searched upward from the transit-aware bound, verified) and the revisit
periods (per kind) that would work.

Revisit defaults, minutes (:data:`DEFAULT_REVISIT_MIN`): sealed 20, controlled 45,
precaution 90; a zone's own ``revisit_min`` property wins.
"""

from __future__ import annotations

import copy
import heapq
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from dronepatrol.coverage import Kinematics, SweepPath, TransitGraph, flight_time_s
from dronepatrol.errors import PlanningError
from dronepatrol.geo import LocalFrame
from dronepatrol.plan import PatrolPlan
from dronepatrol.route import Route, ZoneSweep, assemble_route, climb_time_s

__all__ = [
    "DEFAULT_REVISIT_MIN",
    "DroneSpec",
    "FleetOptions",
    "FleetSchedule",
    "LoopProblem",
    "LoopSolver",
    "NearestLoopSolver",
    "OrToolsLoopSolver",
    "PartPass",
    "PyVrpLoopSolver",
    "Sortie",
    "ZoneMiss",
    "ZonePart",
    "ZoneRevisit",
    "plan_fleet",
    "schedule_to_json",
    "split_parts",
]

#: Default revisit period per zone kind, minutes. A zone's ``revisit_min`` overrides it.
DEFAULT_REVISIT_MIN: Mapping[str, float] = {"sealed": 20.0, "controlled": 45.0, "precaution": 90.0}

#: A loop is launched once its projected gap reaches this fraction of its period.
LAUNCH_RATIO = 0.5

_MARGIN = 1.02  # cost estimates are inflated by this much before the exact route is checked


def _positive(value: object, name: str, where: str) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise PlanningError(f"{where}: {name} must be a number, got {value!r}") from None
    if not (math.isfinite(x) and x > 0):
        raise PlanningError(f"{where}: {name} must be a finite number > 0, got {value!r}")
    return x


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, kw_only=True)
class DroneSpec:
    """One drone: cruise speed, battery and where it lives.

    ``endurance_s`` is flight time on one battery; ``reserve_fraction`` of it is never planned;
    ``swap_s`` is the time to land, swap the battery and be ready again at a base.
    ``home_base`` None lets the planner choose (by workload).

    >>> DroneSpec(name="d1", speed_mps=8.0).budget_s
    1200.0
    """

    name: str
    speed_mps: float = 8.0
    endurance_s: float = 25 * 60.0
    reserve_fraction: float = 0.2
    swap_s: float = 180.0
    home_base: str | None = None

    def __post_init__(self) -> None:
        where = f"drone {self.name}"
        if not self.name:
            raise PlanningError("a drone needs a non-empty name")
        _positive(self.speed_mps, "speed_mps", where)
        if self.speed_mps > 20.0:
            raise PlanningError(f"{where}: speed_mps {self.speed_mps} is above 20 m/s")
        _positive(self.endurance_s, "endurance_s", where)
        r = self.reserve_fraction
        if not (isinstance(r, (int, float)) and math.isfinite(r) and 0 <= r < 1):
            raise PlanningError(f"{where}: reserve_fraction must be in [0, 1), got {r!r}")
        if not (math.isfinite(self.swap_s) and self.swap_s >= 0):
            raise PlanningError(f"{where}: swap_s must be >= 0, got {self.swap_s!r}")

    @property
    def budget_s(self) -> float:
        """Plannable flight time per battery: endurance minus reserve."""
        return self.endurance_s * (1.0 - self.reserve_fraction)


@dataclass(frozen=True, kw_only=True)
class FleetOptions:
    """Fleet, shift and revisit targets.

    ``drones`` is a count (identical drones built from ``speed_mps`` (None: the plan's speed),
    ``endurance_s``, ``reserve_fraction``, ``swap_s``) or a sequence of :class:`DroneSpec`.
    ``revisit_min`` maps zone kind to revisit period in minutes (defaults
    :data:`DEFAULT_REVISIT_MIN`); a zone's own ``revisit_min`` wins.
    ``solver_time_limit_s`` caps the loop solver per base and period group.
    """

    drones: int | Sequence[DroneSpec] = 6
    shift_s: float = 4 * 3600.0
    revisit_min: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_REVISIT_MIN))
    speed_mps: float | None = None
    endurance_s: float = 25 * 60.0
    reserve_fraction: float = 0.2
    swap_s: float = 180.0
    solver_time_limit_s: float = 2.0
    search_fleet: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.drones, bool) or not isinstance(self.drones, (int, Sequence)):
            raise PlanningError(f"drones must be a count or DroneSpecs, got {self.drones!r}")
        if isinstance(self.drones, int):
            if self.drones < 1:
                raise PlanningError(
                    f"drones must be at least 1, got {self.drones}; a fleet needs a drone"
                )
        else:
            specs = tuple(self.drones)
            if not specs:
                raise PlanningError("drones is an empty list; give at least one DroneSpec")
            for d in specs:
                if not isinstance(d, DroneSpec):
                    raise PlanningError(f"drones must hold DroneSpec objects, got {d!r}")
            names = [d.name for d in specs]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise PlanningError(f"drone names must be unique; repeated: {', '.join(dupes)}")
            object.__setattr__(self, "drones", specs)
        _positive(self.shift_s, "shift_s", "fleet options")
        _positive(self.solver_time_limit_s, "solver_time_limit_s", "fleet options")
        for kind, minutes in self.revisit_min.items():
            _positive(minutes, f"revisit_min[{kind!r}]", "fleet options")
        if self.speed_mps is not None:
            _positive(self.speed_mps, "speed_mps", "fleet options")
        # validate the count-built drone parameters early, with a clear message
        DroneSpec(name="check", speed_mps=self.speed_mps or 8.0, endurance_s=self.endurance_s,
                  reserve_fraction=self.reserve_fraction, swap_s=self.swap_s)

    def drone_specs(self, default_speed_mps: float) -> tuple[DroneSpec, ...]:
        """The fleet as DroneSpecs (count-built drones are named d1, d2, ...)."""
        if isinstance(self.drones, int):
            return tuple(
                DroneSpec(name=f"d{i + 1}", speed_mps=self.speed_mps or default_speed_mps,
                          endurance_s=self.endurance_s, reserve_fraction=self.reserve_fraction,
                          swap_s=self.swap_s)
                for i in range(self.drones)
            )
        return tuple(self.drones)


# --------------------------------------------------------------------------- parts


@dataclass(frozen=True)
class ZonePart:
    """A piece of one zone's sweep that one sortie flies: part ``index`` of ``count``."""

    zone: str
    kind: str
    index: int
    count: int
    sweep: ZoneSweep
    period_s: float
    base: str
    """Nearest base (among the bases that have drones)."""

    @property
    def name(self) -> str:
        """``zone`` or ``zone#i/n`` for split zones."""
        return self.zone if self.count == 1 else f"{self.zone}#{self.index + 1}/{self.count}"

    @property
    def duration_s(self) -> float:
        """Flight time of the part's sweep alone (rest to rest)."""
        return float(self.sweep.sweep.duration_s)


class _Costs:
    """Transit time estimates: straight where clear, else around the no-fly areas."""

    def __init__(self, graph: TransitGraph, kin: Kinematics) -> None:
        self.graph = graph
        self.kin = kin

    def dist_matrix(self, a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
        ai = np.repeat(a, len(b), axis=0)
        bi = np.tile(b, (len(a), 1))
        d = np.hypot(*(bi - ai).T)
        blocked = self.graph.blocked_many(ai, bi)
        for k in np.flatnonzero(blocked):
            d[k] = self.graph.distance_m(ai[k], bi[k])
        return d.reshape(len(a), len(b))

    def time(self, dist_m: NDArray[np.float64] | float) -> NDArray[np.float64] | float:
        v, acc = self.kin.speed_mps, self.kin.accel_mps2
        t = np.where(np.asarray(dist_m) > 1e-6, np.asarray(dist_m) / v + v / acc, 0.0)
        return float(t) if np.ndim(t) == 0 else t


def _pieces(kinds: Sequence[str]) -> list[tuple[int, int]]:
    """Maximal runs of non-connect legs as (first waypoint, last waypoint) index pairs."""
    out: list[tuple[int, int]] = []
    start: int | None = None
    for i, k in enumerate(kinds):
        if k == "connect":
            if start is not None:
                out.append((start, i))
                start = None
        elif start is None:
            start = i
    if start is not None:
        out.append((start, len(kinds)))
    return out


def _sub_sweep(sw: ZoneSweep, first: int, last: int, kin: Kinematics) -> ZoneSweep:
    xy = sw.sweep.waypoints_xy[first : last + 1]
    kinds = sw.sweep.kinds[first:last]
    path = SweepPath(
        waypoints_xy=xy, kinds=tuple(kinds), angle_deg=sw.sweep.angle_deg, cells=sw.sweep.cells,
        length_m=float(np.hypot(*np.diff(xy, axis=0).T).sum()) if len(xy) > 1 else 0.0,
        duration_s=flight_time_s(xy, kin), covered_fraction=sw.sweep.covered_fraction,
    )
    return ZoneSweep(sw.zone, path, sw.altitude_m)


def split_parts(
    sweep: ZoneSweep,
    *,
    max_flight_s: float,
    base_xy: Sequence[tuple[float, float]],
    costs: _Costs,
    overhead_s: float,
    part_cost_s: float = 0.0,
) -> list[ZoneSweep]:
    """Cut ``sweep`` at lane boundaries into as few parts as fit ``max_flight_s`` each.

    A part's flight is: transit from the best base, the part, transit back, plus
    ``overhead_s`` (climb and descent). The cuts minimise the summed flight of the parts plus
    ``part_cost_s`` for each (a battery swap, say). Raises PlanningError when one lane alone
    does not fit.
    """
    bxy = np.asarray(base_xy, dtype=float)
    kin = costs.kin

    def flight(sub: ZoneSweep) -> float:
        wp = sub.sweep.waypoints_xy
        t_in = costs.time(costs.dist_matrix(bxy, wp[:1])[:, 0])
        t_out = costs.time(costs.dist_matrix(wp[-1:], bxy)[0])
        return float(np.min(np.asarray(t_in) + np.asarray(t_out))) + sub.sweep.duration_s \
            + overhead_s

    if flight(sweep) * _MARGIN <= max_flight_s:
        return [sweep]
    pieces = _pieces(sweep.sweep.kinds)
    if not pieces:
        raise PlanningError(f"zone {sweep.zone}: its sweep has no lanes to split")
    # cut into contiguous lane runs minimising the summed flight plus ``part_cost_s`` per
    # part (dynamic programme over the cut points): a far run pays its transit once per
    # part, so runs far from the base come out longer in lanes than near ones would
    n = len(pieces)
    best = [0.0] + [math.inf] * n  # best[b]: cost of cutting pieces[:b]
    cut = [0] * (n + 1)
    for a in range(n):
        if not math.isfinite(best[a]):
            continue
        for b in range(a, n):
            f = flight(_sub_sweep(sweep, pieces[a][0], pieces[b][1], kin))
            if f * _MARGIN > max_flight_s:
                if b == a:
                    raise PlanningError(
                        f"zone {sweep.zone}: one lane (waypoints {pieces[a][0]}-"
                        f"{pieces[a][1]}) takes {f:.0f} s to fly from the nearest base and "
                        f"back, more than the {max_flight_s:.0f} s a battery allows; use "
                        "drones with more endurance or a base closer to the zone"
                    )
                break
            c = best[a] + f + part_cost_s
            if c < best[b + 1] - 1e-9:
                best[b + 1], cut[b + 1] = c, a
    groups: list[tuple[int, int]] = []
    b = n
    while b > 0:
        groups.append((cut[b], b - 1))
        b = cut[b]
    return [_sub_sweep(sweep, pieces[g0][0], pieces[g1][1], kin) for g0, g1 in reversed(groups)]


# --------------------------------------------------------------------------- loop solvers


@dataclass(frozen=True, kw_only=True)
class LoopProblem:
    """Group nodes into loops, each from a base and back to the same base.

    Nodes ``0 .. depots - 1`` are bases, the rest are the parts to fly (each in exactly one
    loop). ``travel_s[i, j]`` is the transit time from the exit of node i to the entry of node
    j; ``service_s[i]`` the time spent at node i (0 for a base). A loop's time is its transits
    and services; it must not exceed ``capacity_s``. Each loop also costs ``loop_cost_s``.
    """

    travel_s: NDArray[np.float64]
    service_s: NDArray[np.float64]
    capacity_s: float
    loop_cost_s: float
    time_limit_s: float
    depots: int = 1

    def __post_init__(self) -> None:
        n = len(self.service_s)
        if not 1 <= self.depots <= n:
            raise PlanningError(f"loop problem: depots must be in 1..{n}, got {self.depots}")
        if np.shape(self.travel_s) != (n, n):
            raise PlanningError(
                f"loop problem: travel_s has shape {np.shape(self.travel_s)}, expected ({n}, {n})"
            )

    @property
    def clients(self) -> range:
        """The part nodes."""
        return range(self.depots, len(self.service_s))

    def loop_time_s(self, loop: Sequence[int]) -> float:
        """Estimated time of one loop: its nodes, the base first and last."""
        return float(sum(self.travel_s[a, b] for a, b in zip(loop[:-1], loop[1:], strict=True))
                     + sum(self.service_s[i] for i in loop))


class LoopSolver(Protocol):
    """Groups parts into battery-feasible loops. One method, so solvers can be swapped."""

    def solve(self, problem: LoopProblem) -> list[list[int]]:
        """Loops as node lists ``[base, part, ..., part, base]`` (the same base at both ends);
        every part node in exactly one loop."""
        ...


class NearestLoopSolver:
    """Baseline: from the base nearest to any unvisited part, fly to the nearest unvisited
    part that still fits, repeat."""

    name = "nearest"

    def solve(self, problem: LoopProblem) -> list[list[int]]:
        """Greedy nearest-neighbour loops."""
        left = set(problem.clients)
        loops: list[list[int]] = []
        t_ = problem.travel_s
        bases = range(problem.depots)
        while left:
            base, first = min(((b, j) for b in bases for j in left), key=lambda bj: t_[bj])
            here, used, loop = base, 0.0, [base]
            while True:
                pick = None
                for j in sorted(left, key=lambda j: t_[here, j]):
                    if used + t_[here, j] + problem.service_s[j] + t_[j, base] <= \
                            problem.capacity_s:
                        pick = j
                        break
                if pick is None:
                    break
                used += t_[here, pick] + problem.service_s[pick]
                loop.append(pick)
                left.remove(pick)
                here = pick
            if len(loop) == 1:  # a part that fits alone only (estimates): its own loop
                loop.append(first)
                left.remove(first)
            loops.append([*loop, base])
        return loops


def _single_loops(problem: LoopProblem) -> list[list[int]] | None:
    """Trivial problems: no part, or one part (from its nearest base)."""
    clients = list(problem.clients)
    if len(clients) > 1:
        return None
    out = []
    bases = range(problem.depots)
    for j in clients:
        b = min(bases, key=lambda b: problem.travel_s[b, j] + problem.travel_s[j, b])
        out.append([b, j, b])
    return out


class OrToolsLoopSolver:
    """OR-Tools routing: capacitated multi-depot VRP with a time dimension capped at the battery
    budget, a fixed cost per loop, guided local search for ``problem.time_limit_s``.

    Falls back to :class:`NearestLoopSolver` if OR-Tools finds nothing in time.
    """

    name = "ortools"

    def solve(self, problem: LoopProblem) -> list[list[int]]:
        """Loops minimising total flight time plus the per-loop cost."""
        from ortools.constraint_solver import pywrapcp, routing_enums_pb2

        trivial = _single_loops(problem)
        if trivial is not None:
            return trivial
        n = len(problem.service_s)
        clients = len(problem.clients)
        scale = 10.0  # deciseconds: OR-Tools wants integers
        work = float(np.sum(problem.service_s))
        per_depot = int(min(clients, math.ceil(work / problem.capacity_s * 1.5) + 2))
        starts = [d for d in range(problem.depots) for _ in range(per_depot)]
        vehicles = len(starts)
        cost = np.rint((problem.travel_s + problem.service_s[:, None]) * scale).astype(np.int64)
        manager = pywrapcp.RoutingIndexManager(n, vehicles, starts, starts)
        routing = pywrapcp.RoutingModel(manager)
        cost_list = cost.tolist()

        def cb(i: int, j: int) -> int:
            return int(cost_list[manager.IndexToNode(i)][manager.IndexToNode(j)])

        idx = routing.RegisterTransitCallback(cb)
        routing.SetArcCostEvaluatorOfAllVehicles(idx)
        routing.AddDimension(idx, 0, int(problem.capacity_s * scale), True, "time")
        routing.SetFixedCostOfAllVehicles(int(problem.loop_cost_s * scale))
        params = pywrapcp.DefaultRoutingSearchParameters()
        params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
        params.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        )
        limit = min(problem.time_limit_s, 0.2 + 0.02 * clients)
        params.time_limit.FromMilliseconds(max(1, int(limit * 1000)))
        sol = routing.SolveWithParameters(params)
        if sol is None:
            return NearestLoopSolver().solve(problem)
        loops: list[list[int]] = []
        for v in range(vehicles):
            i = sol.Value(routing.NextVar(routing.Start(v)))
            loop = []
            while not routing.IsEnd(i):
                loop.append(manager.IndexToNode(i))
                i = sol.Value(routing.NextVar(i))
            if loop:
                loops.append([starts[v], *loop, starts[v]])
        return loops


class PyVrpLoopSolver:
    """PyVRP (hybrid genetic search): the same capacitated multi-depot problem, the battery
    budget as the vehicles' shift duration and the per-loop cost as their fixed cost.

    Falls back to :class:`NearestLoopSolver` if PyVRP finds no feasible solution in time.
    """

    name = "pyvrp"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def solve(self, problem: LoopProblem) -> list[list[int]]:
        """Loops minimising total flight time plus the per-loop cost."""
        from pyvrp import Model
        from pyvrp.stop import MaxRuntime

        trivial = _single_loops(problem)
        if trivial is not None:
            return trivial
        n = len(problem.service_s)
        clients = len(problem.clients)
        scale = 10.0  # deciseconds, rounded up so integer loops never exceed the real budget
        travel = np.ceil(problem.travel_s * scale).astype(np.int64).tolist()
        service = np.ceil(problem.service_s * scale).astype(np.int64).tolist()
        model = Model()
        locs = [model.add_location(0.0, 0.0) for _ in range(n)]
        depots = [model.add_depot(locs[d]) for d in range(problem.depots)]
        for j in problem.clients:
            model.add_client(locs[j], service_duration=int(service[j]))
        for d, depot in enumerate(depots):
            model.add_vehicle_type(
                num_available=clients, start_depot=depot, end_depot=depot,
                fixed_cost=int(round(problem.loop_cost_s * scale)),
                shift_duration=int(math.floor(problem.capacity_s * scale)), name=str(d),
            )
        for i in range(n):
            for j in range(n):
                if i != j:
                    model.add_edge(locs[i], locs[j], distance=int(travel[i][j]),
                                   duration=int(travel[i][j]))
        limit = min(problem.time_limit_s, 0.2 + 0.02 * clients)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyVRP warns when a lone node cannot fit
            result = model.solve(stop=MaxRuntime(limit), seed=self.seed, display=False)
        if not result.is_feasible():
            return NearestLoopSolver().solve(problem)
        loops = []
        for route in result.best.routes():
            base = int(route.start_depot())
            loop = [_client_node(a, problem.depots) for a in route if a.is_client()]
            if loop:
                loops.append([base, *loop, base])
        return loops


def _client_node(activity: Any, depots: int) -> int:
    """Node number of a PyVRP client activity (its index counts clients from 0)."""
    return int(activity.idx) + depots


# --------------------------------------------------------------------------- schedule


@dataclass(frozen=True)
class PartPass:
    """One sweep of a zone part, completed at ``time_s`` (seconds from shift start)."""

    zone: str
    part: int
    parts: int
    start_s: float
    time_s: float


@dataclass(frozen=True)
class Sortie:
    """One flight of one drone: base -> zone parts -> base."""

    drone: str
    index: int
    start_s: float
    end_s: float
    start_base: str
    end_base: str
    route: Route
    passes: tuple[PartPass, ...]
    battery_used_fraction: float
    """Flight time over the drone's endurance (the reserve is what stays above 1 - reserve)."""

    @property
    def flight_s(self) -> float:
        """Flight time of this sortie."""
        return self.end_s - self.start_s


@dataclass(frozen=True)
class ZoneRevisit:
    """How often one zone is swept over the shift, against its target."""

    zone: str
    kind: str
    parts: int
    target_s: float
    passes: int
    """Complete passes (every part swept once more)."""
    pass_times_s: tuple[float, ...]
    worst_gap_s: float | None
    """Longest time between two sweeps of the same part, worst part (a part swept once
    counts its first sweep time from shift start); None if some part is never swept."""
    mean_gap_s: float | None
    tail_s: float | None
    """Last sweep to shift end, worst part (not counted in the gaps)."""
    first_pass_s: float | None
    """Time from shift start until every part has been swept once (not counted in the gaps:
    at shift start every zone is due at once)."""

    @property
    def ratio(self) -> float:
        """Worst gap over target (inf if never swept)."""
        return math.inf if self.worst_gap_s is None else self.worst_gap_s / self.target_s

    @property
    def met(self) -> bool:
        """True if the worst gap is within the target."""
        return self.worst_gap_s is not None and self.worst_gap_s <= self.target_s + 1e-6


@dataclass(frozen=True)
class ZoneMiss:
    """A zone that misses its revisit target."""

    zone: str
    kind: str
    worst_gap_s: float | None
    target_s: float

    @property
    def excess_s(self) -> float | None:
        """How much longer than the target the worst gap is (None: never swept)."""
        return None if self.worst_gap_s is None else self.worst_gap_s - self.target_s


@dataclass(frozen=True)
class FleetSchedule:
    """Per drone a list of sorties over the shift, per zone the gaps, and what is missed."""

    drones: tuple[DroneSpec, ...]
    shift_s: float
    sorties: Mapping[str, tuple[Sortie, ...]]
    zones: tuple[ZoneRevisit, ...]
    parts: tuple[ZonePart, ...]
    misses: tuple[ZoneMiss, ...]
    smallest_fleet: int | None
    """Smallest number of drones (like the first) meeting every target, if searched and found."""
    suggested_revisit_min: Mapping[str, float] | None
    """Revisit periods per kind that this fleet meets, when it misses the given ones."""
    workload_drones: float
    """Lower bound on the fleet: total sweep time per period over the shift, in drones."""
    solver: str
    planning_time_s: float
    frame: LocalFrame | None = None
    lower_bound_drones: float | None = None
    """Transit-aware lower bound on the fleet (sweeps plus the least overhead every sortie
    pays: swap, take-off and landing, round trip from the nearest base), in drones."""

    @property
    def feasible(self) -> bool:
        """True if every zone meets its revisit target."""
        return not self.misses

    @property
    def total_flight_s(self) -> float:
        """Flight time of all sorties."""
        return float(sum(s.flight_s for ss in self.sorties.values() for s in ss))

    def zone(self, name: str) -> ZoneRevisit:
        """The revisit report of zone ``name``."""
        for z in self.zones:
            if z.zone == name:
                return z
        raise KeyError(name)


@dataclass
class _Loop:
    base: str
    parts: tuple[int, ...]
    route: Route
    period_s: float
    offsets: tuple[tuple[float, float], ...]  # per part: (start, end) seconds after take-off

    @property
    def flight_s(self) -> float:
        return self.route.duration_s


def _offsets(route: Route, sweeps: Sequence[ZoneSweep], kin: Kinematics,
             climb_s: float) -> tuple[tuple[float, float], ...]:
    """Start and end time (after take-off) of each sweep in the route, in order."""
    wp = route.waypoints_xy
    out = []
    k = 0
    for sw in sweeps:
        idx = []
        for target in (sw.sweep.waypoints_xy[0], sw.sweep.waypoints_xy[-1]):
            hit = np.flatnonzero(np.all(np.abs(wp[k:] - target) <= 1e-6, axis=1))
            k = k + int(hit[0]) if len(hit) else k
            idx.append(k)
        t0 = flight_time_s(wp[: idx[0] + 1], kin) + climb_s
        t1 = flight_time_s(wp[: idx[1] + 1], kin) + climb_s
        out.append((t0, t1))
    return tuple(out)


# --------------------------------------------------------------------------- rotations


@dataclass
class _Group:
    """Loops of one base flown in a fixed cycle by ``drones`` drones in rotation.

    Each drone flies every loop once per cycle, back to back (flight + swap each); drone d
    starts the cycle ``d * cycle / drones`` after drone 0, so every loop is flown every
    ``cycle / drones`` seconds exactly.
    """

    base: str
    loops: list[int]
    cycle_s: float
    period_s: float
    members: list[DroneSpec] = field(default_factory=list)
    slots: list[list[int]] | None = None
    """Cross-base rotations: the cycle's slots in order; a slot's loops (one base) are flown
    in turn, instance j of the slot flying loop ``j mod len(slot)``. None: one loop a slot."""
    variants: dict[int, _Loop] = field(default_factory=dict)
    """Loops flown ending at another base (the next slot's), by loop index."""

    @property
    def drones(self) -> int:
        """Number of drones assigned."""
        return len(self.members)

    def need(self) -> int:
        """Drones needed so that cycle / drones <= period."""
        return max(1, math.ceil(self.cycle_s / self.period_s - 1e-9))

    def ratio(self, drones: int | None = None) -> float:
        """Gap over period with ``drones`` (default: the assigned ones)."""
        k = self.drones if drones is None else drones
        return math.inf if k == 0 else self.cycle_s / k / self.period_s


def _contiguous_partitions(n: int) -> list[list[list[int]]]:
    """Every way to cut 0..n-1 into consecutive blocks (all of them up to n = 8)."""
    if n == 0:
        return [[]]
    if n > 8:
        return [[[i] for i in range(n)], [list(range(n))]]
    out = []
    for mask in range(2 ** (n - 1)):
        blocks, cur = [], [0]
        for i in range(1, n):
            if mask >> (i - 1) & 1:
                blocks.append(cur)
                cur = []
            cur.append(i)
        blocks.append(cur)
        out.append(blocks)
    return out


class _Planner:
    """Everything that does not depend on the number of drones, computed once."""

    def __init__(self, plan: PatrolPlan, options: FleetOptions, drones: tuple[DroneSpec, ...],
                 solver: LoopSolver) -> None:
        self.plan, self.options, self.solver = plan, options, solver
        if not plan.sweeps:
            raise PlanningError("the plan has no coverable zone to patrol")
        base_names = [b.name for b in plan.bases]
        for d in drones:
            if d.home_base is not None and d.home_base not in base_names:
                raise PlanningError(
                    f"drone {d.name}: home_base {d.home_base!r} is not a base; bases are "
                    f"{', '.join(base_names)}"
                )
        for b in plan.bases:
            xy = np.asarray([plan.base_xy(b.name)])
            if plan.graph.blocked_many(xy, xy)[0]:
                raise PlanningError(
                    f"base {b.name} at ({b.lon_deg}, {b.lat_deg}) lies inside a no-fly area or "
                    f"its {plan.graph.clearance_m:g} m clearance; move the base"
                )
        fixed = {d.home_base for d in drones if d.home_base is not None}
        free = any(d.home_base is None for d in drones)
        self.depots = base_names if free else [b for b in base_names if b in fixed]
        self.speed = min(d.speed_mps for d in drones)
        self.budget = min(d.budget_s for d in drones)
        self.swap = max(d.swap_s for d in drones)
        self.kin = Kinematics(speed_mps=self.speed, accel_mps2=plan.options.accel_mps2)
        self.alt = plan.options.altitude_m
        self.climb = climb_time_s(self.alt)
        self.costs = _Costs(plan.graph, self.kin)
        self._check_reach(drones)
        self.periods = {s.zone: self._period(s.zone) for s in plan.sweeps}
        self._check_periods(len(drones))
        self.parts = self._split()
        # two loop sets: as long as a battery allows (fewest take-offs), and short enough
        # that one drone can fly a loop back to back within its period (easier to pack)
        self.loop_sets = [self._loops(lambda period: self.budget)]
        short = self._loops(lambda period: min(self.budget, max(period - self.swap,
                                                                 self.budget / 3)))
        if len(short) != len(self.loop_sets[0]):
            self.loop_sets.append(short)
        riding = self._riders(self.loop_sets[0])
        if riding is not None:
            self.loop_sets.append(riding)
        self.loops = self.loop_sets[0]
        self._variants: dict[tuple[int, str], _Loop | None] = {}
        self._throughs: dict[tuple[tuple[int, ...], str], list[_Loop] | None] = {}
        self._cross: dict[tuple[int, float], list[list[_Group]]] = {}

    # -- checks
    def _period(self, zone: str) -> float:
        z = self.plan.zoneset.zone(zone)
        if z.revisit_min is not None:
            return float(z.revisit_min) * 60.0
        kind = z.kind.value
        table = self.options.revisit_min
        if kind not in table:
            raise PlanningError(
                f"zone {zone}: no revisit period for kind {kind!r}; add revisit_min to the zone "
                f"or to FleetOptions.revisit_min (has {', '.join(table)})"
            )
        return float(table[kind]) * 60.0

    def _check_reach(self, drones: Sequence[DroneSpec]) -> None:
        starts = np.asarray([s.sweep.waypoints_xy[0] for s in self.plan.sweeps])
        for d in drones:
            kin = Kinematics(speed_mps=d.speed_mps, accel_mps2=self.plan.options.accel_mps2)
            costs = _Costs(self.plan.graph, kin)
            homes = [d.home_base] if d.home_base else [b.name for b in self.plan.bases]
            best = (math.inf, "", "")
            for b in homes:
                bxy = np.asarray([self.plan.base_xy(b)])
                t = np.asarray(costs.time(costs.dist_matrix(bxy, starts)[0]))
                k = int(np.argmin(t))
                trip = 2 * float(t[k]) + climb_time_s(self.alt)
                if trip < best[0]:
                    best = (trip, b, self.plan.sweeps[k].zone)
            if best[0] >= d.budget_s:
                raise PlanningError(
                    f"drone {d.name}: the round trip from base {best[1]} to the nearest zone "
                    f"{best[2]} takes {best[0]:.0f} s, but endurance {d.endurance_s:.0f} s minus "
                    f"{d.reserve_fraction:.0%} reserve leaves {d.budget_s:.0f} s; use a longer "
                    "endurance or a closer base"
                )

    def _shortest_sortie(self, sw: ZoneSweep) -> tuple[float, str]:
        """Flight time of the shortest sortie over any piece of ``sw`` (one lane run from the
        best base and back, with take-off and landing), and that base."""
        bxy = np.asarray([self.plan.base_xy(b) for b in self.depots])
        best = (math.inf, self.depots[0])
        for p0, p1 in _pieces(sw.sweep.kinds) or [(0, len(sw.sweep.waypoints_xy) - 1)]:
            sub = _sub_sweep(sw, p0, p1, self.kin)
            wp = sub.sweep.waypoints_xy
            t = np.asarray(self.costs.time(self.costs.dist_matrix(bxy, wp[:1])[:, 0])) + \
                np.asarray(self.costs.time(self.costs.dist_matrix(wp[-1:], bxy)[0]))
            k = int(np.argmin(t))
            total = float(t[k]) + sub.sweep.duration_s + self.climb
            if total < best[0]:
                best = (total, self.depots[k])
        return best

    def _check_periods(self, n_drones: int) -> None:
        """Reject periods no fleet can meet: shorter than the shortest possible sortie over
        the zone (one lane from the nearest base and back). Anything longer can be met by
        splitting the zone into parts flown in parallel by enough drones, so it is reported
        as a miss with the smallest fleet instead."""
        for s in self.plan.sweeps:
            period = self.periods[s.zone]
            if period >= s.sweep.duration_s + self.budget:
                continue  # cheap pre-check: longer than any single sortie could be
            shortest, base = self._shortest_sortie(s)
            if period < shortest:
                raise PlanningError(
                    f"zone {s.zone}: revisit period {period / 60:.1f} min is shorter than the "
                    f"shortest possible sortie over it ({shortest / 60:.1f} min: one lane of its "
                    f"sweep, whole sweep time {s.sweep.duration_s / 60:.1f} min, from base {base} "
                    "and back), so no fleet can meet it; lengthen revisit_min or widen the spacing"
                )

    # -- stage 1
    def _split(self) -> list[ZonePart]:
        bxy = [self.plan.base_xy(b) for b in self.depots]
        bxy_arr = np.asarray(bxy)
        parts: list[ZonePart] = []
        for s in self.plan.sweeps:
            period = self.periods[s.zone]
            subs = split_parts(s, max_flight_s=self.budget, base_xy=bxy, costs=self.costs,
                               overhead_s=self.climb, part_cost_s=self.swap)
            kind = self.plan.zoneset.zone(s.zone).kind.value
            for i, sub in enumerate(subs):
                wp = sub.sweep.waypoints_xy
                t = self.costs.dist_matrix(bxy_arr, wp[:1])[:, 0] + \
                    self.costs.dist_matrix(wp[-1:], bxy_arr)[0]
                base = self.depots[int(np.argmin(t))]
                parts.append(ZonePart(s.zone, kind, i, len(subs), sub, period, base))
        return parts

    # -- stage 2
    def _loops(self, cap_of: Callable[[float], float]) -> list[_Loop]:
        """Loops over the parts of each revisit period, from whichever base suits them (one
        multi-depot routing problem per period)."""
        groups: dict[float, list[int]] = {}
        for i, p in enumerate(self.parts):
            groups.setdefault(p.period_s, []).append(i)
        bxy = np.asarray([self.plan.base_xy(b) for b in self.depots])
        nb = len(self.depots)
        loops: list[_Loop] = []
        for period, idx in sorted(groups.items()):
            entry = np.vstack([bxy] + [self.parts[i].sweep.sweep.waypoints_xy[:1] for i in idx])
            exit_ = np.vstack([bxy] + [self.parts[i].sweep.sweep.waypoints_xy[-1:] for i in idx])
            travel = np.asarray(self.costs.time(self.costs.dist_matrix(exit_, entry)))
            np.fill_diagonal(travel, 0.0)
            service = np.array([0.0] * nb + [self.parts[i].duration_s for i in idx])
            cap = cap_of(period)
            problem = LoopProblem(
                travel_s=travel * _MARGIN, service_s=service * _MARGIN,
                capacity_s=cap - self.climb, loop_cost_s=self.swap + self.climb,
                time_limit_s=self.options.solver_time_limit_s, depots=nb,
            )
            for nodes in self.solver.solve(problem):
                members = [idx[j - nb] for j in nodes[1:-1]]
                loops.extend(self._build(self.depots[nodes[0]], members, period, cap))
        return loops

    def _loop(self, base: str, members: Sequence[int], period: float,
              end_base: str | None = None) -> _Loop:
        """The exact route over parts ``members`` in order, from ``base`` to ``end_base``
        (None: back to ``base``), with the time each sweep starts and ends."""
        end = base if end_base is None else end_base
        sweeps = [self.parts[i].sweep for i in members]
        route = assemble_route(
            f"{base}-loop" if end == base else f"{base}-{end}", sweeps, self.plan.graph,
            start_xy=self.plan.base_xy(base), end_xy=self.plan.base_xy(end), start_base=base,
            end_base=end, transit_altitude_m=self.alt, kinematics=self.kin,
            order=[(k, False) for k in range(len(sweeps))],
        )
        return _Loop(base, tuple(members), route, period,
                     _offsets(route, sweeps, self.kin, self.alt / 2.5))

    def _build(self, base: str, members: list[int], period: float, cap: float) -> list[_Loop]:
        """Routes for one loop; split it if the exact route is longer than the estimate."""
        lp = self._loop(base, members, period)
        if lp.flight_s > cap and len(members) > 1:
            h = len(members) // 2
            return self._build(base, members[:h], period, cap) + \
                self._build(base, members[h:], period, cap)
        if lp.flight_s > self.budget:
            raise PlanningError(
                f"zone part {self.parts[members[0]].name}: flight from base {base} takes "
                f"{lp.flight_s:.0f} s, more than the battery budget {self.budget:.0f} s"
            )
        return [lp]

    def _riders(self, loops: list[_Loop]) -> list[_Loop] | None:
        """A loop set where a base's shortest-period parts ride along on its longer-period loops.

        A few short-period parts near a base (a small sealed zone, say) may need a whole drone
        of their own while the longer loops beside them have spare battery. Here every longer
        loop of the base that can still carry them within the battery flies them too (at its
        start or its end, whichever is shorter), and their own loops go: they are then swept
        at every sortie of those loops. None when no base has such riders. The schedule is
        evaluated exactly, so this set is kept only where it does better.
        """
        out: list[_Loop] = []
        changed = False
        for base in sorted({lp.base for lp in loops}):
            mine = [lp for lp in loops if lp.base == base]
            low = min(lp.period_s for lp in mine)
            riders = [lp for lp in mine if lp.period_s == low]
            hosts = [lp for lp in mine if lp.period_s > low]
            parts = [i for lp in riders for i in lp.parts]
            if not hosts or len(parts) > 3:
                out.extend(mine)
                continue
            new: list[_Loop] = []
            for lp in hosts:
                best: _Loop | None = None
                for members in ([*parts, *lp.parts], [*lp.parts, *parts]):
                    cand = self._loop(base, members, lp.period_s)
                    if cand.flight_s <= self.budget and (
                            best is None or cand.flight_s < best.flight_s):
                        best = cand
                new.append(best if best is not None else lp)
            carrying = [lp for lp, old in zip(new, hosts, strict=True) if lp is not old]
            if not carrying:
                out.extend(mine)
                continue
            # spread the carrying loops evenly through the others (rotations fly a base's
            # loops in list order), so the riders' gaps stay even
            rest = [lp for lp in new if not any(lp is c for c in carrying)]
            step = len(new) / len(carrying)
            merged: list[_Loop] = []
            for k, lp in enumerate(carrying):
                while len(merged) < round(k * step) and rest:
                    merged.append(rest.pop(0))
                merged.append(lp)
            changed = True
            out.extend(self._fill_riders(merged + rest, riders, low))
        return out if changed else None

    def _rider_gap(self, seq: Sequence[_Loop], parts: Sequence[int], drones: int) -> float:
        """Longest gap between sweeps of any of ``parts`` when ``drones`` drones fly ``seq``
        in rotation (back to back, staggered by cycle / drones)."""
        cycle = float(sum(lp.flight_s + self.swap for lp in seq))
        worst = 0.0
        for pi in parts:
            t, times = 0.0, []
            for lp in seq:
                times += [t + o1 for i, (_, o1) in zip(lp.parts, lp.offsets, strict=True)
                          if i == pi]
                t += lp.flight_s + self.swap
            if not times:
                return math.inf
            x = np.sort(np.mod(np.add.outer(np.arange(drones) * cycle / drones, times), cycle),
                        axis=None)
            worst = max(worst, float(np.max(np.diff(np.r_[x, x[0] + cycle]))))
        return worst

    def _fill_riders(self, seq: list[_Loop], riders: Sequence[_Loop], period: float
                     ) -> list[_Loop]:
        """Fly copies of the riders' own loops between the carrying loops of ``seq`` where
        the rotation's spare time allows, while that shortens the riders' longest gap."""
        host = min(lp.period_s for lp in seq)
        cycle = float(sum(lp.flight_s + self.swap for lp in seq))
        k = max(1, math.ceil(cycle / host - 1e-9))
        parts = [i for lp in riders for i in lp.parts]
        gap, seq = self._swap_riders(seq, parts, k)
        extra = float(sum(lp.flight_s + self.swap for lp in riders))
        while gap > period + 1e-9 and cycle + extra <= k * host + 1e-9:
            best: tuple[float, list[_Loop]] | None = None
            for pos in range(len(seq) + 1):
                trial = seq[:pos] + [replace(lp, period_s=host) for lp in riders] + seq[pos:]
                g = self._rider_gap(trial, parts, k)
                if best is None or g < best[0] - 1e-9:
                    best = (g, trial)
            if best is None or best[0] >= gap - 1e-9:
                break
            gap, seq = self._swap_riders(best[1], parts, k)
            cycle += extra
        return seq

    def _swap_riders(self, seq: list[_Loop], parts: Sequence[int], drones: int
                     ) -> tuple[float, list[_Loop]]:
        """Swap loops of ``seq`` pairwise while that shortens the riders' longest gap."""
        gap = self._rider_gap(seq, parts, drones)
        if len(seq) > 40:
            return gap, seq
        improved = True
        while improved:
            improved = False
            for a in range(len(seq)):
                for b in range(a + 1, len(seq)):
                    trial = list(seq)
                    trial[a], trial[b] = trial[b], trial[a]
                    g = self._rider_gap(trial, parts, drones)
                    if g < gap - 1e-6:
                        gap, seq, improved = g, trial, True
        return gap, seq

    # -- stage 3
    def home_bases(self, drones: tuple[DroneSpec, ...]) -> list[str]:
        """Each drone's base: fixed ones kept, free ones given to the busiest base per drone."""
        load = {b: 0.0 for b in self.depots}
        for lp in self.loops:
            load[lp.base] += (lp.flight_s + self.swap) / lp.period_s
        count = {b: 0 for b in self.depots}
        homes: list[str] = []
        for d in drones:
            if d.home_base is not None:
                count[d.home_base] = count.get(d.home_base, 0) + 1
        for d in drones:
            if d.home_base is not None:
                homes.append(d.home_base)
                continue
            b = max(self.depots, key=lambda x: (load[x] / (count[x] + 1e-9) if load[x] else -1.0))
            count[b] += 1
            homes.append(b)
        return homes

    def dispatch(self, drones: tuple[DroneSpec, ...], period_scale: float = 1.0
                 ) -> dict[str, list[tuple[float, _Loop]]]:
        """Sortie starts per drone, base by base (see :func:`_dispatch_base`)."""
        homes = self.home_bases(drones)
        out: dict[str, list[tuple[float, _Loop]]] = {d.name: [] for d in drones}
        for base in self.depots:
            loops = [lp for lp in self.loops if lp.base == base]
            mine = [d for d, h in zip(drones, homes, strict=True) if h == base]
            if loops and mine:
                for d, starts in zip(mine, _dispatch_base(
                        loops, [d.swap_s for d in mine], self.options.shift_s, period_scale),
                        strict=True):
                    out[d.name] = starts
        return out

    # -- stage 3 (default): rotations
    def _cycle(self, i: int) -> float:
        return self.loops[i].flight_s + self.swap

    def _group(self, base: str, loops: list[int], scale: float) -> _Group:
        return _Group(base, loops, float(sum(self._cycle(i) for i in loops)),
                      min(self.loops[i].period_s for i in loops) * scale)

    def base_configs(self, base: str, scale: float = 1.0) -> list[list[_Group]]:
        """Ways to group one base's loops into rotations, fewest drones needed first.

        Loops are cut by period (consecutive periods may share a rotation, flown at the
        shorter one); then each rotation's spare capacity (drones x period - cycle) is filled
        with loops of longer periods, largest first.
        """
        idx = [i for i, lp in enumerate(self.loops) if lp.base == base]
        periods = sorted({self.loops[i].period_s for i in idx})
        configs = []
        for blocks in _contiguous_partitions(len(periods)):
            members = [[i for i in idx if self.loops[i].period_s in {periods[b] for b in block}]
                       for block in blocks]
            groups = [self._group(base, m, scale) for m in members if m]
            for a, ga in enumerate(groups):
                spare = ga.need() * ga.period_s - ga.cycle_s
                for gb in groups[a + 1:]:
                    for i in sorted(gb.loops, key=self._cycle, reverse=True):
                        c = self._cycle(i)
                        if c <= spare + 1e-9:
                            gb.loops.remove(i)
                            gb.cycle_s -= c
                            ga.loops.append(i)
                            ga.cycle_s += c
                            spare -= c
            configs.append([g for g in groups if g.loops])
        configs.sort(key=lambda gs: (sum(g.need() for g in gs),
                                     max(g.ratio(g.need()) for g in gs), len(gs)))
        return configs

    def min_rotation_drones(self, scale: float = 1.0) -> int:
        """Drones the rotations need to meet every period (free home bases), best loop set."""
        out = []
        for loops in self.loop_sets:
            view = self.with_loops(loops)
            bases = sorted({lp.base for lp in loops})
            out.append(sum(sum(g.need() for g in view.base_configs(b, scale)[0]) for b in bases))
            out.extend(sum(g.need() for g in cfg) for cfg in view.cross_configs(scale)[:1])
        return min(out)

    # -- stage 3: rotations across bases, longer periods flown every m-th cycle
    def _base_tour(self, bases: Sequence[str]) -> list[str]:
        """``bases`` in a short closed tour (nearest neighbour from the first)."""
        left = list(bases)
        tour = [left.pop(0)]
        while left:
            here = np.asarray(self.plan.base_xy(tour[-1]))
            nxt = min(left, key=lambda b: float(np.hypot(*(np.asarray(self.plan.base_xy(b))
                                                            - here))))
            left.remove(nxt)
            tour.append(nxt)
        return tour

    def _variant(self, i: int, end_base: str) -> _Loop | None:
        """Loop i flown on to ``end_base`` instead of back home (None: over the budget)."""
        lp = self.loops[i]
        if end_base == lp.base:
            return lp
        key = (id(lp), end_base)
        if key not in self._variants:
            v = self._loop(lp.base, lp.parts, lp.period_s, end_base)
            self._variants[key] = None if v.flight_s > self.budget else v
        return self._variants[key]

    def _cross_group(self, idx: Sequence[int], gap_s: float, scale: float,
                     tour: Sequence[str], *, solve: bool = True) -> _Group | None:
        """One rotation over the loops ``idx`` of every base, aiming at a gap of ``gap_s``.

        Loops of one base and period share a slot ``m = floor(period / gap)`` at a time (the
        slot's instances fly them in turn, so each is flown every ``m`` cycles / drones); the
        slots go base by base along ``tour``, the last slot of each base flying on to the next
        base (the slot that adds least), or, where that costs less, the base's loops of one
        period are re-cut into closed loops plus one that ends at the next base
        (:meth:`_through`; ``solve`` False uses only re-cuts already computed). None if no
        slot of some base can reach the next.
        """
        by: dict[tuple[str, float], list[int]] = {}
        for i in idx:
            by.setdefault((self.loops[i].base, self.loops[i].period_s), []).append(i)
        per_base: dict[str, list[list[int]]] = {}
        for (b, per), ii in sorted(by.items()):
            ii = sorted(ii, key=self._cycle, reverse=True)
            m = max(1, math.floor(per * scale / gap_s + 1e-9))
            per_base.setdefault(b, []).extend(ii[k:k + m] for k in range(0, len(ii), m))
        bases = [b for b in tour if b in per_base]
        slots: list[list[int]] = []
        variants: dict[int, _Loop] = {}
        for n, b in enumerate(bases):
            mine = per_base[b]
            nxt = bases[(n + 1) % len(bases)]
            if nxt != b:
                nxy = np.asarray(self.plan.base_xy(nxt))
                bxy = np.asarray(self.plan.base_xy(b))

                def extra(sl: list[int], nxy: NDArray[np.float64] = nxy,
                          bxy: NDArray[np.float64] = bxy) -> float:
                    out = []
                    for i in sl:
                        ex = self.parts[self.loops[i].parts[-1]].sweep.sweep.waypoints_xy[-1]
                        d = float(np.hypot(*(nxy - ex)) - np.hypot(*(bxy - ex)))
                        out.append(self._cycle(i) + d / self.speed)
                    return max(out) - max(self._cycle(i) for i in sl)

                last = None
                for sl in sorted(mine, key=extra)[:6]:
                    vs = [self._variant(i, nxt) for i in sl]
                    if all(v is not None for v in vs):
                        last = sl
                        variants.update({i: v for i, v in zip(sl, vs, strict=True)
                                         if v is not None})
                        break
                if last is None:  # every loop of the base is too long to fly on: a ferry
                    ferry = self._ferry(b, nxt)
                    if ferry is None:
                        return None
                    last = [-1 - n]
                    variants[last[0]] = ferry
                    mine = [*mine, last]
                    added = ferry.flight_s + self.swap
                else:
                    added = max(variants[i].flight_s - self.loops[i].flight_s for i in last)
                # or re-cut one period's loops of the base so that one of them ends at nxt
                best: tuple[float, list[int], list[_Loop]] | None = None
                for per in sorted({self.loops[sl[0]].period_s for sl in mine if sl[0] >= 0}):
                    same = [sl for sl in mine if sl[0] >= 0 and self.loops[sl[0]].period_s == per]
                    if any(len(sl) > 1 for sl in same):
                        continue  # some share a slot: keep them
                    cut = [sl[0] for sl in same]
                    new = self._through(cut, nxt, solve=solve)
                    if new is None:
                        continue
                    delta = float(sum(lp.flight_s for lp in new) - sum(
                        self.loops[i].flight_s for i in cut)) + self.swap * (len(new) - len(cut))
                    if delta < added - 1e-6 and (best is None or delta < best[0]):
                        best = (delta, cut, new)
                if best is not None:
                    _, cut, new = best
                    if last[0] < 0:
                        del variants[last[0]]
                    else:
                        for i in last:
                            del variants[i]
                    keys = [-1000 * (n + 1) - k for k in range(len(new))]
                    variants.update(zip(keys, new, strict=True))
                    mine = [sl for sl in mine if sl[0] >= 0 and sl[0] not in cut]
                    mine = [*mine, *([k] for k in keys)]
                    last = mine[-1]
                mine = [sl for sl in mine if sl is not last] + [last]
            slots.extend(mine)

        def fly(i: int) -> _Loop:
            return variants[i] if i in variants else self.loops[i]

        cycle = float(sum(max(fly(i).flight_s + self.swap for i in sl) for sl in slots))
        period = min(min(fly(i).period_s for i in sl) * scale / len(sl) for sl in slots)
        return _Group("*", list(idx), cycle, period, slots=slots, variants=variants)

    def _through(self, loop_idx: Sequence[int], end_base: str, *, solve: bool = True
                 ) -> list[_Loop] | None:
        """The parts of loops ``loop_idx`` (one base, one period) re-cut into closed loops and,
        last, one loop that lands at ``end_base`` (the solver's cheapest such cut; the last
        may carry no part: a ferry).

        None when no such cut fits the battery (or, with ``solve`` False, none was computed).
        """
        lps = [self.loops[i] for i in loop_idx]
        key = (tuple(id(lp) for lp in lps), end_base)
        if key in self._throughs or not solve:
            return self._throughs.get(key)
        base, period = lps[0].base, lps[0].period_s
        members = [j for lp in lps for j in lp.parts]
        bxy = np.asarray([self.plan.base_xy(base)])
        exy = np.asarray([self.plan.base_xy(end_base)])
        sweeps = [self.parts[j].sweep.sweep.waypoints_xy for j in members]
        # node 0 the base, 1..n the parts, n+1 a landing at end_base that every solution must
        # visit; after it only the way back to node 0 is free (the loop ends there), so the
        # loop that visits it lands at end_base
        entry = np.vstack([bxy] + [w[:1] for w in sweeps] + [exy])
        exit_ = np.vstack([bxy] + [w[-1:] for w in sweeps] + [exy])
        travel = np.asarray(self.costs.time(self.costs.dist_matrix(exit_, entry)))
        land = len(members) + 1
        travel[land, :] = 1e6
        travel[land, 0] = 0.0
        np.fill_diagonal(travel, 0.0)
        service = np.array([0.0] + [self.parts[j].duration_s for j in members] + [0.0])
        problem = LoopProblem(
            travel_s=travel * _MARGIN, service_s=service * _MARGIN,
            capacity_s=self.budget - self.climb, loop_cost_s=self.swap + self.climb,
            time_limit_s=min(self.options.solver_time_limit_s, 0.5),
        )
        loops = self.solver.solve(problem)
        ends = [lp for lp in loops if land in lp]
        out: list[_Loop] | None = None
        if len(ends) == 1 and ends[0][-2] == land:
            built = [x for lp in loops if lp is not ends[0]
                     for x in self._build(base, [members[j - 1] for j in lp[1:-1]], period,
                                          self.budget)]
            mine = [members[j - 1] for j in ends[0][1:-2]]
            lands = self._loop(base, mine, period if mine else math.inf, end_base)
            if lands.flight_s <= self.budget:
                out = [*built, lands]
        self._throughs[key] = out
        return out

    def _ferry(self, base: str, end_base: str) -> _Loop | None:
        """A sortie that only flies from ``base`` to ``end_base`` (None: over the budget)."""
        key = (0, f"{base}>{end_base}")
        if key not in self._variants:
            ferry = self._loop(base, [], math.inf, end_base)
            self._variants[key] = None if ferry.flight_s > self.budget else ferry
        return self._variants[key]

    def _improve(self, groups: list[_Group], scale: float, tour: Sequence[str]
                 ) -> list[_Group]:
        """Move loops between rotations (into one whose gap still meets their period) while
        that lowers the drones needed, or keeps them and gathers the spare capacity in one
        rotation (the step before it frees a drone)."""
        if len(groups) < 2:
            return groups
        gaps = [g.period_s for g in groups]

        def key(gs: Sequence[_Group]) -> tuple[int, float]:
            return (sum(g.need() for g in gs),
                    -max(g.need() - g.cycle_s / g.period_s for g in gs))

        best = key(groups)
        for _ in range(3):
            moved = False
            for i in sorted({i for g in groups for i in g.loops}, key=self._cycle, reverse=True):
                src = next(r for r, g in enumerate(groups) if i in g.loops)
                if len(groups[src].loops) == 1:
                    continue
                for dst in range(len(groups)):
                    if dst == src or self.loops[i].period_s * scale < gaps[dst] - 1e-9:
                        continue
                    a = self._cross_group([j for j in groups[src].loops if j != i], gaps[src],
                                          scale, tour, solve=False)
                    b = self._cross_group([*groups[dst].loops, i], gaps[dst], scale, tour,
                                          solve=False)
                    if a is None or b is None:
                        continue
                    trial = list(groups)
                    trial[src], trial[dst] = a, b
                    k = key(trial)
                    if k < best:
                        best, groups, moved = k, trial, True
                        break
            if not moved:
                break
        return groups

    def cross_configs(self, scale: float = 1.0) -> list[list[_Group]]:
        """Ways to fly every loop in rotations spanning all bases, fewest drones first.

        Periods are cut into consecutive classes, one rotation each; per rotation the target
        gap is chosen among ``period / m`` (m = 1..6) for the fewest drones.
        """
        key = (id(self.loops), scale)
        if key in self._cross:
            return self._cross[key]
        tour = self._base_tour(sorted({lp.base for lp in self.loops}))
        periods = sorted({lp.period_s for lp in self.loops})
        configs: list[list[_Group]] = []
        for blocks in _contiguous_partitions(len(periods)):
            groups = []
            for block in blocks:
                ps = {periods[b] for b in block}
                idx = [i for i, lp in enumerate(self.loops) if lp.period_s in ps]
                lo = min(ps) * scale
                gaps = sorted({p * scale / m for p in ps for m in range(1, 7)
                               if p * scale / m <= lo + 1e-9}, reverse=True)
                best: _Group | None = None
                for gap in gaps:
                    g = self._cross_group(idx, gap, scale, tour)
                    if g is not None and (best is None or (g.need(), g.ratio(g.need()))
                                          < (best.need(), best.ratio(best.need()))):
                        best = g
                if best is None:
                    break
                groups.append(best)
            else:
                configs.append(groups)
        configs.sort(key=lambda gs: (sum(g.need() for g in gs),
                                     max(g.ratio(g.need()) for g in gs), len(gs)))
        configs += [self._improve(gs, scale, tour) for gs in configs[:3]]
        configs.sort(key=lambda gs: (sum(g.need() for g in gs),
                                     max(g.ratio(g.need()) for g in gs), len(gs)))
        self._cross[key] = configs
        return configs

    @staticmethod
    def _assign(groups: list[_Group], drones: Sequence[DroneSpec]) -> float:
        """Give each drone to the rotation with the worst gap ratio (drones with a home base
        only to rotations there); returns the worst ratio."""
        for g in groups:
            g.members = []

        def worst(gs: list[_Group]) -> _Group:
            return max(gs, key=lambda g: (g.ratio(), g.cycle_s / g.period_s))

        for d in drones:
            if d.home_base is not None:
                mine = [g for g in groups if g.base == d.home_base]
                if mine:
                    worst(mine).members.append(d)
        for d in drones:
            if d.home_base is None and groups:
                worst(groups).members.append(d)
        return max((g.ratio() for g in groups), default=0.0)

    def rotations(self, drones: Sequence[DroneSpec], scale: float = 1.0, *,
                  cross: bool = True) -> list[_Group]:
        """Rotations with their drones: per base the configuration needing fewest drones,
        then one pass of per-base changes that lower the worst gap ratio (a small fleet
        merges a base's rotations so that every loop gets a drone)."""
        bases = sorted({lp.base for lp in self.loops})
        configs = {b: self.base_configs(b, scale) for b in bases}
        choice = {b: 0 for b in bases}

        def build() -> tuple[float, list[_Group]]:
            gs = [_Group(g.base, list(g.loops), g.cycle_s, g.period_s)
                  for b in bases for g in configs[b][choice[b]]]
            return self._assign(gs, drones), gs

        best, groups = build()
        if best > 1.0 + 1e-9:
            for b in bases:
                keep = choice[b]
                for c in range(len(configs[b])):
                    choice[b] = c
                    r, gs = build()
                    if r < best - 1e-9:
                        best, groups, keep = r, gs, c
                choice[b] = keep
        if cross and best > 1.0 + 1e-9 and all(d.home_base is None for d in drones):
            for cfg in self.cross_configs(scale):
                gs = [replace(g, members=[], loops=list(g.loops)) for g in cfg]
                r = self._assign(gs, drones)
                if r < best - 1e-9:
                    best, groups = r, gs
        return groups

    def rotation_dispatch(self, drones: Sequence[DroneSpec], scale: float = 1.0, *,
                          cross: bool = True) -> dict[str, list[tuple[float, _Loop]]]:
        """Sortie starts per drone: each rotation's drones fly its cycle back to back,
        staggered by cycle / drones; a sortie that would end after the shift is dropped."""
        shift = self.options.shift_s
        out: dict[str, list[tuple[float, _Loop]]] = {d.name: [] for d in drones}
        for g in self.rotations(drones, scale, cross=cross):
            if not g.members:
                continue
            slots = g.slots if g.slots is not None else [
                [i] for i in sorted(g.loops, key=lambda i: (self.loops[i].period_s, i))]
            fly = [[g.variants[i] if i in g.variants else self.loops[i] for i in sl]
                   for sl in slots]
            dur = [max(lp.flight_s + self.swap for lp in sl) for sl in fly]
            tau = np.concatenate([[0.0], np.cumsum(dur)[:-1]])
            cycle = float(sum(dur))
            k = g.drones
            for d, spec in enumerate(g.members):
                off = d * cycle / k
                n = -1
                while off + n * cycle < shift:
                    j = n * k + d  # instance number of every slot in this cycle of drone d
                    for sl, t0 in zip(fly, tau, strict=True):
                        lp = sl[j % len(sl)]
                        start = off + n * cycle + float(t0)
                        if start >= -1e-9 and start + lp.flight_s <= shift + 1e-6:
                            out[spec.name].append((max(start, 0.0), lp))
                    n += 1
        return out

    def lower_bound_drones(self) -> float:
        """Drones any schedule needs at the least, transits and swaps included.

        Per zone: its sweep time per period, plus the overhead every sortie over it pays at
        the least (swap, take-off and landing, the straight round trip from the nearest base
        to the nearest point of its sweep), spread over the most sweeping one battery can
        carry on such a sortie.
        """
        bxy = np.asarray([self.plan.base_xy(b) for b in self.depots])
        total = 0.0
        for s in self.plan.sweeps:
            wp = s.sweep.waypoints_xy
            d = np.hypot(*(wp[None, :, :] - bxy[:, None, :]).transpose(2, 0, 1)).min()
            trip = 2.0 * float(d) / self.speed
            sweep = min(s.sweep.duration_s,
                        sum(p.duration_s for p in self.parts if p.zone == s.zone))
            carry = self.budget - self.climb - trip
            over = self.swap + self.climb + trip
            total += sweep / self.periods[s.zone] * (1.0 + over / max(carry, 1e-9))
        return total

    # -- stage 4
    def with_loops(self, loops: list[_Loop]) -> _Planner:
        """The same planner over another loop set."""
        other = copy.copy(self)
        other.loops = loops
        return other

    def schedule(self, drones: tuple[DroneSpec, ...], period_scale: float = 1.0
                 ) -> tuple[dict[str, tuple[Sortie, ...]], tuple[ZoneRevisit, ...]]:
        """Sorties and per-zone revisit reports for this fleet: the best of the rotations
        over each loop set, and where they miss on a small case, the event-driven
        dispatcher."""
        best: tuple[dict[str, tuple[Sortie, ...]], tuple[ZoneRevisit, ...]] | None = None
        for loops in self.loop_sets:
            view = self.with_loops(loops)
            # per-base rotations, and rotations across the bases; the better for the people
            # on the ground wins (see _better)
            for cross in (False, True):
                r = view.evaluate(drones, view.rotation_dispatch(drones, period_scale,
                                                                 cross=cross), period_scale)
                if best is None or _better(r[1], best[1]):
                    best = r
        assert best is not None
        if _score(best[1])[0] > 1.0 + 1e-9 and len(self.loops) <= 60:
            for loops in self.loop_sets:
                view = self.with_loops(loops)
                r = view.evaluate(drones, view.dispatch(drones, period_scale), period_scale)
                if _better(r[1], best[1]):
                    best = r
        return best

    def evaluate(self, drones: tuple[DroneSpec, ...],
                 plan: Mapping[str, list[tuple[float, _Loop]]], period_scale: float = 1.0
                 ) -> tuple[dict[str, tuple[Sortie, ...]], tuple[ZoneRevisit, ...]]:
        """Sorties and per-zone revisit reports for given sortie starts."""
        sorties: dict[str, tuple[Sortie, ...]] = {}
        done: dict[int, list[tuple[float, float]]] = {i: [] for i in range(len(self.parts))}
        by_name = {d.name: d for d in drones}
        for name, starts in plan.items():
            d = by_name[name]
            out = []
            for n, (t, lp) in enumerate(starts):
                passes = []
                for pi, (o0, o1) in zip(lp.parts, lp.offsets, strict=True):
                    p = self.parts[pi]
                    passes.append(PartPass(p.zone, p.index, p.count, t + o0, t + o1))
                    done[pi].append((t + o0, t + o1))
                out.append(Sortie(
                    drone=name, index=n, start_s=t, end_s=t + lp.flight_s, start_base=lp.base,
                    end_base=lp.route.end_base, route=replace(lp.route, name=f"{name}-{n + 1}"),
                    passes=tuple(passes), battery_used_fraction=lp.flight_s / d.endurance_s,
                ))
            sorties[name] = tuple(out)
        return sorties, self._revisits(done, period_scale)

    def _revisits(self, done: dict[int, list[tuple[float, float]]], period_scale: float
                  ) -> tuple[ZoneRevisit, ...]:
        shift = self.options.shift_s
        reports = []
        for s in self.plan.sweeps:
            idx = [i for i, p in enumerate(self.parts) if p.zone == s.zone]
            worst: float | None = 0.0
            tail: float | None = 0.0
            first = 0.0
            gaps: list[float] = []
            ends: list[list[float]] = []
            for i in idx:
                t = sorted(e for _, e in done[i])
                ends.append(t)
                if not t:
                    worst = tail = None
                    continue
                g = np.diff(t).tolist() if len(t) > 1 else [t[0]]
                first = max(first, t[0])
                gaps.extend(g)
                if worst is not None:
                    worst = max(worst, max(g))
                if tail is not None:
                    tail = max(tail, shift - t[-1])
            n_pass = min(len(e) for e in ends)
            pass_times = tuple(max(e[k] for e in ends) for k in range(n_pass))
            p0 = self.parts[idx[0]]
            reports.append(ZoneRevisit(
                zone=s.zone, kind=p0.kind, parts=len(idx), target_s=p0.period_s * period_scale,
                passes=n_pass, pass_times_s=pass_times, worst_gap_s=worst,
                mean_gap_s=float(np.mean(gaps)) if worst is not None else None, tail_s=tail,
                first_pass_s=first if worst is not None else None,
            ))
        return tuple(reports)

    def workload_drones(self) -> float:
        """Sweep time per revisit period, summed over zones: drones needed at the least."""
        return float(sum(s.sweep.duration_s / self.periods[s.zone] for s in self.plan.sweeps))


def _dispatch_base(loops: Sequence[_Loop], swaps_s: Sequence[float], shift_s: float,
                   period_scale: float) -> list[list[tuple[float, _Loop]]]:
    """Earliest-deadline-first dispatch of one base's loops to its drones, with look-ahead.

    Loop j last started at ``p_j`` (a never-flown loop counts as started at ``-flight``) must
    start again by its deadline ``p_j + T_j`` and is worth launching from ``p_j + 0.5 T_j``
    (:data:`LAUNCH_RATIO`). A drone back at time t launches the not-flying loop with the
    earliest deadline (once loops are overdue: the largest overdue ratio) that a look-ahead
    shows to be safe: with every drone's return time and every loop's next deadlines in EDF
    order, tying the drone up does not make another loop late. If nothing is safe, the most
    urgent ready loop is flown (idling would only lose capacity); if nothing is ready, the
    drone waits at its base.
    """
    periods = [lp.period_s * period_scale for lp in loops]
    flights = [lp.flight_s for lp in loops]
    n = len(loops)
    last = [-f for f in flights]
    flown = [False] * n

    def ready_at(j: int) -> float:
        return last[j] + LAUNCH_RATIO * periods[j] if flown[j] else 0.0
    busy = [0.0] * n
    free = [0.0] * len(swaps_s)
    out: list[list[tuple[float, _Loop]]] = [[] for _ in swaps_s]
    done = [False] * len(swaps_s)
    horizon_pad = max(flights) + max(swaps_s)

    def safe(t: float, k: int, j0: int) -> bool:
        fr = sorted([free[i] if i != k else t + flights[j0] + swaps_s[k]
                     for i in range(len(free)) if not done[i] or i == k])
        horizon = t + flights[j0] + swaps_s[k] + horizon_pad
        heap = []
        for j in range(n):
            p = t if j == j0 else last[j]
            el = p + LAUNCH_RATIO * periods[j] if (flown[j] or j == j0) else 0.0
            heap.append((p + periods[j], max(busy[j], el), j))
        heapq.heapify(heap)
        sw = max(swaps_s)
        while heap:
            dl, el, j = heapq.heappop(heap)
            if dl > horizon:
                return True
            if dl > shift_s - flights[j] + 1e-6:
                continue  # would not be flown anyway
            tau = heapq.heappop(fr)
            st = max(tau, el)
            if st > dl + 1e-6:
                return False
            heapq.heappush(fr, st + flights[j] + sw)
            heapq.heappush(heap, (st + periods[j], st + LAUNCH_RATIO * periods[j], j))
        return True

    events = [(0.0, k) for k in range(len(swaps_s))]
    heapq.heapify(events)
    while events:
        t, k = heapq.heappop(events)
        idle = [j for j in range(n) if busy[j] <= t + 1e-9 and t + flights[j] <= shift_s + 1e-6]
        if not idle:
            nxt = [busy[j] for j in range(n) if busy[j] > t]
            if nxt and min(nxt) < shift_s:
                free[k] = min(nxt)
                heapq.heappush(events, (free[k], k))
            else:
                done[k] = True
            continue
        idle.sort(key=lambda j: last[j] + periods[j])
        ready = [j for j in idle if t >= ready_at(j) - 1e-9]
        order = ready
        if ready and last[idle[0]] + periods[idle[0]] < t:  # overdue: spread the lateness
            order = sorted(ready, key=lambda j: (last[j] - t) / periods[j])
        pick = next((j for j in order if safe(t, k, j)), None)
        wake = [ready_at(j) for j in idle]
        wake += [ti for ti, _ in events if ti > t]
        wake += [busy[j] for j in range(n) if busy[j] > t]
        w = min((x for x in wake if x > t + 1e-9), default=math.inf)
        if pick is None and order:
            pick = order[0]  # nothing is safe: fly the most urgent rather than idle
        if pick is not None:
            out[k].append((t, loops[pick]))
            last[pick] = t
            flown[pick] = True
            busy[pick] = t + flights[pick]
            free[k] = t + flights[pick] + swaps_s[k]
            heapq.heappush(events, (free[k], k))
            continue
        if w < shift_s:
            free[k] = w
            heapq.heappush(events, (w, k))
        else:
            done[k] = True
    return out


def _score(zones: Sequence[ZoneRevisit]) -> tuple[float, float]:
    """Worst ratio, then the summed excess over the targets (lower is better)."""
    ratios = [z.ratio for z in zones]
    return max(ratios, default=0.0), float(sum(max(0.0, r - 1.0) for r in ratios))


#: Worst-ratio difference below which two schedules count as equally bad at their worst.
_WORST_TOLERANCE = 0.05


def _better(a: Sequence[ZoneRevisit], b: Sequence[ZoneRevisit]) -> bool:
    """Whether schedule ``a`` is better than ``b`` for the people on the ground.

    A clearly lower worst ratio wins (more than :data:`_WORST_TOLERANCE`); within that
    tolerance the schedule that keeps more zones on target wins (a police team would rather
    have one zone known to be a little late than every zone late), then the smaller summed
    excess, then the lower worst ratio.
    """
    wa, ea = _score(a)
    wb, eb = _score(b)
    if abs(wa - wb) > _WORST_TOLERANCE:
        return wa < wb
    ma = sum(not z.met for z in a)
    mb = sum(not z.met for z in b)
    return (ma, ea, wa) < (mb, eb, wb)


def _misses(zones: Sequence[ZoneRevisit]) -> tuple[ZoneMiss, ...]:
    return tuple(ZoneMiss(z.zone, z.kind, z.worst_gap_s, z.target_s) for z in zones if not z.met)


def _clone_fleet(template: DroneSpec, n: int) -> tuple[DroneSpec, ...]:
    return tuple(replace(template, name=f"d{i + 1}", home_base=None) for i in range(n))


def plan_fleet(
    plan: PatrolPlan,
    options: FleetOptions | None = None,
    *,
    solver: LoopSolver | None = None,
) -> FleetSchedule:
    """Schedule sorties for a fleet over a shift so every zone is revisited within its period.

    ``plan`` gives the zones' sweeps, bases, frame and no-fly transit graph. When the targets
    are missed the schedule lists the misses, the smallest fleet of drones like the first
    one that meets them (searched upward, if ``options.search_fleet``) and revisit periods
    per kind this fleet meets.

    Raises PlanningError for zero drones, a base inside a no-fly area, a drone whose battery
    cannot reach the nearest zone and back, or a revisit period shorter than the shortest
    possible sortie over the zone (one lane from the nearest base and back).
    """
    t0 = time.perf_counter()
    opts = options or FleetOptions()
    solver = solver or PyVrpLoopSolver()
    drones = opts.drone_specs(plan.options.speed_mps)
    planner = _Planner(plan, opts, drones, solver)
    sorties, zones = planner.schedule(drones)
    misses = _misses(zones)
    smallest: int | None = None
    suggested: dict[str, float] | None = None
    if misses and opts.search_fleet:
        smallest = _search_fleet(planner, drones)
        suggested = _search_periods(planner, drones, max((z.ratio for z in zones), default=2.0))
    return FleetSchedule(
        drones=drones, shift_s=opts.shift_s, sorties=sorties, zones=zones,
        parts=tuple(planner.parts), misses=misses, smallest_fleet=smallest,
        suggested_revisit_min=suggested, workload_drones=planner.workload_drones(),
        solver=getattr(solver, "name", type(solver).__name__),
        planning_time_s=time.perf_counter() - t0, frame=plan.frame,
        lower_bound_drones=planner.lower_bound_drones(),
    )


def _search_fleet(planner: _Planner, drones: tuple[DroneSpec, ...]) -> int | None:
    """Smallest fleet (clones of the first drone, free home bases) meeting every target.

    The rotations meet every target from :meth:`_Planner.min_rotation_drones` drones on, and
    never below it (a rotation short of its drones misses), so the answer is searched upward
    from the transit-aware lower bound to that count, each candidate verified by scheduling
    it; the event-driven fallback (small cases only) may meet a target with fewer.
    """
    n0 = len(drones)
    need = planner.min_rotation_drones()
    start = max(n0 + 1, math.ceil(planner.lower_bound_drones() - 1e-9))
    if len(planner.loops) > 60:
        start = max(start, need)
    for n in range(start, max(need, start) + 4):
        _, zones = planner.schedule(_clone_fleet(drones[0], n))
        if all(z.met for z in zones):
            return n
    return None


def _search_periods(planner: _Planner, drones: tuple[DroneSpec, ...], ratio: float
                    ) -> dict[str, float] | None:
    scale = max(1.0, ratio if math.isfinite(ratio) else 2.0)
    for _ in range(12):
        _, zones = planner.schedule(drones, scale)
        if all(z.met for z in zones):
            kinds = sorted({p.kind for p in planner.parts})
            out = {}
            for k in kinds:
                base = max(p.period_s for p in planner.parts if p.kind == k) / 60.0
                out[k] = float(math.ceil(base * scale))
            return out
        scale *= 1.15
    return None


# --------------------------------------------------------------------------- output


def schedule_to_json(schedule: FleetSchedule) -> dict[str, Any]:
    """The schedule as a JSON-ready dict (times in seconds from shift start; lon, lat)."""

    def r(x: float | None, nd: int = 1) -> float | None:
        return None if x is None else round(float(x), nd)

    drones = []
    for d in schedule.drones:
        sorties = []
        for s in schedule.sorties.get(d.name, ()):
            item: dict[str, Any] = {
                "index": s.index, "route": s.route.name, "start_s": r(s.start_s),
                "end_s": r(s.end_s), "flight_s": r(s.flight_s), "start_base": s.start_base,
                "end_base": s.end_base, "battery_used_fraction": r(s.battery_used_fraction, 3),
                "length_m": r(s.route.length_m), "zones": list(s.route.zones),
                "passes": [
                    {"zone": p.zone, "part": p.part + 1, "parts": p.parts,
                     "start_s": r(p.start_s), "end_s": r(p.time_s)} for p in s.passes
                ],
            }
            if schedule.frame is not None:
                ll = schedule.frame.xy_to_lonlat(s.route.waypoints_xy)
                item["waypoints_lonlat"] = np.round(np.asarray(ll), 7).tolist()
                item["altitudes_m"] = np.round(s.route.altitudes_m, 1).tolist()
            sorties.append(item)
        drones.append({
            "name": d.name, "home_base": sorties[0]["start_base"] if sorties else d.home_base,
            "speed_mps": d.speed_mps, "endurance_s": d.endurance_s,
            "reserve_fraction": d.reserve_fraction, "swap_s": d.swap_s, "sorties": sorties,
        })
    return {
        "shift_s": schedule.shift_s,
        "feasible": schedule.feasible,
        "solver": schedule.solver,
        "planning_time_s": r(schedule.planning_time_s, 3),
        "total_flight_s": r(schedule.total_flight_s),
        "workload_drones": r(schedule.workload_drones, 2),
        "lower_bound_drones": r(schedule.lower_bound_drones, 2),
        "drones": drones,
        "zones": [
            {"zone": z.zone, "kind": z.kind, "parts": z.parts, "target_s": r(z.target_s),
             "passes": z.passes, "worst_gap_s": r(z.worst_gap_s), "mean_gap_s": r(z.mean_gap_s),
             "tail_s": r(z.tail_s), "first_pass_s": r(z.first_pass_s),
             "ratio": r(z.ratio, 3) if z.passes else None, "met": z.met}
            for z in schedule.zones
        ],
        "misses": [
            {"zone": m.zone, "kind": m.kind, "worst_gap_s": r(m.worst_gap_s),
             "target_s": r(m.target_s), "excess_s": r(m.excess_s)} for m in schedule.misses
        ],
        "smallest_fleet": schedule.smallest_fleet,
        "suggested_revisit_min": (dict(schedule.suggested_revisit_min)
                                  if schedule.suggested_revisit_min else None),
    }
