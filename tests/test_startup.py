"""Start-up: ``--help`` and plain ``ingest`` answered without typer, ingest without pandas.

The fast paths in ``logcorr.entry`` must say exactly what typer says (the stored help
texts, the parsed ingest options), and ingest must not import pandas (0.25 s) nor typer.
Speed itself is measured by ``make bench`` (bench/run.py, ``startup``), not asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import logcorr
from logcorr import clisnapshot, entry
from tools import cli_snapshot

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_logs"
COMMANDS = ["", *cli_snapshot.commands()]

# Runs logcorr.entry.main() as the script does, then writes which heavy modules it imported
# (and, beside it, every module it imported).
CHILD = """
import json, os, sys
out = sys.argv.pop(1)
sys.argv[0] = "logcorr"
from logcorr.entry import main
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code
with open(out, "w") as fh:
    json.dump({"code": code, "loaded": sorted(m for m in ("pandas", "typer", "pydantic", "dpkt", "rich")
                                              if m in sys.modules)}, fh)
with open(out + ".modules", "w") as fh:
    json.dump({"modules": sorted(sys.modules), "openblas": os.environ.get("OPENBLAS_NUM_THREADS")}, fh)
"""


def run_entry(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[dict[str, Any], str]:
    """Run the script's entry point in a child: (exit code and loaded modules, stdout)."""
    marker = tmp_path / "child.json"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(marker), *args], capture_output=True,
                          text=True, timeout=120, check=False, env={**os.environ, **(env or {})})
    assert marker.exists(), proc.stderr
    return json.loads(marker.read_text()), proc.stdout


def test_snapshot_is_typers_current_output() -> None:
    """logcorr/clisnapshot.py is what tools/cli_snapshot.py renders from logcorr.cli now."""
    stored = Path(clisnapshot.__file__).read_text(encoding="utf-8")
    assert stored == cli_snapshot.render(), "run: python tools/cli_snapshot.py"


@pytest.mark.parametrize("command", COMMANDS)
def test_fast_help_is_typers_help_without_typer(command: str, tmp_path: Path) -> None:
    args = [command, "--help"] if command else ["--help"]
    seen, out = run_entry(tmp_path, *args, env={"COLUMNS": "80"})
    assert seen == {"code": 0, "loaded": []}
    assert out == cli_snapshot.typer_help(args[:-1])


@pytest.mark.parametrize("command", ["", "ingest"])
def test_fast_help_names_the_program_as_click_does(command: str) -> None:
    """``python -m logcorr --help`` says ``python -m logcorr`` in its usage line, as typer does."""
    args = [command, "--help"] if command else ["--help"]
    out = subprocess.run([sys.executable, "-m", "logcorr", *args], capture_output=True, text=True,
                         timeout=60, check=True, env={**os.environ, "COLUMNS": "120"}).stdout
    assert out.startswith("Usage: python -m logcorr ")
    assert out == cli_snapshot.typer_help(args[:-1], prog="python -m logcorr")


def test_narrow_terminal_help_is_left_to_typer(tmp_path: Path) -> None:
    """Below 80 columns click wraps differently: typer renders it."""
    seen, out = run_entry(tmp_path, "ingest", "--help", env={"COLUMNS": "60"})
    assert seen["code"] == 0
    assert "typer" in seen["loaded"]
    assert out != clisnapshot.HELP["ingest"]
    assert max(len(line) for line in out.splitlines()) <= 58


def test_help_text_leaves_long_program_names_to_typer() -> None:
    """A usage line click would wrap is not served from the stored text."""
    assert entry.help_text(["ingest", "--help"], "logcorr") == clisnapshot.HELP["ingest"]
    assert entry.help_text(["ingest", "--help"], "x" * 60) is None
    assert entry.help_text(["ingest", "x", "--help"], "logcorr") is None
    assert entry.help_text(["nosuch", "--help"], "logcorr") is None


def _report(data: Path) -> dict[str, Any]:
    return logcorr.open(data).report(window="5m").data


@pytest.mark.parametrize("via", ["fast", "typer"])
def test_ingest_never_imports_pandas(via: str, tmp_path: Path) -> None:
    """Ingest of error logs, access logs and a capture, by the fast path and by typer (``--``
    sends it there): no pandas in the process, and the same evidence as the library's ingest
    in a process that has pandas loaded (the report of both data directories is equal)."""
    data = tmp_path / "data"
    args = ["ingest", "--data", str(data), "-q", *(["--"] if via == "typer" else []), str(SAMPLES)]
    seen, _ = run_entry(tmp_path, *args)
    assert seen["code"] == 0
    assert "pandas" not in seen["loaded"]
    assert ("typer" in seen["loaded"]) == (via == "typer")
    assert "dpkt" in seen["loaded"]  # the capture was read
    ref = tmp_path / "ref"
    logcorr.ingest([str(SAMPLES)], data=ref)
    for table in ("handshake_failures", "tls_sessions", "client_hellos"):
        assert len(logcorr.open(data).table(table)) == len(logcorr.open(ref).table(table)) > 0
    assert _report(data) == _report(ref)


# The one-line logs of bench/startup.py
ONE_LINE = {
    "access": '203.0.113.5 - - [02/Dec/2026:04:00:00 +0000] "GET / HTTP/1.1" 200 12 "-" "curl/8.5.0"\n',
    "error": ("2026/12/02 04:00:00 [info] 1234#1234: *7 SSL_do_handshake() failed (SSL: error:0A000102:"
              "SSL routines::unsupported protocol) while SSL handshaking, client: 10.0.1.2, server: 0.0.0.0:443\n"),
}


def test_one_line_logs_ingest_without_pandas_or_dpkt(tmp_path: Path) -> None:
    """The bench's one-line ingest: nothing heavy beyond pyarrow (no dpkt, no rich for the summary)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    for kind, line in ONE_LINE.items():
        (logs / f"{kind}.log").write_text(line)
    seen, out = run_entry(tmp_path, "ingest", str(logs), "--data", str(tmp_path / "data"))
    assert seen == {"code": 0, "loaded": []}
    assert "stored: 1 handshake_failures" in out
    assert len(logcorr.open(tmp_path / "data").table("handshake_failures")) == 1


# What deciding a file's kind and reading it loads: only the reader of its kind (the capture,
# nmap, AWS and other nginx readers are imported when a file needs them).
NOT_FOR = {
    "error": ["logcorr.sources.pcap", "logcorr.sources.tls", "logcorr.sources.proxyproto",
              "logcorr.sources.nmap", "logcorr.profile", "xml.etree.ElementTree",
              "logcorr.sources.elblogs", "logcorr.sources.accesslog", "logcorr.sources.logformat"],
    "access": ["logcorr.sources.pcap", "logcorr.sources.tls", "logcorr.sources.proxyproto",
               "logcorr.sources.nmap", "logcorr.profile", "xml.etree.ElementTree",
               "logcorr.sources.errortier"],
}


@pytest.mark.parametrize("kind", sorted(NOT_FOR))
def test_plain_nginx_log_ingest_imports_only_its_reader(kind: str, tmp_path: Path) -> None:
    """An nginx log is told from a capture or an nmap report by their signatures alone
    (logcorr.sources.signatures), and ingest runs with OpenBLAS's thread pool off."""
    log = tmp_path / f"{kind}.log"
    log.write_text(ONE_LINE[kind])
    seen, out = run_entry(tmp_path, "ingest", str(log), "--data", str(tmp_path / "data"))
    assert seen["code"] == 0, out
    child = json.loads((tmp_path / "child.json.modules").read_text())
    assert f"logcorr.sources.{kind}log" in child["modules"]
    assert [m for m in NOT_FOR[kind] if m in child["modules"]] == []
    assert child["openblas"] == os.environ.get("OPENBLAS_NUM_THREADS", "1")


def test_a_users_openblas_setting_is_kept(tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    log.write_text(ONE_LINE["error"])
    seen, _ = run_entry(tmp_path, "ingest", str(log), "--data", str(tmp_path / "data"),
                        env={"OPENBLAS_NUM_THREADS": "3"})
    assert seen["code"] == 0
    assert json.loads((tmp_path / "child.json.modules").read_text())["openblas"] == "3"


def _typer_call(args: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict[str, Any] | None]:
    """Exit code of typer's ``ingest ARGS`` and what it passed to ingest_command."""
    import logcorr.cli

    calls: list[dict[str, Any]] = []

    def record(paths: list[str], **options: Any) -> int:
        calls.append({"paths": list(paths), **options})
        return 0

    monkeypatch.setattr(logcorr.cli, "ingest_command", record)
    result = CliRunner().invoke(logcorr.cli.app, ["ingest", *args])
    return result.exit_code, calls[0] if calls else None


def _fast_call(args: list[str]) -> dict[str, Any] | None:
    parsed = entry.parse_ingest(args)
    return None if parsed is None else {"paths": parsed[0], **parsed[1]}


PLAIN = [
    ["a.log"],
    ["a.log", "b.log", "--data", "d", "-q"],
    ["--data=d", "a.log", "--quiet"],
    ["a.log", "--log-format", "combined", "--log-format=main", "--nginx-conf", "n.conf"],
    ["--error-tz", "+05:30", "--lb-cidr", "10.0.0.0/8", "--lb-cidr", "10.1.0.0/16", "a.log",
     "--scanner", "192.0.2.1", "--ignore", "198.51.100.0/24", "--host", "web-1"],
    ["--host", "", "a.log", "--data", ""],
    ["--log-format", '$remote_addr - [$time_local] "$request"', "a b.log"],
    ["--host=a=b", "a.log"],
]


@pytest.mark.parametrize("args", PLAIN, ids=lambda a: " ".join(a)[:40])
def test_plain_ingest_args_parse_as_typer_parses_them(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _fast_call(args)
    assert fast is not None, "a plain call should not need typer"
    assert _typer_call(args, monkeypatch) == (0, fast)


LEFT_TO_TYPER = [[], ["--data", "d"], ["a.log", "--data"], ["--", "a.log"], ["-", "a.log"],
                 ["a.log", "--bogus"], ["a.log", "-qq"], ["a.log", "--quiet=1"], ["a.log", "--host", "-q"],
                 ["a.log", "--host", "a", "--host", "b"], ["a.log", "--help"], ["a.log", "-h"]]


@pytest.mark.parametrize("args", LEFT_TO_TYPER, ids=lambda a: " ".join(a) or "nothing")
def test_unusual_ingest_args_are_left_to_typer(args: list[str]) -> None:
    assert entry.parse_ingest(args) is None


TOKENS = st.sampled_from(["--data", "--log-format", "--nginx-conf", "--error-tz", "--lb-cidr", "--scanner",
                          "--ignore", "--host", "--quiet", "-q", "--data=x", "--host=", "--bogus", "--",
                          "-", "a.log", "dir/", "x=y", "", " ", "--quiet=yes", "-x"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(TOKENS, st.text(max_size=6)), max_size=7))
def test_fast_ingest_parse_never_disagrees_with_typer(args: list[str]) -> None:
    """Whatever the fast parser accepts, typer accepts and passes on identically."""
    fast = _fast_call(args)
    if fast is None:
        return
    with pytest.MonkeyPatch.context() as mp:
        assert _typer_call(args, mp) == (0, fast)


def _rich_summary(result: Any) -> str:
    """The summary as rich draws it to a pipe (the plain path turned off)."""
    import io

    from logcorr import ui

    buf = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ui, "plain_summary", lambda _: None)
        ui.print_ingest_summary(result, file=buf)
    return buf.getvalue()


TEXT = st.text(alphabet=st.sampled_from("ab.-/_:[]\\ 9é\t"), max_size=12)
RESULTS = st.builds(
    lambda files, warnings, rows, tz: _result(files, warnings, rows, tz),
    st.lists(st.tuples(st.one_of(TEXT, st.just("logs/web-1/access.log.2.gz")),
                       st.sampled_from(["nginx_access", "nginx_error", "pcap", "cloudwatch", "?"]),
                       st.sampled_from(["new", "grown", "unchanged", "error"]),
                       st.lists(st.integers(0, 10**7), min_size=4, max_size=4),
                       st.lists(st.tuples(TEXT, st.integers(1, 99), st.integers(1, 10**6)), max_size=3)),
             max_size=4),
    st.lists(st.one_of(TEXT, st.just("access.log: the log_format combined has no $ssl_protocol")), max_size=2),
    st.dictionaries(st.sampled_from(["handshake_failures", "tls_sessions", "rejects"]), st.integers(0, 10**6)),
    st.one_of(st.none(), st.just("Etc/UTC, this machine's zone"), TEXT))


def _result(files: list[Any], warnings: list[str], rows: dict[str, int], tz: str | None) -> Any:
    from logcorr.ingestion import FileResult, IngestResult

    return IngestResult(files=[FileResult(path, kind, status, *counts, formats=formats)
                               for path, kind, status, counts, formats in files],
                        warnings=warnings, rows=rows, error_tz=tz)


@settings(max_examples=300, deadline=None)
@given(RESULTS)
def test_plain_summary_is_what_rich_prints(result: Any) -> None:
    """To a pipe the summary is printed without rich only when it is rich's text exactly."""
    from logcorr import ui

    plain = ui.plain_summary(result)
    if plain is not None:
        assert plain == _rich_summary(result)


def test_plain_summary_prints_the_usual_summary_without_rich() -> None:
    from logcorr import ui

    result = _result([("logs/web-1/access.log", "nginx_access", "new", [1200, 1190, 0, 10], []),
                      ("lab.pcap", "pcap", "grown", [1, 1, 0, 0], [])],
                     ["access.log: the log_format combined has no $ssl_protocol"],
                     {"tls_sessions": 1190, "rejects": 10}, "Etc/UTC, this machine's zone")
    plain = ui.plain_summary(result)
    assert plain is not None
    assert plain == _rich_summary(result)
    assert plain.splitlines()[1] == "logs/web-1/access.log  nginx_access  new     1,200   1,190        0        10"


@pytest.mark.parametrize(("given_value", "expected"), [(None, "0"), ("1", "1")])
def test_every_command_sets_lazy_arenas_before_pyarrow_loads(given_value: str | None, expected: str) -> None:
    """mimalloc reads MIMALLOC_ARENA_EAGER_COMMIT when pyarrow loads: the script sets it
    first, for every command (a value the user set wins)."""
    code = ("import os, sys; sys.argv = ['logcorr', 'report', '--help']\n"
            "from logcorr.entry import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(os.environ.get('MIMALLOC_ARENA_EAGER_COMMIT', 'unset'))")
    env = {k: v for k, v in os.environ.items() if k != "MIMALLOC_ARENA_EAGER_COMMIT"}
    if given_value is not None:
        env["MIMALLOC_ARENA_EAGER_COMMIT"] = given_value
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stderr.strip().endswith(expected)
