"""dronepatrol.sim flying: AUTO missions, RTL to rally, speaker log, failsafes, determinism,
signing. Driven clock throughout: tests advance simulated time, they never sleep for it."""

from __future__ import annotations

import os

os.environ.setdefault("MAVLINK20", "1")

import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from pymavlink import mavutil  # noqa: E402
from pymavlink.dialects.v20 import ardupilotmega as mavlink  # noqa: E402

from dronepatrol import mission as mc  # noqa: E402
from dronepatrol.sim import SimFleet, free_port_block  # noqa: E402

HOME = (47.397742, 8.545594, 488.0, 90.0)
M_PER_DEG = 111319.49


def ll(north_m: float, east_m: float) -> tuple[float, float]:
    import math
    return (HOME[0] + north_m / M_PER_DEG,
            HOME[1] + east_m / (M_PER_DEG * math.cos(math.radians(HOME[0]))))


def item(cmd: int, north_m: float = 0.0, east_m: float = 0.0, alt_m: float = 0.0,
         **kw: Any) -> mc.MissionItem:
    lat, lon = ll(north_m, east_m) if (north_m or east_m) else (0.0, 0.0)
    return mc.MissionItem(command=cmd, lat_deg=lat, lon_deg=lon, alt_m=alt_m, **kw)


class Gcs:
    def __init__(self, address: str, target: int = 1, key: bytes | None = None) -> None:
        self.m = mavutil.mavlink_connection(address, source_system=255, source_component=190)
        self.target = target
        if key is not None:
            self.m.setup_signing(key, sign_outgoing=True)

    def recv(self, types: Any, cond: Any = None, timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.m.recv_match(type=types, blocking=True, timeout=0.2)
            if msg is not None and (cond is None or cond(msg)):
                return msg
        return None

    def collect(self, types: Any) -> list[Any]:
        out = []
        while (msg := self.m.recv_match(type=types, blocking=True, timeout=0.3)) is not None:
            out.append(msg)
        return out

    def command(self, cmd: int, *p: float, compid: int = 1) -> Any:
        params = list(p) + [0.0] * (7 - len(p))
        self.m.mav.command_long_send(self.target, compid, cmd, 0, *params)
        return self.recv("COMMAND_ACK", lambda a: a.command == cmd)

    def set_param(self, name: str, value: float) -> None:
        self.m.mav.param_set_send(self.target, 1, name.encode(), value, 9)
        assert self.recv("PARAM_VALUE", lambda p: p.param_id == name) is not None

    def upload(self, items: list[mc.MissionItem], mission_type: int = 0) -> int:
        wire = list(items)
        if mission_type == 0:
            wire.insert(0, mc.MissionItem(command=16, frame=0, lat_deg=HOME[0],
                                          lon_deg=HOME[1], alt_m=HOME[2]))
        self.m.mav.mission_count_send(self.target, 1, len(wire), mission_type)
        while True:
            msg = self.recv(["MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"])
            assert msg is not None
            if msg.get_type() == "MISSION_ACK":
                return int(msg.type)
            it = wire[msg.seq]
            self.m.mav.mission_item_int_send(
                self.target, 1, msg.seq, it.frame, it.command, 0, 1, it.param1, it.param2,
                it.param3, it.param4, round(it.lat_deg * 1e7), round(it.lon_deg * 1e7),
                it.alt_m, mission_type)

    def close(self) -> None:
        self.m.close()


@pytest.fixture(scope="module")
def fleet() -> Iterator[SimFleet]:
    with SimFleet(vehicles=3, home=HOME, clock="driven", base_port=free_port_block(3),
                  seed=7, ready_delay_s=2.0) as f:
        f.advance(3.0)
        yield f
    f.cleanup()


def test_full_auto_mission_reports_progress_and_disarms(fleet: SimFleet) -> None:
    g = Gcs(fleet.connection_string(0))
    try:
        mission = [item(mc.NAV_TAKEOFF, alt_m=20),
                   item(mc.NAV_WAYPOINT, 200, 0, 20),
                   item(mc.DO_CHANGE_SPEED, param1=1, param2=8, frame=2),
                   item(mc.NAV_WAYPOINT, 200, 200, 25, param1=5),
                   item(mc.DO_SEND_SCRIPT_MESSAGE, param1=4, param2=90, param3=2, param4=6,
                        frame=2),
                   item(mc.NAV_LOITER_TIME, 0, 200, 25, param1=10),
                   item(mc.DO_SEND_SCRIPT_MESSAGE, param1=0, frame=2),
                   item(mc.NAV_WAYPOINT, 0, 100, 20),
                   item(mc.NAV_LAND, 0, 0, 0)]
        assert g.upload(mission) == 0
        assert g.command(176, 1, 4).result == 0
        assert g.command(400, 1).result == 0
        assert g.command(300, 0, 0).result == 0
        reached: list[int] = []
        for _ in range(40):
            fleet.advance(15.0)
            reached += [m.seq for m in g.collect("MISSION_ITEM_REACHED")]
            if not fleet.vehicle_state(0)["armed"]:
                break
        nav_seqs = [i + 1 for i, m in enumerate(mission) if m.command in
                    (mc.NAV_TAKEOFF, mc.NAV_WAYPOINT, mc.NAV_LOITER_TIME, mc.NAV_LAND)]
        assert reached == nav_seqs
        st = fleet.vehicle_state(0)
        assert st["landed"] and not st["armed"]
        # NAV_LAND with lat/lon 0 lands where the vehicle is, as on ArduPilot
        assert abs(st["north_m"]) < 3 and abs(st["east_m"] - 100) < 3
        log = fleet.speaker_log(0)
        assert [b.message_id for b in log] == [4]
        b = log[0]
        assert b.volume_pct == 90 and b.trigger == "mission" and b.mission_seq == 5
        assert b.end_sim_time_s is not None
        assert b.end_sim_time_s - b.start_sim_time_s == pytest.approx(12.0, abs=0.11)
        assert b.end_reason == "completed"
        gaps = [s2.sim_time_s - s1.sim_time_s for s1, s2 in
                zip(b.samples, b.samples[1:], strict=False)]
        assert gaps and max(gaps) <= 1.0 + 1e-6
        # a DO item runs when the NAV item before it completes: the message plays on the leg
        # from (200 N, 200 E) to the loiter point (0 N, 200 E)
        _lat, lon = ll(0, 200)
        assert all(abs(x.lon_deg - lon) < 5e-5 for x in b.samples)
        lats = [x.lat_deg for x in b.samples]
        assert lats == sorted(lats, reverse=True) and lats[0] > lats[-1]
    finally:
        g.close()


def test_rtl_goes_to_nearest_rally_point(fleet: SimFleet) -> None:
    g = Gcs(fleet.connection_string(1), target=2)
    try:
        rally = [item(mc.NAV_RALLY_POINT, 300, 300, 15, mission_type=2),
                 item(mc.NAV_RALLY_POINT, -300, 0, 15, mission_type=2)]
        assert g.upload(rally, 2) == 0
        assert g.command(176, 1, 4).result == 0
        assert g.command(400, 1).result == 0
        assert g.command(22, 0, 0, 0, 0, 0, 0, 20).result == 0
        fleet.advance(15.0)
        lat, lon = ll(250, 250)
        g.m.mav.set_position_target_global_int_send(0, 2, 1, 6, 0b110111111000,
                                                    round(lat * 1e7), round(lon * 1e7), 30,
                                                    0, 0, 0, 0, 0, 0, 0, 0)
        fleet.advance(90.0)
        st = fleet.vehicle_state(1)
        assert st["north_m"] == pytest.approx(250, abs=3)
        assert g.command(20).result == 0
        fleet.advance(200.0)
        st = fleet.vehicle_state(1)
        assert st["landed"] and not st["armed"]
        lat, lon = ll(300, 300)  # vehicle 1's home is 5 m east of HOME: compare lat/lon
        assert st["lat_deg"] == pytest.approx(lat, abs=3e-5)
        assert st["lon_deg"] == pytest.approx(lon, abs=4e-5)
    finally:
        g.close()


def test_speaker_companion_component(fleet: SimFleet) -> None:
    g = Gcs(fleet.connection_string(2), target=3)
    try:
        ack = g.command(31010, 9, 70, 0, 2, compid=25)
        assert ack.result == 0 and ack.get_srcComponent() == 25
        fleet.advance(5.0)
        assert g.command(31010, 0, compid=25).result == 0
        assert g.command(217, 3, 50, 1, 4).result == 0  # DO_SEND_SCRIPT_MESSAGE as command
        fleet.advance(6.0)
        log = fleet.speaker_log(2)
        assert [(b.message_id, b.trigger, b.end_reason) for b in log] == [
            (9, "companion", "stopped"), (3, "command", "completed")]
        assert log[0].end_sim_time_s - log[0].start_sim_time_s == pytest.approx(5.0, abs=0.11)
    finally:
        g.close()


def test_battery_low_failsafe_rtl_and_reset(fleet: SimFleet) -> None:
    g = Gcs(fleet.connection_string(2), target=3)
    try:
        g.set_param("BATT_LOW_MAH", 9990)
        g.set_param("BATT_FS_LOW_ACT", 2)
        assert g.command(176, 1, 4).result == 0
        assert g.command(400, 1).result == 0
        assert g.command(22, 0, 0, 0, 0, 0, 0, 10).result == 0
        fleet.advance(10.0)
        text = g.recv("STATUSTEXT", lambda t: "Battery" in t.text)
        assert text is not None and "low" in text.text
        hb = g.recv("HEARTBEAT", lambda h: h.system_status == mavlink.MAV_STATE_CRITICAL)
        assert hb is not None and hb.custom_mode == 6  # RTL
        fleet.advance(60.0)
        assert not fleet.vehicle_state(2)["armed"]
        assert g.command(42651, 1, 100).result == 0  # battery swap at base
        assert fleet.vehicle_state(2)["battery_pct"] == 100
        g.set_param("BATT_LOW_MAH", 0)
    finally:
        g.close()


def test_fence_breach_triggers_rtl(fleet: SimFleet) -> None:
    g = Gcs(fleet.connection_string(2), target=3)
    try:
        g.set_param("FENCE_ALT_MAX", 30)
        g.set_param("FENCE_TYPE", 1)
        assert g.command(207, 1).result == 0
        fleet.advance(12.0)
        assert g.command(176, 1, 4).result == 0
        assert g.command(400, 1).result == 0
        assert g.command(22, 0, 0, 0, 0, 0, 0, 50).result == 0
        fleet.advance(30.0)
        assert g.recv("STATUSTEXT", lambda t: "Fence" in t.text) is not None
        st = fleet.vehicle_state(2)
        assert st["mode"] == 6
        fleet.advance(120.0)
        assert not fleet.vehicle_state(2)["armed"]
        assert g.command(207, 0).result == 0
    finally:
        g.close()


def _fly_and_sample(seed: int) -> list[tuple[float, float, float]]:
    with SimFleet(vehicles=1, home=HOME, clock="driven", base_port=free_port_block(1),
                  seed=seed, ready_delay_s=1.0) as f:
        g = Gcs(f.connection_string(0))
        try:
            f.advance(2.0)
            assert g.upload([item(mc.NAV_TAKEOFF, alt_m=15), item(mc.NAV_WAYPOINT, 300, 100, 30),
                             item(mc.NAV_WAYPOINT, 0, 300, 30)]) == 0
            assert g.command(176, 1, 4).result == 0
            assert g.command(400, 1).result == 0
            assert g.command(300).result == 0
            out = []
            for _ in range(8):
                f.advance(10.0)
                s = f.vehicle_state(0)
                out.append((s["north_m"], s["east_m"], s["alt_m"]))
            return out
        finally:
            g.close()
            f.cleanup()


def test_same_seed_same_trajectory() -> None:
    a = _fly_and_sample(5)
    b = _fly_and_sample(5)
    c = _fly_and_sample(6)
    assert a == b
    assert a != c


def test_signing_rejects_unsigned_commands() -> None:
    key = bytes(range(32))
    with SimFleet(vehicles=1, home=HOME, clock="driven", base_port=free_port_block(1),
                  signing_key=key, ready_delay_s=1.0) as f:
        f.advance(2.0)
        plain = Gcs(f.connection_string(0))
        signed = Gcs(f.connection_string(0), key=key)
        wrong = Gcs(f.connection_string(0), key=bytes(32))
        try:
            assert plain.recv("HEARTBEAT") is not None  # telemetry readable without the key
            for g in (plain, wrong):
                g.m.mav.command_long_send(1, 1, 176, 0, 1, 4, 0, 0, 0, 0, 0)
            f.advance(0.5)  # the sim takes in everything sent before an advance
            assert f.vehicle_state(0)["mode"] == 0  # unsigned / wrongly signed: ignored
            for g in (plain, wrong):
                assert g.recv("COMMAND_ACK", timeout=0.5) is None
            ack = signed.command(176, 1, 4)
            assert ack is not None and ack.result == 0
            assert f.vehicle_state(0)["mode"] == 4
        finally:
            for g in (plain, signed, wrong):
                g.close()
        assert "signing: rejected" in (f.log_dir / "sim-stderr.log").read_text()
        f.cleanup()
