"""dronepatrol.link against the built-in simulator over real sockets (and a lossy relay)."""

from __future__ import annotations

import math
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dronepatrol import mission as mc
from dronepatrol.errors import LinkError, MissionError
from dronepatrol.link import LossyRelay, Vehicle, _codec
from dronepatrol.mission import MissionItem
from dronepatrol.sim import SimFleet, free_port_block

HOME = (52.0, 4.0, 10.0, 0.0)
SPEEDUP = 20.0


def _fleet(vehicles: int = 1, **kw: object) -> SimFleet:
    return SimFleet(vehicles=vehicles, home=HOME, speedup=SPEEDUP, seed=3, clock="realtime",
                    base_port=free_port_block(vehicles), **kw)


@pytest.fixture(scope="module")
def fleet() -> Iterator[SimFleet]:
    with _fleet(vehicles=2) as f:
        yield f


@pytest.fixture
def vehicle(fleet: SimFleet, tmp_path: Path) -> Iterator[Vehicle]:
    with Vehicle.connect(fleet.connection_string(0), timeout_s=20,
                         log_path=tmp_path / "v.tlog", link_timeout_s=1.5) as v:
        yield v


def _mission(n_waypoints: int, seed: int = 0, spacing_deg: float = 0.0005) -> list[MissionItem]:
    rng = random.Random(seed)
    items = [MissionItem(command=mc.NAV_TAKEOFF, alt_m=20.0)]
    lat, lon = HOME[0], HOME[1]
    for i in range(n_waypoints):
        lat += rng.uniform(-spacing_deg, spacing_deg)
        lon += rng.uniform(-spacing_deg, spacing_deg)
        items.append(MissionItem(command=mc.NAV_WAYPOINT, lat_deg=round(lat, 7),
                                 lon_deg=round(lon, 7), alt_m=float(20 + i % 7),
                                 param1=float(i % 3)))
        if i % 10 == 5:
            items.append(MissionItem(command=mc.DO_CHANGE_SPEED, frame=mc.FRAME_MISSION,
                                     param1=1.0, param2=6.0, param3=-1.0))
    items.append(MissionItem(command=mc.NAV_RETURN_TO_LAUNCH, frame=mc.FRAME_MISSION))
    return items


def _fence() -> list[MissionItem]:
    def ring(cmd: int, pts: list[tuple[float, float]]) -> list[MissionItem]:
        return [MissionItem(command=cmd, frame=mc.FRAME_GLOBAL, param1=float(len(pts)),
                            lat_deg=la, lon_deg=lo, mission_type=mc.FENCE) for la, lo in pts]

    lat, lon = HOME[0], HOME[1]
    d = 0.01
    inclusion = ring(mc.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                     [(lat - d, lon - d), (lat - d, lon + d), (lat + d, lon + d),
                      (lat + d, lon - d), (lat, lon - 1.5 * d)])
    exclusion = ring(mc.NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
                     [(lat + 0.004, lon + 0.004), (lat + 0.004, lon + 0.006),
                      (lat + 0.006, lon + 0.006), (lat + 0.006, lon + 0.004)])
    return inclusion + exclusion


def _rally() -> list[MissionItem]:
    return [MissionItem(command=mc.NAV_RALLY_POINT, lat_deg=HOME[0] + k * 0.001,
                        lon_deg=HOME[1] - k * 0.001, alt_m=30.0, mission_type=mc.RALLY)
            for k in (1, 2, 3)]


def _same(sent: list[MissionItem], got: list[MissionItem]) -> bool:
    return len(sent) == len(got) and all(_codec.wire_equal(a, b) for a, b in zip(sent, got,
                                                                                  strict=True))


# -- connection and state -----------------------------------------------------------------
def test_connect_gets_state_and_telemetry(vehicle: Vehicle) -> None:
    assert vehicle.system_id == 1 and vehicle.component_id == 1
    snap = vehicle.wait_until(lambda s: s.lat_deg is not None and s.battery_pct is not None,
                              timeout_s=10, what="position and battery telemetry")
    assert snap.lat_deg == pytest.approx(HOME[0], abs=1e-3)
    assert snap.mode == "STABILIZE" and not snap.armed and snap.link_ok
    home = vehicle.wait_home(timeout_s=10)
    assert home[:2] == pytest.approx(HOME[:2], abs=1e-5)


def test_several_vehicles_keep_their_own_state(fleet: SimFleet) -> None:
    with Vehicle.connect(fleet.connection_string(0)) as a, \
            Vehicle.connect(fleet.connection_string(1)) as b:
        assert {a.system_id, b.system_id} == {1, 2}
        a.upload_mission(_mission(3, seed=1))
        b.upload_mission(_mission(5, seed=2))
        assert _same(_mission(3, seed=1), a.download_mission()[1])
        assert _same(_mission(5, seed=2), b.download_mission()[1])


def test_connect_to_silent_port_names_the_problem() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        with pytest.raises(LinkError, match="no autopilot heartbeat .* within 0.5 s"):
            Vehicle.connect(f"tcp:127.0.0.1:{server.getsockname()[1]}", timeout_s=0.5)
    finally:
        server.close()


# -- mission, fence, rally ------------------------------------------------------------------
def test_upload_download_clear_all_three(vehicle: Vehicle) -> None:
    items = _mission(40)
    vehicle.upload_mission(items, verify=True)
    home, got = vehicle.download_mission()
    assert home is not None and home.command == mc.NAV_WAYPOINT
    assert _same(items, got)
    vehicle.upload_fence(_fence(), verify=True)
    assert _same(_fence(), vehicle.download_fence())
    vehicle.upload_rally(_rally(), verify=True)
    assert _same(_rally(), vehicle.download_rally())
    vehicle.clear_rally()
    assert vehicle.download_rally() == []
    vehicle.clear_fence()
    assert vehicle.download_fence() == []
    vehicle.clear_mission()
    assert vehicle.download_mission()[1] == []


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_uploads_survive_loss_duplicates_and_reordering(fleet: SimFleet, protocol: str) -> None:
    if protocol == "tcp":
        target = ("127.0.0.1", int(fleet.connection_string(1).rsplit(":", 1)[1]))
    else:
        target = ("127.0.0.1", int(fleet.udp_connection_string(1).rsplit(":", 1)[1]))
    with LossyRelay(target, protocol=protocol, loss=0.2, duplicate=0.05, reorder=0.05,
                    seed=11) as relay, Vehicle.connect(relay.url, timeout_s=20) as v:
        items = _mission(40, seed=5)
        v.upload_mission(items, verify=True, timeout_s=60)
        v.upload_fence(_fence(), verify=True, timeout_s=60)
        v.upload_rally(_rally(), verify=True, timeout_s=60)
        assert _same(items, v.download_mission(timeout_s=60)[1])
        assert _same(_fence(), v.download_fence(timeout_s=60))
        assert _same(_rally(), v.download_rally(timeout_s=60))
        assert relay.stats.dropped > 20 and relay.stats.duplicated > 0
        assert relay.stats.reordered > 0


def test_mission_needs_takeoff_first_and_capacity(vehicle: Vehicle) -> None:
    with pytest.raises(MissionError, match="NAV_TAKEOFF"):
        vehicle.upload_mission(_mission(3)[1:])
    too_many = [MissionItem(command=mc.NAV_TAKEOFF, alt_m=20.0)] + [
        MissionItem(command=mc.NAV_WAYPOINT, lat_deg=HOME[0] + i * 1e-6, lon_deg=HOME[1],
                    alt_m=20.0) for i in range(649)]
    with pytest.raises(MissionError, match="651 items including home .* at most 650"):
        vehicle.upload_mission(too_many)
    with pytest.raises(MissionError, match="mission_type 0 but this upload is fence"):
        vehicle.upload_fence(_mission(2))


# -- parameters -----------------------------------------------------------------------------
def test_param_aliases_read_and_set_with_units(vehicle: Vehicle) -> None:
    mps = vehicle.get_param("WP_SPD")
    cms = vehicle.get_param("WPNAV_SPEED")
    assert cms == pytest.approx(mps * 100.0)
    assert vehicle.set_param("WPNAV_SPEED", 750) == pytest.approx(750)
    assert vehicle.get_param("WP_SPD") == pytest.approx(7.5)
    assert vehicle.set_param("WP_SPD", mps) == pytest.approx(mps)
    with pytest.raises(LinkError, match="did not answer for NO_SUCH_PARAM"):
        vehicle.get_param("NO_SUCH_PARAM", timeout_s=1.0)


# -- refusals carry the vehicle's words -----------------------------------------------------
def test_refusals_say_what_the_vehicle_said(vehicle: Vehicle) -> None:
    with pytest.raises(LinkError, match="refused by vehicle 1: DENIED"):
        vehicle.send_command_long(_codec.CMD_MISSION_START, [1, 0])
    with pytest.raises(LinkError, match="refused by vehicle 1: FAILED"):
        vehicle.send_command_long(_codec.CMD_NAV_TAKEOFF, [0, 0, 0, 0, 0, 0, 10])
    vehicle.upload_mission(_mission(2))
    vehicle.wait_home(timeout_s=10)
    vehicle.set_guided(timeout_s=20)
    vehicle.set_mode("AUTO")  # AUTO on the ground, disarmed: allowed, but not armable
    with pytest.raises(LinkError, match=r"arm\(\) refused by vehicle 1: FAILED — .*Arm: Mode"):
        vehicle.arm(timeout_s=5)


def test_prearm_failure_reported_after_retrying(vehicle: Vehicle) -> None:
    lat, lon = HOME[0] + 0.05, HOME[1] + 0.05  # an inclusion fence that leaves home outside
    far = [MissionItem(command=mc.NAV_FENCE_POLYGON_VERTEX_INCLUSION, frame=mc.FRAME_GLOBAL,
                       param1=3.0, lat_deg=lat + a, lon_deg=lon + b, mission_type=mc.FENCE)
           for a, b in ((0, 0), (0.01, 0), (0, 0.01))]
    vehicle.wait_home(timeout_s=10)
    vehicle.upload_fence(far)
    vehicle.set_param("FENCE_ENABLE", 1)
    try:
        vehicle.set_guided(timeout_s=20)
        with pytest.raises(LinkError, match=r"arm\(\) refused by vehicle 1: FAILED — PreArm"):
            vehicle.arm(timeout_s=2.5)
    finally:
        vehicle.set_param("FENCE_ENABLE", 0)
        vehicle.clear_fence()


# -- flying and monitoring ------------------------------------------------------------------
def test_fly_mission_to_completion_with_progress(fleet: SimFleet, tmp_path: Path) -> None:
    log = tmp_path / "fly.tlog"
    with Vehicle.connect(fleet.connection_string(1), log_path=log) as v:
        items = _mission(4, seed=9, spacing_deg=0.0004)
        v.upload_mission(items)
        seen: list[int] = []
        stop = v.on_progress(lambda p: seen.append(p.current_item), interval_s=0.2)
        v.start_mission(timeout_s=30)
        events: list[str] = []
        last = None
        for snap in v.progress(interval_s=0.2, timeout_s=60):
            events += snap.events
            last = snap
        stop()
        assert last is not None and "mission_complete" in events, (events, last)
        assert last.total_items == len(items)
        assert max(seen) >= len(items) - 1
        # NAV_RETURN_TO_LAUNCH inside AUTO keeps mode AUTO on ArduCopter: no "rtl" event.
        assert "rtl" not in events
        v.wait_until(lambda s: not s.armed, timeout_s=60, what="landed and disarmed")
    conn = _codec.mavutil().mavlink_connection(str(log))
    kinds = set()
    while (m := conn.recv_msg()) is not None:
        kinds.add(m.get_type())
    assert {"HEARTBEAT", "GLOBAL_POSITION_INT", "MISSION_CURRENT"} <= kinds
    assert "BAD_DATA" not in kinds


def _long_patrol(legs: int = 6, leg_deg: float = 0.004) -> list[MissionItem]:
    """A takeoff and ``legs`` legs of about 450 m: minutes of simulated flight."""
    items = [MissionItem(command=mc.NAV_TAKEOFF, alt_m=20.0)]
    for k in range(legs):
        items.append(MissionItem(command=mc.NAV_WAYPOINT, lat_deg=HOME[0] + leg_deg * (k % 2),
                                 lon_deg=HOME[1] + leg_deg * 0.5 * (k + 1), alt_m=20.0))
    items.append(MissionItem(command=mc.NAV_RETURN_TO_LAUNCH, frame=mc.FRAME_MISSION))
    return items


def test_pause_resume_survive_a_lost_ack(fleet: SimFleet) -> None:
    port = int(fleet.connection_string(0).rsplit(":", 1)[1])
    with LossyRelay(("127.0.0.1", port)) as relay, Vehicle.connect(relay.url) as v:
        v.wait_home(timeout_s=10)
        if v.armed:  # left flying by an earlier test: bring it down first
            v.land()
            v.wait_until(lambda s: not s.armed, timeout_s=60, what="landed and disarmed")
        v.set_mode("LOITER")
        with pytest.raises(LinkError, match=r"pause\(\) refused by vehicle 1: FAILED"):
            v.pause()  # not flying a mission: a real refusal, not mistaken for success
        v.upload_mission(_long_patrol())
        v.start_mission(timeout_s=30)
        v.wait_until(lambda s: s.current_item >= 2, timeout_s=30, what="item 2")
        dropped = relay.stats.dropped
        relay.drop_next(77)  # the COMMAND_ACK of the first try: the retry gets FAILED
        v.pause()
        assert relay.stats.dropped == dropped + 1
        assert v._fresh_mission_state(timeout_s=2.0) == _codec.MISSION_STATE_PAUSED
        fleet_speed = 1.0
        for _ in range(20):  # the vehicle brakes and holds (ground truth from the simulator)
            state = fleet.vehicle_state(0)
            fleet_speed = math.hypot(state["vn"], state["ve"])
            if fleet_speed < 0.3:
                break
            time.sleep(0.1)
        assert fleet_speed < 0.3
        relay.drop_next(77)
        v.resume()
        assert relay.stats.dropped == dropped + 2
        assert v._fresh_mission_state(timeout_s=2.0) == _codec.MISSION_STATE_ACTIVE
        v.rtl()


def test_link_drop_of_10_s_mid_mission_resumes_and_logs_a_gap(fleet: SimFleet,
                                                                tmp_path: Path) -> None:
    port = int(fleet.connection_string(0).rsplit(":", 1)[1])
    log = tmp_path / "drop.tlog"
    with LossyRelay(("127.0.0.1", port)) as relay, \
            Vehicle.connect(relay.url, log_path=log, link_timeout_s=1.0) as v:
        # ~2.7 km of legs: minutes of simulated flight, more than the 10 s (wall) cut even at
        # this speedup, so the vehicle is still on its mission when the link comes back.
        v.upload_mission(_long_patrol())
        v.start_mission(timeout_s=30)
        v.wait_until(lambda s: s.current_item >= 2, timeout_s=30, what="item 2")
        events: list[str] = []
        before = v.snapshot()
        cut_at = time.monotonic()
        relay.cut(10.0)  # silence both ways for 10 s of wall time, then the relay carries on
        for snap in v.progress(interval_s=0.5, timeout_s=30, until=("link_restored",)):
            events += snap.events
        assert time.monotonic() - cut_at >= 10.0
        assert events.index("link_lost") < events.index("link_restored")
        after = v.wait_until(lambda s: s.time_s > before.time_s and s.link_ok
                             and (s.current_item != before.current_item
                                  or s.lat_deg != before.lat_deg), timeout_s=10,
                             what="fresh telemetry after the drop")
        assert after.link_ok and after.mode in ("AUTO", "RTL")
        # The TCP connection itself closing is handled too: reopen and carry on.
        relay.disconnect()
        v.wait_until(lambda s: v.connection.reconnects >= 1 and s.link_ok, timeout_s=20,
                     what="reconnected")
        v.rtl()
    conn = _codec.mavutil().mavlink_connection(str(log))
    stamps, kinds = [], set()
    while (m := conn.recv_msg()) is not None:
        stamps.append(m._timestamp)
        kinds.add(m.get_type())
    assert "BAD_DATA" not in kinds
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert max(gaps) >= 9.5  # the silent 10 s are a gap in time, not garbage
    assert stamps == sorted(stamps)


# -- MAVLink 2 signing ----------------------------------------------------------------------
KEY = bytes(range(100, 132))


@pytest.fixture(scope="module")
def signed_fleet() -> Iterator[SimFleet]:
    with _fleet(vehicles=1, signing_key=KEY) as f:
        yield f


def test_signed_link_flies_end_to_end(signed_fleet: SimFleet) -> None:
    with Vehicle.connect(signed_fleet.connection_string(0), signing_key=KEY) as v:
        assert v.set_param("WPNAV_SPEED", 600) == pytest.approx(600)
        items = _mission(10, seed=8)
        v.upload_mission(items, verify=True)
        v.upload_fence(_fence(), verify=True)
        assert _same(items, v.download_mission()[1])
        v.takeoff(10.0, timeout_s=30)
        v.wait_until(lambda s: s.alt_m is not None and s.alt_m > 3.0, timeout_s=30,
                     what="climbing")
        assert signed_fleet.vehicle_state(0)["armed"]
        v.land()
        v.wait_until(lambda s: not s.armed, timeout_s=60, what="landed and disarmed")
        v.clear_fence()


@pytest.mark.parametrize("key", [None, bytes(32)], ids=["unsigned", "wrong-key"])
def test_unsigned_or_wrongly_signed_commands_are_ignored(signed_fleet: SimFleet,
                                                         key: bytes | None) -> None:
    hint = "signing_key= set" if key is None else "does not match signing_key"
    # Heartbeats get through either way (telemetry is readable), commands do not.
    before = signed_fleet.vehicle_state(0)
    with Vehicle.connect(signed_fleet.connection_string(0), signing_key=key) as v:
        with pytest.raises(LinkError, match=f"did not answer.*{hint}"):
            v.get_param("WPNAV_SPEED", timeout_s=1.0)
        with pytest.raises(LinkError, match=f"did not answer.*{hint}"):
            v.send_command_long(_codec.CMD_COMPONENT_ARM_DISARM, [1, 0], timeout_s=1.0,
                                retries=1)
        with pytest.raises(LinkError, match=f"sent no MISSION_COUNT.*{hint}"):
            v.download_mission(timeout_s=1.0)
    state = signed_fleet.vehicle_state(0)
    assert not state["armed"] and state["mode"] == before["mode"]  # nothing reached it


def test_dronekit_adapter_uploads_through_dronekit(fleet: SimFleet) -> None:
    dronekit = pytest.importorskip(
        "dronekit", reason="optional extra not installed: pip install 'dronepatrol[dronekit]'")
    from dronepatrol.link.dronekit_adapter import upload_mission

    items = _mission(5, seed=21)
    dk = dronekit.connect(fleet.connection_string(0), wait_ready=False, timeout=20,
                          heartbeat_timeout=20)
    try:
        upload_mission(dk, items, timeout_s=30)
    finally:
        dk.close()
    with Vehicle.connect(fleet.connection_string(0)) as v:
        assert _same(items, v.download_mission()[1])
