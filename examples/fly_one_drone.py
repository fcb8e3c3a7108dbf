"""Examples 2 and 3: plan one sealed compound and fly it on one drone, following progress.

Without --connect it starts dronepatrol's built-in simulator (a drone at the west base):

    python examples/fly_one_drone.py

Against ArduPilot SITL, started with its home at the west base (see the README):

    sim_vehicle.py -v ArduCopter --custom-location=34.0373,113.8396,100,0
    python examples/fly_one_drone.py --connect tcp:127.0.0.1:5760
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from dronepatrol.fly import fly_plan
from dronepatrol.output import write_plan_dir
from dronepatrol.plan import PlanOptions, plan_patrol
from dronepatrol.zones import read_zones

HERE = Path(__file__).parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connect", help="MAVLink URL, e.g. tcp:127.0.0.1:5760 (ArduPilot SITL)")
    ap.add_argument("--zone", default="幸福里小区", help="which sealed compound to patrol")
    ap.add_argument("--speedup", type=float, default=20.0, help="built-in simulator speed-up")
    ap.add_argument("--out", type=Path, default=Path("out/fly_one_drone"))
    args = ap.parse_args()

    zones = read_zones(HERE / "xuchang" / "zones.geojson").select([args.zone])
    west = zones.bases[0]
    plan = plan_patrol(zones, PlanOptions(spacing_m=80, altitude_m=40, speed_mps=8),
                       bases=[west])
    write_plan_dir(plan, args.out)
    route = plan.routes[0]
    print(f"planned {route.name}: {route.length_m:.0f} m, about {route.duration_s / 60:.1f} min")

    with contextlib.ExitStack() as stack:
        url = args.connect
        if url is None:
            from dronepatrol.sim import SimFleet
            from dronepatrol.sim.fleet import free_port_block

            sim = stack.enter_context(SimFleet(
                vehicles=1, home=(west.lat_deg, west.lon_deg, 100.0, 0.0),
                speedup=args.speedup, base_port=free_port_block(1)))
            url = sim.connection_string(0)
        print(f"flying on {url}")

        def show(_index: int, p: object) -> None:
            print(f"  item {p.current_item}/{p.total_items} {p.mode:<6} "  # type: ignore[attr-defined]
                  f"alt {p.alt_m or 0:5.1f} m  battery {p.battery_pct or 0:5.1f} %",  # type: ignore[attr-defined]
                  flush=True)

        (result,) = fly_plan(args.out, [url], on_progress=show)
    if result.error:
        raise SystemExit(f"flight failed: {result.error}")
    print(f"landed: {result.sorties_flown} sortie, battery used {result.battery_used_pct} %, "
          f"telemetry log {result.tlog}")


if __name__ == "__main__":
    main()
