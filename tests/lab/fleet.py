"""Several lab nginx hosts set up the way operators have them: the messy lab's fleet.

Layout under one root ``R`` (what ``logcorr ingest R/logs R/capture`` reads, host names
from the directory layout):

- ``R/prefix/<host>/``: nginx prefix (``conf/nginx.conf``, ``tmp/``, ``nginx.pid``);
- ``R/logs/<host>/``: that host's logs (``error.log``, ``access.log``, rotated ``.1``);
- ``R/capture/<host>/relay.pcap``: tcpdump of that host's ``proxy`` port (relay→nginx);
- ``R/logrotate.conf``, ``R/logrotate.state``: the real ``logrotate -f`` run.

Listeners (each host has a subset, :data:`LISTENERS`):

- ``direct``: TLS 1.2 + 1.3, modern ciphers, clients connect from 127.0.0.N themselves;
- ``proxy``: ``listen … ssl proxy_protocol`` behind the relay (``tests/lab/relay.py``),
  TLS 1.0–1.2 with the ELBSecurityPolicy-2016-08 list, ``real_ip_header proxy_protocol``;
- ``legacy``: direct, TLS 1.0–1.2, ELBSecurityPolicy-2016-08, for the what-if clients
  (no 3DES: Debian's OpenSSL 3.0 has none, even at ``@SECLEVEL=0``).

The access-log format starts as Debian's default (``access_log … ;`` = ``combined``) on
hosts listed as such, and :meth:`Host.set_format` switches it with ``nginx -s reload``
(or SIGHUP) inside the same file, as operators do.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.lab.nginx import (
    AWS_2016_08_CIPHERS,
    LAB_TZ,
    MODERN_CIPHERS,
    RECOMMENDED_FORMAT,
    Capture,
    _start_capture,
    free_ports,
    nginx_binary,
)

LISTENERS = {"web-1": ("direct", "proxy"), "web-2": ("proxy", "legacy"), "web-3": ("direct",)}
ENV = {"TZ": LAB_TZ, "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}


@dataclass
class Host:
    """One running nginx of the fleet."""

    name: str
    root: Path
    ports: dict[str, int]
    cert: tuple[Path, Path]
    fmt: str  # "combined" | "recommended": the access-log format in force
    proc: subprocess.Popen[bytes] | None = None
    capture: Capture | None = None
    reloads: list[dict[str, object]] = field(default_factory=list)

    @property
    def prefix(self) -> Path:
        return self.root / "prefix" / self.name

    @property
    def logs(self) -> Path:
        return self.root / "logs" / self.name

    @property
    def conf(self) -> Path:
        return self.prefix / "conf" / "nginx.conf"

    @property
    def pid_file(self) -> Path:
        return self.prefix / "nginx.pid"

    def address(self, listener: str) -> tuple[str, int]:
        return ("127.0.0.1", self.ports[listener])

    def render(self) -> str:
        cert, key = self.cert
        tls = f"ssl_certificate {cert}; ssl_certificate_key {key};"
        access = (f"access_log {self.logs}/access.log;" if self.fmt == "combined"
                  else f"access_log {self.logs}/access.log lab;")
        servers = {
            "direct": (f"ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers {MODERN_CIPHERS};", "ssl"),
            "proxy": (f"ssl_protocols TLSv1 TLSv1.1 TLSv1.2; ssl_ciphers {AWS_2016_08_CIPHERS}; "
                      "ssl_prefer_server_ciphers on; "
                      "set_real_ip_from 127.0.0.0/8; real_ip_header proxy_protocol;",
                      "ssl proxy_protocol"),
            "legacy": (f"ssl_protocols TLSv1 TLSv1.1 TLSv1.2; ssl_ciphers {AWS_2016_08_CIPHERS}; "
                       "ssl_prefer_server_ciphers on;", "ssl"),
        }
        user = "user root root;" if os.geteuid() == 0 else ""
        lines = [user, "master_process on;", "daemon off;", "worker_processes 1;",
                 f"pid {self.pid_file};", f"error_log {self.logs}/error.log info;",
                 "events { worker_connections 256; }", "http {",
                 f"  log_format lab '{RECOMMENDED_FORMAT}';", f"  {access}",
                 "  client_header_timeout 2s;", "  keepalive_timeout 5s;",
                 f"  client_body_temp_path {self.prefix}/tmp/body; proxy_temp_path {self.prefix}/tmp/proxy;",
                 f"  fastcgi_temp_path {self.prefix}/tmp/fcgi; uwsgi_temp_path {self.prefix}/tmp/uwsgi;",
                 f"  scgi_temp_path {self.prefix}/tmp/scgi;", "  default_type text/plain;"]
        for listener, port in self.ports.items():
            directives, params = servers[listener]
            lines += [f"  server {{ listen 127.0.0.1:{port} {params}; server_name lab.test; {tls}",
                      f"    {directives}",
                      f"    location / {{ return 200 \"{self.name} {listener} $ssl_protocol\\n\"; }} }}"]
        lines.append("}")
        return "\n".join(ln for ln in lines if ln) + "\n"

    def _error_text(self) -> str:
        path = self.logs / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, capture: bool) -> None:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (Debian: apt-get install nginx)")
        for d in (self.prefix / "conf", self.prefix / "tmp", self.logs):
            d.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(self.render(), encoding="utf-8")
        if capture:
            cap_dir = self.root / "capture" / self.name
            cap_dir.mkdir(parents=True, exist_ok=True)
            # Only the relay→nginx port: direct-port sessions stay as the access log shows them.
            self.capture = _start_capture(cap_dir / "relay.pcap", [self.ports["proxy"]])
        out = open(self.prefix / "nginx.stderr", "wb")  # noqa: SIM115 (kept for the child's life)
        self.proc = subprocess.Popen([binary, "-p", str(self.prefix), "-c", str(self.conf),
                                      "-e", str(self.logs / "error.log")], env=ENV, stdout=out, stderr=out)
        out.close()
        deadline = time.monotonic() + 10
        while not self.pid_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx {self.name} did not start: "
                                   f"{(self.prefix / 'nginx.stderr').read_text(errors='replace')}")
            time.sleep(0.05)

    def set_format(self, fmt: str, how: str) -> None:
        """Rewrite the config with access-log format ``fmt``; reload with ``nginx -s reload``
        (``how="nginx -s reload"``) or ``kill -HUP`` (``how="SIGHUP"``); wait for the new worker."""
        assert self.proc is not None
        before = len(re.findall(r"start worker process \d+", self._error_text()))
        exited = len(re.findall(r"worker process \d+ exited", self._error_text()))
        self.fmt = fmt
        self.conf.write_text(self.render(), encoding="utf-8")
        t0 = time.time()
        if how == "nginx -s reload":
            binary = nginx_binary()
            assert binary is not None
            subprocess.run([binary, "-p", str(self.prefix), "-c", str(self.conf), "-e",
                            str(self.logs / "error.log"), "-s", "reload"], env=ENV, check=True,
                           capture_output=True, timeout=10)
        else:
            os.kill(self.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = self._error_text()
            if (len(re.findall(r"start worker process \d+", text)) > before
                    and len(re.findall(r"worker process \d+ exited", text)) > exited):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"nginx {self.name}: reload into {fmt} did not finish")
        self.reloads.append({"format": fmt, "how": how, "at": t0, "done": time.time()})

    def stop(self) -> None:
        if self.proc is not None:
            for sig in (signal.SIGQUIT, signal.SIGTERM, signal.SIGKILL):
                if self.proc.poll() is not None:
                    break
                with suppress(ProcessLookupError):
                    os.kill(self.proc.pid, sig)
                with suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=5)
        if self.capture is not None:
            self.capture.stop()


def make_fleet(root: Path, cert: tuple[Path, Path], combined: tuple[str, ...]) -> dict[str, Host]:
    """The hosts of :data:`LISTENERS`, free ports assigned, not started yet."""
    names = [(h, li) for h, lis in LISTENERS.items() for li in lis]
    ports = iter(free_ports(len(names)))
    hosts = {h: Host(h, root, {}, cert, "combined" if h in combined else "recommended")
             for h in LISTENERS}
    for h, li in names:
        hosts[h].ports[li] = next(ports)
    return hosts


def logrotate_conf(hosts: dict[str, Host], copytruncate: dict[str, tuple[str, ...]]) -> str:
    """A logrotate config: ``create`` + ``postrotate kill -USR1``, ``copytruncate`` for some logs."""
    blocks = []
    for h in hosts.values():
        cts = copytruncate.get(h.name, ())
        created = [f"{h.logs}/{n}" for n in ("error.log", "access.log") if n not in cts]
        blocks.append(" ".join(created) + " {\n  rotate 3\n  create 0644 root root\n  missingok\n"
                      "  sharedscripts\n  postrotate\n"
                      f"    kill -USR1 $(cat {h.pid_file})\n  endscript\n}}\n")
        if cts:
            blocks.append(" ".join(f"{h.logs}/{n}" for n in cts)
                          + " {\n  rotate 3\n  copytruncate\n  missingok\n}\n")
    return "".join(blocks)


def logrotate(root: Path, hosts: dict[str, Host], copytruncate: dict[str, tuple[str, ...]]) -> dict[str, object]:
    """Run ``logrotate -f`` on the fleet's logs; wait until every worker reopened its logs."""
    conf = root / "logrotate.conf"
    conf.write_text(logrotate_conf(hosts, copytruncate), encoding="utf-8")
    conf.chmod(0o644)
    t0 = time.time()
    done = subprocess.run(["logrotate", "-f", "-s", str(root / "logrotate.state"), str(conf)],
                          capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"logrotate failed: {done.stderr.strip()}")
    deadline = time.monotonic() + 10
    # The master, then the worker, write "reopening logs" into the old file, then reopen.
    while time.monotonic() < deadline:
        if all((h.logs / "error.log.1").read_text(errors="replace").count("reopening logs") >= 2
               for h in hosts.values()):
            break
        time.sleep(0.05)
    else:
        raise RuntimeError("nginx did not reopen its logs after logrotate")
    time.sleep(0.2)
    return {"started": t0, "ended": time.time(), "config": conf.name, "copytruncate": copytruncate}
