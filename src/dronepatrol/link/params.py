"""ArduCopter parameter renames between firmware versions, in one place.

ArduCopter 4.7 renamed several parameters and changed some units (WPNAV_SPEED in cm/s became
WP_SPD in m/s, ...). :func:`aliases` lists every name a quantity goes by, each with the factor
from that name's unit to SI; :func:`convert` turns a value read under one name into the unit of
another, so ``vehicle.get_param("WP_SPD")`` answers in m/s on every firmware.

ARMING_CHECK (bitmask of enabled checks, 1 = all) and ARMING_SKIPCHK (bitmask of skipped checks,
0 = none) are inverses only for "all checks on"; other values are refused with a clear message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dronepatrol.errors import LinkError


@dataclass(frozen=True, kw_only=True)
class ParamName:
    """One name of a parameter and the factor from its unit to the SI unit of the quantity."""

    name: str
    to_si: float = 1.0


# Newest name first.
_GROUPS: tuple[tuple[ParamName, ...], ...] = (
    (ParamName(name="WP_SPD"), ParamName(name="WPNAV_SPEED", to_si=0.01)),
    (ParamName(name="WP_SPD_UP"), ParamName(name="WPNAV_SPEED_UP", to_si=0.01)),
    (ParamName(name="WP_SPD_DN"), ParamName(name="WPNAV_SPEED_DN", to_si=0.01)),
    (ParamName(name="WP_RADIUS_M"), ParamName(name="WPNAV_RADIUS", to_si=0.01)),
    (ParamName(name="RTL_ALT_M"), ParamName(name="RTL_ALT", to_si=0.01)),
    (ParamName(name="LOIT_SPEED_MS"), ParamName(name="LOIT_SPEED", to_si=0.01)),
    (ParamName(name="MAV_GCS_SYSID"), ParamName(name="MAV_MYGCS_SYSID"),
     ParamName(name="SYSID_MYGCS")),
    (ParamName(name="MAV_SYSID"), ParamName(name="SYSID_THISMAV")),
    (ParamName(name="ARMING_SKIPCHK"), ParamName(name="ARMING_CHECK")),
)
_BY_NAME = {p.name: group for group in _GROUPS for p in group}
_SR_RE = re.compile(r"^SR(\d)_(\w+)$")
_MAV_RE = re.compile(r"^MAV(\d)_(\w+)$")


def aliases(name: str) -> tuple[str, ...]:
    """Every name the parameter ``name`` goes by, ``name`` itself first.

    >>> aliases("WPNAV_SPEED")
    ('WPNAV_SPEED', 'WP_SPD')
    >>> aliases("SR0_POSITION")
    ('SR0_POSITION', 'MAV1_POSITION')
    >>> aliases("FENCE_ENABLE")
    ('FENCE_ENABLE',)
    """
    name = name.upper()
    group = _BY_NAME.get(name)
    if group is not None:
        return (name,) + tuple(p.name for p in group if p.name != name)
    m = _SR_RE.match(name)
    if m:
        return (name, f"MAV{int(m.group(1)) + 1}_{m.group(2)}")
    m = _MAV_RE.match(name)
    if m and int(m.group(1)) >= 1:
        return (name, f"SR{int(m.group(1)) - 1}_{m.group(2)}")
    return (name,)


def _factor(name: str) -> float:
    group = _BY_NAME.get(name.upper())
    if group is None:
        return 1.0
    return next(p.to_si for p in group if p.name == name.upper())


def convert(value: float, *, from_name: str, to_name: str) -> float:
    """Convert a value read as ``from_name`` into the unit of ``to_name``.

    >>> convert(500.0, from_name="WPNAV_SPEED", to_name="WP_SPD")
    5.0
    >>> convert(0.0, from_name="ARMING_SKIPCHK", to_name="ARMING_CHECK")
    1.0
    """
    a, b = from_name.upper(), to_name.upper()
    if a == b:
        return value
    if {a, b} == {"ARMING_CHECK", "ARMING_SKIPCHK"}:
        if a == "ARMING_CHECK" and value == 1.0:
            return 0.0
        if a == "ARMING_SKIPCHK" and value == 0.0:
            return 1.0
        raise LinkError(
            f"{a}={value:g} has no exact equivalent as {b} (ARMING_CHECK lists enabled checks, "
            f"ARMING_SKIPCHK skipped ones); read or set {b} directly"
        )
    return value * _factor(a) / _factor(b)
