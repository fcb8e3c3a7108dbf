"""The ``dronepatrol`` command: plan, sim, fly, speaker, report, demo.

Every error the user can cause ends as one line ``dronepatrol: error: ...`` and exit status 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from dronepatrol.errors import DronePatrolError, DronePatrolWarning


def _pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns (CJK characters take two)."""
    import unicodedata

    cols = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - cols)


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


def _finite(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def _positive(text: str) -> float:
    v = _finite(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {text!r}")
    return v


def _fraction(text: str) -> float:
    v = _finite(text)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(
            f"expected a fraction from 0 to below 1 (0.2 keeps 20 %), got {text!r}")
    return v


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line that points to ``--help``."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("dronepatrol").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"dronepatrol: error: {where}{message} "
                     f"(see `{self.prog} --help`)\n")


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
    b = p.add_argument_group("broadcast (zones with a 'message' property)")
    b.add_argument("--no-broadcast", action="store_true",
                   help="ignore messages: every zone uses --spacing-m")
    b.add_argument("--default-messages", action="store_true",
                   help="give zones without a message their kind's default message")
    b.add_argument("--speaker-db", type=_positive, default=120.0,
                   help="speaker level at 1 m in dB (default 120)")
    b.add_argument("--beam-deg", type=_positive, default=None,
                   help="horn beam width in degrees (default: omnidirectional)")
    b.add_argument("--snr-db", type=_finite, default=10.0,
                   help="required speech-to-noise margin in dB (default 10; 15 is the target)")
    b.add_argument("--min-altitude-m", type=_positive, default=30.0,
                   help="lowest broadcast altitude in metres (default 30)")
    b.add_argument("--max-altitude-m", type=_positive, default=120.0,
                   help="highest broadcast altitude in metres (default 120)")
    f = p.add_argument_group("fleet")
    f.add_argument("--drones", type=_count, default=None,
                   help="plan a fleet schedule for N drones over the shift")
    f.add_argument("--shift-h", type=_positive, default=4.0, help="shift length in hours")
    f.add_argument("--endurance-min", type=_positive, default=25.0,
                   help="flight time per battery in minutes (default 25)")
    f.add_argument("--reserve", type=_fraction, default=0.2,
                   help="battery fraction kept in reserve (default 0.2)")
    f.add_argument("--swap-min", type=_positive, default=3.0,
                   help="battery swap time at a base in minutes (default 3)")


def settings_from_args(args: argparse.Namespace) -> Any:
    """:class:`dronepatrol.pipeline.PatrolSettings` from ``dronepatrol plan`` options."""
    from dronepatrol.acoustics import Speaker
    from dronepatrol.pipeline import PatrolSettings
    from dronepatrol.plan import PlanOptions

    if args.min_altitude_m > args.max_altitude_m:
        raise DronePatrolError(
            f"--min-altitude-m {args.min_altitude_m:g} is above --max-altitude-m "
            f"{args.max_altitude_m:g}; give a lowest broadcast altitude at or below the highest")
    opts = PlanOptions(spacing_m=args.spacing_m, altitude_m=args.altitude_m,
                       speed_mps=args.speed_mps, perimeter=args.perimeter)
    return PatrolSettings(
        plan=opts, broadcast=not args.no_broadcast, default_messages=args.default_messages,
        speaker=Speaker(level_at_1m_db=args.speaker_db, beam_width_deg=args.beam_deg),
        required_snr_db=args.snr_db, min_altitude_m=args.min_altitude_m,
        max_altitude_m=args.max_altitude_m, drones=args.drones, shift_s=args.shift_h * 3600,
        endurance_s=args.endurance_min * 60, reserve_fraction=args.reserve,
        swap_s=args.swap_min * 60)


def run_plan(args: argparse.Namespace) -> int:
    """Run ``dronepatrol plan``."""
    from dronepatrol.pipeline import plan_and_write
    from dronepatrol.zones import Base, read_zones

    zoneset = read_zones(args.zones)
    bases = None
    if args.base:
        bases = [Base(name=f"base-{i + 1}", lon_deg=lon, lat_deg=lat, source="--base", index=i)
                 for i, (lon, lat) in enumerate(args.base)]
    result = plan_and_write(zoneset, settings_from_args(args), args.out, bases=bases,
                            draw=not args.no_map)
    print_plan(result, args.out)
    return 0


def print_plan(result: Any, out: Path) -> None:
    """The short table ``dronepatrol plan`` prints."""
    plan = result.plan
    print(f"planned {len(plan.reports)} zones in {len(result.routes)} route(s) -> {out}")
    print(f"{_pad('zone', 24)} {'kind':<11} {'area ha':>8} {'covered':>8} {'path km':>8} "
          f"{'min':>6}")
    for rep in plan.reports:
        print(f"{_pad(rep.name, 24)} {rep.kind:<11} {rep.area_m2 / 1e4:8.1f} "
              f"{rep.covered_fraction:8.1%} {rep.path_length_m / 1000:8.2f} "
              f"{rep.sweep_duration_s / 60:6.1f}")
    used = {rep.name: rep.spacing_m for rep in plan.reports}
    for name, za in result.acoustics.items():
        m = result.messages[name]
        lanes = used.get(name, za.spacing_m)
        note = "" if lanes >= za.spacing_m - 0.5 else f" (narrower than the zone: {lanes:.0f} m)"
        print(f"broadcast {name}: message {m.id} ({m.duration_s:.1f} s), altitude "
              f"{za.altitude_m:.0f} m, intelligible radius {za.radius_m:.0f} m, lanes up to "
              f"{za.spacing_m:.0f} m apart{note}")
    if result.schedule is None:
        for route in result.routes:
            print(f"{route.name}: {route.length_m / 1000:.1f} km, "
                  f"{route.duration_s / 60:.0f} min, {len(route.waypoints_xy)} waypoints")
    else:
        sched = result.schedule
        print(f"fleet: {len(sched.drones)} drones, {len(result.routes)} sorties over "
              f"{sched.shift_s / 3600:.1f} h, {sched.total_flight_s / 3600:.1f} h of flight")
        for z in sched.zones:
            worst = "-" if z.worst_gap_s is None else f"{z.worst_gap_s / 60:.0f}"
            print(f"  {_pad(z.zone, 20)} worst gap {worst:>4} min, target "
                  f"{z.target_s / 60:.0f} min {'ok' if z.met else 'MISSED'}")
        if not sched.feasible:
            print("the fleet cannot meet every revisit target:")
            for miss in sched.misses:
                print(f"  {miss.zone}: worst gap {miss.worst_gap_s / 60:.0f} min, target "
                      f"{miss.target_s / 60:.0f} min (+{miss.excess_s / 60:.0f} min)")
            if sched.smallest_fleet:
                print(f"  smallest fleet that meets them: {sched.smallest_fleet} drones")
            if sched.suggested_revisit_min:
                periods = ", ".join(f"{kind} {minutes:.0f}" for kind, minutes
                                    in dict(sched.suggested_revisit_min).items())
                print(f"  or revisit periods (min): {periods}")
    for u in plan.uncoverable:
        print(f"UNCOVERABLE {u.name} ({u.kind}): {u.reason}")


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
    p.add_argument("--back-to-back", action="store_true",
                   help="fleet plans: fly each drone's sorties one after the other instead of "
                        "at their scheduled start times")


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
            connections = stack.enter_context(_start_sim(args.plan_dir, fp.home_bases,
                                                         args.speedup))
        if not connections:
            raise DronePatrolError(
                "no vehicle to fly: pass --connect URL per vehicle (ArduPilot SITL: "
                "tcp:127.0.0.1:5760) or --sim for the built-in simulator")
        if len(connections) > len(fp.vehicles):
            raise DronePatrolError(
                f"{len(connections)} --connect URLs for a plan of {len(fp.vehicles)} "
                f"vehicle(s) in {args.plan_dir}; give one --connect per vehicle, in route order")
        bars = stack.enter_context(VehicleBars(
            [f"vehicle-{i + 1}" for i in range(len(fp.vehicles))],
            [sum(len(s.mission) for s in v) for v in fp.vehicles]))
        follows = (args.plan_dir / "schedule.json").exists() and not args.back_to_back
        scale = (args.speedup if args.sim else 1.0) if follows else None
        results = fly_plan(args.plan_dir, connections, on_progress=bars.update,
                           connect_timeout_s=args.timeout_s, signing_key=key,
                           schedule_time_scale=scale)
    if results and all(r.error is not None and r.sorties_flown == 0 for r in results):
        # nothing flew: a set-up problem (wrong URL, vehicle off, pre-flight check)
        for r in results:
            print(f"dronepatrol: error: {r.name} ({r.connection}): {r.error}", file=sys.stderr)
        return 2
    for r in results:
        print(vehicle_line(r, log=True))
    return 1 if any(r.error is not None for r in results) else 0


def vehicle_line(result: Any, *, log: bool = False) -> str:
    """One line for a :class:`dronepatrol.fly.VehicleResult`: sorties, battery used per sortie
    (percentage points), telemetry log with ``log``, and ok or the error."""
    used = " + ".join(f"{pct:g}" for pct in result.battery_used_pct) or "-"
    where = f", log {result.tlog}" if log else ""
    state = "ok" if result.error is None else f"FAILED: {result.error}"
    return (f"{result.name}: {result.sorties_flown}/{result.sorties_planned} sorties, "
            f"battery used {used} %{where} -> {state}")


def sim_homes(plan_dir: Path, home_bases: Sequence[str]) -> list[tuple[float, float, float,
                                                                        float]]:
    """(lat, lon, alt_m, heading) of each vehicle's home base, from the plan's summary."""
    from dronepatrol.output import read_json

    summary = read_json(Path(plan_dir) / "summary.json")
    if not summary.get("bases"):
        raise DronePatrolError(f"{plan_dir}/summary.json: the plan has no bases; add a base "
                               "(a Point with \"role\": \"base\", or --base) and plan again")
    bases = {b["name"]: b for b in summary["bases"]}
    homes = []
    for i, name in enumerate(home_bases):
        b = bases.get(name) or summary["bases"][i % len(summary["bases"])]
        homes.append((b["lat_deg"], b["lon_deg"], 100.0, 0.0))
    return homes


@contextmanager
def _start_sim(plan_dir: Path, home_bases: Sequence[str], speedup: float) -> Iterator[list[str]]:
    """The built-in simulator with one drone per vehicle at its base; yields their URLs."""
    from dronepatrol.sim import SimFleet
    from dronepatrol.sim.fleet import free_port_block

    homes = sim_homes(plan_dir, home_bases)
    vehicles = len(homes)
    with SimFleet(vehicles=vehicles, homes=homes, speedup=speedup,
                  base_port=free_port_block(vehicles),
                  log_dir=Path(plan_dir) / "flight" / "sim") as fleet:
        yield [fleet.connection_string(i) for i in range(vehicles)]


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``dronepatrol report``."""
    p.add_argument("plan_dir", type=Path, help="a plan directory that has been flown")
    p.add_argument("--grid-m", type=_positive, default=10.0,
                   help="ground grid spacing for the coverage check, metres (default 10)")
    p.add_argument("--speaker-log", type=Path, action="append",
                   help="speaker log(s) to use instead of DIR/flight/ (repeatable)")


def run_report(args: argparse.Namespace) -> int:
    """Run ``dronepatrol report``."""
    from dronepatrol.postflight import flight_report

    rep = flight_report(args.plan_dir, grid_m=args.grid_m, speaker_logs=args.speaker_log)
    print("heard: share of the zone that heard a complete message; gaps: worst time between "
          "complete messages at one ground point, as flown and as planned")
    print(f"{_pad('zone', 22)} {'kind':<11} {'heard':>7} {'flown gap':>10} {'planned':>10} "
          f"{'target':>8}")

    def minutes(v: float | None) -> str:
        return "-" if v is None else f"{v / 60:.1f} min"

    for r in rep.rows():
        heard = "-" if r["heard_fraction"] is None else f"{r['heard_fraction']:.1%}"
        print(f"{_pad(r['zone'], 22)} {r['kind']:<11} {heard:>7} "
              f"{minutes(r['worst_gap_s']):>10} {minutes(r['planned_worst_gap_s']):>10} "
              f"{minutes(r['target_s']):>8}")
    short = [r["zone"] for r in rep.rows() if r["one_pass_only"]]
    if short:
        print(f"note: the flight spans {rep.flown_span_s / 60:.0f} min, shorter than the revisit "
              f"period of {', '.join(short)}: their flown gaps are within one pass; fly the "
              "whole shift to measure revisits")
    for name, path in rep.files.items():
        print(f"{name}: {path}")
    return 0


Command = tuple[str, str, Callable[[argparse.ArgumentParser], None],
                Callable[[argparse.Namespace], int]]


def _commands() -> list[Command]:
    cmds: list[Command] = [
        ("plan", "plan patrol sweeps over a zones file", add_plan_arguments, run_plan),
        ("fly", "fly a plan on MAVLink vehicles (ArduPilot, SITL, or --sim)",
         add_fly_arguments, run_fly),
        ("report", "prove coverage from a flown plan's speaker logs (coverage.png)",
         add_report_arguments, run_report),
    ]
    from dronepatrol import demo, speaker

    cmds.append(("speaker", "run the loudspeaker agent on the drone's companion computer",
                 speaker.add_arguments, speaker.run))
    cmds.append(("demo", "plan the example city, fly it on simulated drones, report",
                 demo.add_arguments, demo.run))
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

    parser = _Parser(
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


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    print(f"dronepatrol: warning: {message}", file=sys.stderr if file is None else file)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dronepatrol`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        # the library's own warnings once per place; Python's developer warnings
        # (ResourceWarning, DeprecationWarning) keep their default: hidden
        warnings.simplefilter("default", DronePatrolWarning)
        warnings.showwarning = _show_warning  # restored when the block ends
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
