"""Regenerate ``sample_logs/`` from the real-nginx lab (``make samples``).

Runs the lab (``tests/lab``: Debian's nginx, real TLS clients, known scenarios) once with
a packet capture when tcpdump can run, then copies the logs nginx wrote (rotated and
gzipped files included), ``truth.json`` and ``lab.pcap`` into ``sample_logs/`` and writes
``sample_logs/README.md`` describing where each file came from.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.lab import nginx, scenarios  # noqa: E402

FILE_NOTES = {
    "error.log": "main nginx error log (`error_log … info`), every listener; rotation phase {phase}",
    "access.log": "http access log, the recommended `log_format`; rotation phase {phase}",
    "proxy-debug.log": "server-level `error_log … debug` of the `proxy_debug` listener only; rotation phase {phase}",
    "stream.log": "stream access log, JSON lines (`escape=json`); rotation phase {phase}",
}
PHASES = {"": 2, ".1": 1, ".2.gz": 0}


def describe(name: str) -> str:
    for base, note in FILE_NOTES.items():
        if name.startswith(base):
            suffix = name[len(base):]
            return note.format(phase=f"{PHASES.get(suffix, '?')} (`{name}`)")
    return "?"


def numbers_table(truth: dict[str, Any], capture: bool) -> str:
    want = scenarios.expected_report(truth, 300, "TLSv1.2", capture=capture)
    rows = ["| reason | failures | attributable | recovered | unrecovered |", "|---|---|---|---|---|"]
    for reason, r in sorted(want["reasons"].items()):
        rows.append(f"| `{reason}` | {r['failures']} | {r['attributable']} | {r['recovered']} | {r['unrecovered']} |")
    rows.append("")
    rows.append("Unrecovered clients: " + ", ".join(f"`{c}`" for c in want["unrecovered_clients"]) + ".")
    return "\n".join(rows)


def scenario_table(truth: dict[str, Any]) -> str:
    rows = ["| phase | scenario | listener | real client | client saw | expected reason |", "|---|---|---|---|---|---|"]
    for a in truth["attempts"]:
        rows.append(f"| {a['phase']} | {a['scenario']} | {a['listener']} | `{a['client']}` | {a['saw']}"
                    f"{' ' + a['protocol'] if a['protocol'] else ''} | {a['reason'] or '(session)'} |")
    return "\n".join(rows)


def readme(truth: dict[str, Any], files: list[str], conf: str) -> str:
    v = truth["nginx"]
    listing = "\n".join(f"| `{f}` | {describe(f)} |" for f in files if f not in ("truth.json", "lab.pcap"))
    cap = truth.get("capture")
    cap_row = ("| `lab.pcap` | `tcpdump -i lo -U -w` of every lab port during the whole run (pcap; "
               "the LB→nginx legs carry the PROXY v1 headers) |\n") if cap else ""
    return f"""# sample_logs: logs written by a real nginx

Everything here was produced by `tools/make_samples.py` (`make samples`), which runs the
lab in `tests/lab/`: Debian's nginx started in its own prefix on 127.0.0.1, real TLS
clients playing known scenarios, and the ground truth of every connection attempt.
Nothing was typed by hand. Regenerate with `make samples`.

## Origin

- nginx **{v['nginx']}** (Debian package, `--with-debug --with-threads`), built with
  {v['openssl_built']}, running with **{v['openssl_running']}**, stream module from
  `libnginx-mod-stream` ({'loaded' if truth['stream'] else 'not available: no stream files'}).
  Versions read from `nginx -V` at run time.
- Time zone: nginx ran with `TZ={truth['tz']}`: error-log times are Asia/Kolkata wall clock
  with no offset; `$time_local` shows `+0530`; `$msec` is epoch seconds.
- 2 workers, `master_process on`, `error_log … info`; `client_header_timeout 2s`,
  stream `ssl_handshake_timeout 2s`.
- Clients: Python `ssl` (system OpenSSL), pyOpenSSL with `SSL_MODE_SEND_FALLBACK_SCSV`,
  and raw bytes for the original report's TLS 1.0 ClientHello (14 suites ending in
  `0x5600`, ALPN h2-16/spdy/3.1/http/1.1, P-256/384/521; `reference/client-fallback.md` §6).
  Direct clients connect from 127.0.0.N; the "load balancer" is client code connecting from
  **{truth['lb_addr']}** and writing a PROXY v1 header that names a documentation-range
  client (198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32).
- The logs were rotated twice during the run (`mv name name.1`, `kill -USR1`; the second
  time `name.1` was gzipped to `name.2.gz`): phase 0 is in `*.2.gz`, phase 1 in `*.1`,
  phase 2 in the live file.

## Files

| file | origin |
|---|---|
{listing}
{cap_row}| `../tests/fixtures/sample_truth.json` | ground truth: every connection attempt with real client, listener, times, what the client saw, the expected reason code and whether it is attributable (`tests/lab/scenarios.py`) |
| `README.md` | this file |

Listeners: `direct` (TLS 1.2+1.3, modern ciphers), `proxy` (PROXY protocol, TLS 1.0–1.2 with
the ELBSecurityPolicy-2016-08 ciphers, like the original report's endpoint; failures show
only `client: {truth['lb_addr']}`), `proxy_debug` (the same plus a server-level debug log,
whose `PROXY protocol src:` line names the real client with the same `*N`), `stream`
(`ssl proxy_protocol` + `set_real_ip_from`: failures name the real client).

## Expected numbers

`logcorr ingest sample_logs --lb-cidr {truth['lb_addr']}/32` then `logcorr report --window 5m`
(min protocol TLSv1.2), logs only (without `lab.pcap`):

{numbers_table(truth, capture=False)}

With `lab.pcap` ingested too, the PROXY headers in the capture name the real client of
every PROXY-listener failure:

{numbers_table(truth, capture=True)}

## Scenario mix

{scenario_table(truth)}

## nginx configuration

Paths were in a temporary prefix; the certificate is a run-time self-signed RSA-2048
certificate for `lab.test`.

```nginx
{conf.strip()}
```
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "sample_logs")
    parser.add_argument("--no-capture", action="store_true", help="do not run tcpdump")
    args = parser.parse_args(argv)
    if nginx.nginx_binary() is None:
        print("make_samples: nginx is not installed (apt-get install -y nginx libnginx-mod-stream)",
              file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="logcorr-lab-") as tmp:
        prefix = Path(tmp)
        logs, truth = scenarios.run(prefix, capture=not args.no_capture)
        conf = (prefix / "conf" / "nginx.conf").read_text(encoding="utf-8").replace(tmp, "/lab")
        args.out.mkdir(parents=True, exist_ok=True)
        for old in args.out.iterdir():
            if old.is_file():
                old.unlink()
        files = sorted(p.name for p in logs.iterdir() if p.is_file() and p.stat().st_size)
        for name in files:
            shutil.copy2(logs / name, args.out / name)
        # The ground truth is for tests, not an input: it lives beside the test fixtures.
        # (into --out itself when regenerating somewhere else, so the committed pair stays whole)
        truth_path = TRUTH if args.out.resolve() == (ROOT / "sample_logs").resolve() else args.out / "truth.json"
        truth_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(prefix / "truth.json", truth_path)
        pcap = prefix / "lab.pcap"
        if truth.get("capture") and pcap.exists() and pcap.stat().st_size > 24:
            shutil.copyfile(pcap, args.out / "lab.pcap")
        else:
            truth["capture"] = None
        (args.out / "README.md").write_text(readme(truth, files, conf), encoding="utf-8")
    total = sum(1 for f in args.out.iterdir() if f.is_file())
    print(f"make_samples: wrote {total} files to {args.out} "
          f"(nginx {truth['nginx']['nginx']}, {truth['nginx']['openssl_running']})")
    return 0


TRUTH = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "sample_truth.json"


if __name__ == "__main__":

    sys.exit(main())
