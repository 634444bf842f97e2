"""``python -m callstate``: run scenarios and render diagrams."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from . import diagrams
from .projection import FORMS
from .scenario import Scenario, run

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m callstate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="run a scenario, print one JSON object per line")
    run_cmd.add_argument("scenario", type=Path)
    run_cmd.add_argument("--format", choices=FORMS, default="8.5.0", help="call resource form")
    run_cmd.add_argument("--seed", type=int, default=None, help="make every id reproducible")
    draw = commands.add_parser("diagrams", help="write the state diagrams from the table")
    draw.add_argument("--out", type=Path, default=Path("diagrams"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "diagrams":
        for path in diagrams.write(args.out):
            print(path)
        return 0
    try:
        scenario = Scenario.model_validate_json(args.scenario.read_bytes())
    except OSError as error:
        print(f"callstate: cannot read {args.scenario}: {error.strerror}", file=sys.stderr)
        return 2
    except ValidationError as error:
        print(f"callstate: {args.scenario} is not a valid scenario:\n{error}", file=sys.stderr)
        return 2
    for line in run(scenario, form=args.format, seed=args.seed):
        print(json.dumps(line))
    return 0
