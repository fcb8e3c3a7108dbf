"""Gantt picture of a fleet schedule: drones as rows, sorties as bars, battery swaps.

Inside each sortie bar the time over each zone part is coloured by the zone's kind (transit in
grey) and labelled with the zone when there is room; the swap after each sortie is hatched.
"""

from __future__ import annotations

from pathlib import Path

from dronepatrol.fleet import FleetSchedule

KIND_COLOURS = {"sealed": "#d62728", "controlled": "#ff7f0e", "precaution": "#e8c51b"}
_TRANSIT = "#bbbbbb"


def save_gantt(schedule: FleetSchedule, path: str | Path, *, dpi: int = 120) -> Path:
    """Draw ``schedule`` as a Gantt chart into ``path`` (PNG) and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from dronepatrol.plot import cjk_font

    font = cjk_font()
    kinds = {p.zone: p.kind for p in schedule.parts}
    numbers = {z.zone: i for i, z in enumerate(schedule.zones, start=1)}
    drones = [d.name for d in schedule.drones]
    swaps = {d.name: d.swap_s for d in schedule.drones}
    fig, ax = plt.subplots(figsize=(14, 1.0 + 0.55 * len(drones)))
    hours = 3600.0
    for row, name in enumerate(drones):
        y = len(drones) - 1 - row
        for s in schedule.sorties.get(name, ()):
            ax.barh(y, s.flight_s / hours, left=s.start_s / hours, height=0.6, color=_TRANSIT,
                    edgecolor="black", linewidth=0.4)
            for p in s.passes:
                w = (p.time_s - p.start_s) / hours
                ax.barh(y, w, left=p.start_s / hours, height=0.6, color=KIND_COLOURS.get(
                    kinds.get(p.zone, ""), "#1f77b4"), linewidth=0)
                if w > 0.12:
                    label = p.zone if (font or p.zone.isascii()) else f"Z{numbers[p.zone]}"
                    if p.parts > 1:
                        label += f" {p.part + 1}/{p.parts}"
                    ax.text((p.start_s + p.time_s) / 2 / hours, y, label, ha="center",
                            va="center", fontsize=6, fontfamily=font or "DejaVu Sans")
            ax.barh(y, swaps[name] / hours, left=s.end_s / hours, height=0.35,
                    color="white", edgecolor="#555555", hatch="////", linewidth=0.4)
    ax.set_yticks(range(len(drones)), labels=list(reversed(drones)))
    ax.set_xlim(0, schedule.shift_s / hours)
    ax.set_xlabel("hours from shift start")
    status = "all revisit targets met" if schedule.feasible else (
        f"{len(schedule.misses)} zone(s) miss their revisit target")
    ax.set_title(f"Fleet schedule: {len(drones)} drones, {status}")
    handles = [Patch(color=c, label=k) for k, c in KIND_COLOURS.items()]
    handles += [Patch(color=_TRANSIT, label="transit"),
                Patch(facecolor="white", edgecolor="#555555", hatch="////", label="battery swap")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.2 / len(drones)),
              ncol=len(handles), fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
