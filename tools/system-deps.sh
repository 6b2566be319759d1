#!/usr/bin/env bash
# Install the system packages the tests need, when missing: Debian's nginx (+ the stream
# module) for the real-nginx lab, tcpdump for lab captures, chromium for the HTML tests;
# nmap, testssl.sh and logrotate for the messy lab (tests/lab/messy.py); Java 17 for the
# Spark engine's local mode; with the argument "bench", also GoAccess and lnav, the
# baselines `make bench` measures beside logcorr, and GNU time for peak RSS.
# Runs apt-get only as root; otherwise says what is missing and leaves it to the tests
# (which fail when LOGCORR_REQUIRE_NGINX / LOGCORR_REQUIRE_BROWSER are set, as in CI).
set -u
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
command -v tcpdump >/dev/null 2>&1 || [ -x /usr/bin/tcpdump ] || need+=(tcpdump)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
# Java for pyspark's local mode (the Spark engine's tests, issue 11).
command -v java >/dev/null 2>&1 || [ -x "${JAVA_HOME:-/nonexistent}/bin/java" ] || need+=(openjdk-17-jre-headless)
command -v nmap >/dev/null 2>&1 || [ -x /usr/bin/nmap ] || need+=(nmap)
command -v testssl >/dev/null 2>&1 || [ -x /usr/bin/testssl ] || need+=(testssl.sh)
command -v logrotate >/dev/null 2>&1 || [ -x /usr/sbin/logrotate ] || need+=(logrotate)
if [ "${1:-}" = "bench" ]; then
  command -v goaccess >/dev/null 2>&1 || need+=(goaccess)
  command -v lnav >/dev/null 2>&1 || need+=(lnav)
  [ -x /usr/bin/time ] || need+=(time)  # GNU time: every figure's peak RSS (bench/run.py)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: missing ${need[*]} (run as root on Debian to install them)" >&2
  exit 0
fi
echo "system-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || {
  apt-get update -q >/dev/null 2>&1
  apt-get install -y -q "${need[@]}" >/dev/null || { echo "system-deps: apt-get install ${need[*]} failed" >&2; exit 1; }
}
# Debian starts the packaged nginx on port 80; the tests run their own instances.
if command -v systemctl >/dev/null 2>&1; then systemctl stop nginx >/dev/null 2>&1 || true; fi
[ -f /run/nginx.pid ] && kill "$(cat /run/nginx.pid)" 2>/dev/null || true
exit 0
