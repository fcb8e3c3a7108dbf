"""Shared sample data for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from shapely.geometry import Polygon, box

from dronepatrol.geo import LocalFrame
from dronepatrol.zones import ZoneSet

EXAMPLE_ZONES = Path(__file__).parents[1] / "examples" / "xuchang" / "zones.geojson"
FRAME = LocalFrame.centred_on(113.85, 34.03)


def lonlat_box(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    """A box given in local metres around (113.85, 34.03), returned in (lon, lat)."""
    return FRAME.geometry_to_lonlat(box(x0, y0, x1, y1))


def city(*zones: tuple[str, str, Polygon], bases: tuple[tuple[float, float], ...] = ((-50, -50),)
         ) -> ZoneSet:
    """A ZoneSet from (name, kind, local-metre polygon) triples and local-metre bases."""
    specs = [{"name": n, "kind": k, "geometry": FRAME.geometry_to_lonlat(g)} for n, k, g in zones]
    base_ll = []
    for i, (x, y) in enumerate(bases):
        lon, lat = FRAME.to_lonlat(x, y)
        base_ll.append((f"base{i}", float(lon), float(lat)))
    return ZoneSet.from_shapely(specs, bases=base_ll)


def random_polygon(rng: np.random.Generator, cx: float, cy: float, r: float, n: int = 12
                   ) -> Polygon:
    """A random star-shaped (often concave) polygon around (cx, cy) of radius about r."""
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * rng.uniform(0.45, 1.0, n)
    return Polygon(np.column_stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)]))
