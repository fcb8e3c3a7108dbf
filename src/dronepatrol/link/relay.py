"""A lossy MAVLink relay for tests and benchmarks: seeded loss, duplicates, reordering, cuts.

The relay sits between a ground station and a vehicle and works on whole MAVLink packets
(v1 and v2, signed or not), so a "lost" packet is a missing packet, never corrupt bytes.

>>> with LossyRelay(("127.0.0.1", 5760), loss=0.2, seed=1) as relay:   # doctest: +SKIP
...     v = Vehicle.connect(relay.url)
...     relay.cut()            # silence in both directions ...
...     relay.restore()        # ... until restored
"""

from __future__ import annotations

import random
import select
import socket
import threading
import time
from dataclasses import dataclass

from dronepatrol.errors import LinkError


@dataclass
class RelayStats:
    """Packets seen, dropped, duplicated and reordered, both directions together."""

    packets: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0


def message_id(packet: bytes) -> int | None:
    """The message id of one whole MAVLink packet (v1 or v2), None if it is too short.

    >>> message_id(bytes([0xFE, 0, 0, 1, 1, 77, 0, 0]))
    77
    """
    if len(packet) >= 8 and packet[0] == 0xFE:
        return packet[5]
    if len(packet) >= 12 and packet[0] == 0xFD:
        return packet[7] | packet[8] << 8 | packet[9] << 16
    return None


def split_packets(buffer: bytearray) -> list[bytes]:
    """Remove and return the whole MAVLink packets at the start of ``buffer``.

    Bytes before a start marker are discarded (they cannot be a packet).

    >>> buf = bytearray(b"xx" + bytes([0xFE, 0, 0, 1, 1, 0, 0, 0]))
    >>> [len(p) for p in split_packets(buf)], bytes(buf)
    ([8], b'')
    """
    packets = []
    while buffer:
        start = next((i for i, b in enumerate(buffer) if b in (0xFE, 0xFD)), None)
        if start is None:
            buffer.clear()
            break
        del buffer[:start]
        if buffer[0] == 0xFE:
            if len(buffer) < 2:
                break
            size = 6 + buffer[1] + 2
        else:
            if len(buffer) < 3:
                break
            size = 10 + buffer[1] + 2 + (13 if buffer[2] & 0x01 else 0)
        if len(buffer) < size:
            break
        packets.append(bytes(buffer[:size]))
        del buffer[:size]
    return packets


class LossyRelay:
    """Forward MAVLink between a client and ``target`` (host, port) with seeded faults.

    ``protocol="tcp"``: clients connect to :attr:`url` (``tcp:127.0.0.1:PORT``); each accepted
    client gets its own upstream TCP connection. ``protocol="udp"``: the client sends to
    :attr:`url` (``udpout:127.0.0.1:PORT``) and the relay forwards to a vehicle listening on
    ``target`` (``udpin`` style) and back.
    """

    def __init__(self, target: tuple[str, int], *, protocol: str = "tcp", loss: float = 0.0,
                 duplicate: float = 0.0, reorder: float = 0.0, seed: int = 0,
                 listen_port: int = 0) -> None:
        if protocol not in ("tcp", "udp"):
            raise LinkError(f"relay protocol {protocol!r}: use 'tcp' or 'udp'")
        for name, p in (("loss", loss), ("duplicate", duplicate), ("reorder", reorder)):
            if not 0.0 <= p < 1.0:
                raise LinkError(f"relay {name}={p} must be a probability in [0, 1)")
        self.target = target
        self.protocol = protocol
        self.loss, self.duplicate, self.reorder = loss, duplicate, reorder
        self.stats = RelayStats()
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._cut_until = 0.0
        self._closed = threading.Event()
        self._held: dict[int, bytes | None] = {}
        self._drops: dict[tuple[int, int], int] = {}
        self._sockets: list[socket.socket] = []
        kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
        self._server = socket.socket(socket.AF_INET, kind)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", listen_port))
        self.port = self._server.getsockname()[1]
        if protocol == "tcp":
            self._server.listen(4)
            self.url = f"tcp:127.0.0.1:{self.port}"
            target_fn = self._accept_loop
        else:
            self.url = f"udpout:127.0.0.1:{self.port}"
            target_fn = self._udp_loop
        self._thread = threading.Thread(target=target_fn, daemon=True, name="lossy-relay")
        self._thread.start()

    # -- fault control ---------------------------------------------------------------------
    def cut(self, duration_s: float | None = None) -> None:
        """Drop every packet in both directions for ``duration_s`` (None: until restore)."""
        self._cut_until = float("inf") if duration_s is None else time.monotonic() + duration_s

    def drop_next(self, msg_id: int, *, count: int = 1, to_vehicle: bool = False) -> None:
        """Drop the next ``count`` packets with message id ``msg_id`` going to the client (or
        to the vehicle): a targeted loss, e.g. one COMMAND_ACK (77)."""
        with self._rng_lock:
            key = (1 if not to_vehicle else 0, msg_id)
            self._drops[key] = self._drops.get(key, 0) + count

    def restore(self) -> None:
        """End a cut."""
        self._cut_until = 0.0

    @property
    def is_cut(self) -> bool:
        """True while a cut is in force."""
        return time.monotonic() < self._cut_until

    def disconnect(self) -> None:
        """Close every relayed TCP connection (the client sees the socket close)."""
        for sock in list(self._sockets):
            try:
                sock.close()
            except OSError:
                pass

    def _fate(self, direction: int, packet: bytes) -> list[bytes]:
        """The packets to forward now for one incoming packet."""
        with self._rng_lock:
            self.stats.packets += 1
            if self.is_cut:
                self.stats.dropped += 1
                return []
            key = (direction, message_id(packet) or -1)
            if self._drops.get(key, 0) > 0:
                self._drops[key] -= 1
                self.stats.dropped += 1
                return []
            r = self._rng.random()
            if r < self.loss:
                self.stats.dropped += 1
                return []
            out = [packet]
            if self._rng.random() < self.duplicate:
                self.stats.duplicated += 1
                out.append(packet)
            held = self._held.pop(direction, None)
            if held is not None:
                out.append(held)  # the held packet goes after this one: swapped order
            elif self._rng.random() < self.reorder:
                self.stats.reordered += 1
                self._held[direction] = out.pop(0)
            return out

    # -- TCP ------------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            ready, _, _ = select.select([self._server], [], [], 0.1)
            if not ready:
                continue
            try:
                client, _ = self._server.accept()
                upstream = socket.create_connection(self.target, timeout=5.0)
            except OSError:
                try:
                    client.close()
                except (OSError, UnboundLocalError):
                    pass
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._sockets.append(sock)
            threading.Thread(target=self._pump_tcp, args=(client, upstream), daemon=True).start()

    def _pump_tcp(self, client: socket.socket, upstream: socket.socket) -> None:
        buffers = {client.fileno(): bytearray(), upstream.fileno(): bytearray()}
        peer = {client.fileno(): upstream, upstream.fileno(): client}
        direction = {client.fileno(): 0, upstream.fileno(): 1}
        try:
            while not self._closed.is_set():
                ready, _, _ = select.select([client, upstream], [], [], 0.1)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    fd = sock.fileno()
                    buffers[fd] += data
                    for packet in split_packets(buffers[fd]):
                        for out in self._fate(direction[fd], packet):
                            peer[fd].sendall(out)
        except (OSError, ValueError):
            return
        finally:
            for sock in (client, upstream):
                try:
                    sock.close()
                except OSError:
                    pass

    # -- UDP ------------------------------------------------------------------------------------
    def _udp_loop(self) -> None:
        upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        upstream.bind(("127.0.0.1", 0))
        self._sockets.append(upstream)
        client_addr: tuple[str, int] | None = None
        while not self._closed.is_set():
            try:
                ready, _, _ = select.select([self._server, upstream], [], [], 0.1)
                for sock in ready:
                    data, addr = sock.recvfrom(65536)
                    if sock is self._server:
                        client_addr = addr
                        for packet in split_packets(bytearray(data)):
                            for out in self._fate(0, packet):
                                upstream.sendto(out, self.target)
                    elif client_addr is not None:
                        for packet in split_packets(bytearray(data)):
                            for out in self._fate(1, packet):
                                self._server.sendto(out, client_addr)
            except OSError:
                if self._closed.is_set():
                    return

    def close(self) -> None:
        """Stop relaying and close all sockets."""
        self._closed.set()
        self._thread.join(timeout=2.0)
        self.disconnect()
        self._server.close()

    def __enter__(self) -> LossyRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

