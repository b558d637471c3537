"""The ``mavtools`` command: thin wrappers over the public API.

Each subcommand is one :class:`Command` in :data:`COMMANDS`: a name, a help line, a function that
adds its arguments and a function that runs it and returns the exit code. To add one, write both
functions and append a ``Command`` (see ``fetch`` below); :func:`build_parser` picks it up.

Exit codes: 0 success, 1 a :class:`~mavtools.errors.MavtoolsError` (one line on stderr, the
traceback only with ``-v``), 2 a usage error, 130 interrupted.

Example:
    $ mavtools fetch --status running --format csv -o running.csv
    $ mavtools cache list
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import polars as pl

from mavtools.console import (
    ProgressBar,
    flat_frame,
    nested_as_json,
    short_age,
    short_size,
    summary_text,
    warnings_on_stderr,
    write_text,
)
from mavtools.errors import ConfigError, MavtoolsError

__all__ = ["COMMANDS", "Command", "build_parser", "main"]

log = logging.getLogger("mavtools")


@dataclass(frozen=True)
class Command:
    """One subcommand.

    Attributes:
        name: what the user types (``fetch``).
        help: one line for ``mavtools --help``.
        configure: adds the subcommand's arguments to its parser.
        run: does the work and returns the exit code.
    """

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """Reports a usage error as one line (plus where to get help), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- values: each flag's value is checked by argparse, so errors name the flag -------------------


def _status_value(text: str) -> str:
    """An outcome (failed), a status name (RUNNING) or a documented code (0-21)."""
    from mavtools.statuses import OUTCOMES, STATUS_NAMES, status_code

    value = text.strip()
    if value in OUTCOMES:
        return value
    try:
        code = status_code(value)
    except ValueError:
        code = None
    if code is None or code not in STATUS_NAMES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a job status: use an outcome ({', '.join(OUTCOMES)}), "
            f"a status name such as RUNNING or COMPLETED, or a code 0-{max(STATUS_NAMES)}"
        )
    return value


def _age_value(text: str) -> str:
    """An age such as 15m, 1h, 2d, 1w, 0 or never (kept as text: the library parses it)."""
    from mavtools.store import parse_max_age

    try:
        parse_max_age(text)
    except ConfigError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an age: use a number and a unit (30s, 15m, 1h, 2d, 1w), 0 or never"
        ) from None
    return text


def _older_than_value(text: str) -> str:
    """An age for ``cache clear --older-than`` ("never" would clear nothing: refused)."""
    if text.strip().lower() in ("never", "inf", "infinite"):
        raise argparse.ArgumentTypeError(f"{text!r} is not an age: use 15m, 1h, 2d or 1w")
    return _age_value(text)


def _id_value(kind: str, *, allow_all: bool = False) -> Callable[[str], str]:
    def check(text: str) -> str:
        # The client's own id rule, checked here so a bad id is a usage error naming its flag.
        from mavtools.api.query import ID_PATTERN

        if (allow_all and text == "*") or ID_PATTERN.fullmatch(text):
            return text
        extra = " or '*' for every workspace" if allow_all else ""
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a {kind} id: use letters, digits, '.', '_' and '-'{extra}"
        )

    return check


def _seconds_value(text: str) -> int:
    """A whole number of seconds, at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (1 or more)")
    return value


def _port_value(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: use 0 (any) to 65535")
    return value


# -- fetch ---------------------------------------------------------------------------------------

_FORMATS = ("table", "csv", "parquet", "json")


def _configure_fetch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workspace",
        action="append",
        metavar="W",
        type=_id_value("workspace", allow_all=True),
        help="workspace id (repeatable; default: '*', every workspace, as the notebooks load)",
    )
    parser.add_argument(
        "--status",
        action="append",
        metavar="S",
        type=_status_value,
        help="status code, name (RUNNING) or outcome (failed); repeatable",
    )
    parser.add_argument(
        "--pool",
        action="append",
        metavar="P",
        type=_id_value("pool"),
        help="resource pool id; repeatable",
    )
    parser.add_argument(
        "--cloud",
        action="append",
        metavar="NAME",
        help="clouds.yaml profile to read (repeatable: several projects/regions in one frame)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail when a workspace or project cannot be read, instead of leaving it out",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--refresh", action="store_true", help="fetch everything again")
    mode.add_argument("--offline", action="store_true", help="serve from the cache only")
    parser.add_argument(
        "--max-age",
        default="1h",
        type=_age_value,
        help="reuse a cached answer younger than this (15m, 1h, 2d, never)",
    )
    parser.add_argument("--format", choices=_FORMATS, default="table", help="output format")
    parser.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    parser.add_argument(
        "--samples", action="store_true", help="use the bundled sample data (never cached)"
    )
    parser.add_argument("--cache-dir", type=Path, help="cache directory (or MAVTOOLS_CACHE_DIR)")


def _run_fetch(args: argparse.Namespace) -> int:
    from mavtools.api.client import ALL_WORKSPACES
    from mavtools.api.env import settings_from_env
    from mavtools.load import default_client, load_versions
    from mavtools.local.samples import samples_client
    from mavtools.provenance import provenance

    if args.format == "parquet" and args.output is None and sys.stdout.isatty():
        raise ConfigError("Parquet is binary: give -o FILE (or redirect stdout).")
    several = args.cloud or "," in os.environ.get("OS_CLOUD", "")  # default_client reads them
    if not args.samples and not several and settings_from_env() is None:
        raise ConfigError(
            "No ModelArts credentials are configured (MODELARTS_*, OS_CLOUD or OS_* variables); "
            "pass --samples for the bundled sample data."
        )
    if args.samples:
        client: Any = samples_client()
    elif args.cloud:
        client = default_client({**os.environ, "OS_CLOUD": ",".join(args.cloud)}, many=True)
    else:
        client = default_client()
    with ProgressBar() as bar, warnings_on_stderr():
        frame = load_versions(
            client,
            status=args.status,
            pool_id=args.pool,
            # The notebooks' default too: every workspace of the project.
            workspace_id=args.workspace or ALL_WORKSPACES,
            max_age=args.max_age,
            refresh=args.refresh,
            offline=args.offline,
            strict=args.strict,
            cache_dir=args.cache_dir,
            progress=bar.update,
        )
    info = provenance(frame)
    log.info("%s", info)
    if args.format == "table":
        write_text(args.output, summary_text(frame, str(info) if info else ""))
    elif args.format == "parquet":
        if args.output is not None:
            frame.write_parquet(args.output)
        else:
            frame.write_parquet(sys.stdout.buffer)
    else:
        flat = flat_frame(frame)
        target: Any = args.output if args.output is not None else sys.stdout.buffer
        if args.format == "csv":
            nested_as_json(flat).write_csv(target)
        else:
            flat.write_json(target)
    return 0


# -- cache ---------------------------------------------------------------------------------------


def _configure_cache(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", type=Path, help="cache directory (or MAVTOOLS_CACHE_DIR)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="datasets with their age, rows and size")
    clear = actions.add_parser("clear", help="delete datasets and the snapshots readers pinned")
    clear.add_argument(
        "--older-than",
        metavar="AGE",
        type=_older_than_value,
        help="only datasets fetched longer ago than this (7d, 12h)",
    )


def _run_cache(args: argparse.Namespace) -> int:
    from mavtools.store import CacheStore, Snapshot, parse_max_age

    store = CacheStore(args.cache_dir)
    store.drop_legacy()
    now = datetime.now(UTC)
    entries = store.entries()
    if args.action == "list":
        if not entries:
            print(f"No cached datasets in {store.base}.")
            return 0
        rows = []
        for item in entries:
            dataset = item.dataset
            where = {
                "region": dataset.region if dataset else "",
                "project": dataset.project_id if dataset else "",
                "workspace": dataset.workspace_id if dataset else "",
            }
            if isinstance(item, Snapshot):
                rows.append(
                    where
                    | {
                        "fetched (UTC)": f"{item.fetched_at:%Y-%m-%d %H:%M}",
                        "age": short_age(now - item.fetched_at),
                        "rows": item.rows,
                        "size": short_size(item.size),
                        "how": item.note,
                    }
                )
            else:
                rows.append(
                    where
                    | {
                        "fetched (UTC)": "",
                        "age": "",
                        "rows": None,
                        "size": "",
                        "how": f"unusable: {item}",
                    }
                )
        table = pl.DataFrame(rows, schema_overrides={"rows": pl.Int64})
        with pl.Config(
            tbl_hide_dataframe_shape=True,
            tbl_hide_column_data_types=True,
            tbl_rows=-1,
            fmt_str_lengths=80,
            tbl_width_chars=200,
        ):
            print(
                f"{len(entries)} {'dataset' if len(entries) == 1 else 'datasets'} in {store.base}"
            )
            print(table)
        return 0
    limit = parse_max_age(args.older_than) if args.older_than else None
    removed = 0
    for item in entries:
        dataset = item.dataset
        if dataset is None:
            continue
        if limit is not None and isinstance(item, Snapshot) and now - item.fetched_at <= limit:
            continue
        with store.lock(dataset):
            store.delete(dataset)
        removed += 1
    pins = store.prune_readers()  # snapshots pinned by lazy frames, superseded or not
    print(
        f"Removed {removed} cached {'dataset' if removed == 1 else 'datasets'} and {pins} "
        f"reader {'snapshot' if pins == 1 else 'snapshots'} from {store.root}."
    )
    return 0


# -- serve-samples -------------------------------------------------------------------------------


def _configure_serve_samples(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=_port_value, default=0, help="port on 127.0.0.1 (default: any)"
    )
    parser.add_argument(
        "--offset-mode", choices=("record", "page"), default="record", help="how offset is read"
    )
    parser.add_argument("--token", help="token the server accepts (default: a random one)")


def _run_serve_samples(args: argparse.Namespace) -> int:
    import secrets
    import threading

    from mavtools.local.fake import serve
    from mavtools.local.samples import sample_api

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, not {args.port}.")
    token = args.token or f"local-{secrets.token_hex(16)}"
    api = sample_api(token=token, offset_mode=args.offset_mode)
    try:
        server = serve(api, port=args.port)
    except OSError as exc:
        raise ConfigError(f"Cannot listen on 127.0.0.1:{args.port} ({exc.strerror}).") from None
    with server:
        # The token is a throwaway accepted by this local server only: printing it is the point.
        print(f"export MODELARTS_ENDPOINT={server.url}")
        print(f"export MODELARTS_PROJECT_ID={api.project_id}")
        print(f"export MODELARTS_TOKEN={token}")
        print("export MAVTOOLS_ALLOW_HTTP=1")
        sys.stdout.flush()
        print(
            f"Serving the bundled samples at {server.url} (offset read as {args.offset_mode}); "
            "Ctrl-C stops.",
            file=sys.stderr,
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("Stopped.", file=sys.stderr)
    return 0


# -- report and lab ------------------------------------------------------------------------------


def _configure_report(parser: argparse.ArgumentParser) -> None:
    from mavtools.views.report_run import DEFAULT_TIMEOUT

    parser.add_argument("notebook", type=Path, metavar="NOTEBOOK", help="the .ipynb to execute")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the HTML file to write")
    parser.add_argument(
        "--timeout", type=_seconds_value, default=DEFAULT_TIMEOUT, help="seconds one cell may run"
    )
    parser.add_argument(
        "--show-code", action="store_true", help="include the code cells (left out by default)"
    )
    # The default since code is hidden; still accepted so older scripts keep working.
    parser.add_argument("--hide-code", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="report on a selection: pool=, workspace= (id or name), user= (comma-separated "
        "values), start=YYYY-MM-DD, end=YYYY-MM-DD; repeat for several",
    )


def _run_report(args: argparse.Namespace) -> int:
    from mavtools.views.report import render_report
    from mavtools.views.report_filter import ReportFilter

    report = render_report(
        args.notebook, args.output, timeout=args.timeout, show_code=args.show_code,
        selection=ReportFilter.parse(args.filter),
    )  # fmt: skip
    print(f"Wrote {report.path} ({report.plots} interactive figures, works offline).")
    return 0


def _configure_lab(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "notebook", nargs="?", metavar="NOTEBOOK", help="notebook to open (default: explore.ipynb)"
    )
    parser.add_argument(
        "--port", type=_port_value, help="port on 127.0.0.1 (default: first free from 8888)"
    )
    parser.add_argument("--no-browser", action="store_true", help="only print the URL to open")


def _run_lab(args: argparse.Namespace) -> int:
    from mavtools.views.lab import lab_command, run_lab

    return run_lab(lab_command(args.notebook, port=args.port, open_browser=not args.no_browser))


# -- the registry and main -----------------------------------------------------------------------

#: Every subcommand, in the order ``--help`` lists them. Append yours.
COMMANDS: list[Command] = [
    Command(
        "fetch", "fetch versions (cached) and print or save them", _configure_fetch, _run_fetch
    ),
    Command("cache", "list or clear the local cache", _configure_cache, _run_cache),
    Command(
        "serve-samples",
        "serve the bundled samples as a local ModelArts API",
        _configure_serve_samples,
        _run_serve_samples,
    ),
    Command(
        "report", "execute a notebook into one offline HTML report", _configure_report, _run_report
    ),
    Command("lab", "open the notebooks in JupyterLab (127.0.0.1, token)", _configure_lab, _run_lab),
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand of :data:`COMMANDS`."""
    parser = _Parser(
        prog="mavtools", description="How your teams use a ModelArts training cluster."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="debug log on stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        sub.add_argument(
            "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="debug log on stderr"
        )
        command.configure(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mavtools`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("mavtools").setLevel(logging.WARNING)
    try:
        return int(args.run(args))
    except MavtoolsError as exc:
        if args.verbose:
            log.debug("details", exc_info=True)
        print(f"mavtools: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mavtools: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        # polars reports a closed pipe as a plain OSError without errno.
        if exc.errno != errno.EPIPE and "Broken pipe" not in str(exc):
            raise
        # The reader (``| head``) went away: not an error. Keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
