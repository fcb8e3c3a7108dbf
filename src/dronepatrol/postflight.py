"""After a flight: read a plan directory and its flight logs, write the proof of coverage.

``dronepatrol report DIR`` and ``dronepatrol demo`` call :func:`flight_report`. It reads what
``dronepatrol plan`` wrote (``zones.geojson``, ``summary.json``, ``messages.json``,
``acoustics.json``, ``schedule.json`` for a fleet) and what ``dronepatrol fly`` wrote under
``DIR/flight/`` (``results.json``, the speaker logs: the simulator's ``sim/speaker-<i>.jsonl``
or a speaker agent's ``speaker*.jsonl``), and writes

* ``DIR/report.json``: per zone the fraction of its area that heard at least one complete
  message with the required margin, the worst gap between complete messages, and the planned
  revisit target; per vehicle the sorties flown and battery used;
* ``DIR/coverage.png``: the heat map of complete messages heard per ground point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dronepatrol import acoustics as ac
from dronepatrol.errors import DronePatrolError, ReportError
from dronepatrol.geo import LocalFrame
from dronepatrol.output import read_json, write_json
from dronepatrol.zones import read_zones


@dataclass
class FlightReport:
    """The proof of coverage of one flown plan directory."""

    coverage: Any  # dronepatrol.report.CoverageReport
    vehicles: list[dict[str, Any]]
    planned_targets_s: dict[str, float | None]
    files: dict[str, Path]
    planned_gaps_s: dict[str, float | None] = field(default_factory=dict)
    flown_span_s: float = 0.0
    """Time from the first broadcast's start to the last one's end (all vehicles)."""

    def rows(self) -> list[dict[str, Any]]:
        """One row per zone: heard fraction, the worst gap between complete messages as flown
        (at the worst ground point), the fleet schedule's planned worst gap, and the target."""
        return [{"zone": z.zone, "kind": z.kind, "heard_fraction": z.heard_fraction,
                 "worst_gap_s": z.worst_gap_s,
                 "one_pass_only": (self.planned_targets_s.get(z.zone) or 0.0)
                 > self.flown_span_s,
                 "planned_worst_gap_s": self.planned_gaps_s.get(z.zone),
                 "target_s": self.planned_targets_s.get(z.zone),
                 "min_heard": z.min_heard, "mean_heard": z.mean_heard}
                for z in self.coverage.zones]


def _load(path: Path, what: str) -> Any:
    try:
        return read_json(path, fix=what)
    except DronePatrolError as exc:
        raise ReportError(str(exc)) from None


def speaker_log_files(plan_dir: Path) -> list[Path]:
    """Speaker logs of a flight: the simulator's and any speaker agent's."""
    flight = plan_dir / "flight"
    found = sorted((flight / "sim").glob("speaker-*.jsonl")) if (flight / "sim").is_dir() else []
    found += sorted(flight.glob("speaker*.jsonl")) if flight.is_dir() else []
    return found


def flight_report(plan_dir: str | Path, *, grid_m: float = 10.0,
                  speaker_logs: list[Path] | None = None, draw: bool = True) -> FlightReport:
    """Compute and write the proof of coverage for a flown plan directory."""
    from dronepatrol.pipeline import message_from_json
    from dronepatrol.report import coverage_report, read_speaker_log, save_heatmap

    d = Path(plan_dir)
    if not d.is_dir():
        raise ReportError(f"{d}: no such plan directory; give the DIR written by "
                          "`dronepatrol plan` and flown by `dronepatrol fly`")
    if not (d / "summary.json").exists() or not (d / "zones.geojson").exists():
        raise ReportError(f"{d}: not a plan directory (no summary.json or zones.geojson); "
                          f"run `dronepatrol plan ZONES --out {d}` and fly it first")
    zoneset = read_zones(d / "zones.geojson")
    summary = _load(d / "summary.json", "re-run `dronepatrol plan`")
    frame = LocalFrame(summary["frame"]["lon0_deg"], summary["frame"]["lat0_deg"])
    msgs = _load(d / "messages.json", "the plan has no broadcasts: plan with zones that have a "
                                      "'message' property (or --default-messages)")
    messages = {name: message_from_json(m, d) for name, m in msgs.items()}
    acoustic = _load(d / "acoustics.json", "re-run `dronepatrol plan`")
    sp = acoustic["speaker"]
    band = sp.get("band_hz", 1000.0)
    speaker = ac.Speaker(level_at_1m_db=sp["level_at_1m_db"], volume_pct=sp["volume_pct"],
                         beam_width_deg=sp["beam_width_deg"],
                         band_hz=tuple(band) if isinstance(band, list) else band)
    atm = acoustic.get("atmosphere", {})
    atmosphere = ac.Atmosphere(**atm) if atm else ac.Atmosphere()
    logs = speaker_logs if speaker_logs is not None else speaker_log_files(d)
    if not logs:
        raise ReportError(
            f"{d / 'flight'}: no speaker logs; fly the plan first (`dronepatrol fly {d} --sim`) "
            "or copy the speaker agent's log there")
    sessions = []
    for p in logs:
        sessions.extend(read_speaker_log(p, vehicle=p.stem))
    span = (max(x.end_s for x in sessions) - min(x.start_s for x in sessions)
            if sessions else 0.0)
    cov = coverage_report(zoneset, frame, None, sessions, messages, speaker, atmosphere,
                          grid_m=grid_m, required_snr_db=float(acoustic["required_snr_db"]))
    targets: dict[str, float | None] = {z.name: None for z in zoneset.patrol_zones}
    planned: dict[str, float | None] = {}
    sched_path = d / "schedule.json"
    if sched_path.exists():
        for z in _load(sched_path, "re-run `dronepatrol plan`")["zones"]:
            targets[z["zone"]] = z.get("target_s")
            planned[z["zone"]] = z.get("worst_gap_s")
    results_path = d / "flight" / "results.json"
    vehicles = (_load(results_path, "fly the plan again") if results_path.exists() else [])
    files: dict[str, Path] = {}
    rep = FlightReport(cov, vehicles, targets, files, planned_gaps_s=planned,
                       flown_span_s=span)
    files["report.json"] = write_json(d / "report.json", {
        "coverage": cov.to_json(), "zones": rep.rows(), "vehicles": vehicles})
    if draw:
        files["coverage.png"] = save_heatmap(cov, d / "coverage.png")
    return rep
