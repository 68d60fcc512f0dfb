"""`sei-sandbox`: run the sandbox API from a shell, e.g. for the README demo."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from typing_extensions import override

from .config import DEFAULT_BASE_PATH, HEADER_CASES, KNOWN_ORG_TREES, KNOWN_TEAMS, SandboxConfig
from .faults import FAULT_KINDS, Fault
from .server import SandboxServer


class DefaultsShown(argparse.HelpFormatter):
    """Help that ends each option with its default, where it has one worth showing.

    argparse's `ArgumentDefaultsHelpFormatter` would also print `(default: None)` on every
    repeatable option and `(default: False)` on every switch.
    """

    @override
    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        default = action.default
        nothing = default is None or default is False or default in ("", [], argparse.SUPPRESS)
        if nothing or "%(default)" in help_text:
            return help_text
        return f"{help_text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    """The command line of `sei-sandbox`."""
    parser = argparse.ArgumentParser(
        prog="sei-sandbox",
        description="Serve a local sandbox of the Harness SEI Issue Time-in-Status Export API.",
        formatter_class=DefaultsShown,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback only)")
    parser.add_argument("--port", type=int, default=8765, help="port to bind (0: any free)")
    parser.add_argument("--api-key", default="sandbox-key", help="the key clients must send")
    parser.add_argument(
        "--base-path",
        default=DEFAULT_BASE_PATH,
        help="path prefix the API is served under; others answer 404",
    )
    parser.add_argument(
        "--export-seconds", type=float, default=1.0, help="seconds until an export completes"
    )
    parser.add_argument("--org-tree-teams", type=int, default=3, help="teams of an org tree")
    parser.add_argument(
        "--team",
        action="append",
        metavar="TEAM_ID",
        help=f"a team id it knows (repeatable; default: {', '.join(KNOWN_TEAMS)})",
    )
    parser.add_argument(
        "--project",
        action="append",
        metavar="ORG/PROJECT",
        help="an orgIdentifier/projectIdentifier pair the key may use (repeatable; default: "
        "any); others get a 403",
    )
    parser.add_argument(
        "--org-tree",
        action="append",
        metavar="NAME",
        help=f"an org tree it knows (repeatable; default: {', '.join(KNOWN_ORG_TREES)})",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="ENDPOINT:KIND[:TIMES[:AFTER]]",
        help="inject a fault, e.g. create:429:2 (repeatable; TIMES may be 'always'); "
        f"kinds: {', '.join(FAULT_KINDS)}",
    )
    parser.add_argument(
        "--export-id-template",
        default="exp_{hex}",
        help="shape of new export ids, {hex} for 8 random hex digits (e.g. '../../{hex}')",
    )
    parser.add_argument(
        "--status-message", default="", help="the message of every create and poll answer"
    )
    parser.add_argument("--fail-exports", type=int, default=0, help="first N exports fail")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    dialects = parser.add_argument_group("dialects (answers the API family may give)")
    dialects.add_argument(
        "--served-status",
        action="append",
        metavar="STATUS",
        help="the CSV's status columns are these statuses' instead of the requested ones "
        "(repeatable)",
    )
    dialects.add_argument(
        "--omit-column",
        action="append",
        default=[],
        metavar="NAME",
        help="leave a column out of the CSV, e.g. team_hierarchy, total_issues (repeatable)",
    )
    dialects.add_argument(
        "--sprint-column", default="sprint", help="name of the sprint column, e.g. sprint_name"
    )
    dialects.add_argument(
        "--header-case", choices=HEADER_CASES, default="lower", help="case of the CSV header"
    )
    dialects.add_argument(
        "--csv-file", type=Path, help="serve this CSV (gzip-compressed) as every export's file"
    )
    dialects.add_argument(
        "--create-without-status",
        action="store_true",
        help="create answers carry no status (as the Sprint and Efficiency pages show)",
    )
    dialects.add_argument(
        "--rich-answers",
        action="store_true",
        help="answers carry scope, metadata, completedAt, a download object and downloadUrl",
    )
    dialects.add_argument(
        "--lower-case-status", action="store_true", help="statuses in lower case: completed"
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow binding a non-loopback address"
    )
    return parser


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _project(spec: str) -> tuple[str, str]:
    org, slash, project = spec.partition("/")
    if not (org and slash and project):
        msg = f"--project {spec!r}: expected ORG/PROJECT, e.g. default/sei_demo"
        raise ValueError(msg)
    return org, project


def build_config(args: argparse.Namespace) -> SandboxConfig:
    """The sandbox's settings from the command line; `ValueError` for a bad one."""
    return SandboxConfig(
        api_key=args.api_key,
        host=args.host.strip("[]"),
        port=args.port,
        base_path=args.base_path,
        teams=args.team or KNOWN_TEAMS,
        org_trees=args.org_tree or KNOWN_ORG_TREES,
        projects=None if args.project is None else [_project(spec) for spec in args.project],
        export_seconds=args.export_seconds,
        org_tree_teams=args.org_tree_teams,
        fail_exports=args.fail_exports,
        faults=[Fault.parse(spec) for spec in args.fault],
        verbose=args.verbose,
        served_statuses=args.served_status,
        omit_columns=args.omit_column,
        sprint_column=args.sprint_column,
        header_case=args.header_case,
        csv_file=args.csv_file,
        create_without_status=args.create_without_status,
        rich_answers=args.rich_answers,
        status_case="lower" if args.lower_case_status else "upper",
        export_id_template=args.export_id_template,
        status_message=args.status_message,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; print the base URL once ready."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not is_loopback(args.host) and not args.allow_remote:
        parser.error(f"refusing to bind non-loopback host {args.host!r} without --allow-remote")
    try:
        config = build_config(args)
    except ValueError as e:
        parser.error(str(e))
    try:
        server = SandboxServer(config)
    except OSError as e:
        print(f"sei-sandbox: cannot bind {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with server:
            print(server.base_url, flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
