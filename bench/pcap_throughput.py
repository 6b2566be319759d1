"""Packets per second decoded from a capture into the four tables (issue 5 target: ≥ 100k/s).

Builds, in memory, a capture of N connections behind a PROXY-protocol load balancer with
the mix an nginx endpoint sees: completed TLS 1.2 and 1.3 handshakes with application
data, fallback retries refused with alert 86, clients that reject the certificate, plain
HTTP on the TLS port, and resets.  Then times ``PcapReader.read`` over it (best of
``--repeat``).  ``--json`` prints one JSON line for ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from logcorr.sources import Options
from logcorr.sources.pcap import PcapReader
from tests import packets as P


def build(n_packets: int, seed: int = 7) -> tuple[bytes, int]:
    rnd = random.Random(seed)
    out: list[P.Packet] = []
    t = 1795714168.0
    i = 0
    while len(out) < n_packets:
        i += 1
        t += 0.002
        client = f"198.51.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
        conv = P.Conversation(f"10.0.1.{rnd.randrange(1, 4)}", "10.0.2.10", cport=1024 + i % 60000, t0=t,
                              isn=(rnd.getrandbits(32), rnd.getrandbits(32))).handshake()
        kind = rnd.random()
        pre = P.proxy_v2(client, "203.0.113.7", rnd.randrange(1024, 65535), 443)
        if kind < 0.55:  # TLS 1.2, full handshake, some requests
            conv.send("c", pre + P.tls12_hello())
            conv.send("s", P.server_hello(0x0303, 0xC02F) + P.record(22, bytes(2800)), split=[1400])
            conv.send("c", P.record(22, bytes(70)) + P.ccs() + P.record(22, bytes(40)))
            conv.send("s", P.ccs() + P.record(22, bytes(40)))
            for _ in range(rnd.randrange(1, 4)):
                conv.send("c", P.appdata(300)).send("s", P.appdata(1200))
        elif kind < 0.75:  # TLS 1.3
            conv.send("c", pre + P.tls13_hello())
            conv.send("s", P.server_hello(0x0303, 0x1301, selected=0x0304) + P.ccs() + P.appdata(2500), split=[1400])
            conv.send("c", P.ccs() + P.appdata(53)).send("c", P.appdata(300)).send("s", P.appdata(900))
        elif kind < 0.9:  # fallback refused
            conv.send("c", pre + P.report_fallback_hello()).send("s", P.alert(86, version=0x0301))
        elif kind < 0.95:  # certificate rejected
            conv.send("c", pre + P.tls12_hello()).send("s", P.server_hello() + P.record(22, bytes(2800)))
            conv.send("c", P.alert(48))
        else:  # plain HTTP, then a reset
            conv.send("c", pre + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").rst("s")
        if kind < 0.95:
            conv.fin("c").fin("s")
        out.extend(conv.packets)
    return P.pcap_bytes(out), len(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--packets", type=int, default=50000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    data, n = build(args.packets)
    best = float("inf")
    batch = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        batch = PcapReader("bench.pcap", Options()).read(io.BytesIO(data))
        best = min(best, time.perf_counter() - t0)
    assert batch is not None
    assert batch.lines == n
    rows = {k: v.num_rows for k, v in batch.tables.items()}
    result = {"packets": n, "seconds": round(best, 3), "packets_per_s": round(n / best),
              "bytes": len(data), "rows": rows}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{n:,} packets ({len(data) / 1e6:.1f} MB) in {best:.3f} s = {n / best:,.0f} packets/s; rows {rows}")


if __name__ == "__main__":
    main()
