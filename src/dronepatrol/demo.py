"""``dronepatrol demo``: plan the example city, fly one patrol cycle on simulated drones, report.

1. Plans the example city (Xuchang: 6 drones, 2 bases, broadcasts in Mandarin) with
   :func:`dronepatrol.pipeline.plan_and_write`.
2. Picks one patrol cycle from the fleet schedule: for each drone, its sorties up to the last
   one needed so that every part of every zone is swept (and broadcast to) once.
3. Starts the built-in simulator (one ArduCopter-like drone per fleet drone at its home base,
   each with its loudspeaker), flies the cycle faster than real time with a progress bar per
   drone (:func:`dronepatrol.fly.fly_plan`), batteries swapped between sorties.
4. Writes the report (:func:`dronepatrol.postflight.flight_report`): coverage per zone
   (heard a complete message), battery use, and the pictures (map, coverage heat map,
   fleet timeline); prints where the files are and a short table.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dronepatrol.errors import DronePatrolError

EXAMPLE_NAME = "xuchang_zones.geojson"


def example_zones_path() -> Path:
    """The example city's zones file shipped with the package."""
    from importlib import resources

    path = Path(str(resources.files("dronepatrol") / "data" / EXAMPLE_NAME))
    if not path.exists():
        raise DronePatrolError(f"{path}: the example zones file is missing from the install")
    return path


def cycle_sorties(schedule: Any) -> dict[str, int]:
    """Per drone, how many of its first sorties make one full patrol cycle (every zone part
    swept at least once)."""
    first: dict[tuple[str, int], tuple[float, str, int]] = {}
    for d in schedule.drones:
        for k, s in enumerate(schedule.sorties.get(d.name, ())):
            for p in s.passes:
                key = (p.zone, p.part)
                if key not in first or s.start_s < first[key][0]:
                    first[key] = (s.start_s, d.name, k)
    need: dict[str, int] = {d.name: 0 for d in schedule.drones}
    for _, name, k in first.values():
        need[name] = max(need[name], k + 1)
    return need


def run_demo(out_dir: str | Path = "demo-out", *, speedup: float = 60.0, drones: int = 6,
             zones_path: str | Path | None = None, progress: bool | None = None,
             connect_timeout_s: float = 90.0) -> dict[str, Any]:
    """Run the whole demo; returns the files written and the per-zone table."""
    from dronepatrol.cli import sim_homes
    from dronepatrol.fly import fly_plan, load_flight_plan
    from dronepatrol.pipeline import PatrolSettings, plan_and_write
    from dronepatrol.plan import PlanOptions
    from dronepatrol.postflight import flight_report
    from dronepatrol.progress import VehicleBars
    from dronepatrol.sim import SimFleet
    from dronepatrol.sim.fleet import free_port_block
    from dronepatrol.zones import read_zones

    out = Path(out_dir)
    t0 = time.monotonic()
    zones = read_zones(zones_path or example_zones_path())
    settings = PatrolSettings(plan=PlanOptions(spacing_m=150.0, altitude_m=40.0, speed_mps=8.0),
                              drones=drones)
    result = plan_and_write(zones, settings, out)
    planned_s = time.monotonic() - t0
    if result.schedule is None:
        raise DronePatrolError("demo: the fleet schedule is missing")
    need = cycle_sorties(result.schedule)
    fp = load_flight_plan(out)
    names = [d.name for d in result.schedule.drones if result.schedule.sorties.get(d.name)]
    trimmed = tuple(v[: max(1, need.get(n, len(v)))] for n, v in zip(names, fp.vehicles,
                                                                       strict=True))
    fp = dataclasses.replace(fp, vehicles=trimmed)
    homes = sim_homes(out, fp.home_bases)
    flight_dir = out / "flight"
    with SimFleet(vehicles=len(homes), homes=homes, speedup=speedup,
                  base_port=free_port_block(len(homes)), log_dir=flight_dir / "sim") as sim:
        conns = [sim.connection_string(i) for i in range(len(homes))]
        with VehicleBars(names, [sum(len(s.mission) for s in v) for v in trimmed],
                         disable=None if progress is None else not progress) as bars:
            results = fly_plan(fp, conns, out_dir=flight_dir, on_progress=bars.update,
                               schedule_time_scale=speedup,
                               connect_timeout_s=connect_timeout_s)
        sim_time_s = sim.sim_time_s()
    flown_s = time.monotonic() - t0 - planned_s
    failed = [r for r in results if r.error]
    report = flight_report(out)
    rows = report.rows()
    return {"out": out, "files": {**result.files, **report.files}, "rows": rows,
            "vehicles": results, "failed": failed, "planned_s": planned_s,
            "flown_s": flown_s, "sim_time_s": sim_time_s,
            "sorties": sum(len(v) for v in trimmed)}


def print_demo(res: dict[str, Any], file: Any = None) -> None:
    """The short table the demo prints."""
    from dronepatrol.cli import _pad, vehicle_line

    def p(text: str = "") -> None:
        print(text, file=file)

    p(f"planned in {res['planned_s']:.1f} s; flew {res['sorties']} sorties "
      f"({res['sim_time_s'] / 60:.0f} simulated min) in {res['flown_s']:.0f} s")
    p("heard: share of the zone that heard a complete message; msgs: complete messages per "
      "point; revisit: the fleet schedule's worst gap over the shift, and its target")
    p(f"{_pad('zone', 22)} {'kind':<11} {'heard':>7} {'msgs':>5} {'revisit':>8} {'target':>7}")

    def minutes(v: float | None) -> str:
        return "-" if v is None else f"{v / 60:.0f} min"

    for r in res["rows"]:
        heard = "-" if r["heard_fraction"] is None else f"{r['heard_fraction']:.1%}"
        p(f"{_pad(r['zone'], 22)} {r['kind']:<11} {heard:>7} {r['mean_heard']:>5.1f} "
          f"{minutes(r['planned_worst_gap_s']):>8} {minutes(r['target_s']):>7}")
    for v in res["vehicles"]:
        p(vehicle_line(v))
    p("files:")
    for name in ("map.png", "coverage.png", "schedule.png", "report.json", "schedule.json",
                 "broadcasts.json"):
        if name in res["files"]:
            p(f"  {res['files'][name]}")


def add_arguments(parser: Any) -> None:
    """Options of ``dronepatrol demo``."""
    parser.add_argument("--out", type=Path, default=Path("demo-out"),
                        help="output directory (default demo-out)")
    from dronepatrol.cli import _count, _positive

    parser.add_argument("--speedup", type=_positive, default=60.0,
                        help="simulation speed-up (default 60)")
    parser.add_argument("--drones", type=_count, default=6, help="fleet size (default 6)")


def run(args: Any) -> int:
    """Run ``dronepatrol demo``."""
    res = run_demo(args.out, speedup=args.speedup, drones=args.drones)
    print_demo(res)
    return 1 if res["failed"] else 0


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - thin wrapper
    """``python -m dronepatrol.demo``."""
    import argparse

    ap = argparse.ArgumentParser(prog="dronepatrol demo")
    add_arguments(ap)
    return run(ap.parse_args(argv))
