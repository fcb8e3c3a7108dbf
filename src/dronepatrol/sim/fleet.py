"""Start the simulator as a subprocess from Python, drive its clock, read its logs.

This module does not import pymavlink: the simulator's MAVLink settings live in its own
process and never clash with the caller's.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from dronepatrol.errors import SimError
from dronepatrol.sim.speakerlog import SpeakerBroadcast, read_speaker_log

Home = tuple[float, float, float, float]


def _port_free(port: int, kind: int) -> bool:
    s = socket.socket(socket.AF_INET, kind)
    try:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port_block(vehicles: int, start: int = 20000, stop: int = 60000) -> int:
    """A base port such that every port a fleet of ``vehicles`` needs is free right now.

    The simulator uses TCP base+10*i, UDP base+10*i+5 and the control port base+9. The search
    starts at a pid-dependent offset so parallel test runs rarely race for the same block.
    """
    span = 10 * vehicles + 10
    first = start + (os.getpid() * 97 % max(1, (stop - start) // span)) * span
    candidates = list(range(first, stop - span, span)) + list(range(start, first, span))
    for base in candidates:
        ports_tcp = [base + 10 * i for i in range(vehicles)] + [base + 9]
        ports_udp = [base + 10 * i + 5 for i in range(vehicles)]
        if all(_port_free(p, socket.SOCK_STREAM) for p in ports_tcp) and all(
                _port_free(p, socket.SOCK_DGRAM) for p in ports_udp):
            return base
    raise SimError(f"no free block of {span} ports between {start} and {stop}")


class SimFleet:
    """Context manager running ``python -m dronepatrol.sim`` in a subprocess.

    >>> with SimFleet(vehicles=2, home=(-35.36, 149.16, 584.0, 0.0), clock="driven",
    ...               base_port=free_port_block(2)) as fleet:       # doctest: +SKIP
    ...     conn = fleet.connection_string(0)  # "tcp:127.0.0.1:<base>"
    ...     fleet.advance(10.0)
    """

    def __init__(self, *, vehicles: int = 1, home: Home | None = None,
                 homes: Sequence[Home] | None = None, speedup: float = 1.0, seed: int = 0,
                 clock: str = "realtime", base_port: int = 5760,
                 udp_base_port: int | None = None, log_dir: str | Path | None = None,
                 signing_key: bytes | None = None, stream_rate_hz: float = 0.0,
                 ready_delay_s: float = 5.0, physics_hz: float = 10.0,
                 params: dict[str, float] | None = None, start_timeout_s: float = 20.0,
                 python: str | None = None) -> None:
        if vehicles < 1:
            raise SimError(f"SimFleet(vehicles={vehicles}): need at least 1 vehicle")
        if clock not in ("realtime", "driven"):
            raise SimError(f"SimFleet(clock={clock!r}): use 'realtime' or 'driven'")
        if home is not None and homes is not None:
            raise SimError("SimFleet: give home= or homes=, not both")
        if homes is not None and len(homes) != vehicles:
            raise SimError(f"SimFleet: {len(homes)} homes for {vehicles} vehicles")
        if signing_key is not None and len(signing_key) != 32:
            raise SimError(f"SimFleet(signing_key=...): {len(signing_key)} bytes, need 32")
        self.vehicles = vehicles
        self.clock = clock
        self.base_port = base_port
        if udp_base_port is None:
            udp_base_port = 14550 if base_port == 5760 else base_port + 5
        self.udp_base_port = udp_base_port
        self.control_port = base_port + 9
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if log_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="dronepatrol-sim-")
            log_dir = self._tmp.name
        self.log_dir = Path(log_dir)
        args = [python or sys.executable, "-m", "dronepatrol.sim", "--vehicles", str(vehicles),
                "--speedup", repr(float(speedup)), "--seed", str(int(seed)), "--clock", clock,
                "--base-port", str(base_port), "--udp-base-port", str(udp_base_port),
                "--control-port", str(self.control_port), "--log-dir", str(self.log_dir),
                "--stream-rate", repr(float(stream_rate_hz)),
                "--ready-delay", repr(float(ready_delay_s)),
                "--physics-hz", repr(float(physics_hz))]
        for h in (homes if homes is not None else ([home] if home is not None else [])):
            args.append("--home=" + ",".join(repr(float(x)) for x in h))
        if signing_key is not None:
            args += ["--signing-key", signing_key.hex()]
        for name, value in (params or {}).items():
            args += ["--param", f"{name}={float(value)!r}"]
        self._args = args
        self._start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._ctl: socket.socket | None = None
        self._ctl_buf = b""
        self._stderr_path = self.log_dir / "sim-stderr.log"

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> SimFleet:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Start the subprocess and wait until every port accepts connections."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["MAVLINK20"] = "1"
        env.setdefault("PYTHONUNBUFFERED", "1")
        self._stderr = open(self._stderr_path, "wb")  # noqa: SIM115
        self._proc = subprocess.Popen(self._args, stdout=subprocess.PIPE, stderr=self._stderr,
                                      stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + self._start_timeout_s
        while True:
            if self._proc.poll() is not None:
                err = self._stderr_path.read_text(errors="replace")[-2000:]
                raise SimError(f"simulator exited with code {self._proc.returncode} while "
                               f"starting: {err.strip() or '(no output)'}")
            try:
                self._ctl = socket.create_connection(("127.0.0.1", self.control_port), 1.0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise SimError(f"simulator did not open control port {self.control_port} "
                                   f"within {self._start_timeout_s} s") from None
                time.sleep(0.05)
        self._ctl.settimeout(None)
        self._request({"op": "ping"})
        for i in range(self.vehicles):
            with socket.create_connection(("127.0.0.1", self.base_port + 10 * i), 5.0):
                pass

    def stop(self) -> None:
        """Stop the subprocess: a control 'stop', then terminate, then kill."""
        proc = self._proc
        if proc is None:
            return
        if self._ctl is not None:
            try:
                self._ctl.settimeout(2.0)
                self._ctl.sendall(b'{"op": "stop"}\n')
            except OSError:
                pass
            try:
                self._ctl.close()
            except OSError:
                pass
            self._ctl = None
        try:
            proc.wait(timeout=3.0)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=3.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        self._stderr.close()
        self._proc = None

    def cleanup(self) -> None:
        """Remove the temporary log directory (if SimFleet created one)."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # ------------------------------------------------------------------ connection details
    def connection_string(self, i: int) -> str:
        """pymavlink/MAVSDK-style TCP address of vehicle ``i``."""
        self._check_index(i)
        return f"tcp:127.0.0.1:{self.base_port + 10 * i}"

    def udp_connection_string(self, i: int) -> str:
        """UDP address of vehicle ``i`` (the sim listens; use ``udpout:`` with pymavlink)."""
        self._check_index(i)
        return f"udpout:127.0.0.1:{self.udp_base_port + 10 * i}"

    def sysid(self, i: int) -> int:
        """MAVLink system id of vehicle ``i`` (i + 1)."""
        self._check_index(i)
        return i + 1

    def _check_index(self, i: int) -> None:
        if not 0 <= i < self.vehicles:
            raise SimError(f"vehicle index {i} out of range 0..{self.vehicles - 1}")

    # ------------------------------------------------------------------ control channel
    def _request(self, req: dict[str, Any]) -> dict[str, Any]:
        if self._ctl is None:
            raise SimError("simulator not running: use 'with SimFleet(...) as fleet:'")
        try:
            self._ctl.sendall(json.dumps(req).encode() + b"\n")
            while b"\n" not in self._ctl_buf:
                chunk = self._ctl.recv(65536)
                if not chunk:
                    raise SimError("simulator closed its control channel (did it crash? see "
                                   f"{self._stderr_path})")
                self._ctl_buf += chunk
        except OSError as exc:
            raise SimError(f"simulator control channel failed: {exc}") from None
        line, _, self._ctl_buf = self._ctl_buf.partition(b"\n")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise SimError(f"simulator refused {req.get('op')!r}: {reply.get('error')}")
        return reply

    def advance(self, seconds: float) -> float:
        """Driven clock: run ``seconds`` of simulated time now; returns the new sim time."""
        if self.clock != "driven":
            raise SimError("advance() needs SimFleet(clock='driven')")
        return float(self._request({"op": "advance", "seconds": float(seconds)})["sim_time_s"])

    def sim_time_s(self) -> float:
        """Current simulated time in seconds since the simulator started."""
        return float(self._request({"op": "time"})["sim_time_s"])

    def vehicle_state(self, i: int) -> dict[str, Any]:
        """Ground-truth snapshot of vehicle ``i`` (position, mode, battery...) for tests."""
        self._check_index(i)
        state: dict[str, Any] = self._request({"op": "state", "vehicle": i})["state"]
        return state

    # ------------------------------------------------------------------ logs
    def speaker_log_path(self, i: int) -> Path:
        self._check_index(i)
        return self.log_dir / f"speaker-{i}.jsonl"

    def speaker_log(self, i: int) -> list[SpeakerBroadcast]:
        """Broadcasts vehicle ``i``'s speaker has made so far (see ``speakerlog``)."""
        return read_speaker_log(self.speaker_log_path(i))
