"""Example 4: a fleet. Plan the example city for N drones over a shift, then fly them all.

Without --connect it starts the built-in simulator (one drone per fleet drone, at its base):

    python examples/fleet.py --drones 6 --sorties 1

Against ArduPilot SITL, one instance per drone (instance N listens on 5760 + 10 N):

    python examples/fleet.py --drones 2 --connect tcp:127.0.0.1:5760 --connect tcp:127.0.0.1:5770
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from pathlib import Path

from dronepatrol.fly import fly_plan, load_flight_plan
from dronepatrol.pipeline import PatrolSettings, plan_and_write
from dronepatrol.plan import PlanOptions
from dronepatrol.progress import VehicleBars
from dronepatrol.zones import read_zones

HERE = Path(__file__).parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drones", type=int, default=6)
    ap.add_argument("--shift-h", type=float, default=4.0)
    ap.add_argument("--sorties", type=int, default=1, help="fly the first K sorties per drone")
    ap.add_argument("--connect", action="append", default=[], metavar="URL")
    ap.add_argument("--speedup", type=float, default=60.0, help="built-in simulator speed-up")
    ap.add_argument("--out", type=Path, default=Path("out/fleet"))
    args = ap.parse_args()

    zones = read_zones(HERE / "xuchang" / "zones.geojson")
    settings = PatrolSettings(plan=PlanOptions(spacing_m=150, speed_mps=8), drones=args.drones,
                              shift_s=args.shift_h * 3600)
    result = plan_and_write(zones, settings, args.out)
    sched = result.schedule
    print(f"{len(result.routes)} sorties over {args.shift_h:g} h; schedule in "
          f"{args.out / 'schedule.png'}")
    for z in sched.zones:
        print(f"  {z.zone}: worst gap {z.worst_gap_s / 60:.0f} min (target "
              f"{z.target_s / 60:.0f} min) {'ok' if z.met else 'MISSED'}")

    plan = load_flight_plan(args.out)
    plan = dataclasses.replace(plan, vehicles=tuple(v[: args.sorties] for v in plan.vehicles))
    with contextlib.ExitStack() as stack:
        urls = list(args.connect)
        if not urls:
            from dronepatrol.cli import sim_homes
            from dronepatrol.sim import SimFleet
            from dronepatrol.sim.fleet import free_port_block

            homes = sim_homes(args.out, plan.home_bases)
            sim = stack.enter_context(SimFleet(vehicles=len(homes), homes=homes,
                                               speedup=args.speedup,
                                               base_port=free_port_block(len(homes))))
            urls = [sim.connection_string(i) for i in range(len(homes))]
        names = [f"drone-{i + 1}" for i in range(len(plan.vehicles))]
        with VehicleBars(names, [sum(len(s.mission) for s in v) for v in plan.vehicles]) as bars:
            results = fly_plan(plan, urls, out_dir=args.out / "flight", on_progress=bars.update)
    for r in results:
        print(f"{r.name}: {r.sorties_flown}/{r.sorties_planned} sorties, battery used "
              f"{r.battery_used_pct} % {'ok' if r.error is None else r.error}")
    if any(r.error for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
