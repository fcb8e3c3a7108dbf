"""dronepatrol.link parts that need no vehicle: aliases, pre-flight checks, relay, tlog."""

from __future__ import annotations

import math
import os
import random
import socket
import subprocess
import sys
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import LineString, Polygon

from dronepatrol.errors import LinkError, MissionError, SafetyError
from dronepatrol.geo import LocalFrame
from dronepatrol.link import (
    LossyRelay,
    TlogWriter,
    _codec,
    aliases,
    check_capacity,
    convert,
    preflight_check,
    recommended_failsafe_params,
)
from dronepatrol.link.relay import split_packets
from dronepatrol.mission import FENCE, MISSION, RALLY, MissionItem

HOME = (52.0, 4.0)


def _wp(lat: float, lon: float, alt: float = 30.0, command: int = 16, hold: float = 0.0
        ) -> MissionItem:
    return MissionItem(command=command, lat_deg=lat, lon_deg=lon, alt_m=alt, param1=hold)


# -- import has no side effects --------------------------------------------------------------
def test_import_does_not_load_pymavlink_or_touch_env() -> None:
    code = ("import os, sys; import dronepatrol, dronepatrol.link; "
            "print('pymavlink' in sys.modules, 'MAVLINK20' in os.environ)")
    env = {k: v for k, v in __import__("os").environ.items() if k != "MAVLINK20"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert out == ["False", "False"]


def test_codec_loads_mavlink2_ardupilotmega() -> None:
    mav = _codec.mavlink()
    assert mav.WIRE_PROTOCOL_VERSION == "2.0"
    assert hasattr(mav, "MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION")


# -- parameter aliases ----------------------------------------------------------------------
@pytest.mark.parametrize(("old", "new", "factor"), [
    ("WPNAV_SPEED", "WP_SPD", 0.01), ("RTL_ALT", "RTL_ALT_M", 0.01),
    ("WPNAV_RADIUS", "WP_RADIUS_M", 0.01), ("LOIT_SPEED", "LOIT_SPEED_MS", 0.01),
    ("SYSID_MYGCS", "MAV_GCS_SYSID", 1.0),
])
def test_aliases_both_ways_with_units(old: str, new: str, factor: float) -> None:
    assert new in aliases(old) and old in aliases(new)
    assert aliases(old)[0] == old
    assert convert(1234.0, from_name=old, to_name=new) == pytest.approx(1234.0 * factor)
    assert convert(convert(7.5, from_name=new, to_name=old), from_name=old,
                   to_name=new) == pytest.approx(7.5)


def test_stream_rate_aliases_shift_index() -> None:
    assert aliases("SR1_EXT_STAT") == ("SR1_EXT_STAT", "MAV2_EXT_STAT")
    assert aliases("MAV1_POSITION") == ("MAV1_POSITION", "SR0_POSITION")
    assert aliases("fence_enable") == ("FENCE_ENABLE",)


def test_arming_check_translation_only_when_exact() -> None:
    assert convert(1.0, from_name="ARMING_CHECK", to_name="ARMING_SKIPCHK") == 0.0
    assert convert(0.0, from_name="ARMING_SKIPCHK", to_name="ARMING_CHECK") == 1.0
    with pytest.raises(LinkError, match="no exact equivalent"):
        convert(6.0, from_name="ARMING_CHECK", to_name="ARMING_SKIPCHK")


def test_failsafe_recommendations_are_documented() -> None:
    params = {p.name: p for p in recommended_failsafe_params()}
    assert params["FS_GCS_ENABLE"].value == 1 and params["FS_GCS_TIMEOUT"].value == 5
    assert params["BATT_FS_LOW_ACT"].value == 2 and params["BATT_FS_CRT_ACT"].value == 1
    assert params["FENCE_ENABLE"].value == 1 and params["FENCE_ACTION"].value == 1
    assert all(p.reason for p in params.values())
    # Altitude (bit 0) and polygons (bit 2), never the circle around home (bit 1): a city
    # patrol goes farther from home than FENCE_RADIUS; the same value `dronepatrol fly` sets.
    fence_type = int(params["FENCE_TYPE"].value)
    assert fence_type & 1 and fence_type & 4 and not fence_type & 2
    from dronepatrol.fly import FENCE_PARAMS

    assert fence_type == FENCE_PARAMS["FENCE_TYPE"]
    assert "FENCE_RADIUS" in params["FENCE_TYPE"].reason


# -- pre-flight checks ----------------------------------------------------------------------
def test_preflight_needs_home() -> None:
    with pytest.raises(SafetyError, match="home position unknown"):
        preflight_check([_wp(52.001, 4.0)], home=None)


def test_preflight_altitude_limits_name_the_item() -> None:
    items = [_wp(52.001, 4.0, 30), _wp(52.002, 4.0, 150)]
    with pytest.raises(SafetyError, match=r"item 2 .* 150 m, outside the allowed 5-120 m"):
        preflight_check(items, home=HOME)
    with pytest.raises(SafetyError, match=r"item 1 .* 30 m"):
        preflight_check(items, home=HOME, max_alt_m=20)


def test_preflight_no_fly_crossing_names_the_leg() -> None:
    # A no-fly square between waypoint 1 and waypoint 2 (lon, lat order).
    zone = [(4.0045, 52.0045), (4.0055, 52.0045), (4.0055, 52.0055), (4.0045, 52.0055)]
    items = [_wp(52.005, 4.0), _wp(52.005, 4.01)]
    with pytest.raises(SafetyError, match=r"leg 2 \(item 1 -> item 2\) crosses no-fly polygon 0"):
        preflight_check(items, home=HOME, no_fly_lonlat_polygons=[zone])
    # Going around the zone passes.
    around = [_wp(52.005, 4.0), _wp(52.007, 4.005), _wp(52.005, 4.01)]
    est = preflight_check(around, home=HOME, no_fly_lonlat_polygons=[zone])
    assert est.legs == 4


def test_preflight_battery_reserve() -> None:
    items = [_wp(52.01, 4.0, hold=60.0)]  # 1112 m out, 1112 m back, 60 s hold
    est = preflight_check(items, home=HOME, speed_mps=10.0)
    assert est.distance_m == pytest.approx(2 * 1111.95, rel=1e-3)
    assert est.duration_s == pytest.approx(est.distance_m / 10.0 + 60.0)
    preflight_check(items, home=HOME, speed_mps=10.0, endurance_s=400, reserve_fraction=0.25)
    with pytest.raises(SafetyError, match="split it into sorties"):
        preflight_check(items, home=HOME, speed_mps=10.0, endurance_s=300,
                        reserve_fraction=0.25)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-0.02, 0.02), st.floats(-0.02, 0.02)), min_size=1,
                max_size=12))
def test_preflight_distance_is_sum_of_legs(offsets: list[tuple[float, float]]) -> None:
    items = [_wp(HOME[0] + a, HOME[1] + b) for a, b in offsets]
    est = preflight_check(items, home=HOME)
    # Independent check with the haversine formula (both within 0.5 %).
    pts = [HOME] + [(i.lat_deg, i.lon_deg) for i in items] + [HOME]
    total = 0.0
    for (la1, lo1), (la2, lo2) in zip(pts, pts[1:], strict=False):
        p1, p2 = math.radians(la1), math.radians(la2)
        h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(
            math.radians(lo2 - lo1) / 2) ** 2
        total += 2 * 6371008.8 * math.asin(math.sqrt(h))
    assert est.distance_m == pytest.approx(total, rel=5e-3, abs=0.5)


def test_capacity_limits() -> None:
    check_capacity(650, MISSION)
    with pytest.raises(MissionError, match="at most 650.*split_for_capacity.*BRD_SD_MISSION"):
        check_capacity(651, MISSION)
    check_capacity(700, MISSION, storage_param_set=True)
    check_capacity(69, FENCE)
    with pytest.raises(MissionError, match="at most 69.*BRD_SD_FENCE"):
        check_capacity(70, FENCE)
    with pytest.raises(MissionError, match="rally"):
        check_capacity(21, RALLY)


# -- wire helpers ---------------------------------------------------------------------------
def _packets(n: int, seed: int) -> list[bytes]:
    mav = _codec.mavlink().MAVLink(None, srcSystem=1, srcComponent=1)
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if rng.random() < 0.5:
            msg = mav.heartbeat_encode(2, 3, 0, rng.randrange(30), 3)
        else:
            msg = mav.statustext_encode(6, bytes(rng.choice(b"abc") for _ in range(
                rng.randrange(1, 50))))
        msg.pack(mav)
        out.append(bytes(msg.get_msgbuf()))
        mav.seq = (mav.seq + 1) % 256
        assert i >= 0
    return out


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 40))
def test_split_packets_recovers_every_packet_from_any_chunking(seed: int, n: int) -> None:
    packets = _packets(n, seed)
    stream = b"".join(packets)
    rng = random.Random(seed)
    buf = bytearray()
    got: list[bytes] = []
    pos = 0
    while pos < len(stream):
        step = rng.randrange(1, 40)
        buf += stream[pos:pos + step]
        pos += step
        got += split_packets(buf)
    assert got == packets and not buf


def test_relay_is_seeded_and_faults_are_counted() -> None:
    results = []
    for _ in range(2):
        relay = LossyRelay(("127.0.0.1", 9), loss=0.2, duplicate=0.1, reorder=0.1, seed=7)
        try:
            fates = [len(relay._fate(0, i.to_bytes(2, "big"))) for i in range(500)]
        finally:
            relay.close()
        results.append((fates, relay.stats))
    assert results[0] == results[1]
    stats = results[0][1]
    assert 60 < stats.dropped < 140 and stats.duplicated > 10 and stats.reordered > 10
    relay = LossyRelay(("127.0.0.1", 9))
    relay.cut()
    assert relay._fate(0, b"x") == [] and relay.is_cut
    relay.restore()
    assert relay._fate(0, b"x") == [b"x"]
    relay.close()


def test_relay_tcp_forwards_whole_packets_with_loss() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    received = bytearray()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(65536):
                received.extend(chunk)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    packets = _packets(300, 3)
    with LossyRelay(server.getsockname(), loss=0.2, seed=3) as relay:
        client = socket.create_connection(("127.0.0.1", relay.port))
        for p in packets:
            client.sendall(p)
        client.close()
        t.join(timeout=5)
    server.close()
    got = split_packets(received)
    assert not received  # nothing left over: only whole packets crossed
    assert set(got) <= set(packets)
    assert len(got) == 300 - relay.stats.dropped


def test_tlog_round_trip_through_pymavlink(tmp_path) -> None:
    path = tmp_path / "flight" / "v1.tlog"
    log = TlogWriter(path)
    packets = _packets(20, 5)
    for i, p in enumerate(packets):
        log.write(p, time_s=1_700_000_000.0 + i * 0.1 + (10.0 if i >= 10 else 0.0))
    log.close()
    conn = _codec.mavutil().mavlink_connection(str(path))
    msgs = []
    while (m := conn.recv_msg()) is not None:
        msgs.append(m)
    assert [bytes(m.get_msgbuf()) for m in msgs] == packets
    stamps = [m._timestamp for m in msgs]
    assert stamps == sorted(stamps) and stamps[10] - stamps[9] > 5


def test_mission_item_wire_equality_quantises() -> None:
    a = MissionItem(command=16, lat_deg=52.123456789, lon_deg=4.1, alt_m=30.0)
    b = MissionItem(command=16, lat_deg=52.12345679, lon_deg=4.1, alt_m=30.0000001)
    c = MissionItem(command=16, lat_deg=52.1234569, lon_deg=4.1, alt_m=30.0)
    assert _codec.wire_equal(a, b) and not _codec.wire_equal(a, c)


# -- connection strings and failed connections -------------------------------------------------
def _open_fds() -> dict[str, str]:
    """This process's open file descriptors and what they point at (Linux /proc)."""
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the descriptor listdir itself used
            pass
    return out


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("url", "says"), [
    ("bogus:url", r"unknown kind 'bogus'; use tcp:HOST:PORT .*udpin:HOST:PORT.*udpout:HOST:PORT"
                  r".*/dev/ttyUSB0,57600"),
    ("tcp:127.0.0.1:url", r"port 'url' is not a number from 1 to 65535; write tcp:HOST:PORT"),
    ("udpin:0.0.0.0:70000", r"port '70000' is not a number from 1 to 65535"),
    ("udpout:14550", r"expected udpout:HOST:PORT"),
    ("tcp:", r"expected tcp:HOST:PORT"),
    ("127.0.0.1:14550", r"unknown kind '127.0.0.1'"),
    ("ttyUSB0", r"not a network address or a serial device"),
    ("/dev/ttyUSB0,fast", r"baud 'fast' is not a positive whole number"),
    ("", r"is empty"),
])
def test_bad_connection_strings_say_what_is_wrong(url: str, says: str) -> None:
    before = _open_fds()
    with pytest.raises(LinkError, match=says) as info:
        _codec.open_connection(url, source_system=255, source_component=190)
    assert "invalid literal" not in str(info.value)
    assert _open_fds() == before  # no socket was opened


def test_good_connection_strings_parse() -> None:
    assert _codec.parse_url("tcp:localhost:5760") == ("tcp", "localhost", 5760, 57600)
    assert _codec.parse_url("UDPIN:0.0.0.0:14550") == ("udpin", "0.0.0.0", 14550, 57600)
    assert _codec.parse_url("/dev/ttyACM0") == ("serial", "/dev/ttyACM0", None, 57600)
    assert _codec.parse_url("/dev/ttyAMA0,921600") == ("serial", "/dev/ttyAMA0", None, 921600)
    assert _codec.parse_url("COM3,115200") == ("serial", "COM3", None, 115200)


def test_refused_tcp_asks_whether_the_simulator_runs_and_closes_the_tlog(tmp_path) -> None:
    from dronepatrol.link import Vehicle

    port = _free_port()
    log = tmp_path / "refused.tlog"
    before = _open_fds()
    with pytest.raises(LinkError, match=r"refused the TCP connection: is ArduPilot SITL / the "
                                        r"vehicle / `dronepatrol sim` running and listening on "
                                        r"that port\?"):
        Vehicle.connect(f"tcp:127.0.0.1:{port}", timeout_s=1, log_path=log)
    after = _open_fds()
    assert str(log) not in after.values()  # the .tlog opened first was closed again
    assert after == before


def test_udp_port_in_use_leaves_no_socket_open() -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # no SO_REUSEADDR: exclusive
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    try:
        before = _open_fds()
        with pytest.raises(LinkError, match="the port is in use"):
            _codec.open_connection(f"udpin:127.0.0.1:{port}", source_system=255,
                                   source_component=190)
        assert _open_fds() == before
    finally:
        holder.close()


def test_missing_serial_device_names_it(tmp_path) -> None:
    device = tmp_path / "ttyNOPE"
    with pytest.raises(LinkError, match=f"cannot open serial device {device}.*plugged in"):
        _codec.open_connection(f"{device},57600", source_system=255, source_component=190)


# -- pre-flight uses the planner's frame ------------------------------------------------------
def _square_lonlat(frame: LocalFrame, x0: float, y0: float, x1: float, y1: float
                   ) -> list[tuple[float, float]]:
    ring = frame.xy_to_lonlat([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    return [(float(lon), float(lat)) for lon, lat in ring]


@pytest.mark.parametrize(("leg_y_m", "crosses"), [(99.8, False), (100.2, True)])
def test_preflight_no_fly_check_agrees_with_the_planner_frame(leg_y_m: float,
                                                              crosses: bool) -> None:
    # The plan's frame; a 100 m no-fly square whose south edge is at y = 100 m; a leg that
    # passes 20 cm south of it or clips 20 cm of it: preflight decides as the planner does.
    frame = LocalFrame.centred_on(HOME[1], HOME[0])
    zone = _square_lonlat(frame, 400.0, 100.0, 500.0, 200.0)
    (lon_a, lat_a), (lon_b, lat_b) = frame.xy_to_lonlat([(0.0, leg_y_m), (1000.0, leg_y_m)])
    items = [_wp(float(lat_a), float(lon_a)), _wp(float(lat_b), float(lon_b))]
    planner_says = frame.geometry_to_local(Polygon(zone)).intersects(
        LineString(frame.xy_to_local([(lon_a, lat_a), (lon_b, lat_b)])))
    assert planner_says == crosses
    if crosses:
        with pytest.raises(SafetyError, match=r"leg 2 \(item 1 -> item 2\)"):
            preflight_check(items, home=HOME, no_fly_lonlat_polygons=[zone], frame=frame)
    else:
        est = preflight_check(items, home=HOME, no_fly_lonlat_polygons=[zone], frame=frame)
        pts = frame.xy_to_local([(HOME[1], HOME[0]), (lon_a, lat_a), (lon_b, lat_b),
                                 (HOME[1], HOME[0])])
        assert est.distance_m == pytest.approx(
            sum(math.dist(p, q) for p, q in zip(pts, pts[1:], strict=False)), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(-0.02, 0.02), st.floats(-0.02, 0.02)), min_size=1,
                max_size=8))
def test_preflight_distance_matches_wgs84_geodesics(offsets: list[tuple[float, float]]) -> None:
    items = [_wp(HOME[0] + a, HOME[1] + b) for a, b in offsets]
    est = preflight_check(items, home=HOME)
    geod = Geod(ellps="WGS84")
    pts = [HOME] + [(i.lat_deg, i.lon_deg) for i in items] + [HOME]
    total = sum(geod.inv(lo1, la1, lo2, la2)[2]
                for (la1, lo1), (la2, lo2) in zip(pts, pts[1:], strict=False))
    # the spherical frame it replaced was 7e-4 (north-south) to 3e-3 (east-west) off at 52 deg
    assert est.distance_m == pytest.approx(total, rel=1e-4, abs=0.01)


def test_every_upload_path_checks_item_types_the_same_way() -> None:
    from dronepatrol.link import dronekit_adapter
    from dronepatrol.link.preflight import check_item_types

    fence_item = MissionItem(command=5001, lat_deg=52.0, lon_deg=4.0, param1=3.0,
                             mission_type=FENCE)
    items = [_wp(52.001, 4.0), fence_item]
    expected = (r"item 1 \(command 5001\) has mission_type 1 but this upload is mission \(0\); "
                r"send fence items with Vehicle.upload_fence")
    with pytest.raises(MissionError, match="upload_mission: " + expected):
        check_item_types(items, MISSION, what="upload_mission")
    with pytest.raises(MissionError, match="dronekit upload: " + expected):
        dronekit_adapter.to_commands(items)  # refused before dronekit is even imported
    with pytest.raises(MissionError, match=r"item 0 is tuple, not a MissionItem"):
        check_item_types([(52.0, 4.0)], RALLY)  # type: ignore[list-item]
    check_item_types([fence_item], FENCE)
