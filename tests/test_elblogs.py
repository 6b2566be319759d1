"""AWS load-balancer log lines → tls_sessions / handshake_failures / rejects.

Every line says where its shape comes from; "reference" is
/work/shared/reference/aws-load-balancers.md (section numbers there).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from logcorr.sources import Options
from logcorr.sources.elblogs import ElbLogReader, alert_number, sniff, tokenize

# reference §1.3, OTEL testdata/alb_al_valid_logs.log (the AWS doc sample + conn_trace_id)
ALB_HTTPS = ('https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 '
             '10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 "GET https://www.example.com:443/ HTTP/1.1" '
             '"curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
             'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 '
             '"Root=1-58337281-1d84f3d73c47ec4e58577259" "www.example.com" '
             '"arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" 1 '
             '2018-07-02T22:22:48.364000Z "authenticate,forward" "-" "-" "10.0.0.1:80" "200" "-" "-" '
             'TID_1234abcd5678ef90')
# reference §1.3 (REAL, 2025): a malformed request, 400, no TLS fields
ALB_400 = ('http 2025-03-01T10:03:17.218099Z app/MyALB1/240dbdc5244653c9 205.210.31.158:61084 - -1 -1 -1 '
           '400 - 0 272 "- http://myalb1-878688131.us-east-1.elb.amazonaws.com:80- -" "-" - - - "-" "-" '
           '"-" - 2025-03-01T10:03:16.682000Z "-" "-" "-" "-" "-" "-" "-" TID_6cfb27fd2ef25c42932bd6e0ff56d631')
# reference §2.4 (ALB-CL samples, unwrapped)
CONN_OK = ('2023-10-04T17:05:15.514108Z 203.0.113.1 36280 443 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 4.036 '
           '"CN=amazondomains.com,O=endEntity,L=Seattle,ST=Washington,C=US" '
           'NotBefore=2023-09-21T22:43:21Z;NotAfter=2026-06-17T22:43:21Z FEF257372D5C14D4 Success '
           'TID_3180a73013c8ca4bac2f731159d4b0fe')
CONN_FAIL = ('2023-10-04T17:05:15.514108Z 203.0.113.1 36280 443 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 - '
             '"CN=amazondomains.com,O=endEntity,L=Seattle,ST=Washington,C=US" '
             'NotBefore=2023-09-21T22:43:21Z;NotAfter=2026-06-17T22:43:21Z FEF257372D5C14D4 '
             'Failed:ClientCertUntrusted TID_1c71a68d70587445ad5127ff8b2687d7')
# reference §2.2/§2.3: a non-mTLS failure (REPOST) in the 15-field layout (elb, ip_address)
CONN_UNMAPPED = ('2026-11-26T17:01:02.000123Z 198.51.100.7 50123 443 - - - - - - '
                 'Failed:UnmappedConnectionError TID_00aa - app/my-alb/50dc6c495c0c9188 10.0.1.5')
# reference §3.3 (OTEL testdata/nlb_al_valid_logs.log, the NLB-AL sample with ALPN fields)
NLB_OK = ('tls 2.0 2020-04-01T08:51:42 net/my-network-loadbalancer/c6e77e28c25b2234 g3d4b5e8bb8464cd '
          '72.21.218.154:51341 172.100.100.185:443 5 2 98 246 - '
          'arn:aws:acm:us-east-2:671290407336:certificate/2a108f19-aded-46b0-8493-c63eb1ef4a99 - '
          'ECDHE-RSA-AES128-SHA tlsv12 - my-network-loadbalancer-c6e77e28c25b2234.elb.us-east-2.amazonaws.com '
          'h2 h2 "h2","http/1.1" 2020-04-01T08:51:20')
# reference §3.2: a failed handshake has tls_handshake_time, tls_cipher, tls_protocol_version "-";
# incoming_tls_alert = the client's alert (48 unknown_ca; the brief's hex rendering 0x30)
NLB_ALERT_DEC = ('tls 2.0 2026-11-26T17:02:03 net/my-nlb/c6e77e28c25b2234 g3d4b5e8bb8464cd '
                 '198.51.100.9:40001 10.0.0.5:443 12 - 0 7 48 '
                 'arn:aws:acm:us-east-2:671290407336:certificate/2a108f19 - - - - - - - "-" 2026-11-26T17:02:02')
NLB_ALERT_HEX = NLB_ALERT_DEC.replace(" 48 ", " 0x30 ")
NLB_NO_ALERT = NLB_ALERT_DEC.replace(" 48 arn:aws:acm:us-east-2:671290407336:certificate/2a108f19 ", " - - ")
# reference §3.3 (NLB-AL 2023 page: 21 fields, no tls_connection_creation_time)
NLB_2023 = ('tls 2.0 2018-12-20T02:59:40 net/my-network-loadbalancer/c6e77e28c25b2234 g3d4b5e8bb8464cd '
            '72.21.218.154:51341 172.100.100.185:443 5 2 98 246 - '
            'arn:aws:acm:us-east-2:671290407336:certificate/2a108f19-aded-46b0-8493-c63eb1ef4a99 - '
            'ECDHE-RSA-AES128-SHA tlsv12 - my-network-loadbalancer-c6e77e28c25b2234.elb.us-east-2.amazonaws.com '
            '- - -')
# reference §4 (CLB samples): an HTTPS request and a TCP/SSL-listener connection
CLB_HTTPS = ('2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000086 0.001048 '
             '0.001337 200 200 0 57 "GET https://www.example.com:443/ HTTP/1.1" "curl/7.38.0" '
             'DHE-RSA-AES128-SHA TLSv1.2')
CLB_SSL = ('2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.001065 0.000015 '
           '0.000023 - - 57 502 "- - - " "-" ECDHE-ECDSA-AES128-GCM-SHA256 TLSv1.2')


def t(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


CASES: list[tuple[str, str, str, str | None, dict[str, Any]]] = [
    # (kind, line, why, table or None for skipped, expected fields)
    ("alb_access", ALB_HTTPS, "ALB doc sample", "tls_sessions",
     {"ts": t("2018-07-02T22:22:48.364"), "ts_logged": t("2018-07-02T22:23:00.186641"),
      "client_addr": "192.168.131.39", "ssl_protocol": "TLSv1.2",
      "ssl_cipher": "ECDHE-RSA-AES128-GCM-SHA256", "is_connection": None, "status": 200,
      "server_name": "www.example.com", "session_reused": False, "source": "alb_access"}),
    ("alb_access", ALB_400, "400 without TLS is not a handshake failure (§1.4)", None, {}),
    ("alb_connection", CONN_OK, "ALB-CL Success", "tls_sessions",
     {"ts": t("2023-10-04T17:05:15.514108"), "client_addr": "203.0.113.1", "ssl_protocol": "TLSv1.2",
      "ssl_cipher": "ECDHE-RSA-AES128-GCM-SHA256", "is_connection": True, "source": "alb_connection"}),
    ("alb_connection", CONN_FAIL, "ALB-CL Failed:ClientCertUntrusted", "handshake_failures",
     {"ts": t("2023-10-04T17:05:15.514108"), "client_addr": "203.0.113.1", "client_is_real": True,
      "reason": "other", "reason_text": "Failed:ClientCertUntrusted", "server_addr": "*:443",
      "ts_precision_s": pytest.approx(1e-6), "source": "alb_connection", "attribution": "lb_log"}),
    ("alb_connection", CONN_UNMAPPED, "non-mTLS failure, 15 fields", "handshake_failures",
     {"client_addr": "198.51.100.7", "reason": "other", "reason_text": "Failed:UnmappedConnectionError",
      "server_addr": "10.0.1.5:443", "lb_addr": "10.0.1.5"}),
    ("nlb_tls", NLB_OK, "NLB-AL sample, 22 fields", "tls_sessions",
     {"ts": t("2020-04-01T08:51:20"), "ts_logged": t("2020-04-01T08:51:42"), "client_addr": "72.21.218.154",
      "ssl_protocol": "TLSv1.2", "ssl_cipher": "ECDHE-RSA-AES128-SHA", "is_connection": True,
      "server_name": "my-network-loadbalancer-c6e77e28c25b2234.elb.us-east-2.amazonaws.com"}),
    ("nlb_tls", NLB_2023, "NLB-AL 2023 page, 21 fields: start = time - connection_time", "tls_sessions",
     {"ts": t("2018-12-20T02:59:39.995"), "ssl_protocol": "TLSv1.2"}),
    ("nlb_tls", NLB_ALERT_DEC, "alert 48 received from the client", "handshake_failures",
     {"ts": t("2026-11-26T17:02:02"), "client_addr": "198.51.100.9", "reason": "client_rejected_cert",
      "alert": 48, "alert_name": "unknown_ca", "reason_text": "incoming_tls_alert 48",
      "server_addr": "10.0.0.5:443", "ts_precision_s": 1.0, "client_is_real": True}),
    ("nlb_tls", NLB_ALERT_HEX, "the same alert written as hex", "handshake_failures",
     {"reason": "client_rejected_cert", "alert": 48, "alert_name": "unknown_ca"}),
    ("nlb_tls", NLB_NO_ALERT, "NLB refused (its own alert is not logged)", "handshake_failures",
     {"reason": "other", "alert": None, "reason_text": "handshake not completed (no valid ClientHello)"}),
    ("clb_access", CLB_HTTPS, "CLB HTTPS request", "tls_sessions",
     {"ts": t("2015-05-13T23:39:43.945958"), "client_addr": "192.168.131.39", "ssl_protocol": "TLSv1.2",
      "ssl_cipher": "DHE-RSA-AES128-SHA", "is_connection": None, "status": 200}),
    ("clb_access", CLB_SSL, "CLB TCP/SSL listener: a line is a connection", "tls_sessions",
     {"ssl_cipher": "ECDHE-ECDSA-AES128-GCM-SHA256", "is_connection": True, "status": None}),
]


@pytest.mark.parametrize(("kind", "line", "why", "table", "expected"), CASES,
                         ids=[f"{c[0]}:{c[2]}" for c in CASES])
def test_parse(kind: str, line: str, why: str, table: str | None, expected: dict[str, Any]) -> None:
    batch = ElbLogReader("lb.log", Options(), kind).feed(line.encode() + b"\n", 7)
    assert (batch.lines, batch.rejected) == (1, 0)
    if table is None:
        assert batch.skipped == 1
        assert not batch.tables
        return
    assert batch.parsed == 1
    rows = batch.tables[table].to_pylist()
    assert len(rows) == 1
    row = rows[0]
    assert (row["file"], row["line"], row["source"]) == ("lb.log", 7, kind)
    for key, value in expected.items():
        assert row[key] == value, key


@pytest.mark.parametrize(("line", "kind"), [
    (ALB_HTTPS, "alb_access"), (ALB_400, "alb_access"), (CONN_OK, "alb_connection"),
    (CONN_FAIL, "alb_connection"), (NLB_OK, "nlb_tls"), (NLB_2023, "nlb_tls"),
    (CLB_HTTPS, "clb_access"), (CLB_SSL, "clb_access"),
    # nginx combined (nginx docs) and an nginx error line: not ours
    ('203.0.113.5 - - [26/Nov/2026:17:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.5.0"', None),
    ("2026/11/26 17:00:00 [info] 12#12: *5 SSL_do_handshake() failed", None),
])
def test_sniff(line: str, kind: str | None) -> None:
    assert sniff([line.encode()]) == kind


def test_sniff_skips_the_control_line() -> None:
    # OTEL test data (§1.1): a control line before the entries
    head = [b"Enable AccessLog for ELB: app/elb-name/abc123456 at 2025-05-30T16:47:00.781Z", ALB_HTTPS.encode()]
    assert sniff(head) == "alb_access"


@pytest.mark.parametrize(("kind", "line", "error"), [
    ("alb_access", ALB_HTTPS.split(' "authenticate')[0], "22 fields; a alb_access line has 29 to 33"),
    ("alb_connection", " ".join(CONN_OK.split()[:11]), "11 fields; a alb_connection line has 12 to 15"),
    ("nlb_tls", " ".join(NLB_OK.split()[:20]), "20 fields; a nlb_tls line has 21 to 22"),
    ("clb_access", CLB_HTTPS + " extra", "16 fields; a clb_access line has 15"),
    ("clb_access", CLB_HTTPS.rsplit(" ", 1)[0], "14 fields; a clb_access line has 15"),
    # an unquoted space shifts every field after it: caught by the shape of field 22
    ("alb_access", ALB_HTTPS.replace('"curl/7.46.0"', "curl/7.46.0 (x)"),
     "field 22 (request_creation_time) '1' is not an ISO 8601 time"),
    ("alb_connection", CONN_OK.replace("Success", "Maybe"),
     "field 11 (tls_verify_status) 'Maybe' is neither Success nor Failed:..."),
    ("nlb_tls", NLB_ALERT_DEC.replace(" 48 ", " zz "), "field 12 (incoming_tls_alert) 'zz' is not an alert number"),
])
def test_bad_lines_are_rejects(kind: str, line: str, error: str) -> None:
    batch = ElbLogReader("bad.log", Options(), kind).feed(line.encode() + b"\n", 3)
    assert (batch.lines, batch.parsed, batch.rejected) == (1, 0, 1)
    rej = batch.tables["rejects"].to_pylist()[0]
    assert rej == {"file": "bad.log", "line": 3, "kind": kind, "error": error, "text": line, "host": None}


def test_trailing_fields_are_accepted_and_warned_once() -> None:
    # AWS appends new fields and says to ignore them (ALB-AL §1.2, ALB-CL §2.2 trailing "-")
    data = (f"{CONN_OK} - -\n{CONN_OK} -\n").encode()
    batch = ElbLogReader("c.log", Options(), "alb_connection").feed(data, 1)
    assert (batch.lines, batch.parsed, batch.rejected) == (2, 2, 0)
    assert batch.tables["tls_sessions"].num_rows == 2
    # 14 fields is still inside the documented 12..15: no warning
    assert batch.warnings == []
    long_alb = ALB_HTTPS + ' "-" "-" "-" newfield1 newfield2'
    batch = ElbLogReader("a.log", Options(), "alb_access").feed(f"{long_alb}\n{long_alb}\n".encode(), 1)
    assert batch.parsed == 2
    assert batch.warnings == ["alb_access lines with fields beyond the 33 documented ones "
                              "(newer than logcorr): the extra fields are ignored"]


def test_accounting_and_line_numbers() -> None:
    data = "\n".join(["Enable AccessLog for ELB: app/x/1 at 2025-05-30T16:47:00.781Z", ALB_HTTPS, "",
                      "garbage", ALB_400, ALB_HTTPS]).encode()  # last line unterminated
    batch = ElbLogReader("a.log", Options(), "alb_access").feed(data, 100)
    assert (batch.lines, batch.parsed, batch.skipped, batch.rejected) == (6, 2, 3, 1)
    assert batch.tables["tls_sessions"].column("line").to_pylist() == [101, 105]
    assert batch.tables["rejects"].column("line").to_pylist() == [103]
    assert ElbLogReader("a.log", Options(), "alb_access").close().lines == 0


def test_tokenize_quoted_runs() -> None:
    # NLB alpn_client_preference_list is quoted and comma-separated (§3.2 field 21)
    assert tokenize('a "b c" "h2","http/1.1" "- - - "') == ["a", "b c", '"h2","http/1.1"', "- - - "]


@pytest.mark.parametrize(("text", "number"), [("48", 48), ("0x30", 48), ("0X56", 86), ("2f", 47), ("x", None)])
def test_alert_number(text: str, number: int | None) -> None:
    assert alert_number(text) == number


def test_ipv6_client() -> None:
    # OTEL: IPv6 clients in brackets
    line = ALB_HTTPS.replace("192.168.131.39:2817", "[fe80::202:b3ff:fe1e:8329]:443")
    batch = ElbLogReader("a.log", Options(), "alb_access").feed(line.encode(), 1)
    assert batch.tables["tls_sessions"].column("client_addr").to_pylist() == ["fe80::202:b3ff:fe1e:8329"]
