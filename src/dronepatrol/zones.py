"""Containment zones and bases: read from GeoJSON or KML, or built from shapely, and validated.

A zone file is a GeoJSON (RFC 7946, lon/lat) FeatureCollection:

* Polygon / MultiPolygon features are zones. Properties: ``kind`` (``sealed``, ``controlled``,
  ``precaution``, ``no_fly``, or 封控区, 管控区, 防范区, 禁飞区), ``name``, optional ``altitude_m``,
  ``revisit_min``, ``message``; every other property is kept and carried to the output.
* Point features with ``"role": "base"`` are bases, where drones take off, land and swap
  batteries.

Self-intersecting rings are **repaired** (``shapely.make_valid``, keeping every polygonal
part) with a :class:`~dronepatrol.errors.DronePatrolWarning` that says how the area changed;
a repaired no-fly area never loses area, so repair is the safe choice. Everything else that
is wrong raises :class:`~dronepatrol.errors.ZoneFileError` naming the file, the feature (index
and name) and the fix.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from dronepatrol.errors import DronePatrolWarning, ZoneFileError


class ZoneKind(str, Enum):
    """What a zone is; no-fly areas are never entered."""

    SEALED = "sealed"
    CONTROLLED = "controlled"
    PRECAUTION = "precaution"
    NO_FLY = "no_fly"

    @classmethod
    def parse(cls, value: object, *, where: str = "") -> ZoneKind:
        """The kind for ``value`` (English or Chinese name); ZoneFileError if unknown."""
        if isinstance(value, ZoneKind):
            return value
        key = str(value).strip().lower().replace("-", "_").replace(" ", "_")
        if key in _KIND_ALIASES:
            return _KIND_ALIASES[key]
        prefix = f"{where}: " if where else ""
        raise ZoneFileError(
            f"{prefix}unknown kind {value!r}; use one of sealed, controlled, precaution, "
            "no_fly (or 封控区, 管控区, 防范区, 禁飞区)"
        )


_KIND_ALIASES: dict[str, ZoneKind] = {
    "sealed": ZoneKind.SEALED,
    "lockdown": ZoneKind.SEALED,
    "封控区": ZoneKind.SEALED,
    "controlled": ZoneKind.CONTROLLED,
    "管控区": ZoneKind.CONTROLLED,
    "precaution": ZoneKind.PRECAUTION,
    "防范区": ZoneKind.PRECAUTION,
    "no_fly": ZoneKind.NO_FLY,
    "nofly": ZoneKind.NO_FLY,
    "禁飞区": ZoneKind.NO_FLY,
}

_RESERVED = {"kind", "name", "altitude_m", "revisit_min", "message", "role"}


@dataclass(frozen=True, kw_only=True)
class Zone:
    """One zone in WGS84 (lon, lat) degrees.

    ``properties`` holds every property of the source feature, the known ones included,
    so that output can carry them on. ``index`` is the feature's position in its file.
    """

    name: str
    kind: ZoneKind
    geometry: Polygon | MultiPolygon
    altitude_m: float | None = None
    revisit_min: float | None = None
    message: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    index: int | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        where = self.where
        if not isinstance(self.geometry, (Polygon, MultiPolygon)):
            raise ZoneFileError(f"{where}: a zone needs a Polygon or MultiPolygon geometry")
        if self.geometry.is_empty:
            raise ZoneFileError(f"{where}: the zone's geometry is empty")
        for attr in ("altitude_m", "revisit_min"):
            value = getattr(self, attr)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ZoneFileError(f"{where}: {attr} must be a positive number, got {value!r}")

    @property
    def where(self) -> str:
        """Human-readable place of this zone: file, feature index and name."""
        return _where(self.source, self.index, self.name)

    @property
    def is_no_fly(self) -> bool:
        """True for no-fly areas."""
        return self.kind is ZoneKind.NO_FLY


@dataclass(frozen=True, kw_only=True)
class Base:
    """A base (road checkpoint) where drones take off, land and swap batteries."""

    name: str
    lon_deg: float
    lat_deg: float
    properties: Mapping[str, Any] = field(default_factory=dict)
    index: int | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        _check_position(self.lon_deg, self.lat_deg, _where(self.source, self.index, self.name))


@dataclass(frozen=True)
class ZoneSet:
    """The zones and bases of one operating area."""

    zones: tuple[Zone, ...]
    bases: tuple[Base, ...] = ()
    source: str | None = None

    def __post_init__(self) -> None:
        if not any(not z.is_no_fly for z in self.zones):
            where = self.source or "zone set"
            raise ZoneFileError(
                f"{where}: no zones to patrol (found {len(self.zones)} features of kind "
                "no_fly or none at all); add Polygon features with kind sealed, controlled "
                "or precaution"
            )
        names = [z.name for z in self.zones]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ZoneFileError(
                f"{self.source or 'zone set'}: zone names must be unique; repeated: "
                f"{', '.join(dupes)}"
            )

    @property
    def patrol_zones(self) -> tuple[Zone, ...]:
        """Zones to patrol (every kind but no-fly)."""
        return tuple(z for z in self.zones if not z.is_no_fly)

    @property
    def no_fly_zones(self) -> tuple[Zone, ...]:
        """No-fly areas."""
        return tuple(z for z in self.zones if z.is_no_fly)

    def zone(self, name: str) -> Zone:
        """The zone called ``name``."""
        for z in self.zones:
            if z.name == name:
                return z
        raise KeyError(name)

    def select(self, names: Sequence[str]) -> ZoneSet:
        """Only the patrol zones called ``names`` (every no-fly area and base is kept)."""
        known = {z.name for z in self.patrol_zones}
        missing = [n for n in names if n not in known]
        if missing:
            raise ZoneFileError(
                f"{self.source or 'zone set'}: no patrol zone called {', '.join(missing)}; "
                f"known: {', '.join(sorted(known))}"
            )
        keep = tuple(z for z in self.zones if z.is_no_fly or z.name in names)
        return ZoneSet(keep, self.bases, self.source)

    def with_bases(self, bases: Sequence[Base]) -> ZoneSet:
        """The same zones with these bases instead."""
        return ZoneSet(self.zones, tuple(bases), self.source)

    @classmethod
    def from_shapely(
        cls,
        zones: Iterable[Mapping[str, Any]],
        bases: Iterable[tuple[str, float, float]] = (),
    ) -> ZoneSet:
        """Build from shapely geometries in (lon, lat) degrees, validated like a file.

        Each zone is a mapping with ``geometry`` (Polygon/MultiPolygon), ``kind``, ``name``
        and optional ``altitude_m``, ``revisit_min``, ``message`` and other properties; each
        base is ``(name, lon_deg, lat_deg)``.

        >>> from shapely.geometry import box
        >>> zs = ZoneSet.from_shapely([{"name": "A", "kind": "sealed",
        ...                             "geometry": box(113.80, 34.00, 113.81, 34.01)}],
        ...                           bases=[("gate", 113.79, 34.0)])
        >>> zs.patrol_zones[0].kind.value, len(zs.bases)
        ('sealed', 1)
        """
        built = []
        for i, spec in enumerate(zones):
            props = {k: v for k, v in spec.items() if k != "geometry"}
            geom = spec.get("geometry")
            name = str(props.get("name") or f"zone {i}")
            where = _where("<python>", i, name)
            if not isinstance(geom, BaseGeometry):
                raise ZoneFileError(f"{where}: 'geometry' must be a shapely Polygon")
            gj = shapely.geometry.mapping(geom)
            built.append(_zone_from_feature(gj, props, i, "<python>"))
        base_objs = tuple(
            Base(name=n, lon_deg=float(lon), lat_deg=float(lat), index=i, source="<python>")
            for i, (n, lon, lat) in enumerate(bases)
        )
        return cls(tuple(built), base_objs, "<python>")


# -- reading ----------------------------------------------------------------------------


def read_zones(path: str | Path) -> ZoneSet:
    """Read a zones file: GeoJSON (``.geojson``, ``.json``) or KML (``.kml``)."""
    p = Path(path)
    if not p.exists():
        raise ZoneFileError(f"{p}: no such file; give the path of a .geojson or .kml zones file")
    if p.is_dir():
        raise ZoneFileError(f"{p}: is a directory; give the path of a .geojson or .kml zones "
                            "file inside it")
    if p.suffix.lower() == ".kml":
        return read_kml(p)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ZoneFileError(
            f"{p}: not UTF-8 text ({exc}); save the file as UTF-8 GeoJSON"
        ) from None
    except OSError as exc:
        raise ZoneFileError(f"{p}: cannot be read ({exc.strerror or exc}); check the path and "
                            "its permissions") from None
    if p.suffix.lower() not in (".geojson", ".json") and not text.lstrip().startswith("{"):
        raise ZoneFileError(f"{p}: not a GeoJSON object (zones files are GeoJSON, .geojson or "
                            ".json, or KML, .kml); export the zones in one of those formats")
    return parse_geojson(text, source=str(p))


def parse_geojson(data: str | Mapping[str, Any], *, source: str = "<string>") -> ZoneSet:
    """Parse GeoJSON text or an already-decoded GeoJSON object into a :class:`ZoneSet`."""
    if isinstance(data, str):
        if not data.strip():
            raise ZoneFileError(f"{source}: the file is empty; give a GeoJSON FeatureCollection")
        try:
            obj = json.loads(data)
        except json.JSONDecodeError as exc:
            body = data.rstrip()
            truncated = (
                exc.pos >= len(body)
                or exc.msg.startswith("Unterminated string")
                or body.count("{") + body.count("[") > body.count("}") + body.count("]")
            )
            hint = (
                "the file ends early (truncated?); re-export or re-download it"
                if truncated
                else "fix the JSON syntax there"
            )
            raise ZoneFileError(
                f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: "
                f"{exc.msg}; {hint}"
            ) from None
    else:
        obj = data
    if not isinstance(obj, Mapping):
        raise ZoneFileError(f"{source}: expected a GeoJSON FeatureCollection object")
    if obj.get("type") == "Feature":
        features: Any = [obj]
    elif obj.get("type") == "FeatureCollection":
        features = obj.get("features")
    else:
        raise ZoneFileError(
            f"{source}: expected a GeoJSON FeatureCollection, got type {obj.get('type')!r}"
        )
    if not isinstance(features, list):
        raise ZoneFileError(f"{source}: 'features' must be a list of GeoJSON Features")
    zones: list[Zone] = []
    bases: list[Base] = []
    for i, feat in enumerate(features):
        if not isinstance(feat, Mapping) or feat.get("type") != "Feature":
            raise ZoneFileError(f"{_where(source, i, None)}: not a GeoJSON Feature object")
        props = feat.get("properties") or {}
        if not isinstance(props, Mapping):
            raise ZoneFileError(f"{_where(source, i, None)}: 'properties' must be an object")
        geom = feat.get("geometry")
        name = props.get("name")
        where = _where(source, i, name)
        if not isinstance(geom, Mapping) or "type" not in geom:
            raise ZoneFileError(f"{where}: feature has no geometry; give it a Polygon or Point")
        gtype = geom.get("type")
        if gtype == "Point":
            bases.append(_base_from_feature(geom, props, i, source))
        elif gtype in ("Polygon", "MultiPolygon"):
            zones.append(_zone_from_feature(geom, props, i, source))
        else:
            raise ZoneFileError(
                f"{where}: geometry type {gtype!r} is not supported; zones are Polygon or "
                "MultiPolygon, bases are Point with \"role\": \"base\""
            )
    if not zones:
        raise ZoneFileError(
            f"{source}: no zones found ({len(features)} features); add Polygon features with "
            "a 'kind' property"
        )
    return ZoneSet(tuple(zones), tuple(bases), source)


def read_kml(path: str | Path) -> ZoneSet:
    """Read zones and bases from KML: one placemark per zone or base.

    A zone's kind comes from an ExtendedData field ``kind``, else from the name of the
    nearest enclosing folder (e.g. a folder called ``sealed`` or ``封控区``). A Point
    placemark is a base when its ``role`` field is ``base`` or its folder is called
    ``bases`` / ``base``.
    """
    from fastkml import KML  # imported here: only KML users pay for it

    p = Path(path)
    source = str(p)
    _check_xml(p)
    try:
        doc = KML.parse(p, strict=False)
    except Exception as exc:  # fastkml/lxml raise many types for broken XML
        raise ZoneFileError(f"{source}: not a readable KML file ({exc}); check the XML") from None

    zones: list[Zone] = []
    bases: list[Base] = []
    counter = [0]

    def walk(node: Any, folders: list[str]) -> None:
        for feat in getattr(node, "features", None) or []:
            geom = getattr(feat, "geometry", None)
            if hasattr(feat, "features") and geom is None and not hasattr(feat, "kml_geometry"):
                walk(feat, [*folders, str(getattr(feat, "name", "") or "")])
                continue
            i = counter[0]
            counter[0] += 1
            name = getattr(feat, "name", None)
            if geom is None:
                walk(feat, folders)
                continue
            props: dict[str, Any] = {}
            if name:
                props["name"] = name
            ed = getattr(feat, "extended_data", None)
            for d in getattr(ed, "elements", None) or []:
                if getattr(d, "name", None):
                    props[d.name] = getattr(d, "value", None)
            gj = dict(geom.__geo_interface__)
            gj.pop("bbox", None)
            gj = _strip_z(gj)
            folder_kind = None
            for folder in reversed(folders):
                try:
                    folder_kind = ZoneKind.parse(folder)
                    break
                except ZoneFileError:
                    continue
            if gj["type"] == "Point":
                in_base_folder = any(f.strip().lower() in ("base", "bases") for f in folders)
                if in_base_folder:
                    props.setdefault("role", "base")
                bases.append(_base_from_feature(gj, props, i, source))
            elif gj["type"] in ("Polygon", "MultiPolygon"):
                if "kind" not in props and folder_kind is not None:
                    props["kind"] = folder_kind.value
                zones.append(_zone_from_feature(gj, props, i, source))
            else:
                raise ZoneFileError(
                    f"{_where(source, i, name)}: KML geometry {gj['type']} is not supported; "
                    "use a Polygon placemark for a zone or a Point for a base"
                )

    walk(doc, [])
    if not zones:
        raise ZoneFileError(f"{source}: no Polygon placemarks found; each zone is a placemark")
    return ZoneSet(tuple(zones), tuple(bases), source)


# -- validation helpers -----------------------------------------------------------------


def _check_xml(path: Path) -> None:
    """:class:`ZoneFileError` with the line and column unless ``path`` is well-formed XML."""
    from xml.etree import ElementTree

    try:
        ElementTree.parse(path)
    except ElementTree.ParseError as exc:
        line, col = exc.position
        reason = str(exc).split(":")[0]
        if reason in ("no element found", "unclosed token"):
            hint = "the file ends early (truncated?); re-export it from your map tool"
        elif line == 1 and col == 0:
            hint = "this is not KML; export the zones as KML or GeoJSON"
        else:
            hint = "fix the XML there or re-export the file"
        raise ZoneFileError(f"{path}: not a readable KML file: not well-formed XML at line "
                            f"{line}, column {col + 1} ({reason}); {hint}") from None
    except OSError as exc:
        raise ZoneFileError(f"{path}: cannot be read ({exc.strerror or exc}); check the path "
                            "and its permissions") from None


def _where(source: str | None, index: int | None, name: object) -> str:
    parts = [source or "<zones>"]
    if index is not None:
        parts.append(f"feature {index}")
    if name:
        parts.append(f"({name!s})")
    return ", ".join(parts[:2]) + (f" {parts[2]}" if len(parts) > 2 else "")


def _strip_z(gj: dict[str, Any]) -> dict[str, Any]:
    def strip(c: Any) -> Any:
        if c and isinstance(c[0], (int, float)):
            return tuple(c[:2])
        return [strip(x) for x in c]

    return {"type": gj["type"], "coordinates": strip(gj["coordinates"])}


def _check_number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ZoneFileError(f"{where}: coordinate {v!r} is not a number")
    f = float(v)
    if not math.isfinite(f):
        raise ZoneFileError(
            f"{where}: coordinate is {v!r} (NaN or infinite); every coordinate must be a "
            "finite number"
        )
    return f


def _check_position(lon: float, lat: float, where: str) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ZoneFileError(f"{where}: position ({lon}, {lat}) has a NaN or infinite value")
    if abs(lat) > 90.0 and abs(lon) <= 90.0 and abs(lat) <= 180.0:
        raise ZoneFileError(
            f"{where}: position ({lon}, {lat}) looks like (lat, lon) swapped; GeoJSON order "
            f"is [longitude, latitude], so write it as [{lat}, {lon}]"
        )
    if not -180.0 <= lon <= 180.0:
        raise ZoneFileError(f"{where}: longitude {lon} is out of range [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise ZoneFileError(f"{where}: latitude {lat} is out of range [-90, 90]")


def _check_ring(ring: Any, where: str, what: str) -> list[tuple[float, float]]:
    if not isinstance(ring, (list, tuple)):
        raise ZoneFileError(f"{where}: {what} must be a list of [lon, lat] positions")
    pts: list[tuple[float, float]] = []
    for pos in ring:
        if not isinstance(pos, (list, tuple)) or len(pos) < 2:
            raise ZoneFileError(f"{where}: {what} has a position {pos!r}; use [lon, lat]")
        lon = _check_number(pos[0], where)
        lat = _check_number(pos[1], where)
        _check_position(lon, lat, where)
        pts.append((lon, lat))
    distinct = {p for p in pts}
    if len(distinct) < 3:
        raise ZoneFileError(
            f"{where}: {what} has {len(distinct)} distinct points; a ring needs at least 3 "
            "distinct points (and is closed by repeating the first)"
        )
    return pts


def _check_polygon_coords(geom: Mapping[str, Any], where: str) -> None:
    coords = geom.get("coordinates")
    polys = [coords] if geom.get("type") == "Polygon" else coords
    if not isinstance(polys, (list, tuple)) or not polys:
        raise ZoneFileError(f"{where}: {geom.get('type')} has no coordinates")
    for pi, poly in enumerate(polys):
        if not isinstance(poly, (list, tuple)) or not poly:
            raise ZoneFileError(f"{where}: polygon {pi} has no rings")
        for ri, ring in enumerate(poly):
            what = "outer ring" if ri == 0 else f"hole {ri}"
            if len(polys) > 1:
                what = f"part {pi} {what}"
            _check_ring(ring, where, what)


def _to_valid_polygonal(geom: BaseGeometry, where: str) -> Polygon | MultiPolygon:
    if geom.is_valid:
        return geom  # type: ignore[return-value]
    reason = shapely.is_valid_reason(geom)
    fixed = shapely.make_valid(geom)
    parts = [g for g in shapely.get_parts(fixed) if isinstance(g, (Polygon, MultiPolygon))]
    if not parts:
        raise ZoneFileError(f"{where}: invalid polygon ({reason}) cannot be repaired; redraw it")
    repaired = shapely.union_all(parts)
    if isinstance(repaired, Polygon) and repaired.is_empty:
        raise ZoneFileError(f"{where}: invalid polygon ({reason}) has no area; redraw it")
    n = len(shapely.get_parts(repaired))
    warnings.warn(
        f"{where}: repaired an invalid polygon ({reason}): now {n} part(s); the area as drawn "
        f"was {abs(geom.area):.3g} deg2 by the shoelace formula, repaired {repaired.area:.3g} "
        "deg2. Check the zone on the map and redraw it if this is not what you meant.",
        DronePatrolWarning,
        stacklevel=4,
    )
    return repaired  # type: ignore[return-value]


def _zone_from_feature(
    geom: Mapping[str, Any], props: Mapping[str, Any], index: int, source: str
) -> Zone:
    name_raw = props.get("name")
    where = _where(source, index, name_raw)
    if props.get("role") == "base":
        raise ZoneFileError(f"{where}: a base must be a Point, not a {geom.get('type')}")
    if "kind" not in props:
        raise ZoneFileError(
            f"{where}: missing property 'kind'; set it to sealed, controlled, precaution or "
            "no_fly"
        )
    kind = ZoneKind.parse(props["kind"], where=where)
    _check_polygon_coords(geom, where)
    try:
        shp = shape(geom)
    except Exception as exc:  # shapely raises several types for malformed input
        raise ZoneFileError(f"{where}: geometry cannot be read ({exc})") from None
    shp = _to_valid_polygonal(shp, where)
    name = str(name_raw) if name_raw not in (None, "") else f"{kind.value} {index}"

    def number(key: str) -> float | None:
        v = props.get(key)
        if v is None or v == "":
            return None
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ZoneFileError(f"{where}: {key} must be a number, got {v!r}") from None
        if not (math.isfinite(f) and f > 0):
            raise ZoneFileError(f"{where}: {key} must be a positive number, got {v!r}")
        return f

    message = props.get("message")
    if message is not None and not isinstance(message, str):
        raise ZoneFileError(f"{where}: message must be text, got {message!r}")
    return Zone(
        name=name,
        kind=kind,
        geometry=shp,
        altitude_m=number("altitude_m"),
        revisit_min=number("revisit_min"),
        message=message,
        properties=dict(props),
        index=index,
        source=source,
    )


def _base_from_feature(
    geom: Mapping[str, Any], props: Mapping[str, Any], index: int, source: str
) -> Base:
    name = props.get("name")
    where = _where(source, index, name)
    if props.get("role") != "base":
        raise ZoneFileError(
            f"{where}: a Point feature must have \"role\": \"base\" (it marks a base); "
            "zones are Polygons"
        )
    c = geom.get("coordinates")
    if not isinstance(c, (list, tuple)) or len(c) < 2:
        raise ZoneFileError(f"{where}: Point needs coordinates [lon, lat]")
    lon = _check_number(c[0], where)
    lat = _check_number(c[1], where)
    _check_position(lon, lat, where)
    return Base(
        name=str(name) if name else f"base {index}",
        lon_deg=lon,
        lat_deg=lat,
        properties={k: v for k, v in props.items() if k not in _RESERVED or k == "name"},
        index=index,
        source=source,
    )
