"""`mlplatform`: the platform's command line.

mlplatform validate-spec FILE [FILE ...]   print "ok" or what is wrong, file and field named
mlplatform serve --spec FILE [--host 127.0.0.1] [--port 8000] [--lake var/lake] [--mlflow var/mlflow]
                 [--tracking-uri URI] [--alerts var/alerts.jsonl] [--log-level info]
                                          run the prediction service (serving.server) until SIGTERM/SIGINT
mlplatform simulate --spec FILE --scenario NAME --days N --out DIR [--seed S] [--rows-per-day R] [--onset D]
                                          replay N days of the model's life on a fresh instance under DIR and write
                                          timeline.csv, summary.json, story.txt and the plots there (simulation)
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Sequence

from platform_assets.spec import SpecError, load_spec

__all__ = ["main"]


def _validate_spec(args: argparse.Namespace) -> int:
    status = 0
    for path in args.files:
        try:
            load_spec(path)
        except SpecError as error:
            print(error, file=sys.stderr)
            status = 1
        else:
            print(f"{path}: ok" if len(args.files) > 1 else "ok")
    return status


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _serve(args: argparse.Namespace) -> int:
    # Imported here: the server pulls in FastAPI, uvicorn, MLflow and LightGBM, which validate-spec does not need.
    from serving.server import run

    try:
        load_spec(args.spec)
    except SpecError as error:
        print(error, file=sys.stderr)
        return 1
    if not _is_loopback(args.host):
        # Only reachable through an explicit --host (the default is loopback); say so, since the service has no auth.
        print(f"warning: serving on {args.host}:{args.port}, reachable from other machines", file=sys.stderr)
    run(
        args.spec,
        host=args.host,
        port=args.port,
        lake_root=args.lake,
        mlflow_root=args.mlflow,
        tracking_uri=args.tracking_uri,
        alerts_log=args.alerts,
        log_level=args.log_level,
    )
    return 0


def _simulate(args: argparse.Namespace) -> int:
    # Imported here: the simulation loads the whole code location (Dagster, MLflow, LightGBM).
    import json
    import logging
    import resource
    import time
    from datetime import UTC, datetime

    from tqdm import tqdm

    from simulation.engine import Simulation, SimulationError
    from simulation.report import write_report

    try:
        load_spec(args.spec)
    except SpecError as error:
        print(error, file=sys.stderr)
        return 1
    # The instance's event log keeps every run's logs; the terminal shows the progress bar and the story.
    for name in ("dagster", "mlflow", "alembic", "optuna", "lightgbm"):
        logging.getLogger(name).setLevel(logging.ERROR)
    started = datetime.now(UTC)
    bar = tqdm(total=args.days, unit="day", desc=args.scenario, file=sys.stderr, disable=args.quiet or None)

    def progress(done: int, total: int, status: str) -> None:
        bar.update(done - bar.n)
        bar.set_postfix_str(status, refresh=True)

    clock = time.perf_counter()
    try:
        simulation = Simulation(
            args.spec,
            args.scenario,
            args.days,
            args.out,
            seed=args.seed,
            rows_per_day=args.rows_per_day,
            onset=args.onset,
            progress=progress,
        )
        result = simulation.run()
    except SimulationError as error:
        bar.close()
        print(f"simulate: {error}", file=sys.stderr)
        return 1
    bar.close()
    rule = result.spec.gate.rules.get("auc_roc")
    summary = write_report(
        result.out,
        scenario=result.scenario.name,
        spec_name=result.spec.name,
        seed=result.seed,
        days=result.days,
        events=result.events,
        final_champion=result.final_state.champion,
        auc_threshold=rule.min if rule is not None else None,
        started=started.isoformat(),
        finished=datetime.now(UTC).isoformat(),
        wall_seconds=time.perf_counter() - clock,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    days = [record.to_dict() for record in result.days]
    (result.out / "days.json").write_text(json.dumps(days, indent=1) + "\n", encoding="utf-8")
    print(summary["story"])
    print(f"\nwrote {', '.join([*summary['files'], 'days.json'])} to {result.out}")
    return 0


def _port(value: str) -> int:
    port = int(value)
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"a port lies in 1-65535, got {port}")
    return port


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {number}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlplatform", description="ML CI/CD platform on Dagster.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate-spec", help="check model spec files")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(handler=_validate_spec)
    serve = commands.add_parser("serve", help="run the prediction service for one model spec")
    serve.add_argument("--spec", required=True, metavar="FILE", help="the model spec (YAML)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; anything else must be asked for)"
    )
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--lake", default="var/lake", help="lake root for the prediction log (default var/lake)")
    serve.add_argument("--mlflow", default="var/mlflow", help="embedded MLflow root (default var/mlflow)")
    serve.add_argument("--tracking-uri", default=None, help="an MLflow tracking/registry URI instead of --mlflow")
    serve.add_argument("--alerts", default="var/alerts.jsonl", help="alert log (default var/alerts.jsonl)")
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"], help="uvicorn's"
    )
    serve.set_defaults(handler=_serve)
    from simulation.scenarios import SCENARIOS  # a light import: specs and data classes only

    simulate = commands.add_parser(
        "simulate", help="replay N days of a model's life through the real definitions on a fresh instance"
    )
    simulate.add_argument("--spec", required=True, metavar="FILE", help="the model spec (YAML)")
    simulate.add_argument("--scenario", required=True, choices=sorted(SCENARIOS), help="what production does")
    simulate.add_argument("--days", required=True, type=_positive, help="simulated days")
    simulate.add_argument("--out", required=True, metavar="DIR", help="a new or empty directory for everything")
    simulate.add_argument("--seed", type=int, default=None, help="the synthetic feed's seed (default: the spec's)")
    simulate.add_argument("--rows-per-day", type=_positive, default=None, help="requests a day (default: the spec's)")
    simulate.add_argument("--onset", type=_positive, default=None, help="the day the scenario strikes (1-based)")
    simulate.add_argument("--quiet", action="store_true", help="no progress bar")
    simulate.set_defaults(handler=_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
