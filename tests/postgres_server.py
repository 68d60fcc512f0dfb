"""A throwaway PostgreSQL server for tests, started from the Debian PostgreSQL 15 binaries.

Usage::

    with PostgresServer() as pg:
        print(pg.dsn)  # postgresql://sei:sei-test-password@127.0.0.1:54321/sei

The server runs in a fresh temporary directory (data directory, unix socket and log), listens
only on 127.0.0.1 on a free port, and is stopped (``pg_ctl stop -m fast``) and deleted by
:meth:`PostgresServer.stop` or on leaving the ``with`` block.

PostgreSQL refuses to run as root. When this process is root (as on CI), ``initdb`` and
``pg_ctl`` are run as the ``postgres`` OS user (through ``runuser``, or ``su`` where ``runuser``
is missing) and the temporary directory is handed to that user; otherwise they run as the
current user. TCP connections need the password (``scram-sha-256``); connections over the unix
socket in the temporary directory are trusted. Only the standard library is used.

Where a PostgreSQL server is already there (the GitHub workflow's service container),
``PostgresServer.from_environment()`` uses the one that ``$SEI_TEST_POSTGRES_URL`` names
(``postgresql://user:password@host:port/database``) instead, and neither starts nor stops it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import quote, unquote, urlsplit

DEFAULT_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
"""Where Debian's ``postgresql-15`` package puts ``initdb``, ``pg_ctl`` and ``postgres``."""
SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
MISSING_BINARIES = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH, through "
    "`pg_config --bindir`, or in /usr/lib/postgresql/*/bin. Install them (Debian/Ubuntu: "
    "`apt-get install postgresql`, macOS: `brew install postgresql@15`) to run the "
    "PostgreSQL tests."
)


def _has_server_binaries(directory: Path) -> bool:
    return all((directory / name).is_file() for name in SERVER_BINARIES)


def find_bin_dir(
    path: str | None = None,
    pg_config: str | None = "pg_config",
    roots: Sequence[Path] = (Path("/usr/lib/postgresql"),),
) -> Path | None:
    """The directory of ``initdb``, ``pg_ctl`` and ``postgres``, or None.

    Looked for, in order: on ``path`` (default ``PATH``; symlinks are followed, as ``initdb``
    finds ``postgres`` beside its real file), in ``pg_config --bindir``, then in the newest
    ``<root>/<version>/bin`` (Debian's layout).
    """
    found = shutil.which("initdb", path=path if path is not None else os.environ.get("PATH"))
    candidates = [Path(found).resolve().parent] if found else []
    config = shutil.which(pg_config) if pg_config else None
    if config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                [config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(Path(done.stdout.strip()))
    for root in roots:
        versions = sorted(
            (p for p in root.glob("*/bin") if p.parent.name.isdigit()),
            key=lambda p: int(p.parent.name),
            reverse=True,
        )
        candidates.extend(versions)
    return next((c for c in candidates if _has_server_binaries(c)), None)


_HOST = "127.0.0.1"
ENV_URL = "SEI_TEST_POSTGRES_URL"
_START_ATTEMPTS = 3
_TIMEOUT_SECONDS = 120


class PostgresServerError(RuntimeError):
    """The throwaway server could not be set up, started or stopped."""


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """A PostgreSQL 15 server in a temporary directory, for the length of a test session.

    Attributes:
        host: Address the server listens on (always ``127.0.0.1``).
        port: TCP port, chosen free at start.
        user: Superuser created by ``initdb``.
        password: That user's password (needed over TCP).
        database: Database created for the tests.
        socket_dir: Directory of the unix socket (inside the temporary directory).
    """

    def __init__(
        self,
        *,
        user: str = "sei",
        password: str = "sei-test-password",  # noqa: S107 - throwaway local test server
        database: str = "sei",
        bin_dir: Path | str | None = None,
        os_user: str = "postgres",
        parent_dir: Path | str | None = None,
    ) -> None:
        """Describe the server; nothing runs until :meth:`start` (or ``with``).

        Args:
            user: Name of the database superuser to create.
            password: Its password.
            database: Name of the database to create for the tests.
            bin_dir: Directory holding ``initdb``, ``pg_ctl`` and ``postgres`` (default:
                :func:`find_bin_dir`, else Debian's PostgreSQL 15 directory).
            os_user: OS user that runs the server when this process is root.
            parent_dir: Where to make the temporary directory (default: the system temporary
                directory). When running as root it must be traversable by ``os_user``.
        """
        self.host = _HOST
        self.port = 0
        self.user = user
        self.password = password
        self.database = database
        self.bin_dir = Path(bin_dir) if bin_dir is not None else find_bin_dir() or DEFAULT_BIN_DIR
        self.os_user = os_user
        self.parent_dir = Path(parent_dir) if parent_dir is not None else None
        self._root_dir: Path | None = None
        self._running = False
        self._external = False

    @classmethod
    def from_environment(cls) -> PostgresServer:
        """The server that ``$SEI_TEST_POSTGRES_URL`` names, else a throwaway one.

        Each test works in a schema of its own, so a shared server is as good as a fresh one.
        """
        url = os.environ.get(ENV_URL)
        if not url:
            return cls()
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
            raise PostgresServerError(f"{ENV_URL} is not a postgresql://user:pw@host/db URL")
        server = cls(
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            database=unquote(parts.path.lstrip("/") or "postgres"),
        )
        server.host = parts.hostname
        server.port = parts.port or 5432
        server._external = True
        return server

    # -- paths -------------------------------------------------------------------------------

    @property
    def root_dir(self) -> Path:
        """The temporary directory holding the data directory, socket and log."""
        if self._root_dir is None:
            raise PostgresServerError("the server has not been started")
        return self._root_dir

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self.root_dir / "data"

    @property
    def socket_dir(self) -> Path:
        """Directory of the server's unix socket."""
        return self.root_dir

    @property
    def log_file(self) -> Path:
        """The server log written by ``pg_ctl -l``."""
        return self.root_dir / "postgres.log"

    # -- connection details ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether :meth:`start` succeeded and :meth:`stop` has not been called since."""
        return self._running

    @property
    def dsn(self) -> str:
        """A libpq / SQLAlchemy-style URL: ``postgresql://user:password@host:port/database``."""
        return (
            f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(self.database, safe='')}"
        )

    @property
    def sqlalchemy_url(self) -> str:
        """The DSN with psycopg 3 as the SQLAlchemy driver."""
        return self.dsn.replace("postgresql://", "postgresql+psycopg://", 1)

    def libpq_env(self) -> dict[str, str]:
        """``PG*`` variables that point ``psql`` and other libpq clients at this server."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": self.database,
        }

    def target_postgres_env(self, schema: str = "sei") -> dict[str, str]:
        """``TARGET_POSTGRES_*`` variables that point Meltano's ``target-postgres`` here."""
        return {
            "TARGET_POSTGRES_HOST": self.host,
            "TARGET_POSTGRES_PORT": str(self.port),
            "TARGET_POSTGRES_USER": self.user,
            "TARGET_POSTGRES_PASSWORD": self.password,
            "TARGET_POSTGRES_DATABASE": self.database,
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        }

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """Create the cluster and start the server; returns ``self``.

        Raises:
            PostgresServerError: A binary or the OS user is missing, or the server did not
                start (the message carries the command output and the server log).
        """
        if self._running:
            return self
        if self._external:
            self._running = True
            return self
        for name in ("initdb", "pg_ctl", "postgres"):
            if not (self.bin_dir / name).is_file():
                raise PostgresServerError(f"{self.bin_dir / name} not found (postgresql-15?)")
        self._root_dir = Path(tempfile.mkdtemp(prefix="pgtest-", dir=self.parent_dir))
        atexit.register(self.stop)
        try:
            self._init_cluster()
            self._start_server()
            self._create_database()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop -m fast``) and delete its directory; idempotent."""
        atexit.unregister(self.stop)
        if self._external:
            self._running = False
            return
        root = self._root_dir
        if root is None:
            return
        try:
            if self._running or (self.data_dir / "postmaster.pid").exists():
                self._run(
                    [self._bin("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"],
                    check=False,
                )
        finally:
            self._running = False
            self._root_dir = None
            shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"port={self.port}" if self._running else "stopped"
        return f"PostgresServer({self.user}@{self.host}/{self.database}, {state})"

    # -- steps -------------------------------------------------------------------------------

    def _init_cluster(self) -> None:
        root = self.root_dir
        pwfile = root / "pwfile"
        pwfile.write_text(self.password + "\n", encoding="utf-8")
        pwfile.chmod(0o600)
        root.chmod(0o700)
        if self._as_other_user:
            try:
                account = pwd.getpwnam(self.os_user)
            except KeyError:
                raise PostgresServerError(
                    f"running as root, but there is no OS user {self.os_user!r} to run PostgreSQL"
                ) from None
            for path in (root, pwfile):
                os.chown(path, account.pw_uid, account.pw_gid)
        self._run(
            [
                self._bin("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        pwfile.unlink()
        settings = {
            "listen_addresses": f"'{_HOST}'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "50",
        }
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as fh:
            fh.write("\n# tests/postgres_server.py\n")
            fh.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _start_server(self) -> None:
        error: PostgresServerError | None = None
        for _ in range(_START_ATTEMPTS):
            self.port = _free_port()
            try:
                self._run(
                    [
                        self._bin("pg_ctl"),
                        "start",
                        "-D",
                        str(self.data_dir),
                        "-l",
                        str(self.log_file),
                        "-w",
                        "-t",
                        str(_TIMEOUT_SECONDS),
                        "-o",
                        f"-p {self.port}",
                    ]
                )
            except PostgresServerError as exc:  # e.g. the port was taken in the meantime
                error = exc
                continue
            self._running = True
            return
        assert error is not None
        raise error

    def _create_database(self) -> None:
        if self.database == "postgres":
            return
        createdb = self.bin_dir / "createdb"
        command = [
            str(createdb),
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            self.user,
            self.database,
        ]
        self._run(command, as_server_user=False)

    # -- helpers -----------------------------------------------------------------------------

    @property
    def _as_other_user(self) -> bool:
        return os.geteuid() == 0

    def _bin(self, name: str) -> str:
        return str(self.bin_dir / name)

    def _wrap(self, command: Sequence[str]) -> list[str]:
        """``command`` as run by the server's OS user when this process is root."""
        if not self._as_other_user:
            return list(command)
        runuser = shutil.which("runuser")
        if runuser is not None:
            return [runuser, "-u", self.os_user, "--", *command]
        su = shutil.which("su")
        if su is None:
            raise PostgresServerError("running as root, but neither runuser nor su exists")
        return [su, "-s", "/bin/sh", self.os_user, "-c", shlex.join(command)]

    def _run(
        self, command: Sequence[str], *, check: bool = True, as_server_user: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = self._wrap(command) if as_server_user else list(command)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({"LC_ALL": "C", "LANG": "C"})
        try:
            result = subprocess.run(
                argv,
                cwd=self.root_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresServerError(f"{shlex.join(argv)}: {exc}\n{self._log_tail()}") from exc
        if check and result.returncode != 0:
            raise PostgresServerError(
                f"{shlex.join(argv)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n{self._log_tail()}"
            )
        return result

    def _log_tail(self, lines: int = 40) -> str:
        if self._root_dir is None:
            return ""
        with contextlib.suppress(OSError):
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
            return "server log (tail):\n" + "\n".join(text.splitlines()[-lines:])
        return ""


if __name__ == "__main__":  # pragma: no cover - manual check: start, print the DSN, stop
    with PostgresServer() as server:
        print(server.dsn)
