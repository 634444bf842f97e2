"""``python -m callstate``: run scenarios, serve the Calls API, render diagrams.

Each command imports what it alone needs (the scenario reader's pydantic, the diagram writer),
so a command starts without the others' import time.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

from .errors import CallStateError, LogWriteError
from .log import LogError, LogReader, replay
from .projection import DEFAULT_FORM, FORMS, Form, User

if TYPE_CHECKING:
    from pydantic import ValidationError

    from .scenario import Script, Step
    from .sequence import Sequence as Diagram

__all__ = ["main", "parser"]


class _Parser(argparse.ArgumentParser):
    """Bad command lines are told in one line (``--help`` shows the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"callstate: {message} (see {self.prog} --help)\n")


_DESCRIPTION = """\
callstate: a GWS 8.5 voice call as an event-driven state machine, served as the Calls API.

Commands:
  run       play a scenario file and print the Calls API JSON it produces
  replay    print GET /me/calls rebuilt from an event log
  serve     serve the Calls API over HTTP and CometD (needs the server extra)
  schema    write the JSON Schema of every request body and payload (docs/schema)
  diagrams  write the state diagrams and the capabilities table from the transition table
"""


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m callstate`` (each command a subparser)."""
    from . import __version__

    formatter = argparse.ArgumentDefaultsHelpFormatter
    top = _Parser(
        prog="python -m callstate",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"callstate {__version__}")
    commands = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=summary, description=summary, formatter_class=formatter
        )

    run_cmd = command(
        "run",
        "Run a scenario; print one JSON object per line. Exit 1 if a step was refused that did "
        "not expect it (or expected a refusal and got another outcome).",
    )
    run_cmd.add_argument("scenario", type=Path, help="scenario file (see docs/scenarios.md)")
    run_cmd.add_argument("--format", choices=FORMS, default=DEFAULT_FORM, help="call resource form")
    run_cmd.add_argument("--seed", type=int, default=None, help="make every id reproducible")
    run_cmd.add_argument("--log", type=Path, default=None, help="write the event log to this file")
    run_cmd.add_argument(
        "--sequence", type=Path, default=None, help="write a Mermaid sequence diagram of the run"
    )
    run_cmd.add_argument(
        "--pretty",
        action="store_true",
        help="print a table to read (a row per line: step, who, what, state, detail), not JSON",
    )
    replay = command("replay", "Print GET /me/calls rebuilt from an event log.")
    replay.add_argument("log", type=Path, help="event log file (written with --log)")
    replay.add_argument("--user", type=_user, default="admin", help="a DN, or admin")
    replay.add_argument("--format", choices=FORMS, default=DEFAULT_FORM, help="call resource form")
    serve = command("serve", "Serve the Calls API over HTTP and CometD (docs/server.md).")
    serve.add_argument("--config", type=Path, default=None, help="JSON config (none: a demo)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on")
    serve.add_argument("--format", choices=FORMS, default=DEFAULT_FORM, help="call resource form")
    serve.add_argument("--seed", type=int, default=None, help="make every id reproducible")
    serve.add_argument(
        "--log",
        type=Path,
        default=None,
        help="the event log: an existing one is restored and appended to, else a new one begins",
    )
    serve.add_argument(
        "--fresh",
        action="store_true",
        help="start a new log, moving an existing one aside (renamed with the time, not deleted)",
    )
    serve.add_argument(
        "--checkpoint-mb",
        type=_positive,
        default=16.0,
        help="write a checkpoint beside the log each time it grows by this many MiB (restarts "
        "then run only the requests after it)",
    )
    serve.add_argument(
        "--nats",
        metavar="URL",
        default=None,
        help="one process of several over NATS JetStream (docs/scaling.md), e.g. "
        "nats://127.0.0.1:4222",
    )
    serve.add_argument(
        "--role",
        choices=("switch", "front"),
        default="front",
        help="with --nats: the one switch process (runs changes, no HTTP), or a front (serves "
        "HTTP and CometD)",
    )
    serve.add_argument(
        "--stream", default="callstate", help="with --nats: the JetStream stream (the event log)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="with --nats --role front: this many front processes on the one port",
    )
    serve.add_argument(
        "--log-level",
        choices=tuple(_LOG_LEVELS),
        default="info",
        help="what the server logs to stderr: info has a line per request (callstate.access; "
        "CometD polls at debug) and per CometD session event (callstate.cometd)",
    )
    schema = command("schema", "Write the JSON Schema of every request body and payload.")
    schema.add_argument("--out", type=Path, default=Path("docs/schema"), help="output folder")
    draw = command(
        "diagrams",
        "Write the state diagrams (Mermaid and Graphviz DOT; SVG when Graphviz is installed) "
        "and the capabilities table.",
    )
    draw.add_argument("--out", type=Path, default=Path("diagrams"), help="output folder")
    return top


def _user(text: str) -> User:
    try:
        return User.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the exit flush does not fail again
        return 1


def _main(argv: Sequence[str] | None) -> int:
    args = parser().parse_args(argv)
    return _COMMANDS[args.command](args)


def _diagrams(args: argparse.Namespace) -> int:
    from . import diagrams

    try:
        written = diagrams.write(args.out)
    except OSError as error:
        print(f"callstate: cannot write diagrams to {args.out}: {error.strerror}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    if diagrams.graphviz() is None:
        print(
            "callstate: Graphviz (dot) is not installed: the .svg diagrams were not drawn",
            file=sys.stderr,
        )
    return 0


def _schema(args: argparse.Namespace) -> int:
    from .schema import write

    try:
        for path in write(args.out):
            print(path)
    except OSError as error:
        print(f"callstate: cannot write {args.out}: {error.strerror}", file=sys.stderr)
        return 2
    return 0


def _run(args: argparse.Namespace) -> int:
    from .scenario import run

    scenario = _scenario(args.scenario)
    if scenario is None:
        return 2
    sequence = None
    if args.sequence is not None:
        from .sequence import Sequence

        sequence = Sequence(scenario)
    steps = _Steps(sequence)
    table = None
    try:
        if args.pretty:
            from .pretty import HEADER, Table

            table = Table()
            print(HEADER)
        for line in run(scenario, form=args.format, seed=args.seed, log=args.log, trace=steps):
            if table is None:
                print(json.dumps(line))
            else:
                print(table.row(steps.number, line, expected=steps.expected))
        if sequence is not None:
            args.sequence.write_text(sequence.mermaid(), encoding="utf-8")
    except BrokenPipeError:  # the reader went away: main() ends quietly
        raise
    except LogWriteError as error:
        cause = error.__cause__
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else cause
        print(f"callstate: cannot write {args.log}: {reason}", file=sys.stderr)
        return 2
    except OSError as error:  # the log (or the output) could not be opened or written
        target = args.log if args.log is not None else "the output"
        print(f"callstate: cannot write {target}: {error.strerror or error}", file=sys.stderr)
        return 2
    except CallStateError as error:  # a scenario the checks let through, refused when run
        print(f"callstate: {args.scenario}: {error}", file=sys.stderr)
        return 2
    sys.stdout.flush()  # the lines before the verdict on them
    for problem in steps.problems:
        print(f"callstate: {args.scenario}: {problem}", file=sys.stderr)
    return 1 if steps.problems else 0


class _Steps:
    """The run's trace: counts the steps, notes each one that went against its expectation
    (``scenario.unexpected``) and hands the step on to the sequence diagram, if one is drawn."""

    def __init__(self, sequence: Diagram | None) -> None:
        self.number = 0  # of the step being printed, counted from 1
        self.expected = False  # its refusal was the one it expects
        self.problems: list[str] = []
        self._sequence = sequence

    def __call__(self, step: Step, lines: list[dict[str, Any]]) -> None:
        from .scenario import AgentStep, ExternalStep, unexpected

        self.number += 1
        problem = unexpected(step, lines)
        self.expected = problem is None and getattr(step, "expect", None) is not None
        if problem is not None:
            name = ""
            if isinstance(step, AgentStep):
                name = f" ({step.device} {step.operation})"
            elif isinstance(step, ExternalStep):
                name = f" ({step.external} {step.event})"
            self.problems.append(f"step {self.number}{name}: {problem}")
        if self._sequence is not None:
            self._sequence.step(step, lines)


def _scenario(path: Path) -> Script | None:
    """The scenario file at ``path``; None once told why it cannot be read."""
    from .scenario import read

    try:
        return read(path.read_bytes())
    except OSError as error:
        print(f"callstate: cannot read {path}: {error.strerror}", file=sys.stderr)
        return None
    except _validation_error() as error:  # evaluated only if reading failed otherwise
        from .scenario import problems

        for problem in problems(error):  # one line each, naming the step and the field
            print(f"callstate: {path}: {problem}", file=sys.stderr)
        return None


def _positive(text: str) -> float:
    value = float(text)
    if not 0 < value < 1e9:  # NaN too
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of MiB")
    return value


def _serve(args: argparse.Namespace) -> int:
    try:
        from .server import serve
    except ImportError as error:
        print(
            f"callstate: serve needs the server extra ({error.name} is missing): "
            "pip install 'callstate[server]'",
            file=sys.stderr,
        )
        return 2
    config = None
    if args.config is not None:
        try:
            config = args.config.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8"
            print(f"callstate: cannot read {args.config}: {reason}", file=sys.stderr)
            return 2
    log = None if args.log is None else str(args.log)
    if args.nats is not None and (log is not None or args.fresh):
        print("callstate: with --nats the stream is the event log: no --log", file=sys.stderr)
        return 2
    if args.workers < 1 or (args.workers > 1 and (args.nats is None or args.role != "front")):
        print("callstate: --workers N (N >= 1) goes with --nats --role front", file=sys.stderr)
        return 2
    _configure_logging(args.log_level)
    return serve(
        config,
        host=args.host,
        port=args.port,
        form=args.format,
        seed=args.seed,
        log=log,
        fresh=args.fresh,
        checkpoint_bytes=max(1, int(args.checkpoint_mb * 1024 * 1024)),
        nats=args.nats,
        role=args.role,
        stream=args.stream,
        workers=args.workers,
    )


#: ``serve --log-level``: the level of the ``callstate`` loggers
_LOG_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def _configure_logging(name: str) -> None:
    """One line a record on stderr (time, level, logger, message); ``callstate``'s loggers at
    ``name``, the libraries' at warning at least (asyncio's debug lines are not the server's)."""
    level = _LOG_LEVELS[name]
    # what no line shows is not gathered per record (the logging docs' "Optimization")
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        level=max(level, logging.WARNING),
        stream=sys.stderr,
    )
    logging.getLogger("callstate").setLevel(level)


def _validation_error() -> type[ValidationError]:
    """pydantic's ``ValidationError``, imported only when a scenario is refused."""
    from pydantic import ValidationError

    return ValidationError


def _replay_log(args: argparse.Namespace) -> int:
    return _replay(args.log, args.user, args.format)


def _replay(path: Path, user: User, form: Form) -> int:
    try:
        reader = LogReader.read(path)
    except OSError as error:
        print(f"callstate: cannot read {path}: {error.strerror}", file=sys.stderr)
        return 2
    except LogError as error:
        print(f"callstate: {path}: {error}", file=sys.stderr)
        return 2
    if reader.cut_line is not None:
        print(
            f"callstate: {path}: line {reader.cut_line} is cut off ({reader.cut_bytes} bytes); "
            f"replayed the {len(reader.entries)} complete requests before it",
            file=sys.stderr,
        )
    try:
        print(json.dumps(replay(reader, form).get_calls(user)))
    except BrokenPipeError:  # the reader went away: main() ends quietly
        raise
    except OSError as error:
        print(f"callstate: cannot write the output: {error.strerror or error}", file=sys.stderr)
        return 2
    return 0


#: each command's function, given the parsed command line: the exit code
_COMMANDS: Final[Mapping[str, Callable[[argparse.Namespace], int]]] = {
    "run": _run,
    "replay": _replay_log,
    "serve": _serve,
    "schema": _schema,
    "diagrams": _diagrams,
}
