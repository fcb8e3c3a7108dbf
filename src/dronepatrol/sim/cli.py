"""Command line of the simulator: ``python -m dronepatrol.sim`` and ``dronepatrol sim``.

The lead mounts it as a subcommand with :func:`add_arguments` and :func:`run`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from dronepatrol.errors import SimError
from dronepatrol.sim.geo import LocalFrame

HOME_OFFSET_M = 5.0  # with one --home, vehicle i starts i * 5 m east of it


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to ``parser``."""
    parser.add_argument("--vehicles", type=int, default=1, help="number of vehicles (default 1)")
    parser.add_argument("--home", action="append", default=None, metavar="LAT,LON,ALT_M,HDG_DEG",
                        help="home of vehicle 0 (others 5 m east of each other), or once per "
                             "vehicle; ALT_M is AMSL; write --home=LAT,... when LAT < 0")
    parser.add_argument("--speedup", type=float, default=1.0,
                        help="simulated seconds per wall second (realtime clock)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (wind gusts)")
    parser.add_argument("--clock", choices=("realtime", "driven"), default="realtime",
                        help="driven: time moves only on the control channel's 'advance'")
    parser.add_argument("--base-port", type=int, default=5760,
                        help="TCP port of vehicle 0; vehicle i uses base+10*i (default 5760)")
    parser.add_argument("--udp-base-port", type=int, default=None,
                        help="UDP port of vehicle 0, +10 per vehicle (default 14550 when "
                             "--base-port is 5760, else base_port+5)")
    parser.add_argument("--control-port", type=int, default=None,
                        help="JSON-lines control port (default base_port+9; 0 = none)")
    parser.add_argument("--log-dir", type=Path, default=None,
                        help="directory for speaker-<i>.jsonl logs")
    parser.add_argument("--signing-key", default=None, metavar="HEX",
                        help="MAVLink2 signing secret key, 64 hex digits (32 bytes)")
    parser.add_argument("--stream-rate", type=float, default=0.0,
                        help="default telemetry rate in Hz for every stream group (Copter: 0)")
    parser.add_argument("--ready-delay", type=float, default=5.0,
                        help="simulated seconds until GPS/EKF are ready and arming is allowed")
    parser.add_argument("--physics-hz", type=float, default=10.0,
                        help="physics steps per simulated second (default 10)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="override a parameter's default, e.g. --param WP_SPD=12")


def _parse_home(text: str) -> tuple[float, float, float, float]:
    parts = text.split(",")
    if len(parts) != 4:
        raise SimError(f"--home {text!r}: expected LAT,LON,ALT_M,HEADING_DEG (4 numbers)")
    try:
        lat, lon, alt, hdg = (float(p) for p in parts)
    except ValueError:
        raise SimError(f"--home {text!r}: not numbers; expected e.g. -35.363,149.165,584,0") \
            from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not all(
            math.isfinite(x) for x in (alt, hdg)):
        raise SimError(f"--home {text!r}: lat/lon out of range (MAVLink order is LAT,LON)")
    return lat, lon, alt, hdg


def _check_ports(n: int, base: int, udp_base: int, control: int, *,
                 default_control: bool) -> None:
    """Every port the simulator binds must lie in 1..65535 (control 0 means none)."""
    top = base + 10 * (n - 1) + 9  # vehicle n-1's block; the default control port is base+9
    if not 1 <= base or top > 65535:
        raise SimError(
            f"--base-port {base}: {n} vehicle(s) use TCP ports {base}..{top} (10 per vehicle), "
            f"which must lie in 1..65535; choose a --base-port from 1 to {65535 - 10 * n + 1}")
    udp_top = udp_base + 10 * (n - 1)
    if not 1 <= udp_base or udp_top > 65535:
        raise SimError(
            f"--udp-base-port {udp_base}: {n} vehicle(s) use UDP ports {udp_base}..{udp_top}, "
            f"which must lie in 1..65535; choose one from 1 to {65535 - 10 * (n - 1)}")
    if not default_control:
        if not 0 <= control <= 65535:
            raise SimError(f"--control-port {control}: must be 1..65535, or 0 for none")
        if control and control in {base + 10 * i for i in range(n)}:
            raise SimError(f"--control-port {control} is also a vehicle's MAVLink TCP port "
                           f"(base + 10*i); choose another, e.g. {base + 9}")


def _check_log_dir(log_dir: Path | None) -> Path | None:
    """``--log-dir`` must be a directory or not exist yet (it is created)."""
    if log_dir is None:
        return None
    for parent in (log_dir, *log_dir.parents):
        if parent.exists():
            if not parent.is_dir():
                where = "" if parent == log_dir else f": {parent} in its path"
                raise SimError(f"--log-dir {log_dir}{where} is a file, not a directory; give a "
                               "directory for the speaker-<i>.jsonl logs (created if missing)")
            break
    return log_dir


def build_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Validate parsed arguments into a ServerConfig (raises SimError)."""
    from dronepatrol.sim.server import ServerConfig

    n = int(args.vehicles)
    if not 1 <= n <= 255:
        raise SimError(f"--vehicles {n}: must be 1..255")
    homes_in = [_parse_home(h) for h in (args.home or ["-35.363261,149.165230,584,353"])]
    if len(homes_in) == 1:
        lat, lon, alt, hdg = homes_in[0]
        fr = LocalFrame(lat, lon)
        homes = [(*fr.to_latlon(0.0, HOME_OFFSET_M * i), alt, hdg) for i in range(n)]
    elif len(homes_in) == n:
        homes = homes_in
    else:
        raise SimError(f"--home given {len(homes_in)} times for {n} vehicles; give it once or "
                       f"once per vehicle")
    if not (args.speedup > 0 and math.isfinite(args.speedup)):
        raise SimError(f"--speedup {args.speedup}: must be > 0")
    if not 1 <= args.physics_hz <= 1000:
        raise SimError(f"--physics-hz {args.physics_hz}: must be 1..1000")
    base = int(args.base_port)
    udp_base = args.udp_base_port
    if udp_base is None:
        udp_base = 14550 if base == 5760 else base + 5
    control = base + 9 if args.control_port is None else int(args.control_port)
    _check_ports(n, base, int(udp_base), control, default_control=args.control_port is None)
    log_dir = _check_log_dir(args.log_dir)
    key = None
    if args.signing_key:
        try:
            key = bytes.fromhex(args.signing_key)
        except ValueError:
            raise SimError("--signing-key: not hex; give 64 hex digits (32 bytes)") from None
        if len(key) != 32:
            raise SimError(f"--signing-key: {len(key)} bytes; give 64 hex digits (32 bytes)")
    params: list[tuple[str, float]] = []
    for item in args.param:
        name, sep, value = item.partition("=")
        try:
            params.append((name.strip().upper(), float(value)))
        except ValueError:
            raise SimError(f"--param {item!r}: expected NAME=NUMBER") from None
        if not sep:
            raise SimError(f"--param {item!r}: expected NAME=NUMBER")
    return ServerConfig(
        homes=tuple((float(a), float(b), float(c), float(d)) for a, b, c, d in homes),
        speedup=float(args.speedup), seed=int(args.seed), clock=args.clock, base_port=base,
        udp_base_port=int(udp_base), control_port=control, log_dir=log_dir,
        signing_key=key, stream_rate_hz=float(args.stream_rate),
        ready_delay_s=float(args.ready_delay), physics_hz=float(args.physics_hz),
        params=tuple(params))


def run(args: argparse.Namespace) -> int:
    """Run the simulator until SIGTERM/SIGINT or a control 'stop'; returns an exit code."""
    os.environ["MAVLINK20"] = "1"  # before pymavlink is imported in this process
    try:
        cfg = build_config(args)
        from dronepatrol.sim.server import SimServer

        try:
            server = SimServer(cfg)
        except OSError as exc:
            if exc.filename is not None:  # a speaker log, not a socket
                raise SimError(f"cannot write the speaker log {exc.filename}: "
                               f"{exc.strerror}; check --log-dir {cfg.log_dir}") from None
            raise SimError(f"cannot open simulator ports from {cfg.base_port} (TCP) / "
                           f"{cfg.udp_base_port} (UDP) / {cfg.control_port} (control): "
                           f"{exc.strerror or exc}; another simulator or SITL may hold them: "
                           f"choose another --base-port") from None
    except SimError as exc:
        # the same form as the main CLI (dronepatrol.cli.main)
        print(f"dronepatrol: error: {exc}", file=sys.stderr)
        return 2
    server.run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``python -m dronepatrol.sim``."""
    parser = argparse.ArgumentParser(prog="python -m dronepatrol.sim",
                                     description="ArduCopter-compatible MAVLink simulator")
    add_arguments(parser)
    return run(parser.parse_args(argv))
