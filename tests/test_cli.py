"""The command line: exit codes, one-line errors, and results read back through the library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import logcorr
from tests.test_ingest import ACCESS_LINES, ERROR_LINES


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "logcorr", *args], capture_output=True, text=True,
                          cwd=cwd, env=full_env, timeout=120, check=False)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    d = tmp_path / "nginx"
    d.mkdir()
    (d / "error.log").write_text("\n".join(ERROR_LINES) + "\n")
    (d / "access.log").write_text("\n".join(ACCESS_LINES) + "\n")
    return d


def test_ingest_then_report_json(logs: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = cli("ingest", str(logs), "--data", str(data))
    assert out.returncode == 0, out.stderr
    assert "error.log" in out.stdout
    assert "nginx_error" in out.stdout
    rep = cli("report", "--data", str(data), "--window", "5m", "--format", "json")
    assert rep.returncode == 0, rep.stderr
    doc = json.loads(rep.stdout)
    assert doc["schema"] == "logcorr.report/2"
    assert doc["window_seconds"] == 300
    assert doc["totals"]["handshake_failures"] == 2
    by_reason = {r["reason"]: r for r in doc["reasons"]}
    # 127.0.0.8 failed at 17:32:51 (fallback) and had a TLSv1.2 session at 17:32:51.4
    assert by_reason["inappropriate_fallback"]["recovered"] == 1
    assert by_reason["unsupported_protocol"]["unrecovered"] == 1
    assert [c["client"] for c in doc["unrecovered_clients"]] == ["127.0.0.7"]
    # report wrote the matches table; read it back through the library
    matches = logcorr.open(data).table("matches")
    assert matches.set_index("client_addr")["recovered"].to_dict() == {"127.0.0.7": False, "127.0.0.8": True}


def test_data_dir_from_environment(logs: Path, tmp_path: Path) -> None:
    env = {"LOGCORR_DATA": str(tmp_path / "envdata")}
    assert cli("ingest", str(logs), "-q", env=env).returncode == 0
    assert (tmp_path / "envdata" / "manifest.json").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--data", "{tmp}/nothing"], "no data directory at"),
        (["report", "--data", "{data}", "--window", "5x"], "window '5x' does not parse"),
        (["report", "--data", "{data}", "--min-protocol", "TLSv9"], "--min-protocol"),
        (["ingest", "{logs}", "--data", "{data}", "--error-tz", "Mars/Olympus"], "--error-tz"),
        (["ingest", "{logs}", "--data", "{data}", "--lb-cidr", "10.0.0.0/33"], "--lb-cidr"),
        (["ingest", "{logs}/error.log", "--data", "{data}", "--log-format", "$remote_addr ${{oops"], "^"),
    ],
)
def test_user_errors_are_one_line_without_traceback(args: list[str], message: str, logs: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert cli("ingest", str(logs), "--data", str(data), "-q").returncode == 0
    out = cli(*[a.format(tmp=tmp_path, data=data, logs=logs) for a in args])
    assert out.returncode == 1, out.stdout
    assert "Traceback" not in out.stderr
    assert message in out.stderr
    assert out.stderr.startswith("logcorr: ")


def test_partial_run_has_its_own_exit_status(logs: Path, tmp_path: Path) -> None:
    (logs / "junk.log").write_bytes(b"\x00\x01\x02" * 100)
    out = cli("ingest", str(logs), "--data", str(tmp_path / "data"))
    assert out.returncode == 3
    assert "junk.log" in out.stderr
    assert "Traceback" not in out.stderr
    assert logcorr.open(tmp_path / "data").tables["handshake_failures"] == 2


def test_help_ends_with_an_example() -> None:
    for command in ("ingest", "report"):
        out = cli(command, "--help")
        assert out.returncode == 0
        assert "Example: logcorr " + command in out.stdout


def test_piped_output_has_no_progress_or_escape_codes(logs: Path, tmp_path: Path) -> None:
    out = cli("ingest", str(logs), "--data", str(tmp_path / "data"))
    assert "\x1b" not in out.stdout + out.stderr
    rep = cli("report", "--data", str(tmp_path / "data"))
    assert rep.returncode == 0, rep.stderr
    assert "\x1b" not in rep.stdout


def test_version_matches_the_package_metadata() -> None:
    import tomllib

    version = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]["version"]
    fast = cli("--version")
    assert (fast.returncode, fast.stdout) == (0, f"logcorr {version}\n")
    # Through typer too (an option after it, so the fast path is not taken).
    slow = cli("--version", "report")
    assert (slow.returncode, slow.stdout) == (0, f"logcorr {version}\n")


def test_shell_completion_offers_report_formats() -> None:
    """What bash gets from the installed script (the completion variable is named after it)."""
    import os

    script = Path(sys.executable).parent / "logcorr"

    def complete(words: str) -> list[str]:
        env = {**os.environ, "_LOGCORR_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": "3"}
        done = subprocess.run([str(script)], capture_output=True, text=True, env=env, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("logcorr report --format m") == ["markdown"]
    assert complete("logcorr report --format ") == ["text", "json", "markdown", "html"]


def test_host_scanner_and_ignore_options_are_stored(logs: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = cli("ingest", str(logs), "--data", str(data), "--host", "web-9", "--scanner", "192.0.2.0/24",
               "--ignore", "198.51.100.9", "-q")
    assert done.returncode == 0, done.stderr
    ds = logcorr.open(data)
    assert set(ds.table("handshake_failures")["host"]) == {"web-9"}
    settings = ds.store.manifest["settings"]
    assert (settings["scanner_cidrs"], settings["ignore_cidrs"]) == (["192.0.2.0/24"], ["198.51.100.9/32"])
    bad = cli("ingest", str(logs), "--data", str(data), "--scanner", "nope")
    assert (bad.returncode, bad.stderr) == (1, "logcorr: --scanner 'nope' is not an address or CIDR block\n")


def test_log_format_is_repeatable(tmp_path: Path) -> None:
    """SPEC §2 ``[--log-format FMT]...``: a file that holds two custom formats (a reload in
    between), each given once; every line is read with its own.  The lines are shaped as
    nginx renders these variables (``$msec``, ``$remote_addr``, ``$ssl_protocol``, ``$ssl_cipher``)."""
    a = "$msec|$remote_addr|$ssl_protocol|$ssl_cipher"
    b = "$remote_addr;$ssl_protocol;$ssl_cipher;$msec"
    d = tmp_path / "logs"
    d.mkdir()
    (d / "access.log").write_text(
        "1795714371.000|198.51.100.7|TLSv1.2|ECDHE-RSA-AES128-GCM-SHA256\n"
        "1795714372.000|198.51.100.8|TLSv1.3|TLS_AES_256_GCM_SHA384\n"
        "198.51.100.9;TLSv1.2;ECDHE-RSA-AES256-GCM-SHA384;1795714373.000\n")
    done = cli("ingest", str(d), "--data", str(tmp_path / "data"), "--log-format", a, "--log-format", b, "-q")
    assert done.returncode == 0, done.stderr
    s = logcorr.open(tmp_path / "data").table("tls_sessions").sort_values("line")
    assert s["client_addr"].tolist() == ["198.51.100.7", "198.51.100.8", "198.51.100.9"]
    assert s["ssl_protocol"].tolist() == ["TLSv1.2", "TLSv1.3", "TLSv1.2"]
    assert logcorr.open(tmp_path / "data").tables["rejects"] == 0
