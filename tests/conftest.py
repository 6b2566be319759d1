"""Shared fixtures. ``lab``: the real-nginx lab, run once per test session (tests/lab)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class LabRun:
    """A finished lab run: nginx stopped, logs written, ground truth recorded."""

    prefix: Path  # nginx prefix: conf/, logs/, truth.json
    logs: Path  # what `logcorr ingest` reads: every log nginx wrote, rotated sets included
    truth: dict[str, Any]


def require_nginx() -> None:
    """Skip when nginx (or its stream module) is missing, unless CI says it must be there.

    ``LOGCORR_REQUIRE_NGINX=1`` (set by ``.ci/``) turns the skip into a failure.
    """
    from tests.lab.nginx import nginx_binary, stream_module

    required = os.environ.get("LOGCORR_REQUIRE_NGINX") == "1"
    missing = []
    if nginx_binary() is None:
        missing.append("nginx")
    if stream_module() is None and required:
        missing.append("libnginx-mod-stream (/usr/lib/nginx/modules/ngx_stream_module.so)")
    if not missing:
        return
    message = (f"real-nginx lab: missing {', '.join(missing)}; "
               "install with: apt-get install -y nginx libnginx-mod-stream")
    if required:
        pytest.fail(f"LOGCORR_REQUIRE_NGINX=1 and {message}", pytrace=False)
    pytest.skip(reason=f"{message} (set LOGCORR_REQUIRE_NGINX=1 to fail instead)")


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabRun:
    """Start the lab nginx, play every scenario once, stop nginx by PID; the result."""
    require_nginx()
    from tests.lab import scenarios

    prefix = tmp_path_factory.mktemp("lab")
    logs, truth = scenarios.run(prefix, capture=require_tcpdump())
    return LabRun(prefix, logs, truth)


def require_tcpdump() -> bool:
    """Whether the lab can record a capture; CI (LOGCORR_REQUIRE_NGINX=1) insists on it."""
    import shutil

    if shutil.which("tcpdump") or Path("/usr/bin/tcpdump").exists():
        return True
    if os.environ.get("LOGCORR_REQUIRE_NGINX") == "1":
        pytest.fail("LOGCORR_REQUIRE_NGINX=1 and tcpdump is missing: apt-get install -y tcpdump", pytrace=False)
    return False


def require_spark() -> None:
    """Skip when pyspark or Java is missing, unless CI says it must be there.

    ``LOGCORR_REQUIRE_SPARK=1`` (set by ``.ci/``) turns the skip into a failure.
    """
    import importlib.util

    from logcorr.engines.sparksession import java_available

    missing = [name for name, ok in (("pyspark", importlib.util.find_spec("pyspark") is not None),
                                     ("java", java_available())) if not ok]
    if not missing:
        return
    message = (f"Spark local mode: missing {', '.join(missing)}; install with: "
               "pip install 'logcorr[spark]' && apt-get install -y openjdk-17-jre-headless")
    if os.environ.get("LOGCORR_REQUIRE_SPARK") == "1":
        pytest.fail(f"LOGCORR_REQUIRE_SPARK=1 and {message}", pytrace=False)
    pytest.skip(reason=f"{message} (set LOGCORR_REQUIRE_SPARK=1 to fail instead)")


@pytest.fixture(scope="session")
def spark() -> Any:
    """One local SparkSession for the whole test session (starting one costs ~10 s)."""
    require_spark()
    from logcorr.engines.sparksession import spark_session

    with spark_session() as session:
        yield session


MESSY_TOOLS = {"nmap": "nmap", "testssl": "testssl.sh", "logrotate": "logrotate", "tcpdump": "tcpdump"}


def require_messy_tools() -> None:
    """The messy lab's tools (``tools/system-deps.sh`` installs them); CI insists on them."""
    import shutil

    require_nginx()
    missing = [pkg for tool, pkg in MESSY_TOOLS.items()
               if shutil.which(tool) is None and not Path(f"/usr/bin/{tool}").exists()
               and not Path(f"/usr/sbin/{tool}").exists()]
    if not missing:
        return
    message = f"messy lab: missing {', '.join(missing)}; install with: apt-get install -y {' '.join(missing)}"
    if os.environ.get("LOGCORR_REQUIRE_NGINX") == "1":
        pytest.fail(f"LOGCORR_REQUIRE_NGINX=1 and {message}", pytrace=False)
    pytest.skip(reason=f"{message} (set LOGCORR_REQUIRE_NGINX=1 to fail instead)")


@pytest.fixture(scope="session")
def messy_lab(tmp_path_factory: pytest.TempPathFactory) -> LabRun:
    """The messy lab (``tests/lab/messy.py``) played once: three hosts, relay, scanners, reloads.

    ``prefix`` is the lab's root (``logs/<host>/``, ``capture/<host>/``, ``truth.json``);
    ``logs`` is ``root/logs``.
    """
    require_messy_tools()
    if os.geteuid() != 0:
        message = "the messy lab needs root (tcpdump on lo, nmap -S 127.0.0.66 -e lo)"
        if os.environ.get("LOGCORR_REQUIRE_NGINX") == "1":
            pytest.fail(f"LOGCORR_REQUIRE_NGINX=1 and {message}", pytrace=False)
        pytest.skip(reason=message)
    from tests.lab import messy

    root = tmp_path_factory.mktemp("messy")
    logs, truth = messy.run(root)
    return LabRun(root, logs, truth)
