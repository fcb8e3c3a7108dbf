"""Benchmark of dronepatrol.fleet: the example city and a synthetic 200-zone city.

For each city, in the same run:

* ``ortools``: the fleet planner with OR-Tools loops (the default);
* ``nearest``: the same pipeline with the nearest-neighbour loop baseline (each loop takes the
  nearest part that still fits the battery);
* the lower bound: total sweep time per revisit period, over the fleet size (a workload above
  1.0 means no schedule can meet every target; below it, transits and swaps may still).

Printed: planning time (zones -> sweeps, and sweeps -> schedule), worst revisit ratio
(worst gap / target) per zone kind, share of zones meeting their target, total flight time.

Run: ``python benchmarks/bench_fleet.py`` (about a minute on one core).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Polygon

from dronepatrol.fleet import FleetOptions, NearestLoopSolver, OrToolsLoopSolver, plan_fleet
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


def report(label: str, sched, plan_s: float) -> None:
    n = len(sched.drones)
    kinds = sorted({z.kind for z in sched.zones})
    worst = {k: max(z.ratio for z in sched.zones if z.kind == k) for k in kinds}
    met = sum(z.met for z in sched.zones) / len(sched.zones)
    sorties = sum(len(v) for v in sched.sorties.values())
    print(f"  {label:<8} plan {plan_s:5.2f} s  schedule {sched.planning_time_s:6.2f} s  "
          f"parts {len(sched.parts):4d}  sorties {sorties:4d}  "
          f"flight {sched.total_flight_s / 3600:6.1f} h  met {met:6.1%}  worst ratio "
          + "  ".join(f"{k} {v:5.2f}" for k, v in worst.items()))
    if sched.misses and sched.smallest_fleet is not None:
        print(f"           misses {len(sched.misses)} zones; smallest fleet {sched.smallest_fleet}"
              f" (of {n}); periods that work with {n}: {dict(sched.suggested_revisit_min or {})}")


def run(label: str, zoneset: ZoneSet, drones: int, spacing_m: float, limit_s: float) -> None:
    t = time.perf_counter()
    plan = plan_patrol(zoneset, PlanOptions(spacing_m=spacing_m))
    plan_s = time.perf_counter() - t
    opts = FleetOptions(drones=drones, solver_time_limit_s=limit_s)
    print(f"{label}: {len(plan.sweeps)} zones, {len(plan.bases)} bases, {drones} drones, "
          f"4 h shift, spacing {spacing_m:g} m")
    main = plan_fleet(plan, opts, solver=OrToolsLoopSolver())
    print(f"  lower bound: workload {main.workload_drones:.2f} drones of sweeping "
          f"= {main.workload_drones / drones:.2f} of the fleet (sweeps only, no transit/swap)")
    report("ortools", main, plan_s)
    base = plan_fleet(plan, FleetOptions(drones=drones, solver_time_limit_s=limit_s,
                                         search_fleet=False), solver=NearestLoopSolver())
    report("nearest", base, plan_s)


def main() -> None:
    run("example city (Xuchang)", read_zones(EXAMPLE), 6, 150.0, 2.0)
    run("synthetic city", synthetic_city(), 20, 80.0, 1.0)


if __name__ == "__main__":
    main()
