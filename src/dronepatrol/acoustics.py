"""How far a drone loudspeaker is understood on the ground.

A pure model (numpy only, no I/O). The speaker is a point source at ``altitude_m`` above
flat ground; the listener's ear is ``ear_height_m`` (1.5 m, the NFPA 72 measuring height)
above the ground at horizontal distance ``ground_distance_m``. Along the slant range ``r``
the level drops by

* spherical spreading ``20*log10(r / 1 m)`` (no extrapolation closer than 1 m),
* air absorption ``alpha * r`` with ``alpha`` from ISO 9613-1 (pure tone, see
  :meth:`Atmosphere.absorption_db_per_m`),
* the horn's off-axis loss (:meth:`Speaker.directivity_db`), and it gains
* an optional ground reflection ``ground_gain_db`` (0 by default, +3 dB for hard ground;
  up to +6 dB is accepted).

No barrier (building) attenuation and no rotor masking are modelled: the speaker and rotors
are co-located, and a 110-127 dB speaker beats ~75 dBA of rotor noise by 35-50 dB, so the
*ambient* noise sets the range.

A point is *intelligible* when ``received - ambient >= required_snr_db``. The default
required speech-to-noise ratio is +10 dB (the reference notes' minimum; NFPA 72 public mode
asks for +15 dB, available as :data:`TARGET_SNR_DB`).

Levels are in dB (re 20 uPa); distances in metres. At 20 degC / 70 % RH and 1 kHz the model
reproduces the reference notes' intelligible-radius table within 1 % (e.g. 438 m against
441 m for 120 dB, 55 dBA, +10 dB).

>>> speaker = Speaker(level_at_1m_db=120.0)
>>> round(intelligible_range_m(speaker, Atmosphere(), ambient_db=55.0, required_snr_db=10.0))
438
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import overload

import numpy as np
import numpy.typing as npt

from dronepatrol.errors import AcousticsError

__all__ = [
    "DEFAULT_AMBIENT_DB",
    "DEFAULT_REQUIRED_SNR_DB",
    "TARGET_SNR_DB",
    "LISTENER_EAR_HEIGHT_M",
    "SPEECH_BANDS_HZ",
    "Speaker",
    "Atmosphere",
    "BroadcastGeometry",
    "BroadcastPlan",
    "ambient_db_for_zone",
    "received_level_db",
    "margin_db",
    "intelligible_range_m",
    "intelligible_radius_m",
    "max_intelligible_altitude_m",
    "broadcast_geometry",
    "plan_broadcast",
]

FloatArray = npt.NDArray[np.float64]
ArrayLike = float | Sequence[float] | npt.NDArray[np.floating]

#: Design ambient noise, dB(A), per zone kind (``no_fly`` zones are never broadcast over).
#:
#: * ``sealed``: residential area under lockdown, no traffic. EngineeringToolbox
#:   "Outdoor ambient sound pressure levels": urban without traffic about 50 dB.
#: * ``controlled``: movement restricted but businesses open. NFPA 72 Annex average
#:   ambient for business occupancies 55 dBA; EPA 55 dBA Ldn outdoor guideline.
#: * ``precaution``: normal life with traffic. EngineeringToolbox business 55-60 dB;
#:   60 dBA is the middle of the reference's 50-70 dBA design range.
DEFAULT_AMBIENT_DB: Mapping[str, float] = MappingProxyType(
    {"sealed": 50.0, "controlled": 55.0, "precaution": 60.0}
)

#: Minimum speech-to-noise ratio for intelligibility (reference notes: +10 dB minimum).
DEFAULT_REQUIRED_SNR_DB = 10.0
#: Target speech-to-noise ratio (NFPA 72 public mode: 15 dB above the average ambient,
#: about 80 % sentence articulation).
TARGET_SNR_DB = 15.0
#: Height of the listener's ear above ground (NFPA 72 measuring height).
LISTENER_EAR_HEIGHT_M = 1.5
#: Octave bands carrying most speech intelligibility, for a worst-case speaker model.
SPEECH_BANDS_HZ: tuple[float, ...] = (500.0, 1000.0, 2000.0)

_DIRECTIVITY_FLOOR_DB = -40.0  # a real horn leaks at least this much sideways
_MAX_GROUND_GAIN_DB = 6.0
_RADIUS_SCAN_POINTS = 257
_BISECT_ITERATIONS = 80


def _finite(value: object, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise AcousticsError(f"{where}: {name}={value!r} is not a number; give a finite number")
    out = float(value)
    if not math.isfinite(out):
        raise AcousticsError(f"{where}: {name}={value!r} is not finite; give a finite number")
    return out


def _in_range(value: object, name: str, where: str, lo: float, hi: float, unit: str) -> float:
    out = _finite(value, name, where)
    if not lo <= out <= hi:
        raise AcousticsError(
            f"{where}: {name}={out:g} is outside [{lo:g}, {hi:g}] {unit}; give a value in range"
        )
    return out


def ambient_db_for_zone(kind: str) -> float:
    """Design ambient noise in dB(A) for a zone kind (see :data:`DEFAULT_AMBIENT_DB`).

    >>> ambient_db_for_zone("sealed")
    50.0
    """
    try:
        return DEFAULT_AMBIENT_DB[kind]
    except KeyError:
        hint = " (no_fly zones are never broadcast over)" if kind == "no_fly" else ""
        raise AcousticsError(
            f"no default ambient noise for zone kind {kind!r}{hint}; "
            f"use one of {sorted(DEFAULT_AMBIENT_DB)} or pass ambient_db explicitly"
        ) from None


@dataclass(frozen=True, kw_only=True)
class Speaker:
    """A loudspeaker payload.

    ``level_at_1m_db`` is the on-axis level at 1 m at full volume, taken as the level in
    every band of ``band_hz``. ``band_hz`` is one frequency or several (e.g.
    :data:`SPEECH_BANDS_HZ`); with several, the model is worst-case: the received level is
    the lowest over the bands (the one absorbed most), so the margin holds in every band.
    An articulation-weighted average would need the source's band spectrum, which vendors
    do not publish.

    ``beam_width_deg`` is ``None`` for an omnidirectional source, else the full -6 dB width
    of a horn pointing straight down. Its off-axis loss is Gaussian in angle:
    ``-6 dB * (angle_from_nadir / (beam_width_deg / 2))**2``, floored at -40 dB.

    ``volume_pct`` (0-100], like the DJI ``SetVolume``, is assumed to scale amplitude:
    ``20*log10(volume_pct / 100)`` dB.
    """

    level_at_1m_db: float = 120.0
    band_hz: float | tuple[float, ...] = 1000.0
    beam_width_deg: float | None = None
    volume_pct: float = 100.0

    def __post_init__(self) -> None:
        where = "Speaker"
        _in_range(self.level_at_1m_db, "level_at_1m_db", where, 0.0, 200.0, "dB")
        bands = self.band_hz if isinstance(self.band_hz, tuple) else (self.band_hz,)
        if not bands:
            raise AcousticsError(f"{where}: band_hz=() is empty; give at least one frequency")
        clean = tuple(_in_range(b, "band_hz", where, 20.0, 20000.0, "Hz") for b in bands)
        object.__setattr__(self, "band_hz", clean[0] if len(clean) == 1 else clean)
        if self.beam_width_deg is not None:
            beam = _finite(self.beam_width_deg, "beam_width_deg", where)
            if not 0.0 < beam <= 360.0:
                raise AcousticsError(
                    f"{where}: beam_width_deg={beam:g} must be in (0, 360] degrees, "
                    "or None for an omnidirectional speaker"
                )
        vol = _finite(self.volume_pct, "volume_pct", where)
        if not 0.0 < vol <= 100.0:
            raise AcousticsError(
                f"{where}: volume_pct={vol:g} must be in (0, 100]; 0 would be silent"
            )

    @property
    def bands_hz(self) -> tuple[float, ...]:
        """The bands as a tuple, even when one frequency was given."""
        return self.band_hz if isinstance(self.band_hz, tuple) else (float(self.band_hz),)

    @property
    def source_level_db(self) -> float:
        """On-axis level at 1 m after the volume setting."""
        return float(self.level_at_1m_db) + 20.0 * math.log10(float(self.volume_pct) / 100.0)

    @overload
    def directivity_db(self, angle_from_nadir_deg: float) -> float: ...
    @overload
    def directivity_db(self, angle_from_nadir_deg: npt.NDArray[np.floating]) -> FloatArray: ...

    def directivity_db(
        self, angle_from_nadir_deg: float | npt.NDArray[np.floating]
    ) -> float | FloatArray:
        """Off-axis gain (<= 0 dB) at an angle from straight down.

        >>> Speaker(beam_width_deg=60.0).directivity_db(30.0)
        -6.0
        """
        angle = np.abs(np.asarray(angle_from_nadir_deg, dtype=float))
        if self.beam_width_deg is None:
            gain = np.zeros_like(angle)
        else:
            half = float(self.beam_width_deg) / 2.0
            gain = np.maximum(-6.0 * (angle / half) ** 2, _DIRECTIVITY_FLOOR_DB)
        return float(gain) if gain.ndim == 0 else gain


@dataclass(frozen=True, kw_only=True)
class Atmosphere:
    """Still, uniform air: temperature, relative humidity and pressure."""

    temperature_c: float = 20.0
    humidity_pct: float = 70.0
    pressure_kpa: float = 101.325

    def __post_init__(self) -> None:
        where = "Atmosphere"
        _in_range(self.temperature_c, "temperature_c", where, -50.0, 60.0, "degC")
        hum = _finite(self.humidity_pct, "humidity_pct", where)
        if not 0.0 < hum <= 100.0:
            raise AcousticsError(f"{where}: humidity_pct={hum:g} must be in (0, 100] %")
        _in_range(self.pressure_kpa, "pressure_kpa", where, 30.0, 120.0, "kPa")

    @overload
    def absorption_db_per_m(self, freq_hz: float) -> float: ...
    @overload
    def absorption_db_per_m(self, freq_hz: npt.NDArray[np.floating]) -> FloatArray: ...

    def absorption_db_per_m(self, freq_hz: float | npt.NDArray[np.floating]) -> float | FloatArray:
        """Pure-tone attenuation coefficient, dB/m, by the ISO 9613-1:1993 formula.

        Uses the standard's saturation vapour pressure, the oxygen and nitrogen
        relaxation frequencies and the classical + rotational term. The standard's tables
        are computed at exact midband frequencies ``1000 * 10**(k/10)`` Hz.

        >>> round(Atmosphere(temperature_c=20, humidity_pct=70).absorption_db_per_m(1000) * 1000, 2)
        4.98
        """
        f = np.asarray(freq_hz, dtype=float)
        if np.any(~np.isfinite(f)) or np.any(f <= 0.0):
            raise AcousticsError(
                f"Atmosphere.absorption_db_per_m: freq_hz={freq_hz!r} must be positive and finite"
            )
        p_ref = 101.325  # kPa
        t_ref = 293.15  # K
        t_triple = 273.16  # K
        t = float(self.temperature_c) + 273.15
        p_rel = float(self.pressure_kpa) / p_ref
        c = -6.8346 * (t_triple / t) ** 1.261 + 4.6151
        h = float(self.humidity_pct) * 10.0**c / p_rel  # molar concentration of water vapour, %
        fr_o = p_rel * (24.0 + 4.04e4 * h * (0.02 + h) / (0.391 + h))
        fr_n = (
            p_rel
            * (t / t_ref) ** -0.5
            * (9.0 + 280.0 * h * math.exp(-4.170 * ((t / t_ref) ** (-1.0 / 3.0) - 1.0)))
        )
        f2 = f * f
        alpha = (
            8.686
            * f2
            * (
                1.84e-11 / p_rel * (t / t_ref) ** 0.5
                + (t / t_ref) ** -2.5
                * (
                    0.01275 * math.exp(-2239.1 / t) / (fr_o + f2 / fr_o)
                    + 0.1068 * math.exp(-3352.0 / t) / (fr_n + f2 / fr_n)
                )
            )
        )
        return float(alpha) if alpha.ndim == 0 else alpha

    def worst_absorption_db_per_m(self, bands_hz: Sequence[float]) -> float:
        """Largest absorption coefficient over the bands."""
        return float(np.max(self.absorption_db_per_m(np.asarray(bands_hz, dtype=float))))


def _check_geometry(altitude_m: float, ear_height_m: float, ground_gain_db: float) -> None:
    where = "acoustics"
    _in_range(ear_height_m, "ear_height_m", where, 0.0, 100.0, "m")
    alt = _finite(altitude_m, "altitude_m", where)
    if alt <= ear_height_m:
        raise AcousticsError(
            f"{where}: altitude_m={alt:g} must be above the listener's ear "
            f"(ear_height_m={ear_height_m:g}); fly higher"
        )
    _in_range(ground_gain_db, "ground_gain_db", where, 0.0, _MAX_GROUND_GAIN_DB, "dB")


def _level(
    speaker: Speaker,
    alpha_db_per_m: float,
    altitude_m: float,
    d: FloatArray,
    ground_gain_db: float,
    ear_height_m: float,
) -> FloatArray:
    dz = altitude_m - ear_height_m
    r = np.hypot(d, dz)
    angle = np.degrees(np.arctan2(d, dz))
    spreading = 20.0 * np.log10(np.maximum(r, 1.0))
    return (
        speaker.source_level_db
        + speaker.directivity_db(angle)
        + ground_gain_db
        - spreading
        - alpha_db_per_m * r
    )


@overload
def received_level_db(
    speaker: Speaker,
    atmosphere: Atmosphere,
    altitude_m: float,
    ground_distance_m: float,
    *,
    ground_gain_db: float = ...,
    ear_height_m: float = ...,
) -> float: ...
@overload
def received_level_db(
    speaker: Speaker,
    atmosphere: Atmosphere,
    altitude_m: float,
    ground_distance_m: Sequence[float] | npt.NDArray[np.floating],
    *,
    ground_gain_db: float = ...,
    ear_height_m: float = ...,
) -> FloatArray: ...


def received_level_db(
    speaker: Speaker,
    atmosphere: Atmosphere,
    altitude_m: float,
    ground_distance_m: ArrayLike,
    *,
    ground_gain_db: float = 0.0,
    ear_height_m: float = LISTENER_EAR_HEIGHT_M,
) -> float | FloatArray:
    """Speech level (dB) at a listener ``ground_distance_m`` from the point below the drone.

    Scalar in, scalar out; array in, array out. With several bands, the lowest band level.

    >>> received_level_db(Speaker(), Atmosphere(), 11.5, [0.0, 100.0]).round(1)
    array([100. ,  79.5])
    """
    _check_geometry(altitude_m, ear_height_m, ground_gain_db)
    d = np.asarray(ground_distance_m, dtype=float)
    if np.any(~np.isfinite(d)) or np.any(d < 0.0):
        raise AcousticsError(
            f"received_level_db: ground_distance_m={ground_distance_m!r} must be finite and >= 0"
        )
    alpha = atmosphere.worst_absorption_db_per_m(speaker.bands_hz)
    level = _level(speaker, alpha, float(altitude_m), d, float(ground_gain_db), ear_height_m)
    return float(level) if level.ndim == 0 else level


@overload
def margin_db(
    speaker: Speaker,
    atmosphere: Atmosphere,
    altitude_m: float,
    ground_distance_m: float,
    ambient_db: float,
    required_snr_db: float = ...,
    *,
    ground_gain_db: float = ...,
    ear_height_m: float = ...,
) -> float: ...
@overload
def margin_db(
    speaker: Speaker,
    atmosphere: Atmosphere,
    altitude_m: float,
    ground_distance_m: Sequence[float] | npt.NDArray[np.floating],
    ambient_db: float,
    required_snr_db: float = ...,
    *,
    ground_gain_db: float = ...,
    ear_height_m: float = ...,
) -> FloatArray: ...


def margin_db(
    speaker: Speaker,
    atmosphere: Atmosphere,
    altitude_m: float,
    ground_distance_m: ArrayLike,
    ambient_db: float,
    required_snr_db: float = DEFAULT_REQUIRED_SNR_DB,
    *,
    ground_gain_db: float = 0.0,
    ear_height_m: float = LISTENER_EAR_HEIGHT_M,
) -> float | FloatArray:
    """``received - ambient - required_snr``: >= 0 where the message is intelligible."""
    _check_noise(ambient_db, required_snr_db)
    level = received_level_db(
        speaker,
        atmosphere,
        altitude_m,
        ground_distance_m,
        ground_gain_db=ground_gain_db,
        ear_height_m=ear_height_m,
    )
    return level - float(ambient_db) - float(required_snr_db)


def _check_noise(ambient_db: float, required_snr_db: float) -> None:
    _in_range(ambient_db, "ambient_db", "acoustics", 0.0, 140.0, "dB(A)")
    _in_range(required_snr_db, "required_snr_db", "acoustics", -30.0, 60.0, "dB")


def intelligible_range_m(
    speaker: Speaker,
    atmosphere: Atmosphere,
    ambient_db: float,
    required_snr_db: float = DEFAULT_REQUIRED_SNR_DB,
    *,
    ground_gain_db: float = 0.0,
) -> float:
    """On-axis slant range (m) at which the margin falls to 0; 0.0 if short of 1 m.

    Free field: spreading plus absorption (worst band), no directivity. This is the
    quantity tabulated in the reference notes (120 dB, 55 dBA, +10 dB: about 441 m).
    """
    _check_noise(ambient_db, required_snr_db)
    _in_range(ground_gain_db, "ground_gain_db", "acoustics", 0.0, _MAX_GROUND_GAIN_DB, "dB")
    budget = speaker.source_level_db + float(ground_gain_db) - ambient_db - required_snr_db
    alpha = atmosphere.worst_absorption_db_per_m(speaker.bands_hz)

    def excess(r: float) -> float:
        return budget - 20.0 * math.log10(r) - alpha * r

    if excess(1.0) < 0.0:
        return 0.0

    lo, hi = 1.0, 10.0 ** (budget / 20.0)  # excess(lo) >= 0 >= excess(hi)
    for _ in range(_BISECT_ITERATIONS):
        mid = 0.5 * (lo + hi)
        if excess(mid) >= 0.0:
            lo = mid
        else:
            hi = mid
    return lo


def intelligible_radius_m(
    speaker: Speaker,
    atmosphere: Atmosphere,
    altitude_m: float,
    ambient_db: float,
    required_snr_db: float = DEFAULT_REQUIRED_SNR_DB,
    *,
    ground_gain_db: float = 0.0,
    ear_height_m: float = LISTENER_EAR_HEIGHT_M,
) -> float:
    """Radius (m) of the ground disc around the nadir where every point is intelligible.

    Returns 0.0 if the point directly below is not intelligible. The margin is scanned
    outwards from the nadir; the radius is the first point where it drops below 0, refined by
    bisection. (With a nadir-pointing horn the margin only falls with distance, so this is
    also the edge of the whole intelligible region; the scan does not rely on it.)
    For an omnidirectional speaker this is ``sqrt(r**2 - (altitude_m - ear_height_m)**2)``
    with ``r`` from :func:`intelligible_range_m`.
    """
    kw = {"ground_gain_db": ground_gain_db, "ear_height_m": ear_height_m}
    if margin_db(speaker, atmosphere, altitude_m, 0.0, ambient_db, required_snr_db, **kw) < 0.0:
        return 0.0
    r_max = intelligible_range_m(
        speaker, atmosphere, ambient_db, required_snr_db, ground_gain_db=ground_gain_db
    )
    dz = float(altitude_m) - ear_height_m
    d_hi = math.sqrt(max(r_max * r_max - dz * dz, 0.0))
    if d_hi == 0.0:
        return 0.0
    grid = np.linspace(0.0, d_hi, _RADIUS_SCAN_POINTS)
    m = margin_db(speaker, atmosphere, altitude_m, grid, ambient_db, required_snr_db, **kw)
    failing = np.flatnonzero(m < 0.0)
    if failing.size == 0:
        return d_hi
    if failing[0] == 0:
        return 0.0
    lo, hi = float(grid[failing[0] - 1]), float(grid[failing[0]])
    for _ in range(_BISECT_ITERATIONS):
        mid = 0.5 * (lo + hi)
        if margin_db(speaker, atmosphere, altitude_m, mid, ambient_db, required_snr_db, **kw) >= 0:
            lo = mid
        else:
            hi = mid
    return lo


def max_intelligible_altitude_m(
    speaker: Speaker,
    atmosphere: Atmosphere,
    ambient_db: float,
    required_snr_db: float = DEFAULT_REQUIRED_SNR_DB,
    *,
    min_radius_m: float = 0.0,
    ground_gain_db: float = 0.0,
    ear_height_m: float = LISTENER_EAR_HEIGHT_M,
) -> float:
    """Highest altitude (m) whose intelligible disc has at least ``min_radius_m``.

    With ``min_radius_m=0`` the point directly below must be intelligible. Returns 0.0 if
    no altitude works. A narrow horn can need *more* altitude to widen its footprint, so
    the altitudes are scanned from the top down rather than assumed monotonic.
    """
    d = _in_range(min_radius_m, "min_radius_m", "max_intelligible_altitude_m", 0.0, 1e6, "m")
    r_max = intelligible_range_m(
        speaker, atmosphere, ambient_db, required_snr_db, ground_gain_db=ground_gain_db
    )
    if r_max <= d:
        return 0.0
    kw = {"ground_gain_db": ground_gain_db, "ear_height_m": ear_height_m}
    # Slant range >= altitude - ear and directivity <= 0, so nothing works above this.
    top = ear_height_m + math.sqrt(r_max * r_max - d * d)
    heights = np.linspace(ear_height_m + 1e-3, top, 513)
    ok = [
        margin_db(speaker, atmosphere, float(h), d, ambient_db, required_snr_db, **kw) >= 0.0
        for h in heights
    ]
    passing = np.flatnonzero(ok)
    if passing.size == 0:
        return 0.0
    i = int(passing[-1])
    if i == heights.size - 1:
        return float(heights[i])
    lo, hi = float(heights[i]), float(heights[i + 1])
    for _ in range(_BISECT_ITERATIONS):
        mid = 0.5 * (lo + hi)
        if margin_db(speaker, atmosphere, mid, d, ambient_db, required_snr_db, **kw) >= 0.0:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True, kw_only=True)
class BroadcastGeometry:
    """Lane spacing that guarantees every ground point one *complete* message per pass.

    The message loops back to back with period ``T = message_duration_s + gap_s``. A point
    at lateral offset ``y`` from the track is inside the intelligible disc of radius ``R``
    along a chord of ``2*sqrt(R**2 - y**2)``, i.e. for ``W = 2*sqrt(R**2 - y**2) / v``
    seconds. In the worst phase the point enters just after a message began, waits almost
    ``T`` for the next start and then needs ``T`` more: a complete message is guaranteed
    for every phase iff ``W >= 2*T`` (with ``T <= W < 2*T`` it depends on luck). So
    ``sqrt(R**2 - y**2) >= v*T``, the guaranteed half-width is
    ``half_width_m = sqrt(R**2 - (v*T)**2)`` (0 if ``v*T >= R``), and parallel lanes
    ``lane_spacing_m = 2 * half_width_m`` apart leave every point within ``half_width_m`` of
    a track. The sweep rate ``spacing * v`` is largest at ``v = R / (sqrt(2) * T)``.

    Build with :func:`broadcast_geometry`; the derived fields are filled in there.
    """

    altitude_m: float
    speed_mps: float
    message_period_s: float
    radius_m: float
    half_width_m: float = field(init=False)
    lane_spacing_m: float = field(init=False)

    def __post_init__(self) -> None:
        where = "BroadcastGeometry"
        _finite(self.altitude_m, "altitude_m", where)
        for name in ("speed_mps", "message_period_s"):
            if _finite(getattr(self, name), name, where) <= 0.0:
                raise AcousticsError(f"{where}: {name}={getattr(self, name)!r} must be > 0")
        if _finite(self.radius_m, "radius_m", where) < 0.0:
            raise AcousticsError(f"{where}: radius_m={self.radius_m!r} must be >= 0")
        along = self.speed_mps * self.message_period_s
        half = math.sqrt(self.radius_m**2 - along**2) if along < self.radius_m else 0.0
        object.__setattr__(self, "half_width_m", half)
        object.__setattr__(self, "lane_spacing_m", 2.0 * half)

    @property
    def feasible(self) -> bool:
        """True when some strip of ground is guaranteed a complete message."""
        return self.half_width_m > 0.0

    @property
    def sweep_time_s_per_km2(self) -> float:
        """Straight-lane flight time per km² (turns excluded); ``inf`` if not feasible."""
        rate = self.lane_spacing_m * self.speed_mps
        return 1e6 / rate if rate > 0.0 else math.inf

    def hears_complete_message(self, offset_m: float) -> bool:
        """Whether a point ``offset_m`` from the track is guaranteed a complete message."""
        return self.feasible and abs(float(offset_m)) <= self.half_width_m


@dataclass(frozen=True, kw_only=True)
class BroadcastPlan:
    """Feasible (altitude, speed) rows and the one with the least flight time per area."""

    rows: tuple[BroadcastGeometry, ...]
    best: BroadcastGeometry


def _check_message(message_duration_s: float, gap_s: float) -> float:
    dur = _finite(message_duration_s, "message_duration_s", "broadcast")
    if dur <= 0.0:
        raise AcousticsError(f"broadcast: message_duration_s={dur:g} must be > 0")
    gap = _finite(gap_s, "gap_s", "broadcast")
    if gap < 0.0:
        raise AcousticsError(f"broadcast: gap_s={gap:g} must be >= 0")
    return dur + gap


def broadcast_geometry(
    speaker: Speaker,
    atmosphere: Atmosphere,
    *,
    ambient_db: float,
    message_duration_s: float,
    altitude_m: float,
    speed_mps: float,
    required_snr_db: float = DEFAULT_REQUIRED_SNR_DB,
    gap_s: float = 0.0,
    ground_gain_db: float = 0.0,
    ear_height_m: float = LISTENER_EAR_HEIGHT_M,
) -> BroadcastGeometry:
    """Intelligible radius and guaranteed lane spacing for one altitude and speed."""
    period = _check_message(message_duration_s, gap_s)
    radius = intelligible_radius_m(
        speaker,
        atmosphere,
        altitude_m,
        ambient_db,
        required_snr_db,
        ground_gain_db=ground_gain_db,
        ear_height_m=ear_height_m,
    )
    return BroadcastGeometry(
        altitude_m=float(altitude_m),
        speed_mps=_finite(speed_mps, "speed_mps", "broadcast_geometry"),
        message_period_s=period,
        radius_m=radius,
    )


_DEFAULT_SPEEDS_MPS = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0)


def plan_broadcast(
    speaker: Speaker,
    atmosphere: Atmosphere,
    *,
    ambient_db: float,
    message_duration_s: float,
    min_altitude_m: float,
    max_altitude_m: float,
    required_snr_db: float = DEFAULT_REQUIRED_SNR_DB,
    altitudes_m: Sequence[float] | None = None,
    speeds_mps: Sequence[float] = _DEFAULT_SPEEDS_MPS,
    gap_s: float = 0.0,
    ground_gain_db: float = 0.0,
    ear_height_m: float = LISTENER_EAR_HEIGHT_M,
) -> BroadcastPlan:
    """Tabulate candidate altitudes and speeds; pick the fastest that keeps the guarantee.

    ``altitudes_m`` defaults to every 5 m from ``min_altitude_m`` to ``max_altitude_m``.
    "Fastest" is the least :attr:`BroadcastGeometry.sweep_time_s_per_km2`; ties go to the
    lower altitude, then the lower speed. Raises :class:`AcousticsError` naming the numbers
    when no altitude within the limits gives an intelligible disc, or when the message is too
    long to be heard whole even at the slowest speed.
    """
    where = "plan_broadcast"
    lo = _finite(min_altitude_m, "min_altitude_m", where)
    hi = _finite(max_altitude_m, "max_altitude_m", where)
    if lo <= ear_height_m or hi < lo:
        raise AcousticsError(
            f"{where}: altitude limits [{lo:g}, {hi:g}] m must satisfy "
            f"{ear_height_m:g} < min_altitude_m <= max_altitude_m"
        )
    if altitudes_m is None:
        alts = [*np.arange(lo, hi, 5.0).tolist(), hi]
        alts = sorted(set(alts))
    else:
        alts = sorted({_finite(a, "altitudes_m", where) for a in altitudes_m})
        outside = [a for a in alts if not lo <= a <= hi]
        if not alts or outside:
            raise AcousticsError(
                f"{where}: altitudes_m {outside or '(empty)'} must be non-empty and within "
                f"[{lo:g}, {hi:g}] m"
            )
    speeds = sorted({_finite(v, "speeds_mps", where) for v in speeds_mps})
    if not speeds or speeds[0] <= 0.0:
        raise AcousticsError(f"{where}: speeds_mps={list(speeds_mps)!r} must be non-empty, > 0")
    period = _check_message(message_duration_s, gap_s)

    radii = {
        a: intelligible_radius_m(
            speaker,
            atmosphere,
            a,
            ambient_db,
            required_snr_db,
            ground_gain_db=ground_gain_db,
            ear_height_m=ear_height_m,
        )
        for a in alts
    }
    best_alt = max(alts, key=lambda a: radii[a])
    best_r = radii[best_alt]
    if best_r <= 0.0:
        below = received_level_db(
            speaker, atmosphere, lo, 0.0, ground_gain_db=ground_gain_db, ear_height_m=ear_height_m
        )
        ceiling = max_intelligible_altitude_m(
            speaker,
            atmosphere,
            ambient_db,
            required_snr_db,
            ground_gain_db=ground_gain_db,
            ear_height_m=ear_height_m,
        )
        raise AcousticsError(
            f"{where}: speaker too quiet for altitudes [{lo:g}, {hi:g}] m: directly below at "
            f"{lo:g} m it gives {below:.1f} dB but needs {ambient_db + required_snr_db:.1f} dB "
            f"(ambient {ambient_db:g} + margin {required_snr_db:g}); it is intelligible only "
            f"below {ceiling:.1f} m. Use a louder speaker or volume, a lower altitude limit or "
            "a smaller required margin"
        )
    rows = [
        BroadcastGeometry(altitude_m=a, speed_mps=v, message_period_s=period, radius_m=radii[a])
        for a in alts
        for v in speeds
    ]
    feasible = [g for g in rows if g.feasible]
    if not feasible:
        raise AcousticsError(
            f"{where}: a {period:g} s message is too long to be heard whole: the largest "
            f"intelligible radius within [{lo:g}, {hi:g}] m is {best_r:.1f} m (at {best_alt:g} m) "
            f"but even at the slowest speed {speeds[0]:g} m/s a listener needs speed*period = "
            f"{speeds[0] * period:.1f} m of track on each side. Shorten the message below "
            f"{best_r / speeds[0]:.1f} s or allow slower speeds"
        )
    best = min(feasible, key=lambda g: (g.sweep_time_s_per_km2, g.altitude_m, g.speed_mps))
    return BroadcastPlan(rows=tuple(feasible), best=best)
