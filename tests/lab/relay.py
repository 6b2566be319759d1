"""A PROXY-protocol TCP relay in front of several lab nginx hosts: the messy lab's "load balancer".

Clients connect to the relay on 127.0.0.1 from their own 127.0.0.N address; the relay picks
a backend host (:meth:`Relay.pin` per client address, else round robin), connects to that
host's ``proxy`` listener **from** :data:`~tests.lab.nginx.LB_ADDR` (127.0.0.5), writes a
PROXY v1 header naming the client's address and port (``proxy-protocol.md`` §1) and pumps
bytes both ways. A client's RST is passed on as an RST (SO_LINGER 0), a FIN as a FIN, so
nginx sees what the client did. Every relayed connection is recorded (:class:`Relayed`).

Health checks (:meth:`Relay.health_check`) are what an AWS NLB/ALB target check does to
a PROXY-protocol target: a TCP connect from the load balancer's address and a close with
no bytes (FIN or RST), or a PROXY v2 ``LOCAL`` header and a close.
"""

from __future__ import annotations

import contextlib
import itertools
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass

from tests.lab.nginx import LB_ADDR

# PROXY v2 signature, then version 2 / command LOCAL (0x20), family UNSPEC (0x00), length 0
# (proxy-protocol.md §2; haproxy doc/proxy-protocol.txt §2.2).
PROXY_V2_LOCAL = b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x20, 0x00]) + struct.pack("!H", 0)
HEALTH_KINDS = ("fin", "rst", "v2_local")


@dataclass
class Relayed:
    """One client connection the relay carried."""

    client: str
    client_port: int
    backend: str
    started: float
    ended: float = 0.0
    upstream_port: int = 0  # the relay's source port towards nginx (127.0.0.5:port)


def _rst(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Relay:
    """The relay: ``backends`` maps a host name to that host's PROXY listener address."""

    def __init__(self, backends: dict[str, tuple[str, int]]) -> None:
        self.backends = backends
        self._rr = itertools.cycle(sorted(backends))
        self._pins: dict[str, str] = {}
        self._lock = threading.Lock()
        self.carried: list[Relayed] = []
        self.health: list[dict[str, object]] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.address = self._listener.getsockname()
        self._stopping = False
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def pin(self, client: str, backend: str) -> None:
        """Send ``client``'s next connections to ``backend`` (until pinned elsewhere)."""
        with self._lock:
            self._pins[client] = backend

    def _route(self, client: str) -> str:
        with self._lock:
            return self._pins.get(client) or next(self._rr)

    def _accept(self) -> None:
        while not self._stopping:
            try:
                conn, (cip, cport) = self._listener.accept()
            except OSError:
                return
            t = threading.Thread(target=self._carry, args=(conn, cip, cport), daemon=True)
            t.start()
            with self._lock:
                self._threads.append(t)

    def _carry(self, down: socket.socket, cip: str, cport: int) -> None:
        backend = self._route(cip)
        rec = Relayed(cip, cport, backend, time.time())
        up = socket.socket()
        try:
            up.bind((LB_ADDR, 0))
            up.connect(self.backends[backend])
            rec.upstream_port = up.getsockname()[1]
            dst, dport = self.address
            up.sendall(f"PROXY TCP4 {cip} {dst} {cport} {dport}\r\n".encode("ascii"))
            self._pump(down, up)
        except OSError:
            _rst(down)
            _rst(up)
        finally:
            rec.ended = time.time()
            with self._lock:
                self.carried.append(rec)

    @staticmethod
    def _pump(down: socket.socket, up: socket.socket) -> None:
        """Copy both ways; a FIN is passed on as a FIN (shutdown), an RST as an RST."""
        other = {down: up, up: down}
        sel = selectors.DefaultSelector()
        for s in (down, up):
            sel.register(s, selectors.EVENT_READ)
        open_reads = 2
        try:
            while open_reads:
                for key, _ in sel.select(timeout=30):
                    src = key.fileobj
                    assert isinstance(src, socket.socket)
                    dst = other[src]
                    try:
                        data = src.recv(65536)
                    except ConnectionResetError:
                        _rst(dst)
                        src.close()
                        return
                    if data:
                        try:
                            dst.sendall(data)
                        except OSError:
                            _rst(src)
                            dst.close()
                            return
                        continue
                    sel.unregister(src)
                    open_reads -= 1
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
        finally:
            sel.close()
            down.close()
            up.close()

    def health_check(self, backend: str, kind: str) -> dict[str, object]:
        """One target health check against ``backend`` from the LB address; recorded."""
        if kind not in HEALTH_KINDS:
            raise ValueError(kind)
        t0 = time.time()
        sock = socket.socket()
        sock.bind((LB_ADDR, 0))
        sock.connect(self.backends[backend])
        port = sock.getsockname()[1]
        if kind == "v2_local":
            sock.sendall(PROXY_V2_LOCAL)
            time.sleep(0.05)  # let nginx read the header before the FIN
        if kind == "rst":
            _rst(sock)
        else:
            sock.close()
        rec: dict[str, object] = {"backend": backend, "kind": kind, "lb": LB_ADDR, "port": port,
                                  "started": t0, "ended": time.time()}
        with self._lock:
            self.health.append(rec)
        return rec

    def stop(self) -> None:
        """Close the listener and wait for every carried connection to finish."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._acceptor.join(timeout=5)
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout=10)
