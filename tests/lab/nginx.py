"""Start and stop a lab nginx: own prefix, run-time certificate, free ports on 127.0.0.1.

Listeners (``Lab.ports``):

- ``direct``: TLS 1.2 + 1.3, modern ciphers; clients connect from 127.0.0.N themselves.
- ``proxy``: ``listen … ssl proxy_protocol`` behind a TCP "load balancer" (client code
  connecting from 127.0.0.5), configured like the original report's endpoint: TLS 1.0–1.2
  with the ELBSecurityPolicy-2016-08 cipher list (``client-fallback.md`` §6).
  ``real_ip_header proxy_protocol``; no debug log, so its failures name only the LB.
- ``proxy_debug``: the same, plus a server-level ``error_log … debug`` beside the main
  one: failures are written to both logs, and the debug one has the
  ``PROXY protocol src:`` line with the same ``*N`` (``nginx-logs.md`` §4.3, §1.6).
- ``stream`` (when the stream module loads): ``listen … ssl proxy_protocol`` with
  ``set_real_ip_from``, so its error lines name the real client (``nginx-logs.md`` §4.2).

nginx runs with ``TZ=Asia/Kolkata`` (nginx keeps ``TZ`` from the environment,
``nginx-logs.md`` §1.1), ``master_process on``, 2 workers, ``daemon off`` under Popen so
the Popen pid is the master pid; it is stopped by that PID.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

LAB_TZ = "Asia/Kolkata"
LB_ADDR = "127.0.0.5"  # the PROXY-protocol "load balancer" (our client code)
NGINX_CANDIDATES = ("/usr/sbin/nginx", "nginx")
MODULES_DIR = Path("/usr/lib/nginx/modules")  # Debian's --modules-path

# The project's recommended access-log format. The lead reconciles it with
# ``logcorr.sources.logformat.RECOMMENDED``; keep it in this one constant.
RECOMMENDED_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $ssl_protocol $ssl_cipher "$ssl_server_name" '
    "$ssl_session_reused $proxy_protocol_addr $realip_remote_addr $connection "
    "$connection_requests $msec $request_time"
)

# Stream access log: JSON lines (escape=json, nginx 1.11.8+), keys named after the nginx
# variables, so ``logcorr ingest`` can tell the format from the content alone (SPEC §3).
# A failed handshake has $status 500 and meaningless $ssl_protocol/$ssl_cipher
# (``nginx-logs.md`` §5).
STREAM_FORMAT = (
    '{"time_iso8601":"$time_iso8601","msec":"$msec","remote_addr":"$remote_addr",'
    '"proxy_protocol_addr":"$proxy_protocol_addr","connection":"$connection",'
    '"status":"$status","session_time":"$session_time","bytes_received":"$bytes_received",'
    '"bytes_sent":"$bytes_sent","ssl_protocol":"$ssl_protocol","ssl_cipher":"$ssl_cipher",'
    '"ssl_server_name":"$ssl_server_name"}'
)

MODERN_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
# ELBSecurityPolicy-2016-08 (AWS ELB docs, "Predefined SSL security policies"), in its
# order; OpenSSL 3 needs @SECLEVEL=0 to negotiate TLS 1.0/1.1 with SHA-1 signatures.
AWS_2016_08_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                       "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:"
                       "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:"
                       "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                       "ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:"
                       "ECDHE-RSA-AES256-SHA:ECDHE-ECDSA-AES256-SHA:"
                       "AES128-GCM-SHA256:AES128-SHA256:AES128-SHA:"
                       "AES256-GCM-SHA384:AES256-SHA256:AES256-SHA:@SECLEVEL=0")

LOG_NAMES = ("error.log", "access.log", "proxy-debug.log", "stream.log")


def nginx_binary() -> str | None:
    """Path of the nginx binary, or None when nginx is not installed."""
    for cand in NGINX_CANDIDATES:
        path = shutil.which(cand)
        if path:
            return path
    return None


def stream_module() -> Path | None:
    """Debian's dynamic stream module (package ``libnginx-mod-stream``), when installed."""
    path = MODULES_DIR / "ngx_stream_module.so"
    return path if path.exists() else None


def versions(binary: str) -> dict[str, str]:
    """nginx and OpenSSL versions as ``nginx -V`` prints them (read at run time)."""
    out = subprocess.run([binary, "-V"], capture_output=True, text=True, check=True).stderr
    nginx = re.search(r"nginx version: nginx/(\S+)", out)
    built = re.search(r"built with (OpenSSL [^\s]+(?: \d+ \w+ \d+)?)", out)
    running = re.search(r"running with (OpenSSL [^\s)]+(?: \d+ \w+ \d+)?)", out)
    return {
        "nginx": nginx.group(1) if nginx else "?",
        "openssl_built": built.group(1) if built else "?",
        "openssl_running": running.group(1) if running else (built.group(1) if built else "?"),
        "debug": str("--with-debug" in out).lower(),
    }


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1 (bind port 0, read, close)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed RSA-2048 certificate for ``lab.test``, made with the openssl CLI."""
    cert, key = directory / "lab.crt", directory / "lab.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=lab.test",
         "-addext", "subjectAltName=DNS:lab.test"],
        check=True, capture_output=True)
    return cert, key


def render_conf(prefix: Path, ports: dict[str, int], cert: Path, key: Path,
                stream: Path | None, workers: int = 2) -> str:
    """The lab's nginx.conf (every path absolute, inside ``prefix``)."""
    logs = prefix / "logs"
    tls = f"ssl_certificate {cert}; ssl_certificate_key {key};"
    proxy_tls = (f"{tls} ssl_protocols TLSv1 TLSv1.1 TLSv1.2; "
                 f"ssl_ciphers {AWS_2016_08_CIPHERS}; ssl_prefer_server_ciphers on;")
    realip = "set_real_ip_from 127.0.0.0/8; real_ip_header proxy_protocol;"
    user = "user root root;" if os.geteuid() == 0 else ""  # workers must reopen logs in prefix
    lines = [
        f"load_module {stream};" if stream else "",
        user,
        "master_process on;",
        "daemon off;",
        f"worker_processes {workers};",
        f"pid {prefix}/nginx.pid;",
        f"error_log {logs}/error.log info;",
        "events { worker_connections 256; }",
        "http {",
        f"  log_format lab '{RECOMMENDED_FORMAT}';",
        f"  access_log {logs}/access.log lab;",
        "  client_header_timeout 2s;",
        "  keepalive_timeout 5s;",
        f"  client_body_temp_path {prefix}/tmp/body; proxy_temp_path {prefix}/tmp/proxy;",
        f"  fastcgi_temp_path {prefix}/tmp/fcgi; uwsgi_temp_path {prefix}/tmp/uwsgi;",
        f"  scgi_temp_path {prefix}/tmp/scgi;",
        "  default_type text/plain;",
        f"  server {{ listen 127.0.0.1:{ports['direct']} ssl; server_name lab.test; {tls}",
        f"    ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers {MODERN_CIPHERS};",
        "    location / { return 200 \"direct $ssl_protocol\\n\"; } }",
        f"  server {{ listen 127.0.0.1:{ports['proxy']} ssl proxy_protocol; server_name lab.test;",
        f"    {proxy_tls} {realip}",
        "    location / { return 200 \"proxy $ssl_protocol\\n\"; } }",
        f"  server {{ listen 127.0.0.1:{ports['proxy_debug']} ssl proxy_protocol; server_name lab.test;",
        f"    {proxy_tls} {realip}",
        f"    error_log {logs}/error.log info; error_log {logs}/proxy-debug.log debug;",
        "    location / { return 200 \"proxy-debug $ssl_protocol\\n\"; } }",
        "}",
    ]
    if stream:
        lines += [
            "stream {",
            f"  log_format labstream escape=json '{STREAM_FORMAT}';",
            f"  access_log {logs}/stream.log labstream;",
            f"  server {{ listen 127.0.0.1:{ports['stream']} ssl proxy_protocol; {tls}",
            f"    ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers {MODERN_CIPHERS};",
            "    ssl_handshake_timeout 2s; proxy_protocol_timeout 2s;",
            "    set_real_ip_from 127.0.0.0/8;",
            "    return \"stream $ssl_protocol\\n\"; }",
            "}",
        ]
    return "\n".join(ln for ln in lines if ln) + "\n"


@dataclass
class Capture:
    """A running ``tcpdump -i lo -U -w FILE`` limited to the lab's ports."""

    path: Path
    proc: subprocess.Popen[bytes]

    def stop(self, settle_s: float = 1.0, limit_s: float = 10.0) -> None:
        """Wait until the capture file stops growing, then SIGINT (tcpdump flushes and writes
        its counters), then wait.

        On a loaded machine tcpdump lags behind the traffic; packets still in the kernel's
        buffer at SIGINT are dropped, and the last connections of a run went missing (the
        messy lab's relayed recovery, one run in three).  ``-U`` writes each packet as it
        is read, so a file that has not grown for ``settle_s`` has caught up.
        """
        deadline = time.monotonic() + limit_s
        size, since = -1, time.monotonic()
        while self.proc.poll() is None and time.monotonic() < deadline:
            now = self.path.stat().st_size if self.path.exists() else 0
            if now != size:
                size, since = now, time.monotonic()
            elif time.monotonic() - since >= settle_s:
                break
            time.sleep(0.1)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@dataclass
class Lab:
    """A running lab nginx."""

    prefix: Path
    ports: dict[str, int]
    proc: subprocess.Popen[bytes]
    versions: dict[str, str]
    has_stream: bool
    capture: Capture | None = None
    rotations: int = 0

    @property
    def logs(self) -> Path:
        return self.prefix / "logs"

    @property
    def master_pid(self) -> int:
        return self.proc.pid

    def address(self, listener: str) -> tuple[str, int]:
        return ("127.0.0.1", self.ports[listener])

    def rotate(self) -> None:
        """Rotate every log the logrotate way, then ``kill -USR1`` the master.

        ``name`` → ``name.1``; an existing ``name.1`` is gzipped to ``name.2.gz`` (older
        ``.N.gz`` shift up), like logrotate's ``compress`` + ``delaycompress``.
        """
        for name in LOG_NAMES:
            live = self.logs / name
            if not live.exists():
                continue
            gz = sorted(self.logs.glob(f"{name}.*.gz"),
                        key=lambda p: int(p.name[len(name) + 1:-3]), reverse=True)
            for old in gz:
                n = int(old.name[len(name) + 1:-3])
                old.rename(self.logs / f"{name}.{n + 1}.gz")
            one = self.logs / f"{name}.1"
            if one.exists():
                with open(one, "rb") as src, gzip.open(self.logs / f"{name}.2.gz", "wb") as dst:
                    shutil.copyfileobj(src, dst)
                one.unlink()
            live.rename(one)
        os.kill(self.master_pid, signal.SIGUSR1)
        deadline = time.monotonic() + 5
        wanted = [self.logs / n for n in ("error.log", "access.log")]
        while not all(p.exists() for p in wanted) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # workers reopen after the master; let them
        self.rotations += 1

    def stop(self, timeout: float = 5.0) -> None:
        """SIGQUIT (graceful) the master by PID; SIGTERM, then SIGKILL, after ``timeout``."""
        for sig in (signal.SIGQUIT, signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            with suppress(ProcessLookupError):
                os.kill(self.master_pid, sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                continue
        if self.capture is not None:
            self.capture.stop()


def _start_capture(path: Path, ports: list[int]) -> Capture | None:
    tcpdump = shutil.which("tcpdump") or ("/usr/bin/tcpdump" if Path("/usr/bin/tcpdump").exists() else None)
    if tcpdump is None:
        return None
    # The listeners' end only (127.0.0.1:P): a bare `tcp port P` also caught any connection on
    # lo whose *client* port happened to be P (nmap from 127.0.0.66:P to another host's port,
    # other labs' traffic), and the capture then held a connection this host never had.
    expr = " or ".join(f"(src host 127.0.0.1 and src port {p}) or (dst host 127.0.0.1 and dst port {p})"
                       for p in ports)
    expr = f"tcp and ({expr})"
    proc = subprocess.Popen([tcpdump, "-i", "lo", "-U", "-n", "-w", str(path), expr],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    # tcpdump says "listening on lo, ..." on stderr once the capture is armed.
    line = proc.stderr.readline()
    if b"listening on" not in line:
        proc.kill()
        proc.wait(timeout=5)
        return None
    return Capture(path, proc)


def start(prefix: Path, *, capture: bool = False, workers: int = 2) -> Lab:
    """Write the configuration into ``prefix``, start nginx, wait until it listens."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (Debian: apt-get install nginx libnginx-mod-stream)")
    stream = stream_module()
    for sub in ("logs", "conf", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    cert, key = make_certificate(prefix / "conf")
    names = ["direct", "proxy", "proxy_debug"] + (["stream"] if stream else [])
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    conf = prefix / "conf" / "nginx.conf"
    conf.write_text(render_conf(prefix, ports, cert, key, stream, workers), encoding="utf-8")
    cap = _start_capture(prefix / "lab.pcap", list(ports.values())) if capture else None
    env = {"TZ": LAB_TZ, "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    out = open(prefix / "nginx.stderr", "wb")  # noqa: SIM115 (kept open for the child's life)
    proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "logs" / "error.log")],
                            env=env, stdout=out, stderr=out)
    out.close()
    lab = Lab(prefix, ports, proc, versions(binary), stream is not None, cap)
    pid_file = prefix / "nginx.pid"
    deadline = time.monotonic() + 10
    # The pid file is written after the listening sockets are open (ngx_init_cycle, then
    # ngx_create_pidfile in main()), so probing the ports (and logging the probes) is not needed.
    while not pid_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            lab.stop()
            err = (prefix / "nginx.stderr").read_text(errors="replace")
            raise RuntimeError(f"nginx did not start: {err.strip()}")
        time.sleep(0.05)
    if int(pid_file.read_text().strip()) != proc.pid:
        lab.stop()
        raise RuntimeError("nginx pid file does not name the process we started")
    return lab


@contextmanager
def running(prefix: Path, *, capture: bool = False) -> Iterator[Lab]:
    """A lab nginx for the ``with`` block, stopped by PID at its end."""
    lab = start(prefix, capture=capture)
    try:
        yield lab
    finally:
        lab.stop()
