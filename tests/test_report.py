"""Proof of coverage: complete messages heard per ground point, from speaker logs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from shapely.geometry import box

from common import FRAME, city
from dronepatrol import acoustics as ac
from dronepatrol import broadcast as bc
from dronepatrol.plan import PlanOptions, plan_patrol
from dronepatrol.report import (
    FlightTrack,
    ReportError,
    SpeakerSession,
    coverage_report,
    read_speaker_log,
    read_speaker_logs,
    save_heatmap,
)
from dronepatrol.sim.speakerlog import SpeakerLogWriter

SPEAKER = ac.Speaker(level_at_1m_db=100.0)
AIR = ac.Atmosphere()
ALT = 40.0
V = 8.0


def strip_city():
    return city(("strip", "sealed", box(-2000, -300, 2000, 300)))


def strip_messages(zs, duration_s=6.0):
    m = bc.messages_for_zones(zs)["strip"]
    return {"strip": dataclasses.replace(m, duration_s=duration_s)}


def straight_pass(t0, x_from, x_to, y=0.0, vehicle="1", message_id=1, period_s=None,
                  step_s=1.0):
    """A session flying a straight line at V, alt ALT, from t0, sampled every step_s."""
    dur = abs(x_to - x_from) / V
    ts = np.append(np.arange(0.0, dur, step_s), dur)
    x = x_from + np.sign(x_to - x_from) * V * ts
    lon, lat = FRAME.to_lonlat(x, np.full_like(x, y))
    samples = np.column_stack([t0 + ts, lon, lat, np.full_like(x, ALT)])
    return SpeakerSession(vehicle=vehicle, message_id=message_id, start_s=t0, end_s=t0 + dur,
                          period_s=period_s, samples=samples)


def grid_xy(rep, name):
    ny, nx = rep.masks[name].shape
    xs = rep.x0_m + rep.grid_m * np.arange(nx)
    ys = rep.y0_m + rep.grid_m * np.arange(ny)
    return np.meshgrid(xs, ys)


@pytest.mark.parametrize("phase", [0.0, 2.3, 5.9])
def test_straight_pass_matches_broadcast_geometry(phase):
    zs = strip_city()
    msgs = strip_messages(zs)
    m = msgs["strip"]
    geo = ac.broadcast_geometry(SPEAKER, AIR, ambient_db=50.0, message_duration_s=m.duration_s,
                                gap_s=m.gap_s, altitude_m=ALT, speed_mps=V)
    assert 30 < geo.half_width_m < 150  # a case where the grid resolves the strip
    rep = coverage_report(zs, FRAME, None, [straight_pass(100.0 + phase, -1500, 1500)], msgs,
                          SPEAKER, AIR, grid_m=5.0)
    gx, gy = grid_xy(rep, "strip")
    counts, mask = rep.counts["strip"], rep.masks["strip"]
    middle = mask & (np.abs(gx) < 1200)
    inside = middle & (np.abs(gy) <= geo.half_width_m - 0.5)
    assert inside.sum() > 1000 and np.all(counts[inside] >= 1)
    # beyond the radius at which even a lucky phase gives a chord of speed * duration
    lucky = np.sqrt(geo.radius_m ** 2 - (V * m.duration_s / 2) ** 2)
    outside = mask & (np.abs(gy) > lucky + 0.5)
    assert outside.sum() > 1000 and np.all(counts[outside] == 0)
    frac = rep.zone("strip").heard_fraction
    assert frac is not None and 0.0 < frac < 1.0


def test_a_play_cut_short_does_not_count():
    zs = strip_city()
    msgs = strip_messages(zs)
    # 5 s of broadcast for a 6 s message: nothing complete
    rep = coverage_report(zs, FRAME, None, [straight_pass(0.0, 0, 40)], msgs, SPEAKER, AIR)
    assert rep.zone("strip").heard_fraction == 0.0 and rep.complete_plays == 0


def test_worst_gap_matches_an_independent_margin_check():
    zs = strip_city()
    msgs = strip_messages(zs)
    m = msgs["strip"]
    sessions = [straight_pass(0.0, -1500, 1500), straight_pass(900.0, 1500, -1500)]
    rep = coverage_report(zs, FRAME, None, sessions, msgs, SPEAKER, AIR, grid_m=10.0)
    gx, gy = grid_xy(rep, "strip")
    # pick a grid point near the middle, 20 m off the track
    i, j = np.unravel_index(np.argmin(np.hypot(gx - 3.0, gy - 20.0)), gx.shape)
    px, py = gx[i, j], gy[i, j]
    heard = []
    for s in sessions:
        t = s.samples[:, 0]
        x, y = FRAME.xy_to_local(s.samples[:, 1:3]).T
        k = 0
        while s.start_s + k * m.period_s + m.duration_s <= s.end_s:
            ta = s.start_s + k * m.period_s
            tb = ta + m.duration_s
            ts = np.concatenate([[ta], t[(t > ta) & (t < tb)], [tb]])
            d = np.hypot(np.interp(ts, t, x) - px, np.interp(ts, t, y) - py)
            if np.all(ac.margin_db(SPEAKER, AIR, ALT, d, 50.0) >= 0):
                heard.append(ta)
            k += 1
    assert len(heard) >= 4
    assert rep.counts["strip"][i, j] == len(heard)
    assert rep.gaps_s["strip"][i, j] == pytest.approx(np.max(np.diff(heard)))
    assert rep.zone("strip").worst_gap_s >= rep.gaps_s["strip"][i, j]


def test_messages_of_other_zones_do_not_count():
    zs = city(("A", "sealed", box(0, 0, 1000, 400)), ("B", "precaution", box(0, 500, 1000, 900)))
    msgs = bc.messages_for_zones(zs)
    msgs = {z: dataclasses.replace(q, duration_s=6.0) for z, q in msgs.items()}
    # B's message played over A: A hears nothing
    s = straight_pass(0.0, -200, 1200, y=200.0, message_id=msgs["B"].id)
    rep = coverage_report(zs, FRAME, None, [s], msgs, SPEAKER, AIR)
    assert rep.zone("A").heard_fraction == 0.0
    s = dataclasses.replace(s, message_id=msgs["A"].id)
    assert coverage_report(zs, FRAME, None, [s], msgs, SPEAKER, AIR).zone("A").heard_fraction > 0.3


def test_flight_track_replaces_the_log_positions():
    zs = strip_city()
    msgs = strip_messages(zs)
    s = straight_pass(0.0, -1500, 1500)
    # a log whose own positions are far away, but the telemetry track is on the strip
    far = s.samples.copy()
    far[:, 2] += 0.5  # 55 km north
    bad = dataclasses.replace(s, samples=far)
    track = FlightTrack(vehicle="1", t_s=s.samples[:, 0], lon_deg=s.samples[:, 1],
                        lat_deg=s.samples[:, 2], alt_m=s.samples[:, 3])
    assert coverage_report(zs, FRAME, None, [bad], msgs, SPEAKER, AIR).zone(
        "strip").heard_fraction == 0.0
    good = coverage_report(zs, FRAME, {"1": track}, [bad], msgs, SPEAKER, AIR)
    assert good.zone("strip").heard_fraction > 0.1


def sessions_from_schedule(sch, msgs, frame, vehicle="1"):
    """Speaker sessions as a drone flying the schedule would log them (1 s samples)."""
    by_id = {q.id: q for q in msgs.values()}
    out = []
    for iv in sch.intervals:
        ts = np.append(np.arange(iv.start_s, iv.end_s, 1.0), iv.end_s)
        xy, alt = sch.timing.position_at(ts)
        ll = frame.xy_to_lonlat(xy)
        out.append(SpeakerSession(vehicle=vehicle, message_id=iv.message_id, start_s=iv.start_s,
                                  end_s=iv.end_s, period_s=by_id[iv.message_id].period_s,
                                  samples=np.column_stack([ts, ll, alt])))
    return out


def test_acoustic_spacing_gives_full_coverage_and_three_times_it_does_not():
    zs = city(("A", "sealed", box(0, 0, 900, 700)), bases=((-50, -50),))
    msgs = {"A": dataclasses.replace(bc.messages_for_zones(zs)["A"], duration_s=6.0)}
    acs = bc.acoustic_spacing(zs, msgs, SPEAKER, AIR, speed_mps=V, min_altitude_m=30,
                              max_altitude_m=60)
    a = acs["A"]
    fractions = []
    for factor in (1.0, 3.0):
        plan = plan_patrol(zs, PlanOptions(speed_mps=V, altitude_m=a.altitude_m),
                           spacing_by_zone={"A": a.spacing_m * factor},
                           altitude_by_zone={"A": a.altitude_m})
        route = plan.routes[0]
        sch = bc.schedule(route, msgs, plan.options.kinematics)
        sessions = sessions_from_schedule(sch, msgs, plan.frame)
        rep = coverage_report(zs, plan.frame, None, sessions, msgs, SPEAKER, AIR, grid_m=10.0)
        fractions.append(rep.zone("A").heard_fraction)
    assert fractions[0] >= 0.99
    assert fractions[1] < 0.9


def test_reader_accepts_simulator_and_agent_formats(tmp_path):
    zs = strip_city()
    msgs = strip_messages(zs)
    s = straight_pass(10.0, -1500, 1500, period_s=7.0)
    # the simulator's format, written by its own writer
    sim_log = tmp_path / "speaker-4.jsonl"
    w = SpeakerLogWriter(sim_log)
    pos = [{"sim_time_s": float(t), "lon_deg": float(lo), "lat_deg": float(la), "alt_m": float(al),
            "alt_amsl_m": float(al) + 100} for t, lo, la, al in s.samples]
    w.write({"event": "start", "vehicle": 4, "message_id": 1, "volume_pct": 100.0, "repeat": 0,
             "play_duration_s": 7.0, "trigger": "mission", "mission_seq": 5, **pos[0]})
    for p in pos[1:-1]:
        w.write({"event": "position", "message_id": 1, **p})
    w.write({"event": "end", "message_id": 1, "start_sim_time_s": 10.0, "reason": "stopped",
             **pos[-1]})
    w.close()
    with open(sim_log, "a", encoding="utf-8") as f:
        f.write('{"event": "posi')  # torn last line
    agent_log = tmp_path / "agent.jsonl"
    agent_log.write_text(json.dumps({
        "type": "play", "vehicle": "4", "message_id": 1, "volume_pct": 100, "period_s": 7.0,
        "start_s": s.start_s, "end_s": s.end_s, "track": s.samples.tolist()}) + "\n")
    a = read_speaker_logs(tmp_path)
    b = read_speaker_log(agent_log)
    assert len(a) == len(b) == 1
    assert a[0].vehicle == b[0].vehicle == "4" and a[0].period_s == b[0].period_s == 7.0
    assert a[0].start_s == b[0].start_s and a[0].end_s == pytest.approx(b[0].end_s)
    ra = coverage_report(zs, FRAME, None, a, msgs, SPEAKER, AIR)
    rb = coverage_report(zs, FRAME, None, b, msgs, SPEAKER, AIR)
    assert np.array_equal(ra.counts["strip"], rb.counts["strip"])
    assert ra.zone("strip").heard_fraction > 0.1


def test_heatmap_and_json(tmp_path):
    zs = strip_city()
    msgs = strip_messages(zs)
    rep = coverage_report(zs, FRAME, None, [straight_pass(0.0, -1500, 1500)], msgs, SPEAKER, AIR)
    out = save_heatmap(rep, tmp_path / "coverage.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads(json.dumps(rep.to_json()))
    assert doc["zones"][0]["zone"] == "strip" and doc["complete_plays"] == rep.complete_plays


def test_bad_inputs(tmp_path):
    zs = strip_city()
    msgs = strip_messages(zs)
    s = straight_pass(0.0, -1500, 1500, message_id=9)
    with pytest.raises(ReportError, match="message 9 has no play period"):
        coverage_report(zs, FRAME, None, [s], msgs, SPEAKER, AIR)
    with pytest.raises(ReportError, match="grid_m"):
        coverage_report(zs, FRAME, None, [], msgs, SPEAKER, AIR, grid_m=0)
    bad = tmp_path / "speaker-1.jsonl"
    bad.write_text('{"event": "start"}\n{"x": 1}\n')
    with pytest.raises(ReportError, match=r"speaker-1.jsonl:1"):
        read_speaker_log(bad)
    with pytest.raises(ReportError, match="sorted"):
        FlightTrack(vehicle="1", t_s=[2.0, 1.0], lon_deg=[0, 0], lat_deg=[0, 0], alt_m=[1, 1])


def test_a_file_that_is_not_a_speaker_log_is_an_error(tmp_path):
    from dronepatrol.errors import ReportError

    p = tmp_path / "notes.txt"
    p.write_text("hello\n", encoding="utf-8")
    with pytest.raises(ReportError, match=r"notes.txt:1: not a speaker log record.*speaker-"):
        read_speaker_log(p)
    with pytest.raises(ReportError, match="cannot read speaker log"):
        read_speaker_log(tmp_path)
