"""ArduCopter 4.7 parameters the simulator knows (names, defaults, MAVLink types).

Names follow the 4.7 renames: WP_SPD (m/s), WP_RADIUS_M, RTL_ALT_M, LOIT_SPEED_MS, MAV_SYSID,
MAV_GCS_SYSID, ARMING_SKIPCHK. As in ArduPilot, a PARAM_SET for a name that does not exist (or a
NaN/inf value) is silently ignored: no PARAM_VALUE comes back.
"""

from __future__ import annotations

REAL32 = 9
INT8 = 2
INT16 = 4
INT32 = 6

# name -> (default, mavlink type)
DEFAULTS: dict[str, tuple[float, int]] = {
    "FORMAT_VERSION": (120, INT16),
    "MAV_SYSID": (1, INT16),
    "MAV_GCS_SYSID": (255, INT16),
    "MAV_GCS_SYSID_HI": (255, INT16),
    "MAV_OPTIONS": (0, INT16),
    "MAV1_RAW_SENS": (0, INT8),
    "MAV1_EXT_STAT": (0, INT8),
    "MAV1_RC_CHAN": (0, INT8),
    "MAV1_POSITION": (0, INT8),
    "MAV1_EXTRA1": (0, INT8),
    "MAV1_EXTRA2": (0, INT8),
    "MAV1_EXTRA3": (0, INT8),
    "MAV1_PARAMS": (0, INT8),
    "FRAME_CLASS": (1, INT8),
    "FRAME_TYPE": (1, INT8),
    "ARMING_SKIPCHK": (0, INT32),
    "ARMING_OPTIONS": (0, INT32),
    "DISARM_DELAY": (10, INT8),
    "AUTO_OPTIONS": (0, INT32),
    "ANGLE_MAX": (3000, INT16),
    "WP_SPD": (5.0, REAL32),
    "WP_SPD_UP": (2.5, REAL32),
    "WP_SPD_DN": (1.5, REAL32),
    "WP_ACC": (2.5, REAL32),
    "WP_RADIUS_M": (2.0, REAL32),
    "WP_YAW_BEHAVIOR": (2, INT8),
    "LOIT_SPEED_MS": (12.5, REAL32),
    "RTL_ALT_M": (15.0, REAL32),
    "RTL_ALT_FINAL_M": (0.0, REAL32),
    "RTL_SPEED_MS": (0.0, REAL32),
    "RTL_CLIMB_MIN_M": (0.0, REAL32),
    "RTL_LOIT_TIME": (5000, INT32),
    "RTL_OPTIONS": (0, INT32),
    "LAND_SPD_MS": (0.5, REAL32),
    "LAND_SPD_HIGH_MS": (0.0, REAL32),
    "LAND_ALT_LOW_M": (10.0, REAL32),
    "PILOT_TKO_ALT_M": (0.0, REAL32),
    "FENCE_ENABLE": (0, INT8),
    "FENCE_TYPE": (7, INT8),
    "FENCE_ACTION": (1, INT8),
    "FENCE_ALT_MAX": (100.0, REAL32),
    "FENCE_ALT_MIN": (-10.0, REAL32),
    "FENCE_RADIUS": (300.0, REAL32),
    "FENCE_MARGIN": (2.0, REAL32),
    "FENCE_TOTAL": (0, INT8),
    "FENCE_AUTOENABLE": (0, INT8),
    "FENCE_OPTIONS": (0, INT16),
    "RALLY_TOTAL": (0, INT8),
    "RALLY_LIMIT_KM": (0.3, REAL32),
    "RALLY_INCL_HOME": (1, INT8),
    "MIS_TOTAL": (0, INT16),
    "MIS_RESTART": (0, INT8),
    "MIS_OPTIONS": (0, INT16),
    "BRD_SD_MISSION": (0, INT16),
    "BRD_SD_FENCE": (0, INT16),
    "BATT_MONITOR": (4, INT8),
    "BATT_CAPACITY": (10000, INT32),
    "BATT_LOW_VOLT": (0.0, REAL32),
    "BATT_CRT_VOLT": (0.0, REAL32),
    "BATT_LOW_MAH": (0, INT32),
    "BATT_CRT_MAH": (0, INT32),
    "BATT_FS_LOW_ACT": (0, INT8),
    "BATT_FS_CRT_ACT": (0, INT8),
    "BATT_LOW_TIMER": (10, INT8),
    "BATT_FS_VOLTSRC": (0, INT8),
    "FS_GCS_ENABLE": (0, INT8),
    "FS_GCS_TIMEOUT": (5.0, REAL32),
    "FS_OPTIONS": (0, INT32),
    "FS_THR_ENABLE": (0, INT8),
    "FS_EKF_ACTION": (1, INT8),
    "GPS1_TYPE": (1, INT8),
    "SERIAL0_PROTOCOL": (2, INT8),
    "SERIAL0_BAUD": (115, INT32),
    "LOG_BITMASK": (180222, INT32),
    "SCR_ENABLE": (1, INT8),
    "SIM_SPEEDUP": (1.0, REAL32),
    "SIM_WIND_SPD": (2.0, REAL32),
    "SIM_WIND_DIR": (270.0, REAL32),
    "SIM_WIND_TURB": (1.0, REAL32),
    "SIM_BATT_CAP_AH": (10.0, REAL32),
    "SIM_BATT_HOVER_A": (18.0, REAL32),
    "SIM_ARM_READY_S": (5.0, REAL32),
}

READ_ONLY = frozenset({"FENCE_TOTAL", "RALLY_TOTAL", "MIS_TOTAL", "FORMAT_VERSION"})


class ParamStore:
    """Ordered parameter table with typed values (ints are stored rounded)."""

    def __init__(self, overrides: dict[str, float] | None = None) -> None:
        self.names: list[str] = list(DEFAULTS)
        self.values: dict[str, float] = {k: float(v) for k, (v, _t) in DEFAULTS.items()}
        self.types: dict[str, int] = {k: t for k, (_v, t) in DEFAULTS.items()}
        self.index: dict[str, int] = {k: i for i, k in enumerate(self.names)}
        for k, v in (overrides or {}).items():
            self.set(k, v, force=True)

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def get(self, name: str) -> float:
        return self.values[name]

    def set(self, name: str, value: float, force: bool = False) -> bool:
        """Store a value; False for an unknown name or a read-only parameter."""
        if name not in self.values:
            return False
        if name in READ_ONLY and not force:
            return False
        if self.types[name] != REAL32:
            value = float(int(round(value)))
        self.values[name] = float(value)
        return True
