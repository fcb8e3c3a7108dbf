"""Real third-party ground stations against dronepatrol.sim: MAVProxy and MAVSDK-Python.

Both fly a whole mission on the driven clock: the test advances simulated time while the
peer talks to the simulator over TCP, and checks the peer's own output, a pymavlink observer
and the simulator's ground truth. Install (no GUI dependencies):

    pip install --no-deps MAVProxy pyserial
    pip install "mavsdk>=4.1,<5"
"""

from __future__ import annotations

import os

os.environ.setdefault("MAVLINK20", "1")

import math  # noqa: E402
import queue  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from pymavlink import mavutil  # noqa: E402
from pymavlink.dialects.v20 import ardupilotmega as mavlink  # noqa: E402

from dronepatrol import mission as mc  # noqa: E402
from dronepatrol.sim import SimFleet, free_port_block  # noqa: E402

HOME = (-35.363261, 149.165230, 584.0, 0.0)
M_PER_DEG = 111319.49
NAV_COMMANDS = (mc.NAV_TAKEOFF, mc.NAV_WAYPOINT, mc.NAV_LOITER_TIME, mc.NAV_RETURN_TO_LAUNCH,
                mc.NAV_LAND)


@pytest.fixture(scope="module")
def fleet() -> Iterator[SimFleet]:
    with SimFleet(vehicles=2, home=HOME, clock="driven", base_port=free_port_block(2), seed=11,
                  ready_delay_s=1.0, params={"WP_SPD": 10.0}) as f:
        f.advance(2.0)
        yield f
    f.cleanup()


def home_of(fleet: SimFleet, i: int) -> tuple[float, float]:
    st = fleet.vehicle_state(i)
    assert st["landed"] and abs(st["north_m"]) < 1e-6 and abs(st["east_m"]) < 1e-6
    return st["lat_deg"], st["lon_deg"]


def lonlat(home: tuple[float, float], north_m: float, east_m: float) -> tuple[float, float]:
    """(lon, lat) of a point north/east of ``home`` (lat, lon)."""
    return (home[1] + east_m / (M_PER_DEG * math.cos(math.radians(home[0]))),
            home[0] + north_m / M_PER_DEG)


def advance_until(fleet: SimFleet, i: int, done: Callable[[dict[str, Any]], bool],
                  limit_s: float, step_s: float = 5.0,
                  each: Callable[[], None] | None = None) -> dict[str, Any]:
    """Advance the driven clock until ``done(state)``; fail after ``limit_s`` simulated s."""
    waited = 0.0
    while True:
        if each is not None:
            each()
        st = fleet.vehicle_state(i)
        if done(st):
            return st
        assert waited < limit_s, f"vehicle {i} not there after {limit_s} s simulated: {st}"
        fleet.advance(step_s)
        waited += step_s


def landed_and_disarmed(st: dict[str, Any]) -> bool:
    return bool(st["landed"] and not st["armed"])


class Observer:
    """A passive pymavlink station on the same vehicle: keeps every message it reads."""

    def __init__(self, address: str, target: int) -> None:
        self.m = mavutil.mavlink_connection(address, source_system=254, source_component=191)
        self.target = target
        self.seen: list[Any] = []

    def poll(self) -> None:
        while (msg := self.m.recv_match(blocking=False)) is not None:
            self.seen.append(msg)

    def of_type(self, t: str) -> list[Any]:
        return [m for m in self.seen if m.get_type() == t]

    def mission_count(self, mission_type: int) -> int:
        self.m.mav.mission_request_list_send(self.target, 1, mission_type)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            msg = self.m.recv_match(type="MISSION_COUNT", blocking=True, timeout=0.2)
            if msg is not None and msg.mission_type == mission_type:
                return int(msg.count)
        raise AssertionError(f"no MISSION_COUNT for mission_type {mission_type}")

    def request(self, msg_id: int) -> Any:
        self.m.mav.command_long_send(self.target, 1, 512, 0, msg_id, 0, 0, 0, 0, 0, 0)
        name = mavlink.mavlink_map[msg_id].msgname
        msg = self.m.recv_match(type=name, blocking=True, timeout=5.0)
        assert msg is not None, f"no {name} after REQUEST_MESSAGE"
        return msg

    def close(self) -> None:
        self.m.close()


# ------------------------------------------------------------------------------ MAVProxy
class MavProxy:
    """MAVProxy in a subprocess: commands on stdin, stdout read by a thread, killed at close."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        # HOME=cwd: no ~/.mavinit.scr or saved state of the user changes the run
        env = dict(os.environ, PYTHONUNBUFFERED="1", MAVLINK20="1", HOME=str(cwd))
        self.proc = subprocess.Popen([sys.executable, "-m", "MAVProxy.mavproxy", *args],
                                     cwd=cwd, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        self.lines: list[str] = []
        self._q: queue.Queue[str] = queue.Queue()
        self._pos = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))

    def _pull(self, timeout: float) -> None:
        try:
            self.lines.append(self._q.get(timeout=timeout))
            while True:
                self.lines.append(self._q.get_nowait())
        except queue.Empty:
            pass

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def expect(self, text: str, timeout: float = 15.0, *, whole: bool = False) -> str:
        """Wait for a stdout line containing ``text`` after the last one matched.

        ``whole``: the line is ``text`` alone, after an optional ``MODE>`` prompt.
        """
        pattern = re.compile(r"^(\S+> )*" + re.escape(text) + "$" if whole else re.escape(text))
        deadline = time.monotonic() + timeout
        while True:
            for k in range(self._pos, len(self.lines)):
                if pattern.search(self.lines[k]):
                    self._pos = k + 1
                    return self.lines[k]
            if self.proc.poll() is not None and self._q.empty():
                raise AssertionError(f"MAVProxy exited ({self.proc.returncode}) before "
                                     f"{text!r}:\n" + "\n".join(self.lines[-40:]))
            if time.monotonic() > deadline:
                raise AssertionError(f"MAVProxy did not print {text!r} within {timeout} s:\n"
                                     + "\n".join(self.lines[-40:]))
            self._pull(0.1)

    def expect_all(self, texts: list[str], timeout: float = 15.0) -> None:
        """Wait until each of ``texts`` is in a line after the last match, in any order."""
        deadline = time.monotonic() + timeout
        while True:
            found = [next((k for k in range(self._pos, len(self.lines)) if t in self.lines[k]),
                          None) for t in texts]
            if all(k is not None for k in found):
                self._pos = max(k for k in found if k is not None) + 1
                return
            missing = [t for t, k in zip(texts, found, strict=True) if k is None]
            if time.monotonic() > deadline or (self.proc.poll() is not None and
                                               self._q.empty()):
                raise AssertionError(f"MAVProxy did not print {missing} within {timeout} s:\n"
                                     + "\n".join(self.lines[-40:]))
            self._pull(0.1)

    def output(self) -> str:
        self._pull(0.0)
        return "\n".join(self.lines)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("exit")
                self.proc.wait(timeout=3.0)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=5.0)
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass


def test_mavproxy_loads_mission_fence_rally_and_flies_it(fleet: SimFleet, tmp_path: Path
                                                          ) -> None:
    pytest.importorskip("MAVProxy", reason="MAVProxy not installed: "
                        "pip install --no-deps MAVProxy pyserial")
    pytest.importorskip("serial", reason="MAVProxy needs pyserial: pip install pyserial")
    home = home_of(fleet, 0)
    route = [lonlat(home, n, e) for n, e in ((150, 0), (150, 150), (0, 150))]
    items = mc.route_mission(route, altitude_m=25.0, speed_mps=8.0, hold_s=[0, 3, 0], end="rtl")
    mc.write_waypoints(tmp_path / "mission.txt", items, (home[0], home[1], HOME[2]))
    fence = mc.fence_items([lonlat(home, n, e) for n, e in
                            ((-100, -100), (-100, 300), (300, 300), (300, -100))],
                           [[lonlat(home, n, e) for n, e in ((200, 200), (200, 260), (260, 230))]])
    mc.write_fence(tmp_path / "fence.txt", fence)
    mc.write_rally(tmp_path / "rally.txt", mc.rally_items([lonlat(home, 20, 120)],
                                                          altitude_m=15.0))
    nav_seqs = [k for k, it in enumerate(items, start=1) if it.command in NAV_COMMANDS]

    observer = Observer(fleet.connection_string(0), 1)
    mp = MavProxy(["--master", fleet.connection_string(0), "--target-system=1",
                   "--target-component=1", "--no-state",
                   "--default-modules=wp,fence,rally,mode,arm,param,cmdlong",
                   "--cmd", "wp load mission.txt; fence load fence.txt; rally load rally.txt"],
                  tmp_path)
    try:
        # recipe 1: the three uploads given with --cmd, before the first heartbeat
        mp.expect("Detected vehicle 1:1", 20.0)
        mp.expect_all([f"Got MISSION_ACK: TYPE_{t}: ACCEPTED"
                       for t in ("MISSION", "FENCE", "RALLY")], 30.0)
        assert observer.mission_count(mc.MISSION) == len(items) + 1   # + home at seq 0
        assert observer.mission_count(mc.FENCE) == len(fence)
        assert observer.mission_count(mc.RALLY) == 1
        # recipe 2: interactive commands on stdin
        mp.send("fence enable")
        mp.send("mode guided")
        mp.expect("Mode GUIDED")
        mp.send("arm throttle")
        mp.expect("COMPONENT_ARM_DISARM: ACCEPTED")
        mp.expect("ARMED", whole=True)   # from the next heartbeat
        mp.send("takeoff 10")
        mp.expect("NAV_TAKEOFF: ACCEPTED")
        advance_until(fleet, 0, lambda s: s["alt_m"] > 9.5, 30.0, step_s=1.0)
        mp.send("mode auto")
        mp.expect("Mode AUTO")
        st = advance_until(fleet, 0, landed_and_disarmed, 400.0, each=observer.poll)
        observer.poll()
        mp.expect("DISARMED", 10.0, whole=True)
        shown = mp.output()
        assert all(f"waypoint {k}" in shown for k in nav_seqs[1:])   # MISSION_CURRENT
        assert f"Reached command #{nav_seqs[-1]}" in shown             # STATUSTEXT
        reached = [m.seq for m in observer.of_type("MISSION_ITEM_REACHED")]
        assert reached == nav_seqs
        texts = [m.text for m in observer.of_type("STATUSTEXT")]
        assert not [t for t in texts if "Fence" in t], "the route stays inside the fence"
        # RTL ends at the rally point, which is nearer than home
        lat, lon = lonlat(home, 20, 120)[::-1]
        assert st["lat_deg"] == pytest.approx(lat, abs=3e-5)
        assert st["lon_deg"] == pytest.approx(lon, abs=3e-5)
        sys_status = observer.request(1)
        assert sys_status.onboard_control_sensors_enabled & mavlink.MAV_SYS_STATUS_GEOFENCE
        assert observer.request(42).mission_state == mavlink.MISSION_STATE_COMPLETE
    finally:
        mp.close()
        observer.close()


# ------------------------------------------------------------------------------ MAVSDK
def test_mavsdk_uploads_arms_takes_off_and_flies_the_mission(fleet: SimFleet) -> None:
    mavsdk = pytest.importorskip("mavsdk", minversion="4.1",
                                 reason="no mavsdk>=4.1 wheel for this platform")
    from mavsdk.plugins.action import Action
    from mavsdk.plugins.mission_raw import MissionItem, MissionRaw

    home = home_of(fleet, 1)
    route = [lonlat(home, n, e) for n, e in ((0, 200), (200, 200), (200, 0))]
    items = mc.route_mission(route, altitude_m=20.0, takeoff_altitude_m=15.0, end="land")
    wire = [mc.MissionItem(command=mc.NAV_WAYPOINT, frame=mc.FRAME_GLOBAL, lat_deg=home[0],
                           lon_deg=home[1], alt_m=HOME[2]), *items]

    def raw(seq: int, it: mc.MissionItem, mission_type: int = 0) -> Any:
        return MissionItem(seq, it.frame, it.command, 1 if seq == 0 else 0, 1, it.param1,
                           it.param2, it.param3, it.param4, round(it.lat_deg * 1e7),
                           round(it.lon_deg * 1e7), it.alt_m, mission_type)

    progress: list[tuple[int, int]] = []
    sdk = mavsdk.Mavsdk(mavsdk.Configuration.create_with_component_type(
        mavsdk.ComponentType.GROUND_STATION))
    try:
        port = fleet.connection_string(1).rsplit(":", 1)[1]
        assert sdk.add_any_connection(f"tcpout://127.0.0.1:{port}") == \
            mavsdk.ConnectionResult.SUCCESS
        system = sdk.first_autopilot(10.0)
        assert system is not None, "MAVSDK found no autopilot"
        assert system.get_system_id() == 2
        assert system.autopilot_type() == mavsdk.Autopilot.ARDUPILOT
        assert system.vehicle_type() == mavsdk.Vehicle.MULTICOPTER
        action, mission = Action(system), MissionRaw(system)
        mission.subscribe_mission_progress(
            lambda p, _ud: progress.append((int(p.current), int(p.total))))
        # rally points first: MAVSDK 4.1 takes its progress total from the last upload
        rally = mc.rally_items([lonlat(home, 100, 100)], altitude_m=15.0)
        mission.upload_rally_points([raw(k, it, mc.RALLY) for k, it in enumerate(rally)])
        assert len(mission.download_rallypoints()) == 1
        mission.upload_mission([raw(k, it) for k, it in enumerate(wire)])
        back = mission.download_mission()
        assert [(b.seq, b.command) for b in back] == [(k, it.command)
                                                      for k, it in enumerate(wire)]
        assert (back[0].x, back[0].y) == (round(home[0] * 1e7), round(home[1] * 1e7))
        action.arm()
        action.set_takeoff_altitude(10.0)
        action.takeoff()                                # GUIDED + NAV_TAKEOFF
        st = advance_until(fleet, 1, lambda s: s["alt_m"] > 9.5, 30.0, step_s=1.0)
        assert st["mode"] == 4 and st["armed"]
        mission.start_mission()                         # AUTO + MISSION_START
        st = advance_until(fleet, 1, landed_and_disarmed, 400.0)
        deadline = time.monotonic() + 5.0
        total = len(wire)
        while (not progress or progress[-1] != (total, total)) and time.monotonic() < deadline:
            time.sleep(0.05)                            # MAVSDK's callback thread
        assert progress and progress[-1] == (total, total)
        currents = [c for c, _t in progress]
        assert currents == sorted(currents) and currents[0] <= 2
        assert {t for _c, t in progress} == {total}
        # NAV_LAND at lat/lon 0: lands after the last waypoint (200 N, 0 E)
        assert st["north_m"] == pytest.approx(200.0, abs=3.0)
        assert st["east_m"] == pytest.approx(0.0, abs=3.0)
    finally:
        sdk.destroy()
