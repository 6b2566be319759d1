"""Whole directories as operators have them (issue 10.10): an nginx.conf with
``sites-enabled``/``conf.d`` fragments beside the logs, a path that does not exist, and a
log whose format changed (issue 10.2) in a custom ``log_format`` known only from the conf.

Formats: ``lab`` is ``tests/lab/nginx.py::RECOMMENDED_FORMAT`` with ``$ssl_protocol``
first; the conf layout is Debian's (``/etc/nginx/nginx.conf`` including
``sites-enabled/*`` and ``conf.d/*.conf``).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

import logcorr
from logcorr.errors import LogcorrError
from logcorr.ui import print_ingest_summary

CUSTOM = '$ssl_protocol|$remote_addr|$msec|$status|"$request"'
CONF = """\
user www-data;
worker_processes auto;
events { worker_connections 768; }
http {
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    include conf.d/*.conf;
    include sites-enabled/*;
}
"""
FORMATS = f"log_format pipes '{CUSTOM}';\n"
SITE = """\
server {
    listen 443 ssl;
    server_name example.test;
    access_log /var/log/nginx/access.log pipes;
}
"""
# lines as nginx writes them with CUSTOM (nginx-logs.md §6.2 value shapes)
PIPES = [
    'TLSv1.3|192.0.2.1|1795714168.860|200|"GET / HTTP/1.1"',
    'TLSv1.2|192.0.2.2|1795714169.000|200|"GET /a HTTP/1.1"',
    '-|192.0.2.3|1795714170.000|400|"GET /plain HTTP/1.1"',
]


def _layout(root: Path) -> Path:
    etc = root / "etc" / "nginx"
    (etc / "conf.d").mkdir(parents=True)
    (etc / "sites-enabled").mkdir()
    (etc / "nginx.conf").write_text(CONF)
    (etc / "conf.d" / "formats.conf").write_text(FORMATS)
    (etc / "sites-enabled" / "default").write_text(SITE)
    logs = root / "a-logs"  # sorts before etc/: the access log is met before the conf
    logs.mkdir()
    (logs / "access.log").write_text("\n".join(PIPES) + "\n")
    return etc


def test_conf_in_a_directory_walk_gives_formats_and_profile(tmp_path: Path) -> None:
    _layout(tmp_path / "in")
    result = logcorr.ingest([str(tmp_path / "in")], tmp_path / "data")
    kinds = {Path(f.path).relative_to(tmp_path / "in").as_posix(): (f.kind, f.status, f.error)
             for f in result.files}
    assert kinds == {
        "a-logs/access.log": ("nginx_access", "new", None),
        "etc/nginx/nginx.conf": ("nginx_conf", "new", None),
        "etc/nginx/conf.d/formats.conf": ("nginx_conf", "new", None),
        "etc/nginx/sites-enabled/default": ("nginx_conf", "new", None),
    }
    access = next(f for f in result.files if f.kind == "nginx_access")
    assert (access.lines, access.parsed, access.rejected) == (3, 3, 0)
    assert access.formats == [("pipes", 1, 3)]
    sessions = pq.read_table(tmp_path / "data" / "tls_sessions").to_pylist()
    assert [(s["client_addr"], s["ssl_protocol"]) for s in sessions] == [
        ("192.0.2.1", "TLSv1.3"), ("192.0.2.2", "TLSv1.2")]
    profiles = logcorr.open(tmp_path / "data").store.manifest["settings"]["server_profiles"]
    (key,) = profiles  # the main conf only; fragments give formats
    assert key == f"nginx.conf:{tmp_path / 'in' / 'etc' / 'nginx' / 'nginx.conf'}"
    assert sorted(profiles[key]["protocols"]) == ["TLSv1.2", "TLSv1.3"]
    assert set(profiles[key]["cipher_preference"].values()) == {"server"}


def test_nginx_conf_option_reads_ssl_prefer_server_ciphers(tmp_path: Path) -> None:
    etc = _layout(tmp_path / "in")
    logcorr.ingest([str(tmp_path / "in" / "a-logs")], tmp_path / "data",
                   nginx_conf=str(etc / "nginx.conf"))
    profiles = logcorr.open(tmp_path / "data").store.manifest["settings"]["server_profiles"]
    assert {k: set(v["cipher_preference"].values()) for k, v in profiles.items()} == {
        f"nginx.conf:{etc / 'nginx.conf'}": {"server"}}


def test_ingest_of_a_missing_path_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(LogcorrError, match="no such file or directory"):
        logcorr.ingest([str(tmp_path / "nonexistent")], tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_summary_says_where_the_format_changed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # combined (nginx-logs.md §6.4) then the built-in recommended format after a reload
    combined = '192.0.2.7 - - [26/Nov/2026:23:02:50 +0530] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"'
    recommended = ('127.0.0.1 - - [26/Nov/2026:23:02:51 +0530] "GET / HTTP/1.1" 200 5 "-" "curl" TLSv1.3 '
                   'TLS_AES_256_GCM_SHA384 "-" . - 127.0.0.1 7 1 1795714371.860 0.000')
    log = tmp_path / "access.log"
    log.write_text("\n".join([combined] * 2 + [recommended] * 3 + [combined]) + "\n")
    result = logcorr.ingest([str(log)], tmp_path / "data")
    print_ingest_summary(result)
    out = capsys.readouterr().out
    assert f"{log}: log_format changes: combined lines 1-2, recommended lines 3-5, combined lines 6-6" in out


# ALB connection log, AWS sample (reference/aws-load-balancers.md §2.4, unwrapped); the
# older lines are the same entry without its 12th field (conn_trace_id).
ALB_CONN = ('2023-10-04T17:05:15.514108Z 203.0.113.1 36280 443 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 4.036 '
            '"CN=amazondomains.com,O=endEntity,L=Seattle,ST=Washington,C=US" '
            'NotBefore=2023-09-21T22:43:21Z;NotAfter=2026-06-17T22:43:21Z FEF257372D5C14D4 Success '
            'TID_3180a73013c8ca4bac2f731159d4b0fe')


def test_aws_log_whose_first_lines_are_an_older_layout(tmp_path: Path) -> None:
    old = ALB_CONN.rsplit(" ", 1)[0]
    log = tmp_path / "conn_log_123456789012_elasticloadbalancing_us-east-2_app.my-lb.1234_20231004T1710Z_10.0.0.1_x.log"
    log.write_text("\n".join([old, old, ALB_CONN, ALB_CONN.replace("203.0.113.1", "203.0.113.2"), ALB_CONN]) + "\n")
    result = logcorr.ingest([str(log)], tmp_path / "data")
    (f,) = result.files
    assert (f.kind, f.lines, f.parsed, f.rejected, f.error) == ("alb_connection", 5, 3, 2, None)
    rej = pq.read_table(tmp_path / "data" / "rejects").to_pylist()
    assert [(r["line"], r["error"]) for r in rej] == [
        (1, "11 fields; a alb_connection line has 12 to 15"), (2, "11 fields; a alb_connection line has 12 to 15")]


def test_cloudwatch_json_lines_are_counted_in_the_manifest(tmp_path: Path) -> None:
    # aws cloudwatch get-metric-statistics output (reference §7.1)
    export = tmp_path / "app.my-alb.50dc6c495c0c9188_ClientTLSNegotiationErrorCount.json"
    export.write_text('{"Label": "ClientTLSNegotiationErrorCount", "Datapoints": [\n'
                      '  {"Timestamp": "2026-11-26T17:00:00Z", "Sum": 3.0, "Unit": "Count"},\n'
                      '  {"Timestamp": "2026-11-26T17:01:00Z", "Sum": 1.0, "Unit": "Count"},\n'
                      '  {"Timestamp": "not a time", "Sum": 1.0, "Unit": "Count"}\n]}\n')
    logcorr.ingest([str(export)], tmp_path / "data")
    (src,) = logcorr.open(tmp_path / "data").store.manifest["sources"]
    assert (src["kind"], src["lines"], src["parsed"], src["skipped"], src["rejected"]) == (
        "cloudwatch", 3, 2, 0, 1)


def test_debian_etc_nginx_files_are_all_configuration(tmp_path: Path) -> None:
    """Excerpts of Debian 12's nginx 1.22.1 package files (/etc/nginx): tables and snippets."""
    etc = tmp_path / "nginx"
    (etc / "snippets").mkdir(parents=True)
    (etc / "mime.types").write_text("\ntypes {\n    text/html                             html htm shtml;\n"
                                    "    image/svg+xml                         svg svgz;\n}\n")
    (etc / "koi-utf").write_text("# This map is not a full koi8-r <> utf8 map\n\ncharset_map  koi8-r  utf-8 {\n"
                                 "    80  E282AC ; # euro\n    95  E280A2 ; # bullet\n}\n")
    (etc / "fastcgi.conf").write_text("fastcgi_param  SCRIPT_FILENAME    $document_root$fastcgi_script_name;\n"
                                      "fastcgi_param  QUERY_STRING       $query_string;\n")
    (etc / "snippets" / "fastcgi-php.conf").write_text(
        "fastcgi_split_path_info ^(.+?\\.php)(/.*)$;\ntry_files $fastcgi_script_name =404;\n"
        "fastcgi_index index.php;\ninclude fastcgi.conf;\n")
    result = logcorr.ingest([str(etc)], tmp_path / "data")
    assert sorted((Path(f.path).name, f.kind, f.error, f.lines, f.parsed) for f in result.files) == [
        ("fastcgi-php.conf", "nginx_conf", None, 4, 4), ("fastcgi.conf", "nginx_conf", None, 2, 2),
        ("koi-utf", "nginx_conf", None, 6, 6), ("mime.types", "nginx_conf", None, 5, 5)]
    assert result.warnings == []  # the snippet's include of ../fastcgi.conf was found
