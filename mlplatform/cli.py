"""`mlplatform`: the platform's command line.

mlplatform validate-spec FILE [FILE ...]   print "ok" or what is wrong, file and field named
"""

from __future__ import annotations

import argparse
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlplatform", description="ML CI/CD platform on Dagster.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate-spec", help="check model spec files")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(handler=_validate_spec)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
