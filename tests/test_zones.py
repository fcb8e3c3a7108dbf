"""Zone files in: GeoJSON, KML and shapely, and every bad input with a clear error."""

import json
import math
from pathlib import Path

import pytest
from shapely.geometry import box

from dronepatrol.errors import DronePatrolError, DronePatrolWarning, ZoneFileError
from dronepatrol.zones import ZoneKind, ZoneSet, parse_geojson, read_kml, read_zones

EXAMPLE = Path(__file__).parents[1] / "examples" / "xuchang" / "zones.geojson"

SQUARE = [[113.80, 34.00], [113.81, 34.00], [113.81, 34.01], [113.80, 34.01], [113.80, 34.00]]


def fc(*features):
    return {"type": "FeatureCollection", "features": list(features)}


def poly(coords, **props):
    return {"type": "Feature", "properties": props,
            "geometry": {"type": "Polygon", "coordinates": [coords]}}


def write(tmp_path, obj, name="zones.geojson"):
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False),
                 encoding="utf-8")
    return p


def test_example_city_loads_with_chinese_kinds_and_bases():
    zs = read_zones(EXAMPLE)
    kinds = {z.kind for z in zs.zones}
    assert kinds == set(ZoneKind)
    assert len(zs.bases) == 2
    sealed = [z for z in zs.zones if z.kind is ZoneKind.SEALED]
    assert len(sealed) >= 3
    assert all(z.message and "返回家中" in z.message for z in sealed)
    assert zs.zone("魏都区管控区").properties["district"] == "魏都区"  # extra property kept


@pytest.mark.parametrize(
    ("alias", "kind"),
    [("封控区", "sealed"), ("管控区", "controlled"), ("防范区", "precaution"),
     ("禁飞区", "no_fly"), ("No-Fly", "no_fly"), ("SEALED", "sealed")],
)
def test_kind_aliases(alias, kind):
    zs = parse_geojson(fc(poly(SQUARE, kind=alias, name="z"),
                          poly([[x + 0.1, y] for x, y in SQUARE], kind="sealed", name="p")))
    assert zs.zone("z").kind.value == kind


def test_properties_and_numbers_carried():
    zs = parse_geojson(fc(poly(SQUARE, kind="sealed", name="小区", altitude_m=60,
                               revisit_min="15", message="请回家", owner="街道办")))
    z = zs.zone("小区")
    assert (z.altitude_m, z.revisit_min, z.message) == (60.0, 15.0, "请回家")
    assert z.properties["owner"] == "街道办"
    assert z.index == 0


def test_multipolygon_and_holes():
    hole = [[113.803, 34.003], [113.806, 34.003], [113.806, 34.006], [113.803, 34.003]]
    feat = {"type": "Feature", "properties": {"kind": "controlled", "name": "m"},
            "geometry": {"type": "MultiPolygon",
                         "coordinates": [[SQUARE, hole], [[[x + 0.02, y] for x, y in SQUARE]]]}}
    z = parse_geojson(fc(feat)).zone("m")
    assert z.geometry.geom_type == "MultiPolygon"
    assert len(z.geometry.geoms[0].interiors) == 1


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("this is not json", r"zones\.geojson: not valid JSON at line 1"),
        ('{"type": "FeatureCollection", "features": [{"type": "Feat', "truncated"),
        ("[1, 2]", "expected a GeoJSON FeatureCollection"),
    ],
)
def test_not_json(tmp_path, text, match):
    with pytest.raises(ZoneFileError, match=match):
        read_zones(write(tmp_path, text))


def test_no_zones(tmp_path):
    with pytest.raises(ZoneFileError, match="no zones found"):
        read_zones(write(tmp_path, fc()))
    only_no_fly = fc(poly(SQUARE, kind="no_fly", name="医院"))
    with pytest.raises(ZoneFileError, match="no zones to patrol"):
        read_zones(write(tmp_path, only_no_fly))


def test_unknown_kind_names_file_feature_and_choices(tmp_path):
    p = write(tmp_path, fc(poly(SQUARE, kind="sealed", name="a"),
                           poly(SQUARE, kind="red", name="b")))
    with pytest.raises(ZoneFileError) as err:
        read_zones(p)
    msg = str(err.value)
    assert str(p) in msg and "feature 1" in msg and "(b)" in msg
    assert "'red'" in msg and "sealed, controlled, precaution, no_fly" in msg


def test_missing_kind(tmp_path):
    with pytest.raises(ZoneFileError, match="feature 0 .*missing property 'kind'"):
        read_zones(write(tmp_path, fc(poly(SQUARE, name="x"))))


def test_ring_with_fewer_than_three_distinct_points():
    ring = [[113.8, 34.0], [113.81, 34.0], [113.8, 34.0], [113.8, 34.0]]
    with pytest.raises(ZoneFileError, match="2 distinct points; a ring needs at least 3"):
        parse_geojson(fc(poly(ring, kind="sealed", name="thin")))


def test_self_intersecting_ring_is_repaired_with_a_warning():
    bowtie = [[113.80, 34.00], [113.81, 34.01], [113.81, 34.00], [113.80, 34.01], [113.80, 34.00]]
    with pytest.warns(DronePatrolWarning, match=r"\(bowtie\): repaired an invalid polygon.*2 part"):
        zs = parse_geojson(fc(poly(bowtie, kind="no_fly", name="bowtie"),
                              poly([[x + 0.1, y] for x, y in SQUARE], kind="sealed", name="s")))
    z = zs.zone("bowtie")
    assert z.geometry.is_valid
    # nothing lost: both lobes of the bow tie are kept
    assert z.geometry.area == pytest.approx(0.01 * 0.01 / 2, rel=1e-6)


def test_lat_lon_swapped_is_named():
    swapped = [[lat, lon] for lon, lat in SQUARE]
    with pytest.raises(ZoneFileError,
                       match=r"looks like \(lat, lon\) swapped.*\[longitude, latitude\]"):
        parse_geojson(fc(poly(swapped, kind="sealed", name="s")))


@pytest.mark.parametrize(
    ("pos", "match"),
    [([200.0, 34.0], "longitude 200.0 is out of range"),
     ([113.8, -95.0], "looks like|latitude -95.0 is out of range"),
     ([113.8, 95.0], "looks like|latitude"),
     ([-190.0, 120.0], "out of range")],
)
def test_out_of_range(pos, match):
    ring = [pos, [113.81, 34.0], [113.81, 34.01], pos]
    with pytest.raises(ZoneFileError, match=match):
        parse_geojson(fc(poly(ring, kind="sealed", name="s")))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinite(bad):
    ring = [[113.8, 34.0], [bad, 34.0], [113.81, 34.01], [113.8, 34.0]]
    with pytest.raises(ZoneFileError, match="NaN or infinite"):
        parse_geojson(fc(poly(ring, kind="sealed", name="s")))


def test_nan_literal_in_file(tmp_path):
    text = json.dumps(fc(poly(SQUARE, kind="sealed", name="s"))).replace("113.81", "NaN", 1)
    with pytest.raises(ZoneFileError, match="feature 0 \\(s\\).*NaN"):
        read_zones(write(tmp_path, text))


def test_bases_need_role_and_valid_position():
    pt = {"type": "Feature", "properties": {"name": "gate"},
          "geometry": {"type": "Point", "coordinates": [113.79, 34.0]}}
    with pytest.raises(ZoneFileError, match='role": "base"'):
        parse_geojson(fc(poly(SQUARE, kind="sealed", name="s"), pt))
    pt["properties"]["role"] = "base"
    zs = parse_geojson(fc(poly(SQUARE, kind="sealed", name="s"), pt))
    assert (zs.bases[0].name, zs.bases[0].lon_deg, zs.bases[0].lat_deg) == ("gate", 113.79, 34.0)


def test_line_geometry_is_refused_not_dropped():
    line = {"type": "Feature", "properties": {"kind": "sealed", "name": "road"},
            "geometry": {"type": "LineString", "coordinates": SQUARE[:2]}}
    with pytest.raises(ZoneFileError, match="'LineString' is not supported"):
        parse_geojson(fc(poly(SQUARE, kind="sealed", name="s"), line))


def test_duplicate_names_refused():
    with pytest.raises(ZoneFileError, match="unique.*dup"):
        parse_geojson(fc(poly(SQUARE, kind="sealed", name="dup"),
                         poly(SQUARE, kind="controlled", name="dup")))


def test_every_zone_error_is_a_dronepatrol_error():
    assert issubclass(ZoneFileError, DronePatrolError)


def test_missing_file(tmp_path):
    with pytest.raises(ZoneFileError, match="no such file"):
        read_zones(tmp_path / "nope.geojson")


def test_from_shapely():
    zs = ZoneSet.from_shapely(
        [{"name": "A", "kind": "封控区", "geometry": box(113.80, 34.00, 113.81, 34.01),
          "message": "请回家"},
         {"name": "H", "kind": "no_fly", "geometry": box(113.803, 34.003, 113.804, 34.004)}],
        bases=[("gate", 113.79, 34.0)],
    )
    assert zs.zone("A").kind is ZoneKind.SEALED
    assert [z.name for z in zs.no_fly_zones] == ["H"]
    with pytest.raises(ZoneFileError, match="<python>, feature 0 \\(B\\).*Polygon"):
        ZoneSet.from_shapely([{"name": "B", "kind": "sealed", "geometry": "not a geometry"}])


KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>city</name>
<Folder><name>封控区</name>
 <Placemark><name>小区A</name>
  <ExtendedData><Data name="message"><value>请回家</value></Data>
   <Data name="revisit_min"><value>15</value></Data></ExtendedData>
  <Polygon><outerBoundaryIs><LinearRing><coordinates>
   113.80,34.00,0 113.81,34.00,0 113.81,34.01,0 113.80,34.01,0 113.80,34.00,0
  </coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>
</Folder>
<Folder><name>other</name>
 <Placemark><name>医院</name>
  <ExtendedData><Data name="kind"><value>no_fly</value></Data></ExtendedData>
  <Polygon><outerBoundaryIs><LinearRing><coordinates>
   113.803,34.003 113.804,34.003 113.804,34.004 113.803,34.003
  </coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>
</Folder>
<Folder><name>bases</name>
 <Placemark><name>gate</name><Point><coordinates>113.79,34.0</coordinates></Point></Placemark>
</Folder>
</Document></kml>"""


def test_kml_kind_from_folder_or_field(tmp_path):
    p = write(tmp_path, KML, "city.kml")
    zs = read_kml(p)
    a = zs.zone("小区A")
    assert a.kind is ZoneKind.SEALED and a.message == "请回家" and a.revisit_min == 15.0
    assert zs.zone("医院").kind is ZoneKind.NO_FLY
    assert [b.name for b in zs.bases] == ["gate"]
    assert read_zones(p).zone("小区A").geometry.equals(a.geometry)


def test_kml_broken(tmp_path):
    with pytest.raises(ZoneFileError, match="not a readable KML"):
        read_kml(write(tmp_path, "just some text, not XML", "bad.kml"))
    with pytest.raises(ZoneFileError, match="no Polygon placemarks"):
        read_kml(write(tmp_path, "<kml><Document></Document></kml>", "empty.kml"))


def test_select_keeps_no_fly_and_bases():
    zs = read_zones(EXAMPLE)
    small = zs.select(["幸福里小区"])
    assert [z.name for z in small.patrol_zones] == ["幸福里小区"]
    assert len(small.no_fly_zones) == len(zs.no_fly_zones)
    assert small.bases == zs.bases
    with pytest.raises(ZoneFileError, match="no patrol zone called nowhere"):
        zs.select(["nowhere"])


def test_read_zones_refuses_a_directory_and_non_geojson_text(tmp_path):
    with pytest.raises(ZoneFileError, match="is a directory; give the path of a .geojson"):
        read_zones(tmp_path)
    txt = tmp_path / "zones.txt"
    txt.write_text("name,kind\nA,sealed\n", encoding="utf-8")
    with pytest.raises(ZoneFileError, match="not a GeoJSON object.*KML"):
        read_zones(txt)


@pytest.mark.parametrize(
    ("text", "hint"),
    [("x", "fix the JSON syntax there"), ('{"type": "Feature', "truncated"),
     ('{"type": "FeatureCollection", "features": [', "truncated"),
     ('{"type": tru}', "fix the JSON syntax there")],
)
def test_json_errors_say_truncated_only_when_the_text_ends_early(tmp_path, text, hint):
    p = tmp_path / "z.geojson"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ZoneFileError, match=hint):
        read_zones(p)


@pytest.mark.parametrize(
    ("text", "match"),
    [("<kml><Document><Placemark>", r"line 1, column 27 \(no element found\).*truncated"),
     ("<kml><Document></Placemark></kml>", r"mismatched tag.*fix the XML"),
     ("hello", r"line 1, column 1 \(syntax error\).*not KML"),
     ("", "no element found")],
)
def test_kml_that_is_not_xml_names_line_and_column(tmp_path, text, match):
    p = tmp_path / "z.kml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ZoneFileError, match=match):
        read_zones(p)
