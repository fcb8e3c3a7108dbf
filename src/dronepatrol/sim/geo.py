"""Local metric frame around a vehicle's home (north/east metres), and small polygon helpers.

An equirectangular projection on a sphere of the WGS84 equatorial radius (6,378,137 m). It is
deliberately not :class:`dronepatrol.geo.LocalFrame` (pyproj, WGS84 ellipsoid): the physics
step converts positions every tick, and a pyproj call there would dominate it. The vehicle's
lat/lon round-trip exactly through this frame, so it reaches the lat/lon it is sent to; only
metric figures (local N/E metres, distances flown) differ from the ellipsoid, by at most
0.3 % at mid latitudes (less than the simulated wind and controller spread).
"""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6378137.0  # WGS84 semi-major axis a
M_PER_DEG_LAT = math.pi * EARTH_RADIUS_M / 180.0


class LocalFrame:
    """Converts (lat, lon) in degrees to (north_m, east_m) around an origin and back."""

    def __init__(self, lat0_deg: float, lon0_deg: float) -> None:
        self.lat0_deg = lat0_deg
        self.lon0_deg = lon0_deg
        self.m_per_deg_lon = M_PER_DEG_LAT * math.cos(math.radians(lat0_deg))

    def to_ne(self, lat_deg: float, lon_deg: float) -> tuple[float, float]:
        """(lat, lon) degrees -> (north_m, east_m)."""
        return ((lat_deg - self.lat0_deg) * M_PER_DEG_LAT,
                (lon_deg - self.lon0_deg) * self.m_per_deg_lon)

    def to_latlon(self, north_m: float, east_m: float) -> tuple[float, float]:
        """(north_m, east_m) -> (lat, lon) degrees."""
        return (self.lat0_deg + north_m / M_PER_DEG_LAT,
                self.lon0_deg + east_m / self.m_per_deg_lon)


Point = tuple[float, float]


def point_in_polygon(p: Point, poly: list[Point]) -> bool:
    """Ray casting; ``poly`` is a list of (north, east) vertices, not closed."""
    x, y = p
    inside = False
    n = len(poly)
    j = n - 1
    for i in range(n):
        xi, yi = poly[i]
        xj, yj = poly[j]
        if (yi > y) != (yj > y):
            x_cross = xi + (y - yi) * (xj - xi) / (yj - yi)
            if x < x_cross:
                inside = not inside
        j = i
    return inside


def _orient(a: Point, b: Point, c: Point) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _segments_cross(a: Point, b: Point, c: Point, d: Point) -> bool:
    d1 = _orient(c, d, a)
    d2 = _orient(c, d, b)
    d3 = _orient(a, b, c)
    d4 = _orient(a, b, d)
    return ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and d1 != 0 and d2 != 0 \
        and d3 != 0 and d4 != 0


def polygon_self_intersects(poly: list[Point]) -> bool:
    """True when two non-adjacent edges of the closed polygon cross."""
    n = len(poly)
    edges = [(poly[i], poly[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue
            if _segments_cross(edges[i][0], edges[i][1], edges[j][0], edges[j][1]):
                return True
    return False
