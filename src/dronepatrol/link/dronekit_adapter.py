"""Optional dronekit adapter: upload planned mission items through a dronekit ``Vehicle``.

Install with ``pip install dronepatrol[dronekit]`` (the maintained fork ``dronekit2``, which
keeps the ``dronekit`` import name and runs on Python >= 3.10). dronekit is imported only
inside these functions; the rest of dronepatrol never imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dronepatrol.errors import LinkError
from dronepatrol.link.preflight import check_item_types
from dronepatrol.mission import MISSION, MissionItem


def _dronekit() -> Any:
    try:
        import dronekit
    except ImportError as exc:
        raise LinkError(
            "the dronekit adapter needs the optional extra: pip install 'dronepatrol[dronekit]' "
            "(installs dronekit2, the maintained fork that imports as `dronekit`)"
        ) from exc
    return dronekit


def to_commands(items: Sequence[MissionItem]) -> list[Any]:
    """Turn planned mission items (without home) into dronekit ``CommandInt`` objects
    (MISSION_ITEM_INT: lat/lon at 1e-7 degree, no float32 rounding)."""
    check_item_types(items, MISSION, what="dronekit upload")
    dk = _dronekit()
    commands = []
    for item in items:
        commands.append(dk.CommandInt(
            0, 0, 0, item.frame, item.command, 0, int(item.autocontinue), item.param1,
            item.param2, item.param3, item.param4, int(round(item.lat_deg * 1e7)),
            int(round(item.lon_deg * 1e7)), item.alt_m))
    return commands


def upload_mission(vehicle: Any, items: Sequence[MissionItem], *,
                   timeout_s: float = 60.0) -> None:
    """Replace the mission of a connected dronekit ``Vehicle`` with ``items`` (dronekit keeps
    home at seq 0)."""
    commands = to_commands(items)
    try:
        cmds = vehicle.commands
        cmds.download()
        cmds.wait_ready(timeout=timeout_s)
        cmds.clear()
        for command in commands:
            cmds.add(command)
        cmds.upload(timeout=timeout_s)
    except Exception as exc:  # dronekit raises its own APIException/TimeoutError types
        raise LinkError(f"dronekit upload of {len(commands)} items failed: {exc!r}") from exc
