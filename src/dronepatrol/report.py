"""Proof of coverage: which ground points heard a complete message, from a flight's logs.

Inputs
------
Speaker logs: what the loudspeaker played and where the drone was meanwhile. Two formats
are read by :func:`read_speaker_log`, one JSON object per line:

* the simulator's (``dronepatrol.sim``, ``speaker-<i>.jsonl``): ``{"event": "start",
  "message_id", "volume_pct", "repeat", "play_duration_s", "sim_time_s", "lat_deg",
  "lon_deg", "alt_m", ...}``, then ``{"event": "position", ...}`` at least every second
  while playing, then ``{"event": "end", "reason", "sim_time_s", ...}``;
* a simple one for a real speaker agent, one line per broadcast written when it stops::

    {"type": "play", "vehicle": "1", "message_id": 2, "volume_pct": 100, "period_s": 12.6,
     "start_s": 812.0, "end_s": 871.5, "track": [[t_s, lon_deg, lat_deg, alt_m], ...]}

  ``period_s`` (optional) is the length of one play including the gap, ``track`` the
  positions sampled while playing (relative altitude, at least every 1 s). Times are
  seconds on any clock, the same one as the flight tracks.

Flight tracks (optional): :class:`FlightTrack` per vehicle (telemetry GLOBAL_POSITION_INT
positions); when given they replace the positions of the speaker log for that vehicle.

What counts as heard
--------------------
A broadcast loops its message with period ``P`` (the log's ``play_duration_s`` /
``period_s``, else the message's ``duration_s + gap_s``) starting at the broadcast start;
play ``k`` speaks from ``t_k = start + k*P`` for the message's measured ``duration_s``.
A play that the broadcast's end cuts short does not count. A ground point
hears play ``k`` only if its margin (:func:`dronepatrol.acoustics.margin_db`, with the
zone's ambient noise, the required speech-to-noise ratio and the logged volume) is >= 0
during the whole play. The drone's position is interpolated linearly between logged samples,
and the margin is checked at every logged sample inside the play and at its two ends.
For a fixed altitude the margin falls with ground distance (omnidirectional or
nadir-pointing speaker), so the condition is ``distance <= R(altitude)``. Along a straight
segment the distance to a point is convex in time, so checking the samples is exact at
constant altitude. ``R`` is tabulated every 0.5 m of altitude and interpolated.

A point in zone Z counts a play of Z's message, or of the message of another zone that
contains the point (where zones overlap, the schedule plays the higher-priority one).
Points are the centres of a ``grid_m`` grid inside the zone with the no-fly areas cut
out; the heard fraction is the fraction of those points. The gap at a point is the time
between the starts of two consecutive complete messages it heard. The zone's worst gap is
the largest over its points (None if no point heard two).

The computation is vectorised with numpy: every play updates only the grid window where
all its discs overlap.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from dronepatrol import acoustics as ac
from dronepatrol.broadcast import Message, zone_ambient_db
from dronepatrol.errors import ReportError
from dronepatrol.geo import LocalFrame
from dronepatrol.zones import ZoneSet

__all__ = [
    "CoverageReport",
    "FlightTrack",
    "SpeakerSession",
    "ZoneCoverage",
    "coverage_report",
    "read_speaker_log",
    "read_speaker_logs",
    "save_heatmap",
]

FloatArray = NDArray[np.float64]

_ALT_STEP_M = 0.5


def _arr(values: Any, name: str, where: str) -> FloatArray:
    try:
        a = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ReportError(f"{where}: {name} must be numbers") from None
    if not np.all(np.isfinite(a)):
        raise ReportError(f"{where}: {name} contains NaN or infinite values")
    return a


@dataclass(frozen=True, eq=False, kw_only=True)
class FlightTrack:
    """Positions of one vehicle over time: seconds, degrees, metres above home."""

    vehicle: str
    t_s: FloatArray
    lon_deg: FloatArray
    lat_deg: FloatArray
    alt_m: FloatArray

    def __post_init__(self) -> None:
        where = f"track of vehicle {self.vehicle}"
        arrays = [_arr(getattr(self, n), n, where) for n in ("t_s", "lon_deg", "lat_deg", "alt_m")]
        if len({len(a) for a in arrays}) != 1 or len(arrays[0]) == 0:
            raise ReportError(f"{where}: t_s, lon_deg, lat_deg, alt_m must be equal, non-empty")
        if np.any(np.diff(arrays[0]) < 0):
            raise ReportError(f"{where}: t_s must be sorted in time")
        for n, a in zip(("t_s", "lon_deg", "lat_deg", "alt_m"), arrays, strict=True):
            object.__setattr__(self, n, a)


@dataclass(frozen=True, eq=False, kw_only=True)
class SpeakerSession:
    """One broadcast: message ``message_id`` looping from ``start_s`` to ``end_s``.

    ``samples`` are the logged (t_s, lon_deg, lat_deg, alt_m) positions while playing.
    ``period_s`` is the length of one play, or None to use the message's.
    """

    vehicle: str
    message_id: int
    start_s: float
    end_s: float
    volume_pct: float = 100.0
    period_s: float | None = None
    samples: FloatArray = field(default_factory=lambda: np.zeros((0, 4)))

    def __post_init__(self) -> None:
        where = f"speaker log of vehicle {self.vehicle}, message {self.message_id}"
        s = np.asarray(self.samples, dtype=float).reshape(-1, 4)
        if not np.all(np.isfinite(s)):
            raise ReportError(f"{where}: samples contain NaN or infinite values")
        object.__setattr__(self, "samples", s[np.argsort(s[:, 0], kind="stable")])
        if not (math.isfinite(self.start_s) and math.isfinite(self.end_s)
                and self.end_s >= self.start_s):
            raise ReportError(f"{where}: start_s={self.start_s!r} .. end_s={self.end_s!r} invalid")
        if not (math.isfinite(self.volume_pct) and 0 < self.volume_pct <= 100):
            raise ReportError(f"{where}: volume_pct={self.volume_pct!r} must be in (0, 100]")
        if self.period_s is not None and not (math.isfinite(self.period_s) and self.period_s > 0):
            raise ReportError(f"{where}: period_s={self.period_s!r} must be > 0")


def read_speaker_log(path: str | Path, *, vehicle: str | None = None) -> list[SpeakerSession]:
    """Sessions from a speaker log in either format (see the module docstring).

    ``vehicle`` defaults to the log's own ``vehicle`` field, else the file name's suffix
    (``speaker-3.jsonl`` -> ``"3"``). A torn last line (file being written) is ignored; a
    broadcast without an end record ends at its last sample.
    """
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ReportError(f"cannot read speaker log {p}: {exc.strerror or exc}; give the "
                          "speaker agent's or simulator's speaker-*.jsonl file") from None
    except UnicodeDecodeError:
        raise ReportError(f"{p}: not a speaker log (not UTF-8 text); give the speaker agent's "
                          "or simulator's speaker-*.jsonl file") from None
    default_vehicle = vehicle or (p.stem.split("-", 1)[1] if "-" in p.stem else p.stem)
    sessions: list[SpeakerSession] = []
    cur: dict[str, Any] | None = None
    samples: list[list[float]] = []

    def sample(rec: dict[str, Any]) -> list[float]:
        return [float(rec["sim_time_s"]), float(rec["lon_deg"]), float(rec["lat_deg"]),
                float(rec["alt_m"])]

    def close(end_s: float | None) -> None:
        assert cur is not None
        end = end_s if end_s is not None else (samples[-1][0] if samples else cur["t"])
        sessions.append(SpeakerSession(
            vehicle=str(vehicle or cur.get("vehicle", default_vehicle)),
            message_id=int(cur["message_id"]), start_s=float(cur["t"]), end_s=float(end),
            volume_pct=float(cur.get("volume_pct") or 100.0),
            period_s=float(cur["play_duration_s"]) if cur.get("play_duration_s") else None,
            samples=np.asarray(samples, dtype=float).reshape(-1, 4)))

    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("not an object")
            if rec.get("type") == "play":
                track = np.asarray(rec.get("track") or [], dtype=float).reshape(-1, 4)
                sessions.append(SpeakerSession(
                    vehicle=str(vehicle or rec.get("vehicle", default_vehicle)),
                    message_id=int(rec["message_id"]), start_s=float(rec["start_s"]),
                    end_s=float(rec["end_s"]), volume_pct=float(rec.get("volume_pct", 100.0)),
                    period_s=float(rec["period_s"]) if rec.get("period_s") else None,
                    samples=track))
                continue
            kind = rec.get("event")
            if kind == "start":
                if cur is not None:
                    close(None)
                cur = dict(rec, t=float(rec["sim_time_s"]))
                samples = [sample(rec)]
            elif kind in ("position", "end") and cur is not None:
                samples.append(sample(rec))
                if kind == "end":
                    close(float(rec["sim_time_s"]))
                    cur, samples = None, []
        except (ValueError, KeyError, TypeError) as exc:
            if lineno == len(lines) and lineno > 1:
                break  # torn last line of a log being written
            raise ReportError(f"{p}:{lineno}: not a speaker log record ({exc}): {line[:80]!r}; "
                              "give the speaker agent's or simulator's speaker-*.jsonl file"
                              ) from None
    if cur is not None:
        close(None)
    return sessions


def read_speaker_logs(log_dir: str | Path) -> list[SpeakerSession]:
    """Every ``speaker-*.jsonl`` in ``log_dir`` (the simulator writes one per vehicle)."""
    d = Path(log_dir)
    if not d.is_dir():
        raise ReportError(f"{d} is not a directory of speaker logs")
    out: list[SpeakerSession] = []
    for f in sorted(d.glob("speaker-*.jsonl")):
        out.extend(read_speaker_log(f))
    return out


# ------------------------------------------------------------------------------------ report


@dataclass(frozen=True, kw_only=True)
class ZoneCoverage:
    """Proof of coverage for one zone."""

    zone: str
    kind: str
    message_id: int | None
    area_m2: float
    """Area with the no-fly areas cut out."""
    points: int
    heard_fraction: float | None
    """Fraction of points that heard at least one complete message; None without points."""
    min_heard: int
    mean_heard: float
    worst_gap_s: float | None
    """Largest time between starts of consecutive complete messages at one point."""
    revisit_s: float | None
    """The zone's ``revisit_min`` property in seconds, for comparison."""


@dataclass(frozen=True, eq=False, kw_only=True)
class CoverageReport:
    """Per-zone results and the per-point rasters behind them.

    The rasters share one grid: cell (i, j) is centred at ``(x0_m + j*grid_m,
    y0_m + i*grid_m)`` in ``frame``. ``masks[z]`` marks the zone's points, ``counts[z]``
    the complete messages each heard, ``gaps_s[z]`` the worst gap (``inf`` where fewer than
    two were heard).
    """

    zones: tuple[ZoneCoverage, ...]
    frame: LocalFrame
    grid_m: float
    x0_m: float
    y0_m: float
    masks: Mapping[str, NDArray[np.bool_]]
    counts: Mapping[str, NDArray[np.int32]]
    gaps_s: Mapping[str, FloatArray]
    outlines_xy: Mapping[str, BaseGeometry]
    no_fly_xy: tuple[BaseGeometry, ...]
    plays: int
    complete_plays: int

    def zone(self, name: str) -> ZoneCoverage:
        """The result for zone ``name``."""
        for z in self.zones:
            if z.zone == name:
                return z
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """The per-zone results as a JSON-ready dict."""
        return {
            "format": "dronepatrol-coverage", "version": 1, "grid_m": self.grid_m,
            "plays": self.plays, "complete_plays": self.complete_plays,
            "zones": [dataclasses.asdict(z) for z in self.zones],
        }


@dataclass
class _ZoneGrid:
    name: str
    ambient_db: float
    i0: int
    j0: int
    mask: NDArray[np.bool_]
    accept: dict[int, NDArray[np.bool_] | None]  # message id -> cells allowed (None: all)
    counts: NDArray[np.int32]
    last_t: FloatArray
    gap: FloatArray


def _radius_table(
    speaker: ac.Speaker, atmosphere: ac.Atmosphere, ambient_db: float, required_snr_db: float,
    volume_pct: float, alt_lo: float, alt_hi: float,
) -> tuple[FloatArray, FloatArray]:
    spk = dataclasses.replace(speaker, volume_pct=volume_pct)
    lo = max(math.floor(alt_lo / _ALT_STEP_M) * _ALT_STEP_M, ac.LISTENER_EAR_HEIGHT_M + 0.5)
    hi = max(math.ceil(alt_hi / _ALT_STEP_M) * _ALT_STEP_M, lo + _ALT_STEP_M)
    alts = np.arange(lo, hi + _ALT_STEP_M / 2, _ALT_STEP_M)
    radii = np.array([ac.intelligible_radius_m(spk, atmosphere, float(a), ambient_db,
                                               required_snr_db) for a in alts])
    return alts, radii


def _plays(
    sessions: Sequence[SpeakerSession], durations: Mapping[int, float],
    periods: Mapping[int, float],
) -> list[tuple[float, float, SpeakerSession]]:
    out = []
    for s in sessions:
        period = s.period_s or periods.get(s.message_id)
        if period is None:
            raise ReportError(
                f"speaker log of vehicle {s.vehicle}: message {s.message_id} has no play "
                "period in the log and is not among the plan's messages; pass its Message"
            )
        dur = min(durations.get(s.message_id, period), period)
        k = 0
        while True:
            ta = s.start_s + k * period
            tb = ta + dur
            if tb > s.end_s + 1e-6:
                break
            out.append((ta, tb, s))
            k += 1
    out.sort(key=lambda p: p[0])
    return out


def coverage_report(
    zoneset: ZoneSet,
    frame: LocalFrame,
    flight_tracks: Mapping[str, FlightTrack] | Sequence[FlightTrack] | None,
    speaker_logs: Sequence[SpeakerSession],
    messages: Mapping[str, Message],
    speaker: ac.Speaker,
    atmosphere: ac.Atmosphere,
    *,
    grid_m: float = 10.0,
    required_snr_db: float = ac.DEFAULT_REQUIRED_SNR_DB,
) -> CoverageReport:
    """For each patrol zone: the fraction of its area that heard a complete message, and gaps.

    ``messages`` maps zone names to their rendered :class:`~dronepatrol.broadcast.Message`
    (as :func:`dronepatrol.broadcast.render_messages` returns). Their measured
    ``duration_s`` is the spoken part of each play. See the module docstring for the
    hearing rule and the log formats.
    """
    if not (isinstance(grid_m, (int, float)) and math.isfinite(grid_m) and grid_m > 0):
        raise ReportError(f"coverage_report: grid_m={grid_m!r} must be > 0 metres")
    tracks: dict[str, FlightTrack] = {}
    if flight_tracks is not None:
        items = (flight_tracks.values() if isinstance(flight_tracks, Mapping)
                 else flight_tracks)
        tracks = {t.vehicle: t for t in items}
    durations: dict[int, float] = {}
    periods: dict[int, float] = {}
    for m in messages.values():
        if m.duration_s is not None:
            durations[m.id] = m.duration_s
            periods[m.id] = m.period_s
    # ---- grid
    no_fly = tuple(frame.geometry_to_local(z.geometry) for z in zoneset.no_fly_zones)
    nf_union = shapely.union_all(no_fly) if no_fly else Polygon()
    local = {z.name: frame.geometry_to_local(z.geometry) for z in zoneset.patrol_zones}
    coverable = {n: (g.difference(nf_union) if no_fly else g) for n, g in local.items()}
    bounds = np.array([g.bounds for g in local.values()])
    x0 = math.floor(bounds[:, 0].min() / grid_m) * grid_m + grid_m / 2
    y0 = math.floor(bounds[:, 1].min() / grid_m) * grid_m + grid_m / 2
    nx = int(math.ceil((bounds[:, 2].max() - x0) / grid_m)) + 1
    ny = int(math.ceil((bounds[:, 3].max() - y0) / grid_m)) + 1
    grids: list[_ZoneGrid] = []
    for z in zoneset.patrol_zones:
        g = coverable[z.name]
        bx0, by0, bx1, by1 = g.bounds if not g.is_empty else (x0, y0, x0, y0)
        j0 = max(int(math.floor((bx0 - x0) / grid_m)), 0)
        i0 = max(int(math.floor((by0 - y0) / grid_m)), 0)
        j1 = min(int(math.ceil((bx1 - x0) / grid_m)) + 1, nx)
        i1 = min(int(math.ceil((by1 - y0) / grid_m)) + 1, ny)
        xs = x0 + grid_m * np.arange(j0, j1)
        ys = y0 + grid_m * np.arange(i0, i1)
        gx, gy = np.meshgrid(xs, ys)
        mask = (shapely.contains_xy(g, gx, gy) if not g.is_empty
                else np.zeros(gx.shape, dtype=bool))
        accept: dict[int, NDArray[np.bool_] | None] = {}
        own = messages.get(z.name)
        for other, m in messages.items():
            if other == z.name or (own is not None and m.id == own.id):
                continue
            og = local.get(other)
            if og is None or not og.intersects(g):
                continue
            inside = shapely.contains_xy(og, gx, gy) & mask
            prev = accept.get(m.id)
            accept[m.id] = inside if prev is None else (prev | inside)
        if own is not None:
            accept[own.id] = None
        grids.append(_ZoneGrid(
            z.name, zone_ambient_db(z), i0, j0, mask, accept,
            np.zeros(mask.shape, np.int32), np.full(mask.shape, -np.inf),
            np.zeros(mask.shape)))
    # ---- positions per session, in the local frame
    plays = _plays(speaker_logs, durations, periods)
    local_samples: dict[int, tuple[FloatArray, FloatArray, FloatArray, FloatArray]] = {}
    alt_lo, alt_hi = math.inf, -math.inf
    for s in speaker_logs:
        tr = tracks.get(s.vehicle)
        if tr is not None:
            t, lon, lat, alt = tr.t_s, tr.lon_deg, tr.lat_deg, tr.alt_m
        else:
            t, lon, lat, alt = s.samples.T
        if len(t) == 0:
            continue
        x, y = frame.to_local(lon, lat)
        local_samples[id(s)] = (np.asarray(t), np.asarray(x), np.asarray(y), np.asarray(alt))
        alt_lo, alt_hi = min(alt_lo, float(np.min(alt))), max(alt_hi, float(np.max(alt)))
    tables: dict[tuple[float, float], tuple[FloatArray, FloatArray]] = {}
    complete = 0
    for ta, tb, s in plays:
        data = local_samples.get(id(s))
        if data is None:
            continue
        t, x, y, alt = data
        inner = (t > ta) & (t < tb)
        ts = np.concatenate([[ta], t[inner], [tb]])
        px, py, pa = np.interp(ts, t, x), np.interp(ts, t, y), np.interp(ts, t, alt)
        complete += 1
        for zg in grids:
            if s.message_id not in zg.accept:
                continue
            key = (s.volume_pct, zg.ambient_db)
            if key not in tables:
                tables[key] = _radius_table(speaker, atmosphere, zg.ambient_db, required_snr_db,
                                            s.volume_pct, alt_lo, alt_hi)
            alts, radii = tables[key]
            r = np.interp(pa, alts, radii)
            if np.any(r <= 0):
                continue
            # the window where every disc overlaps
            wx0, wx1 = float(np.max(px - r)), float(np.min(px + r))
            wy0, wy1 = float(np.max(py - r)), float(np.min(py + r))
            if wx0 > wx1 or wy0 > wy1:
                continue
            j0 = max(int(math.ceil((wx0 - x0) / grid_m)) - zg.j0, 0)
            j1 = min(int(math.floor((wx1 - x0) / grid_m)) + 1 - zg.j0, zg.mask.shape[1])
            i0 = max(int(math.ceil((wy0 - y0) / grid_m)) - zg.i0, 0)
            i1 = min(int(math.floor((wy1 - y0) / grid_m)) + 1 - zg.i0, zg.mask.shape[0])
            if j0 >= j1 or i0 >= i1:
                continue
            xs = x0 + grid_m * (zg.j0 + np.arange(j0, j1))
            ys = y0 + grid_m * (zg.i0 + np.arange(i0, i1))
            ok = zg.mask[i0:i1, j0:j1].copy()
            allowed = zg.accept[s.message_id]
            if allowed is not None:
                ok &= allowed[i0:i1, j0:j1]
            if not ok.any():
                continue
            for xj, yj, rj in zip(px.tolist(), py.tolist(), r.tolist(), strict=True):
                dx2 = (xs - xj) ** 2
                dy2 = (ys - yj) ** 2
                ok &= (dy2[:, None] + dx2[None, :]) <= rj * rj
            if not ok.any():
                continue
            last = zg.last_t[i0:i1, j0:j1]
            gap = zg.gap[i0:i1, j0:j1]
            again = ok & np.isfinite(last)
            gap[again] = np.maximum(gap[again], ta - last[again])
            last[ok] = ta
            zg.counts[i0:i1, j0:j1][ok] += 1
    # ---- summaries
    results = []
    for z, zg in zip(zoneset.patrol_zones, grids, strict=True):
        n = int(zg.mask.sum())
        c = zg.counts[zg.mask]
        twice = c >= 2
        gaps = zg.gap[zg.mask][twice]
        own = messages.get(z.name)
        results.append(ZoneCoverage(
            zone=z.name, kind=z.kind.value, message_id=None if own is None else own.id,
            area_m2=float(coverable[z.name].area), points=n,
            heard_fraction=float((c >= 1).mean()) if n else None,
            min_heard=int(c.min()) if n else 0, mean_heard=float(c.mean()) if n else 0.0,
            worst_gap_s=float(gaps.max()) if gaps.size else None,
            revisit_s=None if z.revisit_min is None else float(z.revisit_min) * 60.0,
        ))
    full = {}
    for name_arr, attr in (("masks", "mask"), ("counts", "counts"), ("gaps_s", "gap")):
        d = {}
        for zg in grids:
            fill: Any = False if attr == "mask" else (0 if attr == "counts" else np.inf)
            a = np.full((ny, nx), fill, dtype=getattr(zg, attr).dtype)
            src = getattr(zg, attr)
            if attr == "gap":
                src = np.where(zg.counts >= 2, src, np.inf)
            a[zg.i0:zg.i0 + src.shape[0], zg.j0:zg.j0 + src.shape[1]] = src
            d[zg.name] = a
        full[name_arr] = d
    return CoverageReport(
        zones=tuple(results), frame=frame, grid_m=float(grid_m), x0_m=x0, y0_m=y0,
        masks=full["masks"], counts=full["counts"], gaps_s=full["gaps_s"],
        outlines_xy=local, no_fly_xy=no_fly, plays=len(plays), complete_plays=complete,
    )


def save_heatmap(report: CoverageReport, path: str | Path, *, title: str | None = None) -> Path:
    """Draw ``coverage.png``: complete messages heard per point, unheard points in red.

    Zones are outlined, no-fly areas hatched; axes in km of the local frame.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    p = Path(path)
    counts = None
    covered = None
    for name, mask in report.masks.items():
        c = np.where(mask, report.counts[name], 0)
        counts = c if counts is None else np.maximum(counts, c)
        covered = mask if covered is None else (covered | mask)
    fig, ax = plt.subplots(figsize=(10, 8), dpi=120)
    if counts is not None and covered is not None:
        ny, nx = counts.shape
        g = report.grid_m
        extent = ((report.x0_m - g / 2) / 1000, (report.x0_m + (nx - 0.5) * g) / 1000,
                  (report.y0_m - g / 2) / 1000, (report.y0_m + (ny - 0.5) * g) / 1000)
        heard = np.ma.masked_where(~covered | (counts == 0), counts)
        vmax = max(int(counts.max()), 1)
        im = ax.imshow(heard, origin="lower", extent=extent, cmap="viridis", vmin=1, vmax=vmax,
                       interpolation="nearest")
        unheard = np.ma.masked_where(~covered | (counts > 0), np.ones_like(counts))
        ax.imshow(unheard, origin="lower", extent=extent, cmap=ListedColormap(["#d62728"]),
                  interpolation="nearest")
        fig.colorbar(im, ax=ax, label="complete messages heard (red: none)")
    for geom in report.outlines_xy.values():
        for poly in shapely.get_parts(geom):
            if isinstance(poly, Polygon):
                xy = np.asarray(poly.exterior.coords) / 1000
                ax.plot(xy[:, 0], xy[:, 1], color="black", lw=0.8)
    for geom in report.no_fly_xy:
        for poly in shapely.get_parts(geom):
            if isinstance(poly, (Polygon, MultiPolygon)):
                xy = np.asarray(poly.exterior.coords) / 1000
                ax.fill(xy[:, 0], xy[:, 1], facecolor="none", edgecolor="#444444", hatch="///")
    lines = [f"{i + 1}: {z.heard_fraction * 100:.1f} %" if z.heard_fraction is not None
             else f"{i + 1}: -" for i, z in enumerate(report.zones)]
    ax.set_title(title or "Complete messages heard per point (" + ", ".join(lines) + ")",
                 fontsize=9)
    ax.set_xlabel("east (km)")
    ax.set_ylabel("north (km)")
    ax.set_aspect("equal")
    try:
        fig.savefig(p)
    except OSError as exc:
        raise ReportError(f"cannot write {p}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return p
