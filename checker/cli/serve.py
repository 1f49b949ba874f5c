"""`udev-drift serve`: check on an interval and answer GET /metrics (checker/serve/)."""

from __future__ import annotations

import argparse

from checker.cli.options import add_run_options, run_settings, seconds
from checker.paths import SERVE_LISTEN, SERVE_PORT

DEFAULT_INTERVAL = 60.0
MIN_INTERVAL = 0.1  # a check takes longer; less would only busy-loop
MAX_INTERVAL = 7 * 24 * 3600.0

EPILOG = f"""\
endpoints:
  GET /metrics   the metrics of the last check (503 until the first one has ended)
  GET /          one line on the last check
  anything else  404, or 405 for another method

examples:
  udev-drift serve                                   # {SERVE_LISTEN}, a check a minute
  udev-drift serve --repair --interval 300           # repair, every 5 minutes
  udev-drift serve --listen 0.0.0.0:{SERVE_PORT} --tls-cert c.pem --tls-key k.pem
  curl -s http://{SERVE_LISTEN}/metrics

See monitoring/README.md: scrape config, alerting rules, Grafana dashboard.
"""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               summary: str) -> argparse.ArgumentParser:
    serve = commands.add_parser(
        "serve", help=summary,
        description="Check the host every --interval seconds (in the background) and answer "
                    "GET /metrics from the last result, for Prometheus to scrape. SIGTERM or "
                    "SIGINT stop it (exit 0); SIGHUP runs a check at once.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(serve)
    serve.add_argument("--listen", metavar="HOST:PORT", default=SERVE_LISTEN,
                       help="address to serve on (default %(default)s: this host only; "
                            "[::1]:PORT for IPv6, 0.0.0.0:PORT for every address)")
    serve.add_argument("--interval", metavar="SECONDS", default=DEFAULT_INTERVAL,
                       type=seconds(MIN_INTERVAL, MAX_INTERVAL),
                       help="seconds between checks (default %(default)g)")
    serve.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate (PEM)")
    serve.add_argument("--tls-key", metavar="FILE", help="the certificate's private key (PEM)")
    return serve


def run(args: argparse.Namespace) -> int:
    from checker.serve.daemon import serve

    # serve writes its counters to the state directory after every check.
    settings = run_settings(args, dry_run=False, records_metrics=True)
    return serve(settings, args.listen, args.interval, args.tls_cert, args.tls_key)
