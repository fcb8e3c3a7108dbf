"""dronepatrol.sim failsafes and mission control as ArduCopter does them: GCS heartbeat loss,
exclusion-fence breach, DO_PAUSE_CONTINUE, DO_SET_MISSION_CURRENT, MAV_CMD_BATTERY_RESET and
the RTL destination (nearest rally point, RALLY_INCL_HOME, RALLY_LIMIT_KM).

A pymavlink ground station in this process talks to the simulator subprocess over real
sockets; the clock is driven, so no test sleeps waiting for simulated time.
"""

from __future__ import annotations

import os

os.environ.setdefault("MAVLINK20", "1")

import math  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from pymavlink import mavutil  # noqa: E402
from pymavlink.dialects.v20 import ardupilotmega as mavlink  # noqa: E402

from dronepatrol import mission as mc  # noqa: E402
from dronepatrol.sim import SimFleet, free_port_block  # noqa: E402

HOME = (51.4545, -2.5879, 30.0, 0.0)
M_PER_DEG = 111319.49
GUIDED, AUTO, RTL = 4, 3, 6
GEOFENCE = mavlink.MAV_SYS_STATUS_GEOFENCE
RALLY_CASES = {
    # name: (vehicle index, RALLY_INCL_HOME, RALLY_LIMIT_KM, RTL from (N, E), expected (N, E))
    "nearest rally point": (5, 1, 0.3, (250.0, 50.0), (300.0, 0.0)),
    "home nearer than any rally point": (6, 1, 0.3, (50.0, -50.0), (0.0, 0.0)),
    "rally point although home is nearer": (7, 0, 0.3, (50.0, -50.0), (0.0, -250.0)),
    "rally point beyond RALLY_LIMIT_KM": (8, 0, 0.2, (50.0, -50.0), (0.0, 0.0)),
}


@pytest.fixture(scope="module")
def fleet() -> Iterator[SimFleet]:
    with SimFleet(vehicles=9, home=HOME, clock="driven", base_port=free_port_block(9), seed=3,
                  ready_delay_s=1.0, params={"SIM_WIND_TURB": 0.0, "WP_SPD": 10.0}) as f:
        f.advance(2.0)
        yield f
    f.cleanup()


class Gcs:
    """A small pymavlink ground station for these tests (one vehicle)."""

    def __init__(self, fleet: SimFleet, i: int, sysid: int = 255) -> None:
        self.m = mavutil.mavlink_connection(fleet.connection_string(i), source_system=sysid,
                                            source_component=190)
        self.target = fleet.sysid(i)
        self.seen: list[Any] = []
        st = fleet.vehicle_state(i)
        self.home = (st["lat_deg"] - st["north_m"] / M_PER_DEG,
                     st["lon_deg"] - st["east_m"] / (M_PER_DEG * math.cos(
                         math.radians(st["lat_deg"]))))

    def close(self) -> None:
        self.m.close()

    def latlon(self, north_m: float, east_m: float) -> tuple[float, float]:
        """(lat, lon) of a point north/east of this vehicle's home."""
        lat0, lon0 = self.home
        return (lat0 + north_m / M_PER_DEG,
                lon0 + east_m / (M_PER_DEG * math.cos(math.radians(lat0))))

    def lonlat(self, north_m: float, east_m: float) -> tuple[float, float]:
        lat, lon = self.latlon(north_m, east_m)
        return (lon, lat)

    def drain(self) -> None:
        while (msg := self.m.recv_match(blocking=False)) is not None:
            self.seen.append(msg)

    def recv(self, types: Any, cond: Callable[[Any], bool] | None = None,
             timeout: float = 5.0) -> Any:
        """The next message of ``types`` matching ``cond``; every message read is kept in
        ``self.seen`` (a STATUSTEXT or MISSION_CURRENT may come just before a COMMAND_ACK)."""
        wanted = {types} if isinstance(types, str) else set(types)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.m.recv_match(blocking=True, timeout=0.2)
            if msg is None:
                continue
            self.seen.append(msg)
            if msg.get_type() in wanted and (cond is None or cond(msg)):
                return msg
        return None

    def texts(self) -> list[str]:
        return [m.text for m in self.seen if m.get_type() == "STATUSTEXT"]

    def heartbeat(self) -> None:
        self.m.mav.heartbeat_send(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)

    def command(self, cmd: int, *p: float) -> int:
        params = list(p) + [0.0] * (7 - len(p))
        self.m.mav.command_long_send(self.target, 1, cmd, 0, *params)
        ack = self.recv("COMMAND_ACK", lambda a: a.command == cmd)
        assert ack is not None, f"no COMMAND_ACK for command {cmd}"
        return int(ack.result)

    def request(self, msg_id: int) -> Any:
        """REQUEST_MESSAGE: the ACK, then the message itself."""
        self.drain()
        assert self.command(512, msg_id) == 0
        msg = self.recv(mavlink.mavlink_map[msg_id].msgname)
        assert msg is not None, f"message {msg_id} did not follow its REQUEST_MESSAGE"
        return msg

    def set_param(self, name: str, value: float) -> None:
        self.m.mav.param_set_send(self.target, 1, name.encode(), value, 9)
        pv = self.recv("PARAM_VALUE", lambda p: p.param_id == name)
        assert pv is not None and pv.param_value == pytest.approx(value)

    def upload(self, items: list[mc.MissionItem], mission_type: int = 0) -> int:
        wire = list(items)
        if mission_type == 0:
            wire.insert(0, mc.MissionItem(command=16, frame=0, lat_deg=self.home[0],
                                          lon_deg=self.home[1], alt_m=HOME[2]))
        self.m.mav.mission_count_send(self.target, 1, len(wire), mission_type)
        while True:
            msg = self.recv(["MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"])
            assert msg is not None, "upload stalled"
            if msg.get_type() == "MISSION_ACK":
                return int(msg.type)
            it = wire[msg.seq]
            self.m.mav.mission_item_int_send(
                self.target, 1, msg.seq, it.frame, it.command, 0, 1, it.param1, it.param2,
                it.param3, it.param4, round(it.lat_deg * 1e7), round(it.lon_deg * 1e7),
                it.alt_m, mission_type)

    def take_off(self, fleet: SimFleet, alt_m: float) -> None:
        assert self.command(176, 1, GUIDED) == 0
        assert self.command(400, 1) == 0
        assert self.command(22, 0, 0, 0, 0, 0, 0, alt_m) == 0
        advance_until(fleet, self.target - 1, lambda s: s["alt_m"] > alt_m - 0.5, 60.0)

    def goto(self, north_m: float, east_m: float, alt_m: float) -> None:
        lat, lon = self.latlon(north_m, east_m)
        self.m.mav.set_position_target_global_int_send(
            0, self.target, 1, mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, 0b110111111000,
            round(lat * 1e7), round(lon * 1e7), alt_m, 0, 0, 0, 0, 0, 0, 0, 0)


def advance_until(fleet: SimFleet, i: int, done: Callable[[dict[str, Any]], bool],
                  limit_s: float, step_s: float = 2.0) -> dict[str, Any]:
    """Advance the driven clock in steps until ``done(state of vehicle i)``; fail at limit_s."""
    waited = 0.0
    while True:
        st = fleet.vehicle_state(i)
        if done(st):
            return st
        assert waited < limit_s, f"vehicle {i} not there after {limit_s} s simulated: {st}"
        fleet.advance(step_s)
        waited += step_s


def landed_and_disarmed(st: dict[str, Any]) -> bool:
    return bool(st["landed"] and not st["armed"])


# ------------------------------------------------------------------------------ GCS failsafe
def test_gcs_heartbeat_loss_triggers_rtl_only_for_the_gcs_sysid(fleet: SimFleet) -> None:
    gcs = Gcs(fleet, 0)                  # sysid 255 = MAV_GCS_SYSID
    other = Gcs(fleet, 0, sysid=200)     # another ground station: its heartbeats do not count
    try:
        gcs.take_off(fleet, 20.0)
        gcs.heartbeat()
        gcs.set_param("FS_GCS_TIMEOUT", 5)
        gcs.set_param("FS_GCS_ENABLE", 1)
        for _ in range(8):               # both stations alive: nothing happens
            gcs.heartbeat()
            other.heartbeat()
            fleet.advance(1.0)
        st = fleet.vehicle_state(0)
        assert st["mode"] == GUIDED and not st["failsafe"]
        gcs.drain()
        # the GCS fell silent 1 s ago (its last heartbeat came before the last advance); the
        # other station keeps sending
        other.heartbeat()
        fleet.advance(2.0)
        other.heartbeat()
        fleet.advance(1.9)
        st = fleet.vehicle_state(0)
        assert st["mode"] == GUIDED and not st["failsafe"], "failsafe before FS_GCS_TIMEOUT"
        other.heartbeat()
        fleet.advance(0.3)
        st = fleet.vehicle_state(0)
        assert st["mode"] == RTL and st["failsafe"]
        text = gcs.recv("STATUSTEXT", lambda t: "GCS Failsafe" in t.text)
        assert text is not None and text.severity <= mavlink.MAV_SEVERITY_CRITICAL
        hb = gcs.recv("HEARTBEAT", lambda h: h.get_srcSystem() == 1)
        assert hb.system_status == mavlink.MAV_STATE_CRITICAL and hb.custom_mode == RTL
        # the GCS comes back: failsafe clears, the vehicle stays in RTL (as ArduCopter)
        gcs.heartbeat()
        fleet.advance(0.5)
        assert gcs.recv("STATUSTEXT", lambda t: "GCS Failsafe Cleared" in t.text) is not None
        st = fleet.vehicle_state(0)
        assert st["mode"] == RTL and not st["failsafe"]

        def landed_with_heartbeats(s: dict[str, Any]) -> bool:
            gcs.heartbeat()
            return landed_and_disarmed(s)

        st = advance_until(fleet, 0, landed_with_heartbeats, 200.0)
        assert math.hypot(st["north_m"], st["east_m"]) < 3.0
    finally:
        gcs.set_param("FS_GCS_ENABLE", 0)
        gcs.close()
        other.close()


def test_gcs_failsafe_off_when_disabled(fleet: SimFleet) -> None:
    gcs = Gcs(fleet, 4)
    try:
        gcs.heartbeat()
        gcs.take_off(fleet, 10.0)
        fleet.advance(15.0)             # FS_GCS_ENABLE = 0 (default): silence is fine
        st = fleet.vehicle_state(4)
        assert st["mode"] == GUIDED and st["armed"] and not st["failsafe"]
        assert gcs.command(21) == 0     # NAV_LAND
        advance_until(fleet, 4, landed_and_disarmed, 120.0)
    finally:
        gcs.close()


# ------------------------------------------------------------------------------ fence
def test_exclusion_polygon_breach_triggers_fence_action_rtl(fleet: SimFleet) -> None:
    g = Gcs(fleet, 1)
    try:
        square = [g.lonlat(n, e) for n, e in ((120, -60), (120, 60), (220, 60), (220, -60))]
        assert g.upload(mc.fence_items(None, [square]), mc.FENCE) == 0
        g.set_param("FENCE_TYPE", 4)     # polygons and circles only
        g.set_param("FENCE_ACTION", 1)   # RTL (or LAND)
        assert g.command(207, 1) == 0    # DO_FENCE_ENABLE
        sys_status = g.request(1)
        assert sys_status.onboard_control_sensors_present & GEOFENCE
        assert sys_status.onboard_control_sensors_enabled & GEOFENCE
        assert sys_status.onboard_control_sensors_health & GEOFENCE
        g.take_off(fleet, 20.0)
        g.drain()
        g.goto(300.0, 0.0, 20.0)         # straight through the exclusion zone
        st = advance_until(fleet, 1, lambda s: s["mode"] != GUIDED, 60.0, step_s=0.5)
        assert st["mode"] == RTL
        assert 118.0 <= st["north_m"] <= 135.0, "RTL should start at the polygon's edge"
        assert g.recv("STATUSTEXT", lambda t: "Fence" in t.text) is not None
        sys_status = g.request(1)
        assert sys_status.onboard_control_sensors_enabled & GEOFENCE
        assert not sys_status.onboard_control_sensors_health & GEOFENCE
        fence = g.request(162)
        assert fence.breach_status == 1 and fence.breach_count >= 1
        assert fence.breach_type == mavlink.FENCE_BREACH_BOUNDARY
        st = advance_until(fleet, 1, landed_and_disarmed, 240.0)
        assert math.hypot(st["north_m"], st["east_m"]) < 3.0
        sys_status = g.request(1)
        assert sys_status.onboard_control_sensors_health & GEOFENCE
    finally:
        g.command(207, 0)
        g.close()


# ------------------------------------------------------------------------------ mission control
def _auto_mission(g: Gcs, fleet: SimFleet, waypoints: list[tuple[float, float]]) -> None:
    items = mc.route_mission([g.lonlat(n, e) for n, e in waypoints], altitude_m=20.0,
                             end="land")
    assert g.upload(items) == 0
    assert g.command(176, 1, GUIDED) == 0
    assert g.command(400, 1) == 0
    assert g.command(300, 0, 0) == 0     # MISSION_START


def test_pause_and_continue_in_auto(fleet: SimFleet) -> None:
    g = Gcs(fleet, 2)
    try:
        assert g.command(193, 0) == 4    # not in AUTO: "Failed to pause"
        assert "Failed to pause" in g.texts()
        _auto_mission(g, fleet, [(400.0, 0.0)])
        advance_until(fleet, 2, lambda s: s["north_m"] > 100.0, 90.0, step_s=1.0)
        g.drain()
        assert g.command(193, 0) == 0    # pause
        current = g.request(42)
        assert current.seq == 2 and current.mission_state == mavlink.MISSION_STATE_PAUSED
        assert g.command(193, 0) == 4    # already paused
        fleet.advance(5.0)               # brake
        a = fleet.vehicle_state(2)
        fleet.advance(20.0)
        b = fleet.vehicle_state(2)
        assert b["mode"] == AUTO and b["armed"] and b["mission_seq"] == 2
        assert math.hypot(b["north_m"] - a["north_m"], b["east_m"] - a["east_m"]) < 0.5
        assert math.hypot(b["vn"], b["ve"]) < 0.1
        assert g.command(193, 7) == 2    # neither pause nor continue: DENIED
        assert g.command(193, 1) == 0    # continue
        assert g.request(42).mission_state == mavlink.MISSION_STATE_ACTIVE
        assert g.command(193, 1) == 4    # not paused: "Failed to resume"
        assert "Failed to resume" in g.texts()
        g.drain()
        st = advance_until(fleet, 2, landed_and_disarmed, 200.0)
        assert st["north_m"] == pytest.approx(400.0, abs=3.0)
    finally:
        g.close()


def test_do_set_mission_current_skips_ahead(fleet: SimFleet) -> None:
    g = Gcs(fleet, 3)
    try:
        # seq 1 takeoff, 2..4 waypoints, 5 land
        _auto_mission(g, fleet, [(300.0, 0.0), (300.0, 300.0), (0.0, 150.0)])
        advance_until(fleet, 3, lambda s: s["mission_seq"] == 2 and s["north_m"] > 30.0,
                      60.0, step_s=1.0)
        g.drain()
        assert g.command(224, 99) == 4   # outside the mission: FAILED
        g.seen.clear()
        assert g.command(224, 4) == 0
        assert [m.seq for m in g.seen if m.get_type() == "MISSION_CURRENT"][-1:] == [4]
        assert fleet.vehicle_state(3)["mission_seq"] == 4
        assert g.command(224, -1) == 0   # -1: keep the current item
        assert g.request(42).seq == 4
        reached: list[int] = []
        for _ in range(60):
            fleet.advance(5.0)
            while (m := g.m.recv_match(type="MISSION_ITEM_REACHED", blocking=False)):
                reached.append(m.seq)
            if landed_and_disarmed(fleet.vehicle_state(3)):
                break
        assert reached == [4, 5]         # items 2 and 3 were skipped
        st = fleet.vehicle_state(3)
        assert landed_and_disarmed(st)
        assert st["north_m"] == pytest.approx(0.0, abs=3.0)
        assert st["east_m"] == pytest.approx(150.0, abs=3.0)
    finally:
        g.close()


# ------------------------------------------------------------------------------ battery
def test_battery_reset_restores_charge_and_clears_low_failsafe(fleet: SimFleet) -> None:
    g = Gcs(fleet, 4)
    try:
        advance_until(fleet, 4, lambda s: not s["armed"], 60.0)
        g.set_param("BATT_LOW_MAH", 9900)   # "low" once 100 mAh are used; action: none
        g.set_param("BATT_FS_LOW_ACT", 0)
        g.take_off(fleet, 10.0)
        fleet.advance(40.0)
        st = fleet.vehicle_state(4)
        assert st["failsafe"] and st["battery_pct"] < 100 and st["mode"] == GUIDED
        assert g.recv("STATUSTEXT", lambda t: "Battery 1 is low" in t.text) is not None
        assert g.request(147).battery_remaining == st["battery_pct"]
        assert g.command(42651, 2, 100) == 4    # battery instance 1 does not exist
        assert g.command(42651, 1, 100) == 0
        st = fleet.vehicle_state(4)
        assert st["battery_pct"] == 100 and st["consumed_mah"] == 0 and not st["failsafe"]
        batt = g.request(147)
        assert batt.battery_remaining == 100 and batt.current_consumed == 0
        g.set_param("BATT_LOW_MAH", 0)
        assert g.command(42651, 1, 40) == 0
        assert fleet.vehicle_state(4)["battery_pct"] == 40
        assert g.request(1).battery_remaining == 40
        assert g.command(42651, 1, 100) == 0
        assert g.command(21) == 0
        advance_until(fleet, 4, landed_and_disarmed, 120.0)
    finally:
        g.close()


# ------------------------------------------------------------------------------ rally
@pytest.mark.parametrize("case", list(RALLY_CASES))
def test_rtl_destination_rally_or_home(fleet: SimFleet, case: str) -> None:
    i, incl_home, limit_km, start, expected = RALLY_CASES[case]
    g = Gcs(fleet, i)
    try:
        rally = [g.lonlat(300.0, 0.0), g.lonlat(0.0, -250.0), g.lonlat(-400.0, 400.0)]
        assert g.upload(mc.rally_items(rally, altitude_m=15.0), mc.RALLY) == 0
        g.set_param("RALLY_INCL_HOME", incl_home)
        g.set_param("RALLY_LIMIT_KM", limit_km)
        g.take_off(fleet, 20.0)
        g.goto(*start, 20.0)
        advance_until(fleet, i, lambda s: math.hypot(s["north_m"] - start[0],
                                                     s["east_m"] - start[1]) < 2.0, 120.0)
        assert g.command(20) == 0        # NAV_RETURN_TO_LAUNCH
        st = advance_until(fleet, i, landed_and_disarmed, 240.0, step_s=5.0)
        assert st["north_m"] == pytest.approx(expected[0], abs=3.0)
        assert st["east_m"] == pytest.approx(expected[1], abs=3.0)
    finally:
        g.close()
