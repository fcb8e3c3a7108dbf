"""Broadcast planning: messages, measured durations, acoustic spacing, schedules, triggers."""

from __future__ import annotations

import dataclasses
import json
import math
import wave

import numpy as np
import pytest
from shapely.geometry import box

from common import city
from dronepatrol import acoustics as ac
from dronepatrol import broadcast as bc
from dronepatrol.audio import read_clip
from dronepatrol.coverage import Kinematics, flight_time_s
from dronepatrol.errors import AcousticsError, AudioError
from dronepatrol.mission import DO_SEND_SCRIPT_MESSAGE, NAV_WAYPOINT, route_mission
from dronepatrol.route import Route

KIN = Kinematics(speed_mps=8.0, accel_mps2=2.0, turn_rate_dps=90.0)


def two_zone_city():
    return city(
        ("A", "sealed", box(0, 0, 600, 400)),
        ("B", "precaution", box(1000, 0, 1600, 400)),
        ("N", "no_fly", box(700, 500, 800, 600)),
    )


def rendered(zs, durations):
    """Messages for ``zs`` with durations set by hand (no audio needed)."""
    msgs = bc.messages_for_zones(zs)
    return {z: dataclasses.replace(m, duration_s=durations[z]) for z, m in msgs.items()}


def make_route(points, kinds, zones, alt=40.0):
    xy = np.asarray(points, dtype=float)
    return Route(name="r", waypoints_xy=xy, altitudes_m=np.full(len(xy), alt),
                 leg_kinds=tuple(kinds), leg_zones=tuple(zones), zones=("A", "B"),
                 start_base="b", end_base="b", speed_mps=KIN.speed_mps,
                 length_m=float(np.hypot(*np.diff(xy, axis=0).T).sum()), duration_s=0.0)


def two_zone_route():
    # base -> A (two lanes and a connect) -> transit -> B (one lane) -> base
    pts = [(-100, 100), (0, 100), (600, 100), (600, 300), (0, 300), (1000, 200),
           (1600, 200), (-100, 100)]
    kinds = ["transit", "sweep", "connect", "sweep", "transit", "sweep", "transit"]
    zones = [None, "A", "A", "A", None, "B", None]
    return make_route(pts, kinds, zones)


# ----------------------------------------------------------------------------------- messages


def test_zone_message_wins_and_identical_messages_share_an_id():
    zs = city(("A", "sealed", box(0, 0, 300, 300)), ("B", "sealed", box(400, 0, 700, 300)),
              ("C", "controlled", box(800, 0, 1100, 300)))
    zones = list(zs.zones)
    zones[2] = dataclasses.replace(zones[2], properties={**zones[2].properties,
                                                          "message": "自定义消息"})
    zs = dataclasses.replace(zs, zones=tuple(zones))
    msgs = bc.messages_for_zones(zs)
    assert msgs["A"].text == bc.DEFAULT_MESSAGES["sealed"] == msgs["B"].text
    assert msgs["A"].id == msgs["B"].id
    assert msgs["C"].text == "自定义消息" and msgs["C"].id != msgs["A"].id
    assert msgs["A"].priority > msgs["C"].priority
    assert sorted({m.id for m in msgs.values()}) == [1, 2]


def test_empty_message_names_the_zone():
    zs = city(("Quiet", "sealed", box(0, 0, 300, 300)))
    z = zs.zones[0]
    zs = dataclasses.replace(zs, zones=(dataclasses.replace(
        z, properties={**z.properties, "message": "  "}),))
    with pytest.raises(AudioError, match="Quiet.*empty"):
        bc.messages_for_zones(zs)


@pytest.mark.parametrize("bad", [0, 70000, True, 1.5])
def test_message_id_must_be_uint16(bad):
    with pytest.raises(AcousticsError, match="1..65535"):
        bc.Message(id=bad, text="x")


def test_time_window_wraps_midnight():
    w = bc.TimeWindow.parse("22:00-06:30")
    assert w.contains_s(23 * 3600) and w.contains_s(3600) and not w.contains_s(12 * 3600)
    with pytest.raises(AcousticsError, match="HH:MM"):
        bc.TimeWindow.parse("noon")


def test_render_measures_durations_from_the_audio(tmp_path):
    pytest.importorskip("espeakng_loader")
    wav = tmp_path / "user.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * 20000)  # 2.5 s
    zs = city(("A", "sealed", box(0, 0, 300, 300)), ("B", "controlled", box(400, 0, 700, 300)))
    msgs = bc.messages_for_zones(zs)
    msgs["B"] = dataclasses.replace(msgs["B"], audio_path=wav)
    out = bc.render_messages(msgs, tmp_path / "audio")
    assert out["B"].duration_s == pytest.approx(2.5)
    a = out["A"]
    assert a.audio_path is not None and a.audio_path.exists()
    assert a.duration_s == pytest.approx(read_clip(a.audio_path).duration_s)
    assert a.duration_s > 2.0  # a whole sentence, not a placeholder


def test_unknown_language_names_zone_and_message(tmp_path):
    pytest.importorskip("espeakng_loader")
    zs = city(("Gate", "sealed", box(0, 0, 300, 300)))
    msgs = {"Gate": dataclasses.replace(bc.messages_for_zones(zs)["Gate"], language="xx-nope")}
    with pytest.raises(AudioError, match=r"message 1 of zone\(s\) Gate.*xx-nope"):
        bc.render_messages(msgs, tmp_path)


# --------------------------------------------------------------------------- acoustic spacing


SPEAKER = ac.Speaker(level_at_1m_db=115.0)
AIR = ac.Atmosphere()


def test_acoustic_spacing_matches_the_acoustic_model():
    zs = two_zone_city()
    msgs = rendered(zs, {"A": 8.0, "B": 6.0})
    out = bc.acoustic_spacing(zs, msgs, SPEAKER, AIR, speed_mps=8.0, min_altitude_m=30,
                              max_altitude_m=60)
    assert set(out) == {"A", "B"}
    for name, za in out.items():
        m = msgs[name]
        ambient = ac.ambient_db_for_zone(zs.zone(name).kind.value)
        geo = ac.broadcast_geometry(SPEAKER, AIR, ambient_db=ambient,
                                    message_duration_s=m.duration_s, gap_s=m.gap_s,
                                    altitude_m=za.altitude_m, speed_mps=8.0)
        assert za.spacing_m == pytest.approx(geo.lane_spacing_m)
        assert za.spacing_m == pytest.approx(2 * za.half_width_m)
        # the chosen row is the widest spacing at the cruise speed
        at_speed = [r for r in za.rows if r.speed_mps == 8.0]
        assert max(r.spacing_m for r in at_speed) == pytest.approx(za.spacing_m)
        assert sum(r.chosen for r in za.rows) == 1 and sum(r.fastest for r in za.rows) == 1
        fastest = next(r for r in za.rows if r.fastest)
        assert fastest.relative_time == min(r.relative_time for r in za.rows) <= 1.0
        assert fastest.speed_mps == za.fastest_speed_mps
        assert "fastest would be" in bc.tradeoff_table(za)
    # the sealed zone is quieter (50 dB vs 60 dB): wider lanes
    assert out["A"].spacing_m > out["B"].spacing_m


def test_zone_ambient_property_overrides_the_kind_default():
    zs = two_zone_city()
    z = zs.zone("A")
    loud = dataclasses.replace(z, properties={**z.properties, "ambient_db": 60.0})
    zs2 = dataclasses.replace(zs, zones=(loud, *[q for q in zs.zones if q.name != "A"]))
    msgs = rendered(zs, {"A": 6.0, "B": 6.0})
    out = bc.acoustic_spacing(zs2, msgs, SPEAKER, AIR, speed_mps=8.0, min_altitude_m=30,
                              max_altitude_m=60)
    assert out["A"].ambient_db == 60.0
    assert out["A"].spacing_m == pytest.approx(out["B"].spacing_m)


def test_speaker_too_quiet_names_zone_message_and_levels():
    zs = two_zone_city()
    msgs = rendered(zs, {"A": 8.0, "B": 6.0})
    with pytest.raises(AcousticsError, match=r"zone 'A', message 1.*too quiet.*dB"):
        bc.acoustic_spacing(zs, msgs, ac.Speaker(level_at_1m_db=80.0), AIR, speed_mps=8.0,
                            min_altitude_m=30, max_altitude_m=60)


def test_message_too_long_for_the_cruise_speed():
    zs = two_zone_city()
    msgs = rendered(zs, {"A": 8.0, "B": 40.0})
    with pytest.raises(AcousticsError, match=r"zone 'B', message 2.*41\.0 s.*Fly slower"):
        bc.acoustic_spacing(zs, msgs, SPEAKER, AIR, speed_mps=8.0, min_altitude_m=30,
                            max_altitude_m=60)


def test_message_longer_than_the_zone_can_be_crossed_in():
    zs = city(("Tiny", "sealed", box(0, 0, 120, 80)))
    msgs = rendered(zs, {"Tiny": 9.0})
    # longest pass 120 m = 15 s at 8 m/s < 2 x (9 + 1) s
    with pytest.raises(AcousticsError, match=r"Tiny.*120 m, 15\.0 s.*2 x 10\.0 s"):
        bc.acoustic_spacing(zs, msgs, ac.Speaker(level_at_1m_db=120.0), AIR, speed_mps=8.0,
                            min_altitude_m=30, max_altitude_m=60)
    assert bc.crossing_extent_m(box(0, 0, 120, 80)) == pytest.approx(120.0)


def test_unrendered_message_is_refused():
    zs = two_zone_city()
    with pytest.raises(AcousticsError, match="render"):
        bc.acoustic_spacing(zs, bc.messages_for_zones(zs), SPEAKER, AIR, speed_mps=8.0,
                            min_altitude_m=30, max_altitude_m=60)


# ------------------------------------------------------------------------------------ timing


def test_route_timing_matches_flight_time_on_random_routes():
    rng = np.random.default_rng(5)
    for _ in range(20):
        n = int(rng.integers(2, 12))
        pts = rng.uniform(-500, 500, (n, 2))
        if n > 3:
            pts[2] = pts[1]  # a repeated point
        r = make_route(pts, ["sweep"] * (n - 1), ["A"] * (n - 1), alt=30.0)
        t = bc.route_timing(r, KIN)
        assert t.end_s - t.climb_s == pytest.approx(flight_time_s(pts, KIN), abs=1e-6)
        assert np.all(np.diff(t.arrive_s) >= -1e-9)
        # positions: at the waypoints when due, never faster than the cruise speed
        xy, _ = t.position_at(t.arrive_s)
        assert np.allclose(xy, pts, atol=1e-6)
        ts = np.linspace(t.climb_s, t.end_s, 4000)
        p, _ = t.position_at(ts)
        v = np.hypot(*np.diff(p, axis=0).T) / np.diff(ts)
        assert v.max() <= KIN.speed_mps * (1 + 1e-6)


# ---------------------------------------------------------------------------------- schedule


def test_schedule_two_zones_no_overlap_silent_transit_switch_at_boundary():
    zs = two_zone_city()
    msgs = rendered(zs, {"A": 8.0, "B": 6.0})
    route = two_zone_route()
    sch = bc.schedule(route, msgs, KIN)
    t = sch.timing
    ivs = sch.intervals
    assert [iv.message_id for iv in ivs] == [msgs["A"].id, msgs["B"].id]
    for a, b in zip(ivs[:-1], ivs[1:], strict=True):
        assert a.end_s <= b.start_s  # never two messages at once
    # A plays from arriving at its first waypoint (1) to arriving at its last (4)
    assert ivs[0].start_s == pytest.approx(t.arrive_s[1])
    assert ivs[0].end_s == pytest.approx(t.arrive_s[4])
    assert ivs[1].start_s == pytest.approx(t.arrive_s[5])
    assert ivs[1].end_s == pytest.approx(t.arrive_s[6])
    # silence in transit: sample every transit leg
    for k, kind in enumerate(route.leg_kinds):
        ts = np.linspace(t.arrive_s[k], t.arrive_s[k + 1], 7)[1:-1]
        playing = [any(iv.start_s <= x < iv.end_s for iv in ivs) for x in ts]
        assert all(playing) if kind != "transit" else not any(playing)
    # events: start A, stop, start B, stop
    assert [e.message_id for e in sch.events] == [msgs["A"].id, 0, msgs["B"].id, 0]
    assert [e.waypoint_index for e in sch.events] == [1, 4, 5, 6]


def test_higher_priority_zone_wins_where_zones_overlap_and_no_fly_is_silent():
    zs = city(("Low", "precaution", box(0, 0, 1000, 400)),
              ("High", "sealed", box(300, 0, 500, 400)),
              ("N", "no_fly", box(700, 150, 800, 250)))
    msgs = rendered(zs, {"Low": 6.0, "High": 8.0})
    route = make_route([(-100, 200), (0, 200), (1000, 200), (1100, 200)],
                       ["transit", "sweep", "transit"], [None, "Low", None])
    zones_xy = {"Low": box(0, 0, 1000, 400), "High": box(300, 0, 500, 400)}
    sch = bc.schedule(route, msgs, KIN, zones_xy=zones_xy, no_fly_xy=[box(700, 150, 800, 250)])
    plays = [(iv.message_id, round(iv.start_fraction, 3), round(iv.end_fraction, 3))
             for iv in sch.intervals]
    low, high = msgs["Low"].id, msgs["High"].id
    assert plays == [(low, 0.0, 0.3), (high, 0.3, 0.5), (low, 0.5, 0.7), (low, 0.8, 1.0)]
    ev = sch.events
    x_of = {(e.message_id, round(e.x_m)) for e in ev}
    assert (high, 300) in x_of and (low, 500) in x_of and (0, 700) in x_of and (low, 800) in x_of
    # the mission triggers move the mid-leg switches to the nearer waypoint
    trig = bc.mission_triggers(route, sch, msgs)
    assert all(t.before_waypoint in (1, 2, 3) for t in trig)


def test_time_window_silences_a_message_outside_it():
    zs = two_zone_city()
    msgs = rendered(zs, {"A": 8.0, "B": 6.0})
    msgs["B"] = dataclasses.replace(msgs["B"], window=bc.TimeWindow.parse("08:00-20:00"))
    route = two_zone_route()
    night = bc.schedule(route, msgs, KIN, takeoff_time_of_day_s=22 * 3600)
    day = bc.schedule(route, msgs, KIN, takeoff_time_of_day_s=9 * 3600)
    assert [iv.message_id for iv in night.intervals] == [msgs["A"].id]
    assert [iv.message_id for iv in day.intervals] == [msgs["A"].id, msgs["B"].id]
    # the window closes at 20:00 during the flight: B stops exactly then
    t5 = day.timing.arrive_s[5]
    late = bc.schedule(route, msgs, KIN, takeoff_time_of_day_s=20 * 3600 - t5 - 10.0)
    b = [iv for iv in late.intervals if iv.message_id == msgs["B"].id]
    assert len(b) == 1 and b[0].end_s == pytest.approx(t5 + 10.0)


def test_repeat_limited_message_stops_after_its_plays():
    zs = two_zone_city()
    msgs = rendered(zs, {"A": 8.0, "B": 6.0})
    msgs["A"] = dataclasses.replace(msgs["A"], repeat=2)
    sch = bc.schedule(two_zone_route(), msgs, KIN)
    a = sch.intervals[0]
    assert a.end_s - a.start_s == pytest.approx(2 * msgs["A"].period_s)
    assert [e.message_id for e in sch.events][:2] == [msgs["A"].id, 0]


# ---------------------------------------------------------------------------------- triggers


def test_mission_triggers_fire_when_leaving_the_zone_waypoints():
    zs = two_zone_city()
    msgs = rendered(zs, {"A": 8.0, "B": 6.0})
    route = two_zone_route()
    sch = bc.schedule(route, msgs, KIN)
    trig = bc.mission_triggers(route, sch, msgs, volume_pct=80.0)
    assert [(t.before_waypoint, int(t.param1)) for t in trig] == [
        (1, msgs["A"].id), (4, 0), (5, msgs["B"].id), (6, 0)]
    assert all(t.command == DO_SEND_SCRIPT_MESSAGE and t.param2 == 80.0 for t in trig)
    assert trig[0].param3 == 0.0 and trig[0].param4 == pytest.approx(msgs["A"].period_s)
    # in the mission (route waypoint i >= 1 is mission waypoint i - 1) each start sits right
    # after the NAV item of the waypoint where its zone begins: it runs when that completes
    lonlat = [(113.85 + x * 1e-5, 34.03 + y * 1e-5) for x, y in route.waypoints_xy]
    items = route_mission(lonlat[1:], altitude_m=40, triggers=trig)
    for t in trig:
        pos = next(i for i, it in enumerate(items) if it.command == DO_SEND_SCRIPT_MESSAGE
                   and it.param1 == t.param1 and it.param3 == t.param3
                   and i > 0 and sum(1 for q in items[:i] if q.command == NAV_WAYPOINT)
                   == t.before_waypoint)
        prev_nav = [it for it in items[:pos] if it.command == NAV_WAYPOINT]
        wp = route.waypoints_xy[t.before_waypoint]
        assert prev_nav[-1].lon_deg == pytest.approx(113.85 + wp[0] * 1e-5)
        assert prev_nav[-1].lat_deg == pytest.approx(34.03 + wp[1] * 1e-5)


def test_companion_plan_by_seq_and_geofence():
    zs = two_zone_city()
    msgs = rendered(zs, {"A": 8.0, "B": 6.0})
    route = two_zone_route()
    sch = bc.schedule(route, msgs, KIN)
    lonlat = [(113.85 + x * 1e-5, 34.03 + y * 1e-5) for x, y in route.waypoints_xy]
    items = route_mission(lonlat[1:], altitude_m=40, speed_mps=8.0)
    plan = bc.companion_plan(route, sch, msgs, zoneset=zs, mission_items=items)
    plan = json.loads(json.dumps(plan, ensure_ascii=False))
    assert plan["format"] == "dronepatrol-companion-plan"
    seqs = {e["seq"]: e for e in plan["by_mission_seq"]}
    nav = [i + 1 for i, it in enumerate(items) if it.command == NAV_WAYPOINT]
    for k, s in enumerate(nav):  # seq s = heading to route waypoint k + 1, flying leg k
        expect = msgs[route.leg_zones[k]].id if route.leg_kinds[k] != "transit" else 0
        assert seqs[s]["message_id"] == expect and seqs[s]["leg"] == k
    zones = {z["zone"]: z for z in plan["zones"]}
    assert set(zones) == {"A", "B"} and zones["A"]["priority"] > zones["B"]["priority"]
    ring = zones["A"]["polygons"][0]["exterior"]
    assert all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in ring)
    assert [n["zone"] for n in plan["no_fly"]] == ["N"]
    assert {m["id"] for m in plan["messages"]} == {msgs["A"].id, msgs["B"].id}
    with pytest.raises(AcousticsError, match="NAV_WAYPOINT"):
        bc.companion_plan(route, sch, msgs, zoneset=zs, mission_items=items[:3])


def test_broadcasts_json_is_serialisable_and_paths_follow_the_route():
    zs = two_zone_city()
    msgs = rendered(zs, {"A": 8.0, "B": 6.0})
    route = two_zone_route()
    sch = bc.schedule(route, msgs, KIN)
    from common import FRAME

    doc = json.loads(json.dumps(bc.broadcasts_to_json([sch], msgs, FRAME)))
    r = doc["routes"][0]
    assert r["route"] == "r" and len(r["intervals"]) == 2 and len(r["events"]) == 4
    path = np.asarray(r["intervals"][1]["path"])
    xy = FRAME.xy_to_local(path)
    assert np.all(np.abs(xy[:, 1] - 200.0) < 1.0)  # zone B's lane is at y = 200
    assert xy[0, 0] == pytest.approx(1000, abs=1.0) and xy[-1, 0] == pytest.approx(1600, abs=1.0)
    assert math.isclose(r["on_air_s"], sch.on_air_s, abs_tol=1e-3)


def test_schedule_over_a_planned_route_plays_exactly_on_the_zone_legs():
    from dronepatrol.plan import PlanOptions, local_zones, plan_patrol

    zs = city(("A", "controlled", box(0, 0, 800, 600)), ("B", "sealed", box(1000, 0, 1400, 600)),
              ("N", "no_fly", box(350, 250, 450, 350)))
    msgs = rendered(zs, {"A": 6.0, "B": 8.0})
    plan = plan_patrol(zs, PlanOptions(spacing_m=150, clearance_m=10))
    route = plan.routes[0]
    lz = local_zones(zs, plan.frame)
    sch = bc.schedule(route, msgs, plan.options.kinematics,
                      zones_xy={"A": lz["A"], "B": lz["B"]}, no_fly_xy=plan.no_fly_local)
    t = sch.timing
    on_zone = sum(t.arrive_s[k + 1] - t.arrive_s[k]
                  for k, kind in enumerate(route.leg_kinds) if kind != "transit")
    assert sch.on_air_s == pytest.approx(on_zone)
    for a, b in zip(sch.intervals[:-1], sch.intervals[1:], strict=True):
        assert a.end_s <= b.start_s + 1e-9
    assert {iv.message_id for iv in sch.intervals} == {msgs["A"].id, msgs["B"].id}
