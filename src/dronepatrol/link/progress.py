"""Progress snapshots of a vehicle flying a mission."""

from __future__ import annotations

from dataclasses import dataclass

from dronepatrol.errors import LinkError

#: Events a :class:`Progress` can carry.
EVENTS = ("mission_complete", "rtl", "failsafe", "fence_breach", "link_lost", "link_restored")


@dataclass(frozen=True, kw_only=True)
class Progress:
    """One snapshot of a vehicle's state.

    ``current_item`` is the vehicle's mission sequence number (1 = first planned item, 0 = home
    or no mission); ``total_items`` counts the planned items (home excluded). ``events`` holds
    the events that happened since the previous snapshot given to the same consumer.
    """

    time_s: float
    system_id: int
    current_item: int
    total_items: int
    lat_deg: float | None
    lon_deg: float | None
    alt_m: float | None
    groundspeed_mps: float | None
    battery_pct: float | None
    mode: str
    armed: bool
    link_ok: bool
    last_status_text: str | None
    events: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.events) - set(EVENTS)
        if unknown:
            raise LinkError(f"unknown progress events {sorted(unknown)}; known: {EVENTS}")
