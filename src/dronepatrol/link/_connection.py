"""One MAVLink connection (socket or serial port) shared by the vehicles seen on it.

A reader thread parses packets, writes them to the optional .tlog and hands each to the
vehicle with that system id; a second thread sends the GCS heartbeat at 1 Hz and runs each
vehicle's watchdog. When a TCP or serial link fails, the reader reopens it every
``reconnect_s`` until :meth:`Connection.close`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dronepatrol.errors import LinkError
from dronepatrol.link import _codec
from dronepatrol.link.tlog import TlogWriter


class _LinkDown(Exception):
    """The socket or serial port closed under us."""


def _raise_down() -> None:
    raise _LinkDown()


class Connection:
    """A pymavlink connection with a reader thread, a heartbeat thread and reconnection."""

    def __init__(self, url: str, *, source_system: int = 255, source_component: int = 190,
                 signing_key: bytes | None = None, log_path: str | Path | None = None,
                 baud: int = 57600, reconnect_s: float = 1.0) -> None:
        if not 1 <= source_system <= 255 or not 0 <= source_component <= 255:
            raise LinkError(
                f"source_system={source_system} / source_component={source_component} out of "
                "range: system ids are 1-255, component ids 0-255 (a GCS is usually 255/190)"
            )
        if signing_key is not None and len(signing_key) != 32:
            raise LinkError(
                f"signing_key has {len(signing_key)} bytes; MAVLink 2 signing needs exactly 32 "
                "(e.g. hashlib.sha256(passphrase).digest())"
            )
        self.url = url
        self.source_system = source_system
        self.source_component = source_component
        self._signing_key = signing_key
        self._baud = baud
        self._reconnect_s = reconnect_s
        self._reopenable = not url.startswith(("udpin:", "udp:", "udpout:", "udpbcast:"))
        self._send_lock = threading.Lock()
        self._sinks: dict[int, Callable[[Any], None]] = {}
        self._tickers: list[Callable[[], None]] = []
        self._heartbeats: list[queue.Queue[Any]] = []
        self._sinks_lock = threading.Lock()
        self._closed = threading.Event()
        self._users = 0
        self._conn: Any = None
        self.reconnects = 0
        self._tlog = TlogWriter(log_path) if log_path is not None else None
        try:
            self._open()
        except BaseException:
            if self._tlog is not None:  # nothing else will ever close it
                self._tlog.close()
            raise
        self._reader = threading.Thread(target=self._read_loop, name=f"mavlink-rx {url}",
                                        daemon=True)
        self._beater = threading.Thread(target=self._heartbeat_loop,
                                        name=f"mavlink-hb {url}", daemon=True)
        self._reader.start()
        self._beater.start()

    # -- connection management ------------------------------------------------------------
    def _open(self) -> None:
        conn = _codec.open_connection(self.url, source_system=self.source_system,
                                      source_component=self.source_component, baud=self._baud)
        if hasattr(conn, "handle_eof"):
            # pymavlink's TCP class prints and silently keeps a dead socket; we reopen instead.
            conn.handle_eof = _raise_down
            conn.handle_disconnect = _raise_down
        if self._signing_key is not None:
            allowed = {0, 109, 166}  # HEARTBEAT, RADIO_STATUS, RADIO: unsigned as MAVProxy does

            def allow_unsigned(_mav: Any, msg_id: int) -> bool:
                return msg_id in allowed

            conn.setup_signing(self._signing_key, sign_outgoing=True,
                               allow_unsigned_callback=allow_unsigned)
        self._conn = conn

    def _drop(self) -> None:
        with self._send_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass

    def _read_loop(self) -> None:
        while not self._closed.is_set():
            conn = self._conn
            if conn is None:
                try:
                    self._open()
                    self.reconnects += 1
                except LinkError:
                    self._closed.wait(self._reconnect_s)
                continue
            try:
                msg = conn.recv_msg()
                if msg is None:
                    conn.select(0.05)
                    continue
            except (_LinkDown, OSError, ValueError):
                if self._closed.is_set():
                    return
                self._drop()
                if not self._reopenable:
                    self._closed.wait(self._reconnect_s)
                    try:
                        self._open()
                    except LinkError:
                        pass
                continue
            if msg.get_type() == "BAD_DATA":
                continue
            if self._tlog is not None:
                self._tlog.write(bytes(msg.get_msgbuf()))
            if msg.get_type() == "HEARTBEAT":
                for q in list(self._heartbeats):
                    q.put(msg)
            sink = self._sinks.get(msg.get_srcSystem())
            if sink is not None:
                sink(msg)

    def _heartbeat_loop(self) -> None:
        while not self._closed.wait(1.0):
            self.send("heartbeat", _codec.MAV_TYPE_GCS, _codec.MAV_AUTOPILOT_INVALID, 0, 0, 4)
            for tick in list(self._tickers):
                tick()

    # -- public -----------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """True while the underlying socket or port is open."""
        return self._conn is not None

    def send(self, name: str, *args: Any) -> bool:
        """Send message ``name`` (pymavlink ``<name>_send``); False when the link is down."""
        with self._send_lock:
            conn = self._conn
            if conn is None or self._closed.is_set():
                return False
            try:
                getattr(conn.mav, name + "_send")(*args)
            except (_LinkDown, OSError):
                return False
        return True

    def signing_hint(self) -> str:
        """A sentence about MAVLink 2 signing when it explains a silent vehicle, else ""."""
        conn = self._conn
        signing = getattr(getattr(conn, "mav", None), "signing", None)
        if signing is None:
            return ""
        if self._signing_key is None and signing.sig_count > 0:
            return ("; the vehicle signs its messages (MAVLink 2 signing) and ignores unsigned "
                    "commands: connect with signing_key= set to the vehicle's 32-byte key")
        if self._signing_key is not None and signing.badsig_count > 0:
            return (f"; {signing.badsig_count} packets from the vehicle carried a signature "
                    "that does not match signing_key: check the signing key (the vehicle "
                    "ignores commands signed with another key)")
        if self._signing_key is not None and signing.sig_count == 0:
            return ("; signing_key is set but the vehicle sends unsigned messages: check "
                    "that signing is set up on the vehicle")
        return ""

    def discover(self, *, wanted: set[int] | None, count: int, timeout_s: float) -> list[
            tuple[int, int, Any]]:
        """Wait for autopilot heartbeats; return (system id, component id, heartbeat)."""
        q: queue.Queue[Any] = queue.Queue()
        self._heartbeats.append(q)
        found: dict[int, tuple[int, Any]] = {}
        seen_other: set[tuple[int, int, int]] = set()
        deadline = time.monotonic() + timeout_s
        try:
            need = len(wanted) if wanted else count
            while len(found) < need:
                left = deadline - time.monotonic()
                if left <= 0:
                    what = f"system id(s) {sorted(wanted)}" if wanted else f"{count} vehicle(s)"
                    others = (f"; heard only non-autopilot or other heartbeats {sorted(seen_other)}"
                              " (sysid, compid, type)" if seen_other else "; heard no heartbeat")
                    raise LinkError(
                        f"no autopilot heartbeat from {what} on {self.url} within {timeout_s:g} s"
                        f"{others}. Check the connection string, that the vehicle is powered, "
                        "and the baud rate for serial links"
                    )
                try:
                    hb = q.get(timeout=min(left, 0.5))
                except queue.Empty:
                    continue
                sysid, compid = hb.get_srcSystem(), hb.get_srcComponent()
                if hb.autopilot == _codec.MAV_AUTOPILOT_INVALID or hb.type == _codec.MAV_TYPE_GCS:
                    seen_other.add((sysid, compid, hb.type))
                    continue
                if wanted and sysid not in wanted:
                    seen_other.add((sysid, compid, hb.type))
                    continue
                found.setdefault(sysid, (compid, hb))
        finally:
            self._heartbeats.remove(q)
        return [(sysid, compid, hb) for sysid, (compid, hb) in sorted(found.items())]

    def attach(self, system_id: int, sink: Callable[[Any], None],
               tick: Callable[[], None]) -> None:
        """Route messages from ``system_id`` to ``sink``; call ``tick`` every second."""
        with self._sinks_lock:
            if system_id in self._sinks:
                raise LinkError(
                    f"vehicle {system_id} on {self.url} already has a Vehicle object; "
                    "close it first or reuse it"
                )
            self._sinks[system_id] = sink
            self._tickers.append(tick)
            self._users += 1

    def detach(self, system_id: int, tick: Callable[[], None]) -> None:
        """Stop routing ``system_id``; close the link when no vehicle uses it."""
        with self._sinks_lock:
            self._sinks.pop(system_id, None)
            if tick in self._tickers:
                self._tickers.remove(tick)
            self._users -= 1
            last = self._users <= 0
        if last:
            self.close()

    def close(self) -> None:
        """Stop the threads, close the socket and the log."""
        if self._closed.is_set():
            return
        self._closed.set()
        current = threading.current_thread()
        for thread in (self._reader, self._beater):
            if thread is not current and thread.is_alive():
                thread.join(timeout=2.0)
        self._drop()
        if self._tlog is not None:
            self._tlog.close()
