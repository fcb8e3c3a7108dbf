"""Benchmark of dronepatrol.fleet: the example city and a synthetic 200-zone city.

For each city, in the same run:

* ``pyvrp`` and ``ortools``: the fleet planner (rotations) with each loop solver;
* ``greedy``: the simple baseline: each drone, back at its base and swapped, flies the most
  overdue zone part (never swept first, then the largest time since its last sweep over its
  period, nearest on ties), then, while its battery allows, the nearest part that is at least
  half-way to due, and returns to its base (the same parts, transits and gap accounting);
* two lower bounds, as a share of the fleet: sweep time per period only, and transit-aware
  (plus the least overhead every sortie over a zone pays: swap, take-off and landing, the
  straight round trip from the nearest base). Above 1.0 no schedule can meet every target.

Printed: planning time (zones -> sweeps, and sweeps -> schedule), worst revisit ratio
(worst gap / target) per zone kind, share of zones meeting their target, total flight time,
and when targets are missed, the smallest fleet found.

Then the planner alone on two other draws of the synthetic city (seeds 2 and 3), to show
whether the first is typical.

Run: ``python benchmarks/bench_fleet.py`` (about 3 minutes on one core).
"""

from __future__ import annotations

import heapq
import math
import time
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Polygon

from dronepatrol.fleet import (
    _MARGIN,
    FleetOptions,
    NearestLoopSolver,
    OrToolsLoopSolver,
    PyVrpLoopSolver,
    _Planner,
    _score,
    plan_fleet,
)
from dronepatrol.geo import LocalFrame
from dronepatrol.plan import PlanOptions, plan_patrol
from dronepatrol.zones import ZoneSet, read_zones

EXAMPLE = Path(__file__).parents[1] / "examples" / "xuchang" / "zones.geojson"


def synthetic_city(seed: int = 1, n_zones: int = 200, n_bases: int = 8) -> ZoneSet:
    """``n_zones`` star-shaped zones on a jittered grid (sealed small, precaution large),
    four no-fly areas, ``n_bases`` bases on a ring around the centre."""
    rng = np.random.default_rng(seed)
    frame = LocalFrame.centred_on(113.85, 34.03)
    side = math.ceil(math.sqrt(n_zones))
    cell = 450.0
    specs = []
    kinds = rng.choice(["sealed", "controlled", "precaution"], n_zones, p=[0.3, 0.4, 0.3])
    radius = {"sealed": 80.0, "controlled": 140.0, "precaution": 200.0}
    for i in range(n_zones):
        cx = (i % side - side / 2 + 0.5) * cell + rng.uniform(-60, 60)
        cy = (i // side - side / 2 + 0.5) * cell + rng.uniform(-60, 60)
        r = radius[kinds[i]] * rng.uniform(0.85, 1.0)
        ang = np.sort(rng.uniform(0, 2 * math.pi, 9))
        rad = r * rng.uniform(0.75, 1.0, 9)
        poly = Polygon(np.c_[cx + rad * np.cos(ang), cy + rad * np.sin(ang)])
        poly = poly if poly.is_valid else shapely.make_valid(poly)
        specs.append({"name": f"Z{i:03d}", "kind": str(kinds[i]),
                      "geometry": frame.geometry_to_lonlat(poly)})
    for k, (x, y) in enumerate([(-1000, 2700), (2700, -1000), (-2700, -2700), (1000, 3100)]):
        nf = shapely.box(x - 120, y - 120, x + 120, y + 120)
        specs.append({"name": f"NF{k}", "kind": "no_fly", "geometry": frame.geometry_to_lonlat(nf)})
    bases = []
    for b in range(n_bases):
        a = 2 * math.pi * b / n_bases + 0.2
        lon, lat = frame.to_lonlat(2000 * math.cos(a), 2000 * math.sin(a))
        bases.append((f"B{b}", float(lon), float(lat)))
    return ZoneSet.from_shapely(specs, bases=bases)


def greedy_baseline(plan, opts: FleetOptions):
    """The simple baseline (see the module docstring): returns (zones report, flight s)."""
    drones = opts.drone_specs(plan.options.speed_mps)
    pl = _Planner(plan, opts, drones, NearestLoopSolver())
    parts = pl.parts
    n = len(parts)
    entry = np.asarray([p.sweep.sweep.waypoints_xy[0] for p in parts])
    exit_ = np.asarray([p.sweep.sweep.waypoints_xy[-1] for p in parts])
    travel = np.asarray(pl.costs.time(pl.costs.dist_matrix(exit_, entry))) * _MARGIN
    homes = pl.home_bases(drones)
    bxy = {b: np.asarray([plan.base_xy(b)]) for b in pl.depots}
    to_part = {b: np.asarray(pl.costs.time(pl.costs.dist_matrix(bxy[b], entry)[0])) * _MARGIN
               for b in pl.depots}
    from_part = {b: np.asarray(pl.costs.time(pl.costs.dist_matrix(exit_, bxy[b])[:, 0]))
                 * _MARGIN for b in pl.depots}
    sweep = np.asarray([p.duration_s for p in parts]) * _MARGIN
    period = np.asarray([p.period_s for p in parts])
    last = np.full(n, -np.inf)
    busy = np.zeros(n)
    shift = opts.shift_s
    out: dict[str, list] = {d.name: [] for d in drones}
    events = [(0.0, k) for k in range(len(drones))]
    heapq.heapify(events)
    while events:
        t, k = heapq.heappop(events)
        base = homes[k]
        free = busy <= t + 1e-9
        due = np.where(np.isinf(last), np.inf, (t - last) / period)
        ok = free & (due >= 0.5)
        if not ok.any():
            nxt = [x for x in np.r_[last + 0.5 * period, busy] if t + 1e-9 < x < shift]
            if nxt:
                heapq.heappush(events, (min(nxt), k))
            continue
        cand = np.flatnonzero(ok)
        first = max(cand, key=lambda j: (due[j], -to_part[base][j]))
        seq, used = [first], to_part[base][first] + sweep[first]
        while True:
            here = seq[-1]
            rest = [j for j in cand if j not in seq
                    and used + travel[here, j] + sweep[j] + from_part[base][j] + pl.climb
                    <= pl.budget]
            if not rest:
                break
            j = min(rest, key=lambda j: travel[here, j])
            seq.append(j)
            used += travel[here, j] + sweep[j]
        while True:
            lp = pl._loop(base, [int(j) for j in seq], float(period[seq[0]]))
            if lp.flight_s <= pl.budget or len(seq) == 1:
                break
            seq.pop()
        if t + lp.flight_s > shift:
            continue
        out[drones[k].name].append((t, lp))
        for j, (_, o1) in zip(seq, lp.offsets, strict=True):
            last[j] = t + o1
            busy[j] = t + lp.flight_s
        heapq.heappush(events, (t + lp.flight_s + drones[k].swap_s, k))
    sorties, zones = pl.evaluate(drones, out)
    return zones, sum(s.flight_s for ss in sorties.values() for s in ss), pl


def worst(zones) -> dict[str, float]:
    kinds = sorted({z.kind for z in zones})
    return {k: max(z.ratio for z in zones if z.kind == k) for k in kinds}


def line(label: str, zones, seconds: float, flight_s: float) -> None:
    met = sum(z.met for z in zones) / len(zones)
    print(f"  {label:<8} {seconds:7.2f} s  flight {flight_s / 3600:6.1f} h  met {met:6.1%}  "
          "worst ratio " + "  ".join(f"{k} {v:5.2f}" for k, v in worst(zones).items())
          + f"  (score {_score(zones)[0]:.2f})")


def run(label: str, zoneset: ZoneSet, drones: int, spacing_m: float, limit_s: float) -> None:
    t = time.perf_counter()
    plan = plan_patrol(zoneset, PlanOptions(spacing_m=spacing_m))
    plan_s = time.perf_counter() - t
    opts = FleetOptions(drones=drones, solver_time_limit_s=limit_s)
    print(f"{label}: {len(plan.sweeps)} zones, {len(plan.bases)} bases, {drones} drones, "
          f"4 h shift, spacing {spacing_m:g} m; zones -> sweeps {plan_s:.2f} s")
    t = time.perf_counter()
    zones, flight, pl = greedy_baseline(plan, opts)
    greedy_s = time.perf_counter() - t
    for solver in (PyVrpLoopSolver(), OrToolsLoopSolver()):
        sched = plan_fleet(plan, opts, solver=solver)
        if solver.name == "pyvrp":
            print(f"  lower bound: sweeps only {sched.workload_drones / drones:.2f} of the fleet, "
                  f"transit-aware {sched.lower_bound_drones / drones:.2f} "
                  f"({sched.lower_bound_drones:.2f} drones)")
        line(solver.name, sched.zones, sched.planning_time_s, sched.total_flight_s)
        if sched.misses:
            print(f"           misses {len(sched.misses)} zones; smallest fleet "
                  f"{sched.smallest_fleet} (of {drones}); periods that work with {drones}: "
                  f"{dict(sched.suggested_revisit_min or {})}")
    line("greedy", zones, greedy_s, flight)


def other_seeds(seeds: tuple[int, ...], drones: int) -> None:
    """The planner (PyVRP) on other draws of the synthetic city: is seed 1 typical?"""
    for seed in seeds:
        plan = plan_patrol(synthetic_city(seed=seed), PlanOptions(spacing_m=80.0))
        sched = plan_fleet(plan, FleetOptions(drones=drones, solver_time_limit_s=1.0))
        met = sum(z.met for z in sched.zones) / len(sched.zones)
        print(f"  seed {seed}: {len(plan.sweeps)} zones, {drones} drones, "
              f"{sched.planning_time_s:.1f} s, met {met:.1%}, worst ratio "
              f"{_score(sched.zones)[0]:.3f}, smallest fleet meeting every target "
              f"{sched.smallest_fleet or drones}, transit-aware bound "
              f"{sched.lower_bound_drones:.1f} drones")


def main() -> None:
    run("example city (Xuchang)", read_zones(EXAMPLE), 6, 150.0, 2.0)
    run("synthetic city", synthetic_city(), 20, 80.0, 1.0)
    print("synthetic city, other draws (pyvrp):")
    other_seeds((2, 3), 20)


if __name__ == "__main__":
    main()
