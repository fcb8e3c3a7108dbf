"""Example 6: the speaker agent in dry-run mode beside a simulated drone.

Plans two zones with different messages and a no-fly strip between them, writes the plan
directory with its companion plan (``<route>.companion.json``), starts the built-in
simulator, runs the speaker agent (what ``dronepatrol speaker --dry-run`` runs on a
companion computer) beside the drone while it flies the plan, and prints where each message
played:

    python examples/speaker_dry_run.py [--out out/speaker_dry_run] [--speedup 40]

The agent joins as MAVLink component 191 because the simulator's built-in speaker already
is component 25 (on a real drone keep the default, 25). Its play log,
``OUT/flight/speaker-1.jsonl``, is what ``dronepatrol report`` reads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from shapely.geometry import box

from dronepatrol import broadcast as bc
from dronepatrol.fly import fly_plan
from dronepatrol.geo import LocalFrame
from dronepatrol.output import route_items, write_plan_dir
from dronepatrol.plan import PlanOptions, local_zones, plan_patrol
from dronepatrol.report import read_speaker_log
from dronepatrol.sim import SimFleet, free_port_block
from dronepatrol.speaker import CompanionPlan, DryRunPlayer, SpeakerAgent
from dronepatrol.zones import ZoneSet


def small_city() -> ZoneSet:
    """Zone A (sealed) and zone B (controlled), a no-fly strip H between, a base south-west."""
    frame = LocalFrame.centred_on(113.85, 34.03)
    zones = [("A", "sealed", box(0, 0, 300, 200)), ("H", "no_fly", box(400, -100, 500, 300)),
             ("B", "controlled", box(600, -50, 800, 150))]
    specs = [{"name": n, "kind": k, "geometry": frame.geometry_to_lonlat(g)} for n, k, g in zones]
    lon, lat = frame.to_lonlat(-50, -50)
    return ZoneSet.from_shapely(specs, bases=[("base0", float(lon), float(lat))])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/speaker_dry_run"))
    ap.add_argument("--speedup", type=float, default=40.0, help="built-in simulator speed-up")
    args = ap.parse_args()

    zs = small_city()
    plan = plan_patrol(zs, PlanOptions(spacing_m=80, altitude_m=30, speed_mps=8))
    # durations set by hand here; `dronepatrol plan` measures them from the rendered audio
    msgs = {z: dataclasses.replace(m, duration_s=4.0)
            for z, m in bc.messages_for_zones(zs).items()}
    write_plan_dir(plan, args.out)
    (route,) = plan.routes
    lz = local_zones(zs, plan.frame)
    sch = bc.schedule(route, msgs, plan.options.kinematics,
                      zones_xy={"A": lz["A"], "B": lz["B"]}, no_fly_xy=plan.no_fly_local)
    doc = bc.companion_plan(route, sch, msgs, zoneset=zs, mission_items=route_items(plan, route))
    (args.out / f"{route.name}.companion.json").write_text(
        json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")

    companion = CompanionPlan.load(args.out)
    log = args.out / "flight" / "speaker-1.jsonl"
    log.unlink(missing_ok=True)
    base = plan.bases[0]
    with SimFleet(vehicles=1, home=(base.lat_deg, base.lon_deg, 100.0, 0.0),
                  speedup=args.speedup, base_port=free_port_block(1)) as fleet:
        url = fleet.connection_string(0)
        with SpeakerAgent(companion, url, player=DryRunPlayer(), log_path=log,
                          component_id=191, telemetry_hz=10) as agent:
            agent.wait_until(lambda s: s.link_ok, timeout_s=30)
            print(f"speaker agent following vehicle {agent.state.system_id} on {url}")
            (result,) = fly_plan(args.out, [url])
    if result.error:
        raise SystemExit(f"flight failed: {result.error}")
    zone_of = {m.id: z for z, m in msgs.items()}
    print(f"landed; the agent logged {agent.plays_logged} broadcast(s) to {log}:")
    for s in read_speaker_log(log):
        print(f"  message {s.message_id} (zone {zone_of.get(s.message_id)}) "
              f"{s.start_s:7.1f} s -> {s.end_s:7.1f} s at {s.volume_pct:g}%, "
              f"{len(s.samples)} position samples")


if __name__ == "__main__":
    main()
