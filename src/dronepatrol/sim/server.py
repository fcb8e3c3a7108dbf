"""The simulator process: one single-threaded select() loop serving every vehicle.

Ports (vehicle i, 0-based): MAVLink TCP ``127.0.0.1:base_port + 10*i`` (several clients at
once), MAVLink UDP ``127.0.0.1:udp_base_port + 10*i`` (the sim binds and answers every peer
that sends to it, like ``udpin``), and one JSON-lines control channel on
``127.0.0.1:control_port`` (driven clock, state snapshots).
"""

from __future__ import annotations

import json
import select
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dronepatrol.sim.endpoint import Client, Endpoint, _log
from dronepatrol.sim.params import ParamStore
from dronepatrol.sim.vehicle import Vehicle

READY_LINE = "DRONEPATROL-SIM READY"


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """Everything the simulator process needs (validated by the CLI)."""

    homes: tuple[tuple[float, float, float, float], ...]
    speedup: float = 1.0
    seed: int = 0
    clock: str = "realtime"
    base_port: int = 5760
    udp_base_port: int = 14550
    control_port: int = 0
    log_dir: Path | None = None
    signing_key: bytes | None = None
    stream_rate_hz: float = 0.0
    ready_delay_s: float = 5.0
    physics_hz: float = 10.0
    params: tuple[tuple[str, float], ...] = ()


class SimServer:
    """Owns the vehicles, their sockets and the clock."""

    def __init__(self, cfg: ServerConfig) -> None:
        self.cfg = cfg
        self.dt = 1.0 / cfg.physics_hz
        self.sim_time = 0.0
        self.steps = 0
        self.running = True
        self.in_advance = False
        self.endpoints: list[Endpoint] = []
        self.tcp_listen: dict[socket.socket, Endpoint] = {}
        self.tcp_clients: dict[socket.socket, tuple[Endpoint, Client]] = {}
        self.udp_socks: dict[socket.socket, Endpoint] = {}
        self.udp_peers: dict[tuple[socket.socket, Any], Client] = {}
        self.ctl_listen: socket.socket | None = None
        self.ctl_clients: dict[socket.socket, bytearray] = {}
        self.link_counter = 0
        try:
            self._open()
        except BaseException:
            self.close()  # no socket or log file left open when a port is taken
            raise

    def _open(self) -> None:
        cfg = self.cfg
        for i, home in enumerate(cfg.homes):
            overrides = {"MAV_SYSID": float(i + 1), "SIM_SPEEDUP": cfg.speedup,
                         "SIM_ARM_READY_S": cfg.ready_delay_s}
            overrides.update(dict(cfg.params))
            params = ParamStore(overrides)
            v = Vehicle(index=i, home=home, seed=cfg.seed, params=params,
                        ready_delay_s=cfg.ready_delay_s, log_dir=cfg.log_dir)
            ep = Endpoint(v, params, sysid=i + 1, clock=lambda: self.sim_time)
            self.endpoints.append(ep)
            ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp_listen[ls] = ep  # registered first: close() then closes it on failure
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(("127.0.0.1", cfg.base_port + 10 * i))
            ls.listen(16)
            ls.setblocking(False)
            us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp_socks[us] = ep
            us.bind(("127.0.0.1", cfg.udp_base_port + 10 * i))
            us.setblocking(False)
        if cfg.control_port:
            cs = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.ctl_listen = cs
            cs.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            cs.bind(("127.0.0.1", cfg.control_port))
            cs.listen(4)
            cs.setblocking(False)

    # ------------------------------------------------------------------ clock
    def step_all(self) -> None:
        dt = self.dt
        self.steps += 1
        self.sim_time = self.steps * dt
        for ep in self.endpoints:
            ep.v.step(dt)
            if ep.v.events:
                ep.flush_events()

    def service(self, timeout: float, uncapped: bool = False) -> None:
        self.poll(timeout)
        wall = time.monotonic()
        idle = self.cfg.clock == "driven" and not self.in_advance
        for ep in self.endpoints:
            ep.tick_telemetry(wall, idle_hb=idle,
                              uncapped=uncapped or self.cfg.clock == "driven")
            ep.check_transfers(wall)
        self.flush_writes()

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        print(READY_LINE, flush=True)
        try:
            if self.cfg.clock == "driven":
                while self.running:
                    self.service(0.05)
            else:
                self._run_realtime()
        finally:
            self.close()

    def _run_realtime(self) -> None:
        speedup = self.cfg.speedup
        wall0 = time.monotonic()
        sim0 = self.sim_time
        while self.running:
            self.service(0.002 if speedup > 5 else 0.01)
            target = sim0 + (time.monotonic() - wall0) * speedup
            n = 0
            while self.sim_time + self.dt <= target and n < 100:
                self.step_all()
                n += 1
            if target - self.sim_time > max(2.0, speedup * 0.5):
                # cannot keep up: rebase instead of bursting
                wall0 = time.monotonic()
                sim0 = self.sim_time

    def advance(self, seconds: float) -> None:
        """Driven clock: step ``seconds`` of simulated time as fast as possible."""
        self.in_advance = True
        try:
            self.poll(0.0)  # take in everything clients sent before asking to advance
            n = int(round(seconds / self.dt))
            for k in range(n):
                self.step_all()
                if k % 5 == 4:
                    self.service(0.0)
            self.service(0.0, uncapped=True)
        finally:
            self.in_advance = False

    def _on_signal(self, *_a: Any) -> None:
        self.running = False

    # ------------------------------------------------------------------ sockets
    def poll(self, timeout: float) -> None:
        rlist: list[socket.socket] = [*self.tcp_listen, *self.tcp_clients, *self.udp_socks]
        if not self.in_advance:
            if self.ctl_listen is not None:
                rlist.append(self.ctl_listen)
            rlist.extend(self.ctl_clients)
        wlist = [s for s, (_e, c) in self.tcp_clients.items() if c.outbuf]
        try:
            r, w, _x = select.select(rlist, wlist, [], timeout)
        except (OSError, ValueError, InterruptedError):
            return
        for s in r:
            if s in self.tcp_listen:
                self._accept(s)
            elif s in self.tcp_clients:
                self._read_tcp(s)
            elif s in self.udp_socks:
                self._read_udp(s)
            elif s is self.ctl_listen:
                try:
                    cs, _addr = s.accept()
                    cs.setblocking(False)
                    self.ctl_clients[cs] = bytearray()
                except OSError:
                    pass
            elif s in self.ctl_clients:
                self._read_ctl(s)
        if w:
            self.flush_writes()

    def _accept(self, ls: socket.socket) -> None:
        try:
            s, addr = ls.accept()
        except OSError:
            return
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ep = self.tcp_listen[ls]
        self.link_counter += 1
        c = Client(kind="tcp", sock=s, addr=addr, sysid=ep.sysid, link_id=self.link_counter,
                   signing_key=self.cfg.signing_key, default_rate_hz=self.cfg.stream_rate_hz)
        ep.add_client(c)
        self.tcp_clients[s] = (ep, c)
        ep.send_heartbeat_to(c)

    def _close_tcp(self, s: socket.socket) -> None:
        ep, c = self.tcp_clients.pop(s)
        ep.drop_client(c)
        try:
            s.close()
        except OSError:
            pass

    def _read_tcp(self, s: socket.socket) -> None:
        data = _recv(s)
        if data is None:
            return
        if not data:
            self._close_tcp(s)
            return
        ep, c = self.tcp_clients[s]
        ep.receive(c, data)

    def _read_udp(self, us: socket.socket) -> None:
        ep = self.udp_socks[us]
        for _ in range(64):
            try:
                data, addr = us.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            key = (us, addr)
            c = self.udp_peers.get(key)
            if c is None:
                peers = [k for k in self.udp_peers if k[0] is us]
                if len(peers) >= 16:  # forget the oldest peer
                    old = self.udp_peers.pop(peers[0])
                    ep.drop_client(old)
                self.link_counter += 1
                c = Client(kind="udp", sock=us, addr=addr, sysid=ep.sysid,
                           link_id=self.link_counter, signing_key=self.cfg.signing_key,
                           default_rate_hz=self.cfg.stream_rate_hz)
                self.udp_peers[key] = c
                ep.add_client(c)
                ep.send_heartbeat_to(c)
            ep.receive(c, data)

    def flush_writes(self) -> None:
        for s, (_ep, c) in list(self.tcp_clients.items()):
            if not c.outbuf:
                continue
            try:
                n = s.send(c.outbuf)
                del c.outbuf[:n]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                self._close_tcp(s)
                continue
            if len(c.outbuf) > 8 * 1024 * 1024:
                _log(f"dropping client {c.addr}: not reading ({len(c.outbuf)} bytes queued)")
                self._close_tcp(s)

    # ------------------------------------------------------------------ control channel
    def _read_ctl(self, s: socket.socket) -> None:
        data = _recv(s)
        if data is None:
            return
        if not data:
            self.ctl_clients.pop(s, None)
            s.close()
            return
        buf = self.ctl_clients[s]
        buf += data
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            reply = self._control(line)
            try:
                s.setblocking(True)
                s.sendall(json.dumps(reply).encode() + b"\n")
                s.setblocking(False)
            except OSError:
                self.ctl_clients.pop(s, None)
                return

    def _control(self, line: bytes) -> dict[str, Any]:
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "advance":
                if self.cfg.clock != "driven":
                    return {"ok": False, "error": "advance needs clock='driven'"}
                seconds = float(req["seconds"])
                if not 0 <= seconds <= 1e6:
                    return {"ok": False, "error": f"seconds={seconds} out of range 0..1e6"}
                self.advance(seconds)
            elif op == "state":
                i = int(req["vehicle"])
                return {"ok": True, "sim_time_s": self.sim_time,
                        "state": self.endpoints[i].v.state()}
            elif op == "stop":
                self.running = False
            elif op not in ("time", "ping"):
                return {"ok": False, "error": f"unknown op {op!r}"}
            return {"ok": True, "sim_time_s": self.sim_time}
        except Exception as exc:  # bad request: answer, keep running
            return {"ok": False, "error": repr(exc)}

    def close(self) -> None:
        for ep in self.endpoints:
            ep.v.close()
        socks = [*self.tcp_listen, *self.tcp_clients, *self.udp_socks, *self.ctl_clients]
        if self.ctl_listen is not None:
            socks.append(self.ctl_listen)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        sys.stdout.flush()


def _recv(s: socket.socket) -> bytes | None:
    """What a non-blocking stream socket has: None if nothing yet, b"" if closed or broken."""
    try:
        return s.recv(65536)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""
