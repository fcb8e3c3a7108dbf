"""Maps of plans: zones coloured by kind, no-fly areas, routes with direction, bases.

Drawn in the plan's local metric frame (km east/north of the frame centre) so that the scale
bar is true. Chinese zone names are drawn when a CJK font is installed (for example Debian's
``fonts-noto-cjk``); otherwise zones are labelled by number and the legend says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Polygon

from dronepatrol.plan import PatrolPlan
from dronepatrol.route import Route

KIND_COLOURS = {
    "sealed": "#d62728",
    "controlled": "#ff7f0e",
    "precaution": "#e8c51b",
    "no_fly": "#444444",
}
ROUTE_COLOURS = ["#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#7f7f7f"]
_CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
                 "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei", "PingFang SC",
                 "AR PL UMing CN", "Droid Sans Fallback")


def cjk_font() -> str | None:
    """The name of an installed font family that can draw Chinese, or None."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for fam in _CJK_FAMILIES:
        if fam in names:
            return fam
    return None


def _label(name: str, number: int, cjk: bool) -> str:
    if cjk or name.isascii():
        return name
    return f"Z{number}"


def _polys(geom: object) -> list[Polygon]:
    return [g for g in shapely.get_parts(geom) if isinstance(g, Polygon)]


def draw_plan(plan: PatrolPlan, ax: object, *, routes: Sequence[Route] | None = None,
              broadcasts: Sequence[Any] = (), max_legend_routes: int = 8) -> None:
    """Draw zones, no-fly areas, bases and routes (default ``plan.routes``) on an Axes.

    ``broadcasts`` (:class:`dronepatrol.broadcast.RouteBroadcasts`) are drawn as thick
    translucent bands where a message plays."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MplPath

    font = cjk_font()
    km = 1000.0
    no_fly = shapely.union_all(plan.no_fly_local) if plan.no_fly_local else None
    for number, z in enumerate(plan.zoneset.zones, start=1):
        geom = plan.frame.geometry_to_local(z.geometry)
        label_geom = geom
        if no_fly is not None and not z.is_no_fly and not geom.difference(no_fly).is_empty:
            label_geom = geom.difference(no_fly)
        colour = KIND_COLOURS[z.kind.value]
        for p in _polys(geom):
            verts = [np.asarray(p.exterior.coords) / km]
            verts += [np.asarray(h.coords) / km for h in p.interiors]
            codes = []
            for v in verts:
                c = [MplPath.LINETO] * len(v)
                c[0] = MplPath.MOVETO
                codes += c
            path = MplPath(np.concatenate(verts), codes)
            ax.add_patch(PathPatch(  # type: ignore[attr-defined]
                path, facecolor=colour, alpha=0.45 if not z.is_no_fly else 0.8,
                edgecolor=colour, lw=1.2, hatch="xx" if z.is_no_fly else None, zorder=1))
        c = label_geom.representative_point()
        ax.annotate(  # type: ignore[attr-defined]
            _label(z.name, number, font is not None), (c.x / km, c.y / km), ha="center",
            va="center", fontsize=7, zorder=5, fontfamily=font or "DejaVu Sans",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.7, "lw": 0})
    chosen = list(plan.routes if routes is None else routes)
    for rb in broadcasts:
        for iv in rb.intervals:
            ts = np.linspace(iv.start_s, iv.end_s, max(2, int((iv.end_s - iv.start_s) / 5)))
            pos, _ = rb.timing.position_at(ts)
            ax.plot(pos[:, 0] / km, pos[:, 1] / km, color="#ff00aa",  # type: ignore[attr-defined]
                    lw=4, alpha=0.25, solid_capstyle="butt", zorder=2)
    if broadcasts:
        ax.plot([], [], color="#ff00aa", lw=4, alpha=0.35,  # type: ignore[attr-defined]
                label="message playing")
    for i, r in enumerate(chosen):
        xy = r.waypoints_xy / km
        colour = ROUTE_COLOURS[i % len(ROUTE_COLOURS)]
        transit = np.array([k == "transit" for k in r.leg_kinds])
        for j in range(len(xy) - 1):
            ax.plot(xy[j:j + 2, 0], xy[j:j + 2, 1], color=colour,  # type: ignore[attr-defined]
                    lw=0.9, ls="--" if transit[j] else "-", zorder=3)
        # direction arrows at regular distances along the route
        seg = np.hypot(*np.diff(xy, axis=0).T)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        for d in np.linspace(0, cum[-1], max(4, min(25, int(cum[-1] / 0.3))))[1:-1]:
            j = int(np.searchsorted(cum, d) - 1)
            j = min(max(j, 0), len(seg) - 1)
            if seg[j] <= 0:
                continue
            t = (d - cum[j]) / seg[j]
            p = xy[j] + t * (xy[j + 1] - xy[j])
            v = (xy[j + 1] - xy[j]) / seg[j] * 0.001
            ax.annotate("", xy=p + v, xytext=p, zorder=4,  # type: ignore[attr-defined]
                        arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 0.8,
                                    "mutation_scale": 9})
        if i < max_legend_routes:
            ax.plot([], [], color=colour, lw=1.5,  # type: ignore[attr-defined]
                    label=f"{r.name} ({r.length_m / km:.1f} km, {r.duration_s / 60:.0f} min)")
        elif i == max_legend_routes:
            ax.plot([], [], color="white", label=f"... {len(chosen) - i} more routes")  # type: ignore[attr-defined]
    for b in plan.bases:
        x, y = plan.base_xy(b.name)
        ax.plot(x / km, y / km, marker="^", ms=10, color="black", zorder=6)  # type: ignore[attr-defined]
        ax.annotate(b.name if (font or b.name.isascii()) else "base", (x / km, y / km),  # type: ignore[attr-defined]
                    xytext=(5, 5), textcoords="offset points", fontsize=7, zorder=6,
                    fontfamily=font or "DejaVu Sans")


def save_map(plan: PatrolPlan, path: str | Path, *, title: str | None = None,
             routes: Sequence[Route] | None = None, broadcasts: Sequence[Any] = ()) -> Path:
    """Write ``map.png``: zones by kind, no-fly areas, routes with direction, bases, where
    messages play, legend, scale bar."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(10, 8), dpi=120)
    draw_plan(plan, ax, routes=routes, broadcasts=broadcasts)
    handles, _ = ax.get_legend_handles_labels()
    kinds = [Patch(facecolor=c, alpha=0.6, label=k.replace("_", "-"),
                   hatch="xx" if k == "no_fly" else None) for k, c in KIND_COLOURS.items()]
    extra = []
    from matplotlib.lines import Line2D

    extra.append(Line2D([], [], color="black", marker="^", ls="", label="base"))
    extra.append(Line2D([], [], color="grey", ls="--", label="transit"))
    ax.legend(handles=kinds + extra + handles, loc="upper left", fontsize=7, framealpha=0.85)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_xlabel("km east of frame centre")
    ax.set_ylabel("km north of frame centre")
    ax.grid(True, lw=0.3, alpha=0.5)
    # scale bar: 1 km (or 500 m on small maps)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    bar = 1.0 if (x1 - x0) > 3 else 0.5
    bx, by = x1 - bar - 0.05 * (x1 - x0), y0 + 0.05 * (y1 - y0)
    ax.plot([bx, bx + bar], [by, by], color="black", lw=3, zorder=7)
    ax.text(bx + bar / 2, by + 0.015 * (y1 - y0), f"{bar:g} km", ha="center", fontsize=8)
    ax.set_title(title or f"Patrol plan: {Path(plan.zoneset.source or 'zones').name}", fontsize=10)
    if cjk_font() is None:
        ax.text(0.99, 0.01, "zones numbered in file order (install a CJK font for names)",
                transform=ax.transAxes, ha="right", fontsize=6, color="grey")
    out = Path(path)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
