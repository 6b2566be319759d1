"""nginx.conf reading: log_format directives, includes, access_log targets, TLS profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from logcorr.errors import InputError
from logcorr.sources.nginxconf import (
    LogFormatDef,
    read_access_logs,
    read_log_formats,
    read_tls_profile,
)

# Layout as in the nginx.conf shipped with nginx (conf/nginx.conf) and Debian's conf.d includes.
MAIN_CONF = """\
user www-data;  # comment after a directive
http {
    include conf.d/*.conf;
    include loop.conf;
    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      "\\"$http_user_agent\\" \\"$http_x_forwarded_for\\"";
    # log_format commented '$remote_addr';
    access_log /var/log/nginx/access.log main;
    access_log /var/log/nginx/plain.log;
    access_log off;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256';
    ssl_ecdh_curve X25519:prime256v1;
}
"""
JSON_CONF = """\
log_format json_tls escape=json
  '{"time":"$time_iso8601","client":"$remote_addr",'
  '"ssl_protocol":"$ssl_protocol"}';
"""


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "json.conf").write_text(JSON_CONF)
    (tmp_path / "loop.conf").write_text("include nginx.conf;\nlog_format loop '$msec';\n")
    main = tmp_path / "nginx.conf"
    main.write_text(MAIN_CONF)
    return main


def test_log_formats(conf: Path) -> None:
    formats = read_log_formats(str(conf))
    assert sorted(formats) == ["json_tls", "loop", "main"]
    assert formats["main"].format == (
        '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent" "$http_x_forwarded_for"')
    assert formats["main"].escape == "default"
    assert formats["json_tls"] == LogFormatDef(
        "json_tls", '{"time":"$time_iso8601","client":"$remote_addr","ssl_protocol":"$ssl_protocol"}',
        "json", str(conf.parent / "conf.d" / "json.conf"), 1)


def test_access_logs_and_tls_profile(conf: Path) -> None:
    assert read_access_logs(str(conf)) == {"/var/log/nginx/access.log": "main",
                                           "/var/log/nginx/plain.log": "combined"}
    assert read_tls_profile(str(conf)) == {
        "ssl_protocols": "TLSv1.2 TLSv1.3",
        "ssl_ciphers": "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
        "ssl_ecdh_curve": "X25519:prime256v1"}


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read nginx configuration"):
        read_log_formats(str(tmp_path / "missing.conf"))
    bad = tmp_path / "bad.conf"
    bad.write_text("log_format x '$a\n")
    with pytest.raises(InputError) as info:
        read_log_formats(str(bad))
    assert str(info.value) == f"{bad}:1: unterminated quoted string"
