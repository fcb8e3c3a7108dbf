"""The local metric frame: round trips, distances against pyproj.Geod, and refusals."""

import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import box

from dronepatrol.errors import FrameError
from dronepatrol.geo import LocalFrame

GEOD = Geod(ellps="WGS84")


def random_points(rng, lon0, lat0, half_km, n):
    dlat = half_km / 111.0
    dlon = half_km / (111.0 * np.cos(np.radians(lat0)))
    return lon0 + rng.uniform(-dlon, dlon, n), lat0 + rng.uniform(-dlat, dlat, n)


@pytest.mark.parametrize(
    ("lon0", "lat0"),
    [(113.85, 34.03), (114.0, 34.03), (-70.6, -33.4), (2.35, 48.85), (12.5, 78.2)],
)
def test_round_trip_within_1cm(lon0, lat0):
    rng = np.random.default_rng(1)
    lons, lats = random_points(rng, lon0, lat0, 25.0, 2000)
    frame = LocalFrame.for_lonlat(lons, lats)
    x, y = frame.to_local(lons, lats)
    lon2, lat2 = frame.to_lonlat(x, y)
    _, _, err = GEOD.inv(lons, lats, lon2, lat2)
    assert np.max(err) < 0.01


def test_distances_match_geodesic_across_50km_straddling_utm_boundary():
    # Xuchang's east side crosses 114 E, the UTM 49/50 boundary: one frame serves both sides.
    rng = np.random.default_rng(2)
    lons, lats = random_points(rng, 114.0, 34.03, 25.0, 400)
    assert lons.min() < 114.0 < lons.max()
    frame = LocalFrame.for_lonlat(lons, lats)
    x, y = frame.to_local(lons, lats)
    i, j = rng.integers(0, 400, (2, 2000))
    keep = i != j
    i, j = i[keep], j[keep]
    planar = np.hypot(x[i] - x[j], y[i] - y[j])
    _, _, geodesic = GEOD.inv(lons[i], lats[i], lons[j], lats[j])
    rel = np.abs(planar - geodesic) / geodesic
    assert rel.max() < 1e-3
    # and far better than that in practice: a cm-level frame, not a spherical one
    assert np.median(np.abs(planar - geodesic)) < 1.0


def test_scalar_in_scalar_out_and_array_in_array_out():
    frame = LocalFrame.centred_on(113.85, 34.03)
    x, y = frame.to_local(113.86, 34.04)
    assert isinstance(x, float) and isinstance(y, float)
    xs, ys = frame.to_local(np.array([113.86, 113.87]), np.array([34.04, 34.05]))
    assert xs.shape == (2,)
    assert xs[0] == pytest.approx(x)
    assert x > 0 and y > 0  # east and north of the centre


def test_geometry_round_trip():
    frame = LocalFrame.centred_on(113.85, 34.03)
    g = box(113.84, 34.02, 113.86, 34.04)
    local = frame.geometry_to_local(g)
    geodesic_area, _ = GEOD.geometry_area_perimeter(g)
    assert local.area == pytest.approx(abs(geodesic_area), rel=1e-4)
    back = frame.geometry_to_lonlat(local)
    assert back.symmetric_difference(g).area < 1e-12


def test_antimeridian_is_refused_with_a_fix():
    with pytest.raises(FrameError, match="antimeridian.*Split"):
        LocalFrame.for_lonlat([179.9, -179.9], [-17.0, -17.1])


def test_too_large_is_refused():
    with pytest.raises(FrameError, match="too large"):
        LocalFrame.for_lonlat([110.0, 116.0], [34.0, 34.0])


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_is_refused(bad):
    with pytest.raises(FrameError, match="NaN or infinite"):
        LocalFrame.for_lonlat([113.0, bad], [34.0, 34.0])


def test_frame_pickles():
    import pickle

    frame = LocalFrame.centred_on(113.85, 34.03)
    again = pickle.loads(pickle.dumps(frame))
    assert again.to_local(113.86, 34.04) == pytest.approx(frame.to_local(113.86, 34.04))
