"""The ``dronepatrol`` command: plan, sim, fly, speaker, report, demo.

Every error the user can cause ends as one line ``dronepatrol: error: ...`` and exit status 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from dronepatrol.errors import DronePatrolError


def _lonlat(text: str) -> tuple[float, float]:
    try:
        lon_s, lat_s = text.split(",")
        lon, lat = float(lon_s), float(lat_s)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected LON,LAT in degrees (for example 113.84,34.03), got {text!r}"
        ) from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        hint = " (did you write LAT,LON? the order is LON,LAT)" if abs(lat) > 90 else ""
        raise argparse.ArgumentTypeError(f"{text!r} is out of range{hint}")
    return lon, lat


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not v > 0 or v != v or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def add_plan_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``dronepatrol plan``."""
    p.add_argument("zones", type=Path, help="zones file (.geojson or .kml)")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--spacing-m", type=_positive, default=100.0,
                   help="sweep lane spacing in metres (default 100)")
    p.add_argument("--altitude-m", type=_positive, default=50.0,
                   help="flight altitude above home in metres (default 50)")
    p.add_argument("--speed-mps", type=_positive, default=8.0,
                   help="cruise speed in m/s (default 8)")
    p.add_argument("--base", type=_lonlat, action="append", metavar="LON,LAT",
                   help="a base (repeatable); replaces the bases in the zones file")
    p.add_argument("--perimeter", choices=["none", "before", "only"], default="none",
                   help="fly each zone's boundary before or instead of sweeping")
    p.add_argument("--no-map", action="store_true", help="do not draw map.png")


def run_plan(args: argparse.Namespace) -> int:
    """Run ``dronepatrol plan``."""
    from dronepatrol.output import write_plan_dir
    from dronepatrol.plan import PlanOptions, plan_patrol
    from dronepatrol.zones import Base, read_zones

    zoneset = read_zones(args.zones)
    bases = None
    if args.base:
        bases = [Base(name=f"base-{i + 1}", lon_deg=lon, lat_deg=lat, source="--base", index=i)
                 for i, (lon, lat) in enumerate(args.base)]
    opts = PlanOptions(spacing_m=args.spacing_m, altitude_m=args.altitude_m,
                       speed_mps=args.speed_mps, perimeter=args.perimeter)
    plan = plan_patrol(zoneset, opts, bases=bases)
    written = write_plan_dir(plan, args.out)
    if not args.no_map:
        from dronepatrol.plot import save_map

        written["map.png"] = save_map(plan, Path(args.out) / "map.png")
    print(f"planned {len(plan.reports)} zones in {len(plan.routes)} route(s) -> {args.out}")
    print(f"{'zone':<24} {'kind':<11} {'area ha':>8} {'covered':>8} {'path km':>8} {'min':>6}")
    for rep in plan.reports:
        print(f"{rep.name:<24} {rep.kind:<11} {rep.area_m2 / 1e4:8.1f} "
              f"{rep.covered_fraction:8.1%} {rep.path_length_m / 1000:8.2f} "
              f"{rep.sweep_duration_s / 60:6.1f}")
    for route in plan.routes:
        print(f"{route.name}: {route.length_m / 1000:.1f} km, {route.duration_s / 60:.0f} min, "
              f"{len(route.waypoints_xy)} waypoints")
    for u in plan.uncoverable:
        print(f"UNCOVERABLE {u.name} ({u.kind}): {u.reason}")
    return 0


def add_fly_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``dronepatrol fly``."""
    p.add_argument("plan_dir", type=Path, help="a directory written by `dronepatrol plan`")
    p.add_argument("--connect", action="append", metavar="URL", default=[],
                   help="MAVLink connection per vehicle, in route order (repeatable): "
                        "tcp:127.0.0.1:5760, udpin:0.0.0.0:14550, /dev/ttyUSB0,57600")
    p.add_argument("--sim", action="store_true",
                   help="start the built-in simulator (one drone per route, at its base)")
    p.add_argument("--speedup", type=_positive, default=20.0,
                   help="simulator speed-up with --sim (default 20)")
    p.add_argument("--timeout-s", type=_positive, default=90.0,
                   help="wait this long for each vehicle's heartbeat and home (default 90)")
    p.add_argument("--signing-key", metavar="HEX", help="MAVLink 2 signing key, 64 hex digits")


def run_fly(args: argparse.Namespace) -> int:
    """Run ``dronepatrol fly``."""
    from contextlib import ExitStack

    from dronepatrol.fly import fly_plan, load_flight_plan
    from dronepatrol.progress import VehicleBars

    fp = load_flight_plan(args.plan_dir)
    key = None
    if args.signing_key:
        try:
            key = bytes.fromhex(args.signing_key)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise DronePatrolError("--signing-key must be 64 hex digits (a 32-byte key)")
    with ExitStack() as stack:
        connections = list(args.connect)
        if args.sim:
            if connections:
                raise DronePatrolError("give either --sim or --connect, not both")
            connections = stack.enter_context(_start_sim(args.plan_dir, len(fp.vehicles),
                                                         args.speedup))
        if not connections:
            raise DronePatrolError(
                "no vehicle to fly: pass --connect URL per vehicle (ArduPilot SITL: "
                "tcp:127.0.0.1:5760) or --sim for the built-in simulator")
        bars = stack.enter_context(VehicleBars(
            [f"vehicle-{i + 1}" for i in range(len(fp.vehicles))],
            [sum(len(s.mission) for s in v) for v in fp.vehicles]))
        results = fly_plan(args.plan_dir, connections, on_progress=bars.update,
                           connect_timeout_s=args.timeout_s, signing_key=key)
    failed = 0
    for r in results:
        state = "ok" if r.error is None else f"FAILED: {r.error}"
        print(f"{r.name}: {r.sorties_flown}/{r.sorties_planned} sorties, "
              f"battery used {r.battery_used_pct} %, log {r.tlog} -> {state}")
        failed += r.error is not None
    return 1 if failed else 0


def _start_sim(plan_dir: Path, vehicles: int, speedup: float):  # type: ignore[no-untyped-def]
    """A context manager: the built-in simulator with one drone per vehicle at its base."""
    import json
    from contextlib import contextmanager

    from dronepatrol.sim import SimFleet
    from dronepatrol.sim.fleet import free_port_block

    summary = json.loads((Path(plan_dir) / "summary.json").read_text(encoding="utf-8"))
    bases = {b["name"]: b for b in summary["bases"]}
    routes = summary["routes"]
    homes = []
    for i in range(vehicles):
        base_name = routes[i].get("start_base") if i < len(routes) else None
        b = bases.get(base_name) or summary["bases"][i % len(summary["bases"])]
        homes.append((b["lat_deg"], b["lon_deg"], 100.0, 0.0))

    @contextmanager
    def run():  # type: ignore[no-untyped-def]
        with SimFleet(vehicles=vehicles, homes=homes, speedup=speedup,
                      base_port=free_port_block(vehicles),
                      log_dir=Path(plan_dir) / "flight" / "sim") as fleet:
            yield [fleet.connection_string(i) for i in range(vehicles)]

    return run()


Command = tuple[str, str, Callable[[argparse.ArgumentParser], None],
                Callable[[argparse.Namespace], int]]


def _commands() -> list[Command]:
    cmds: list[Command] = [
        ("plan", "plan patrol sweeps over a zones file", add_plan_arguments, run_plan),
        ("fly", "fly a plan on MAVLink vehicles (ArduPilot, SITL, or --sim)",
         add_fly_arguments, run_fly),
    ]
    try:
        from dronepatrol.sim import cli as sim_cli
    except ImportError:
        pass
    else:
        cmds.append(("sim", "run built-in ArduCopter-compatible simulated drones",
                     sim_cli.add_arguments, sim_cli.run))
    return cmds


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dronepatrol`` command."""
    from dronepatrol import __version__

    parser = argparse.ArgumentParser(
        prog="dronepatrol",
        description="Plan, broadcast and fly drone patrols over containment zones.",
    )
    parser.add_argument("--version", action="version", version=f"dronepatrol {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, help_text, add, run in _commands():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add(p)
        p.set_defaults(_run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dronepatrol`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.formatwarning = lambda msg, cat, *a, **k: f"dronepatrol: warning: {msg}\n"  # type: ignore[assignment]
        try:
            return int(args._run(args))
        except DronePatrolError as exc:
            print(f"dronepatrol: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("dronepatrol: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
