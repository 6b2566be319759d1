"""Seed corpus for the fuzz targets, cut from sample_logs/ and tests/fixtures/ (written once)."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SAMPLES = ROOT / "sample_logs"
FIXTURES = ROOT / "tests" / "fixtures"

CONF = b"""# a small nginx.conf (the directives logcorr reads: log_format, access_log, ssl_*)
http {
    log_format tls '$remote_addr [$time_local] "$request" $status $ssl_protocol $ssl_cipher $connection $msec';
    log_format esc escape=json '{"a":"$remote_addr","t":"$time_iso8601"}';
    access_log /var/log/nginx/access.log tls;
    server { listen 443 ssl; ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers HIGH:!aNULL; ssl_ecdh_curve X25519:prime256v1; }
    include conf.d/*.conf;
}
"""


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _lines(data: bytes, limit: int = 8192) -> bytes:
    cut = data.rfind(b"\n", 0, limit) + 1
    return data[:cut] if cut else data[:limit]


def seeds() -> dict[str, list[bytes]]:
    from logcorr.sources.elblogs import PARSERS
    from logcorr.sources.logformat import RECOMMENDED
    from tests import test_elblogs as elb

    access = _lines(_read(SAMPLES / "access.log"))
    error = _lines(_read(SAMPLES / "error.log"))
    pcap = (SAMPLES / "lab.pcap").read_bytes()[:65536]
    kinds = sorted(PARSERS)
    elb_lines = {"alb_access": [elb.ALB_HTTPS], "alb_connection": [elb.CONN_OK, elb.CONN_FAIL, elb.CONN_UNMAPPED],
                 "nlb_tls": [elb.NLB_OK, elb.NLB_ALERT_DEC, elb.NLB_ALERT_HEX], "clb_access": [elb.CLB_HTTPS, elb.CLB_SSL]}
    return {
        "errorlog": [error, _lines(_read(SAMPLES / "proxy-debug.log"))],
        "accesslog": [b"\x00" + access, b"\x01" + _lines((FIXTURES / "accesslog" / "mixed.log").read_bytes())],
        "elblogs": [bytes([kinds.index(k)]) + "\n".join(v).encode() + b"\n" for k, v in elb_lines.items()],
        "cloudwatch": [p.read_bytes()[:16384] for p in sorted((FIXTURES / "aws").iterdir()) if p.suffix in (".json", ".csv")],
        "pcap": [pcap],
        "nmap": [p.read_bytes()[:16384] for p in sorted((FIXTURES / "nmap").iterdir()) if p.suffix in (".txt", ".xml")],
        "tls": [pcap[40:2048]],
        "logformat": [RECOMMENDED.encode() + b"\n" + access[:4096]],
        "nginxconf": [CONF],
        "ingest": [access[:4096], error[:4096], pcap[:16384], _lines(_read(SAMPLES / "stream.log"), 4096)],
    }


def write_seeds() -> None:
    for target, items in seeds().items():
        folder = HERE / "corpus" / target
        folder.mkdir(parents=True, exist_ok=True)
        for data in items:
            path = folder / f"seed-{hashlib.sha1(data).hexdigest()[:12]}"
            if not path.exists():
                path.write_bytes(data)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(ROOT))
    write_seeds()
