"""Example 1: plan patrol sweeps from a GeoJSON zones file and look at the map.

    python examples/plan_city.py [ZONES.geojson] [--out DIR] [--spacing-m 120]

Writes routes.geojson, summary.json, mission files and map.png into DIR.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dronepatrol.output import write_plan_dir
from dronepatrol.plan import PlanOptions, plan_patrol
from dronepatrol.plot import save_map
from dronepatrol.zones import read_zones

HERE = Path(__file__).parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("zones", nargs="?", default=HERE / "xuchang" / "zones.geojson", type=Path)
    ap.add_argument("--out", default=Path("out/plan_city"), type=Path)
    ap.add_argument("--spacing-m", default=120.0, type=float)
    args = ap.parse_args()

    zones = read_zones(args.zones)
    plan = plan_patrol(zones, PlanOptions(spacing_m=args.spacing_m, altitude_m=50, speed_mps=8))
    write_plan_dir(plan, args.out)
    map_path = save_map(plan, args.out / "map.png")
    for r in plan.reports:
        print(f"{r.name:<12} {r.kind:<11} {r.area_m2 / 1e4:7.1f} ha  covered "
              f"{r.covered_fraction:6.1%}  sweep {r.sweep_duration_s / 60:5.1f} min")
    for u in plan.uncoverable:
        print(f"UNCOVERABLE {u.name}: {u.reason}")
    print(f"map: {map_path}")


if __name__ == "__main__":
    main()
