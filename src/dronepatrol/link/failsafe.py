"""Recommended ArduCopter failsafe parameters for unattended patrols.

The ground station cannot bring a vehicle home over a lost link; ArduCopter's own failsafes
must. :func:`recommended_failsafe_params` returns the values below (names as on ArduCopter
4.6 and 4.7, none of these were renamed); ``Vehicle.apply_failsafe_params()`` sets them with
confirmation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class FailsafeParam:
    """One recommended parameter value and why."""

    name: str
    value: float
    reason: str


_RECOMMENDED = (
    FailsafeParam(name="FS_GCS_ENABLE", value=1,
                  reason="RTL when the ground station's heartbeat is lost (1 = RTL)"),
    FailsafeParam(name="FS_GCS_TIMEOUT", value=5,
                  reason="seconds without a GCS heartbeat before the GCS failsafe (default 5)"),
    FailsafeParam(name="FS_OPTIONS", value=0,
                  reason="no 'continue mission on GCS failsafe' bits: always come home"),
    FailsafeParam(name="BATT_FS_LOW_ACT", value=2,
                  reason="RTL when the battery reaches BATT_LOW_VOLT / BATT_LOW_MAH (2 = RTL)"),
    FailsafeParam(name="BATT_FS_CRT_ACT", value=1,
                  reason="land where it is at the critical battery level (1 = Land)"),
    FailsafeParam(name="FS_THR_ENABLE", value=1,
                  reason="RTL on RC loss when an RC receiver is fitted (1 = RTL)"),
    FailsafeParam(name="FS_EKF_ACTION", value=1,
                  reason="land when the position estimate fails (1 = Land)"),
    FailsafeParam(name="FENCE_ENABLE", value=1,
                  reason="enforce the uploaded geofence"),
    FailsafeParam(name="FENCE_TYPE", value=5,
                  reason="max altitude (1) + polygons (4); not the circle around home (2), "
                         "whose FENCE_RADIUS (300 m by default) would end a patrol that goes "
                         "farther from home: the uploaded inclusion polygon bounds the area"),
    FailsafeParam(name="FENCE_ACTION", value=1,
                  reason="on a fence breach RTL, or land if RTL is impossible (1)"),
)


def recommended_failsafe_params() -> tuple[FailsafeParam, ...]:
    """The recommended failsafe parameters, each with its reason.

    >>> {p.name: p.value for p in recommended_failsafe_params()}["FS_GCS_ENABLE"]
    1
    """
    return _RECOMMENDED
