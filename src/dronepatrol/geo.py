"""The local metric frame: one azimuthal equidistant projection for the whole operating area.

All planning happens in metres (x east, y north) in a :class:`LocalFrame`; WGS84 (lon, lat)
appears only at the edges (zone files in, mission files out). The frame is an azimuthal
equidistant projection on the WGS84 ellipsoid centred on the area, so it has no zone
boundaries (a city that straddles a UTM zone boundary is one frame) and distances within
50 km of the centre agree with the geodesic to a few parts per million.

>>> frame = LocalFrame.centred_on(113.85, 34.03)
>>> x, y = frame.to_local(113.85, 34.03)
>>> round(float(x), 6), round(float(y), 6)
(0.0, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TypeVar, overload

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from dronepatrol.errors import FrameError

#: Largest distance from the frame centre to any point of the area, in metres.
MAX_RADIUS_M = 150_000.0

G = TypeVar("G", bound=BaseGeometry)


class LocalFrame:
    """A local metric frame (x east, y north, metres) centred on an operating area.

    Build one with :meth:`for_lonlat`, :meth:`for_geometries` or :meth:`centred_on`.
    Conversions take and return scalars or arrays: the same result for one point as
    for many.
    """

    def __init__(self, lon0_deg: float, lat0_deg: float) -> None:
        if not (math.isfinite(lon0_deg) and math.isfinite(lat0_deg)):
            raise FrameError(f"frame centre must be finite, got ({lon0_deg}, {lat0_deg})")
        if not (-180.0 <= lon0_deg <= 180.0 and -90.0 < lat0_deg < 90.0):
            raise FrameError(
                f"frame centre (lon {lon0_deg}, lat {lat0_deg}) is out of range; "
                "longitude must be in [-180, 180] and latitude in (-90, 90)"
            )
        self.lon0_deg = float(lon0_deg)
        self.lat0_deg = float(lat0_deg)
        self.crs = CRS.from_proj4(
            f"+proj=aeqd +lat_0={self.lat0_deg!r} +lon_0={self.lon0_deg!r} "
            "+x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
        )
        self._fwd = Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        self._inv = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)

    def __repr__(self) -> str:
        return f"LocalFrame(lon0_deg={self.lon0_deg!r}, lat0_deg={self.lat0_deg!r})"

    def __reduce__(self) -> tuple[type, tuple[float, float]]:
        return (LocalFrame, (self.lon0_deg, self.lat0_deg))

    # -- named constructors -------------------------------------------------------------

    @classmethod
    def centred_on(cls, lon_deg: float, lat_deg: float) -> LocalFrame:
        """A frame centred on one point (lon, lat in degrees)."""
        return cls(lon_deg, lat_deg)

    @classmethod
    def for_lonlat(
        cls, lons_deg: ArrayLike, lats_deg: ArrayLike, *, what: str = "operating area"
    ) -> LocalFrame:
        """A frame centred on the bounding box of these points, checked to serve all of them.

        Raises :class:`FrameError` when the points cross the antimeridian or lie farther
        than :data:`MAX_RADIUS_M` from the centre; ``what`` names the data in the message.
        """
        lons = np.asarray(lons_deg, dtype=float).ravel()
        lats = np.asarray(lats_deg, dtype=float).ravel()
        if lons.size == 0 or lons.size != lats.size:
            raise FrameError(f"{what}: need at least one (lon, lat) point to build a frame")
        if not (np.all(np.isfinite(lons)) and np.all(np.isfinite(lats))):
            raise FrameError(f"{what}: coordinates contain NaN or infinite values")
        if lons.max() - lons.min() > 180.0:
            raise FrameError(
                f"{what} crosses the antimeridian (longitudes from {lons.min():.4f} to "
                f"{lons.max():.4f}); one local frame cannot serve it. Split the area at "
                "180 degrees into two zone files and plan each separately."
            )
        lon0 = 0.5 * (float(lons.min()) + float(lons.max()))
        lat0 = 0.5 * (float(lats.min()) + float(lats.max()))
        if abs(lat0) > 85.0:
            raise FrameError(f"{what} is too close to a pole (latitude {lat0:.3f})")
        frame = cls(lon0, lat0)
        x, y = frame.to_local(lons, lats)
        radius = float(np.max(np.hypot(x, y)))
        if radius > MAX_RADIUS_M:
            raise FrameError(
                f"{what} is too large for one local frame: it reaches {radius / 1000:.1f} km "
                f"from its centre (limit {MAX_RADIUS_M / 1000:.0f} km). Split it into separate "
                "zone files, one per operating area."
            )
        return frame

    @classmethod
    def for_geometries(
        cls, geometries: Iterable[BaseGeometry], *, what: str = "operating area"
    ) -> LocalFrame:
        """A frame for a set of shapely geometries in (lon, lat) degrees."""
        coords = [shapely.get_coordinates(g) for g in geometries]
        if not coords:
            raise FrameError(f"{what}: no geometries to build a frame from")
        xy = np.concatenate(coords)
        return cls.for_lonlat(xy[:, 0], xy[:, 1], what=what)

    # -- conversions -------------------------------------------------------------------

    @overload
    def to_local(self, lon_deg: float, lat_deg: float) -> tuple[float, float]: ...
    @overload
    def to_local(
        self, lon_deg: ArrayLike, lat_deg: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...

    def to_local(self, lon_deg, lat_deg):  # type: ignore[no-untyped-def]
        """(lon, lat) in degrees to (x, y) in metres; scalars in, scalars out."""
        x, y = self._fwd.transform(lon_deg, lat_deg, errcheck=True)
        return x, y

    @overload
    def to_lonlat(self, x_m: float, y_m: float) -> tuple[float, float]: ...
    @overload
    def to_lonlat(
        self, x_m: ArrayLike, y_m: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...

    def to_lonlat(self, x_m, y_m):  # type: ignore[no-untyped-def]
        """(x, y) in metres to (lon, lat) in degrees; scalars in, scalars out."""
        lon, lat = self._inv.transform(x_m, y_m, errcheck=True)
        return lon, lat

    def xy_to_local(self, lonlat: ArrayLike) -> NDArray[np.float64]:
        """An (N, 2) array of (lon, lat) to an (N, 2) array of (x, y) metres."""
        arr = np.asarray(lonlat, dtype=float).reshape(-1, 2)
        x, y = self._fwd.transform(arr[:, 0], arr[:, 1], errcheck=True)
        return np.column_stack([x, y])

    def xy_to_lonlat(self, xy: ArrayLike) -> NDArray[np.float64]:
        """An (N, 2) array of (x, y) metres to an (N, 2) array of (lon, lat)."""
        arr = np.asarray(xy, dtype=float).reshape(-1, 2)
        lon, lat = self._inv.transform(arr[:, 0], arr[:, 1], errcheck=True)
        return np.column_stack([lon, lat])

    def geometry_to_local(self, geom: G) -> G:
        """A shapely geometry in (lon, lat) degrees to the same geometry in metres."""
        return shapely.transform(geom, self.xy_to_local)  # type: ignore[no-any-return]

    def geometry_to_lonlat(self, geom: G) -> G:
        """A shapely geometry in metres to the same geometry in (lon, lat) degrees."""
        return shapely.transform(geom, self.xy_to_lonlat)  # type: ignore[no-any-return]
