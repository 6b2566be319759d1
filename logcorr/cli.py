"""The ``logcorr`` command: parse options, call one library function, render, exit.

Exit status: 0 success; 1 an error that stopped the run (one line on stderr);
2 bad usage; 3 the run finished but some input files could not be read.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from logcorr.errors import LogcorrError
from logcorr.ui import EXIT_ERROR, ingest_command

app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Why do TLS handshakes fail at an nginx endpoint, and do the failing clients come back?",
    epilog="Example: logcorr ingest /var/log/nginx && logcorr report --window 5m",
)

FORMATS = ("text", "json", "markdown", "html")


def _complete_format(incomplete: str) -> list[str]:
    """Shell completion for ``--format``."""
    return [f for f in FORMATS if f.startswith(incomplete)]


def _complete_policy(incomplete: str) -> list[str]:
    """Shell completion for ``--what-if``: the AWS and Mozilla policy names."""
    from logcorr.policies import POLICIES

    return [p for p in POLICIES if p.lower().startswith(incomplete.lower())]


def _version(value: bool) -> None:
    if value:
        from logcorr import __version__

        typer.echo(f"logcorr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Why do TLS handshakes fail at an nginx endpoint, and do the failing clients come back?"""


DataOpt = Annotated[
    Path | None,
    typer.Option("--data", help="Data directory (default: $LOGCORR_DATA or ./logcorr-data)."),
]


def _data(path: Path | None) -> Path:
    from logcorr.store import default_data_dir

    return path if path is not None else default_data_dir()


def _fail(message: str, code: int = EXIT_ERROR) -> None:
    typer.echo(f"logcorr: {message}", err=True)
    raise typer.Exit(code)


@app.command(epilog="Example: logcorr ingest /var/log/nginx --lb-cidr 10.0.0.0/16")
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Log files, captures, exports, or directories.")],
    data: DataOpt = None,
    log_format: Annotated[list[str] | None, typer.Option(
        "--log-format", help="Access-log format (repeatable, tried in order): an nginx log_format string or a name "
                             "(combined, main, or one in --nginx-conf).")] = None,
    nginx_conf: Annotated[str | None, typer.Option(
        "--nginx-conf", help="nginx.conf to read log_format definitions from (includes followed).")] = None,
    error_tz: Annotated[str | None, typer.Option(
        "--error-tz", help="Zone of the error log's wall-clock times (Europe/Berlin, +05:30). Default: the access logs' offset.")] = None,
    lb_cidr: Annotated[list[str] | None, typer.Option(
        "--lb-cidr", help="Load-balancer or proxy addresses (repeatable), like set_real_ip_from.")] = None,
    scanner: Annotated[list[str] | None, typer.Option(
        "--scanner", help="Addresses of known scanners or monitors (repeatable): reported apart.")] = None,
    ignore: Annotated[list[str] | None, typer.Option(
        "--ignore", help="Addresses to leave out of the report (repeatable): counted in coverage.")] = None,
    host: Annotated[str | None, typer.Option(
        "--host", help="The nginx instance these files come from. Default: from the directory "
                       "layout (logs/web-1/...), else this machine's hostname.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")] = False,
) -> None:
    """Read nginx logs, AWS exports and captures into Parquet tables."""
    code = ingest_command(paths, data=data, log_format=log_format, nginx_conf=nginx_conf,
                          error_tz=error_tz, lb_cidr=lb_cidr, scanner=scanner, ignore=ignore,
                          host=host, quiet=quiet)
    if code:
        raise typer.Exit(code)


@app.command(epilog="Example: logcorr report --window 5m --format html --output report.html")
def report(
    data: DataOpt = None,
    window: Annotated[str, typer.Option(help="How long a client has to come back: 90, 90s, 5m, 1h30m.")] = "5m",
    min_protocol: Annotated[str, typer.Option(
        "--min-protocol", help="Lowest protocol that counts as a recovery.")] = "TLSv1.2",
    since: Annotated[str | None, typer.Option(help="Only failures at or after this time (ISO 8601; UTC when no offset).")] = None,
    until: Annotated[str | None, typer.Option(help="Only failures before this time.")] = None,
    what_if: Annotated[list[str] | None, typer.Option(
        "--what-if", help="A policy to test against the clients seen (repeatable): an AWS ELB policy name, "
                          "mozilla-modern|intermediate|old, or nginx directives in quotes.",
        autocompletion=_complete_policy)] = None,
    fmt: Annotated[str, typer.Option("--format", help="text, json, markdown or html.",
                                     autocompletion=_complete_format)] = "text",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
    engine: Annotated[str, typer.Option(
        "--engine", help="Where the work runs: embedded (this process) or spark (Apache Spark).")] = "embedded",
    spark_master: Annotated[str | None, typer.Option(
        "--spark-master", help="Spark master URL (spark://host:7077, yarn, local[4]); default local[2], "
                               "or Spark Connect when SPARK_REMOTE is set.")] = None,
) -> None:
    """Match each failed handshake with the client's later session and print the verdict."""
    from logcorr import engines
    from logcorr.api import Dataset

    if fmt not in FORMATS:
        _fail(f"--format {fmt!r}: use text, json, markdown or html", 2)
    if engine not in engines.ENGINES:
        _fail(f"--engine {engine!r}: use {' or '.join(engines.ENGINES)}", 2)
    try:
        from logcorr.policies import parse_policy

        policies = [parse_policy(p) for p in what_if or []]
        rep = engines.report(Dataset(_data(data)), engine=engine, spark_master=spark_master,
                             window=window, min_protocol=min_protocol, since=since, until=until,
                             what_if=policies)
    except LogcorrError as exc:
        _fail(str(exc))
        return
    for note in rep.data.get("notes", []):
        typer.echo(f"logcorr: {note}", err=True)
    _emit(rep, fmt, output)


@app.command(epilog="Example: logcorr show 198.51.100.7 --window 5m")
def show(
    client: Annotated[str, typer.Argument(help="The client address, as the logs write it.")],
    data: DataOpt = None,
    window: Annotated[str, typer.Option(help="How long the client has to come back: 90, 90s, 5m, 1h30m.")] = "5m",
) -> None:
    """One client's failures, sessions and captured hellos in time order, with file and line of each."""
    from logcorr.api import Dataset
    from logcorr.show import client_timeline, render_timeline

    try:
        frame = client_timeline(Dataset(_data(data)), client, window)
    except LogcorrError as exc:
        _fail(str(exc))
        return
    sys.stdout.write(render_timeline(client, frame))


@app.command(epilog="Example: logcorr schema --format athena --location s3://my-bucket/logcorr-data")
def schema(
    fmt: Annotated[str, typer.Option("--format", help="text, json, athena (Glue DDL) or spark (Spark SQL DDL).")] = "text",
    location: Annotated[str | None, typer.Option(
        "--location", help="Where the data directory is, for the DDL's LOCATION (s3://..., a path). "
                           "Default: s3://YOUR-BUCKET/logcorr-data for athena, the --data directory for spark.")] = None,
    data: DataOpt = None,
) -> None:
    """Print the tables, their columns (type, meaning) and partitioning, or DDL to register them."""
    from logcorr import ddl

    if fmt not in ddl.FORMATS:
        _fail(f"--format {fmt!r}: use {', '.join(ddl.FORMATS)}", 2)
    if location is None and fmt == "spark":
        location = str(_data(data).resolve())
    text = ddl.render(fmt, location)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


@app.command(epilog="Example: logcorr watch /var/log/nginx --metrics-port 9469 --html /srv/www/tls.html")
def watch(
    paths: Annotated[list[str], typer.Argument(help="Log files or directories to follow.")],
    data: DataOpt = None,
    every: Annotated[str, typer.Option(help="Round period (file events start a round early): 10s, 1m.")] = "10s",
    window: Annotated[str, typer.Option(help="How long a client has to come back: 90, 90s, 5m.")] = "5m",
    last: Annotated[str, typer.Option(help="Period the verdict is about, ending at the newest event.")] = "1h",
    min_protocol: Annotated[str, typer.Option(
        "--min-protocol", help="Lowest protocol that counts as a recovery.")] = "TLSv1.2",
    html: Annotated[Path | None, typer.Option(help="Rewrite this self-reloading HTML report each round.")] = None,
    metrics_port: Annotated[int | None, typer.Option(
        "--metrics-port", help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics.")] = None,
    metrics_file: Annotated[Path | None, typer.Option(
        "--metrics-file", help="Write metrics in node_exporter textfile form (name it *.prom).")] = None,
    on_change: Annotated[str | None, typer.Option(
        "--on-change", help="Command run when the verdict status changes, report JSON on stdin "
        "(split like a shell, run without one: give 'sh -c ...' for shell syntax).")] = None,
    on_change_timeout: Annotated[str, typer.Option(
        "--on-change-timeout", help="Kill the --on-change command after this long.")] = "30s",
    json_lines: Annotated[bool, typer.Option(
        "--json", help="One JSON report per round on stdout even on a terminal.")] = False,
    poll: Annotated[bool, typer.Option("--poll", help="No file-system events: a round every --every only.")] = False,
    rounds: Annotated[int | None, typer.Option(help="Stop after this many rounds.")] = None,
    log_format: Annotated[list[str] | None, typer.Option("--log-format", help="As for ingest (repeatable).")] = None,
    nginx_conf: Annotated[str | None, typer.Option("--nginx-conf", help="As for ingest.")] = None,
    error_tz: Annotated[str | None, typer.Option("--error-tz", help="As for ingest.")] = None,
    lb_cidr: Annotated[list[str] | None, typer.Option("--lb-cidr", help="As for ingest (repeatable).")] = None,
    scanner: Annotated[list[str] | None, typer.Option("--scanner", help="As for ingest (repeatable).")] = None,
    ignore: Annotated[list[str] | None, typer.Option("--ignore", help="As for ingest (repeatable).")] = None,
    host: Annotated[str | None, typer.Option("--host", help="As for ingest.")] = None,
) -> None:
    """Follow the logs: ingest what is new each round, keep the verdict and metrics current."""
    from logcorr.timewindow import parse_window
    from logcorr.watch import WatchConfig, Watcher, parse_command
    from logcorr.watchview import Output

    try:
        cfg = WatchConfig(
            paths=paths, data=_data(data), every_s=max(1, parse_window(every)),
            window_s=parse_window(window), last_s=max(1, parse_window(last)), min_protocol=min_protocol,
            html=html, metrics_port=metrics_port, metrics_file=metrics_file,
            on_change=parse_command(on_change) if on_change else None,
            on_change_timeout_s=max(1, parse_window(on_change_timeout)),
            ingest_options={"log_format": log_format, "nginx_conf": nginx_conf, "error_tz": error_tz,
                            "lb_cidrs": lb_cidr or [], "scanner_cidrs": scanner or [],
                            "ignore_cidrs": ignore or [], "host": host},
            polling=poll, rounds=rounds, json_lines=True if json_lines else None)
        with Output(cfg.json_lines) as out:
            Watcher(cfg, out.emit, out.warn).run()
    except LogcorrError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:  # a second Ctrl-C: the round is abandoned (commits are atomic)
        raise typer.Exit(130) from None


def _emit(rep: Any, fmt: str, output: Path | None) -> None:
    from logcorr.report import render

    if fmt == "text" and output is None:
        from logcorr.report.terminal import print_report

        print_report(rep)
        return
    if fmt == "html":
        from logcorr.report.html import render_html

        text = render_html(rep)
    else:
        text = {"text": render.render_text, "json": render.render_json,
                "markdown": render.render_markdown}[fmt](rep)
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        try:
            output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot write {output}: {exc.strerror or exc}")


def main() -> None:
    """Entry point of the ``logcorr`` script."""
    app()

