"""A throwaway PostgreSQL cluster for tests: `initdb` in a temporary folder, a server on 127.0.0.1.

`ThrowawayPostgres` is a context manager; the session fixture `postgres_url` yields its SQLAlchemy
URL, ``postgresql+psycopg://autokd:<password>@127.0.0.1:<port>/autokd``, and skips (reason shown)
where the server binaries are missing. The password is random and only ever written to files
inside the cluster's own folder (mode 0600), so tests can check that it is never printed.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

INSTALL_HINT = "apt-get install postgresql"
SERVER_USER = "postgres"  # initdb and postgres refuse to run as root; root runs them as this user
TOOLS = ("initdb", "pg_ctl", "postgres", "createdb")
TIMEOUT_S = 60  # every subprocess; a cold start takes about a second
LOG_TAIL_LINES = 20
# The data is thrown away: durability buys nothing here and costs time on every commit.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


class PostgresUnavailable(Exception):
    """This machine cannot run a cluster at all (no binaries, root without a `postgres` user)."""


def find_bin_dir() -> Path:
    """The newest `/usr/lib/postgresql/*/bin` with all of `TOOLS`, else the one on PATH."""
    candidates = sorted(
        (Path(path).parent for path in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=_version,
        reverse=True,
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in TOOLS):
            return folder
    raise PostgresUnavailable(
        f"PostgreSQL server binaries ({', '.join(TOOLS)}) not found under "
        f"/usr/lib/postgresql/*/bin or on PATH: `{INSTALL_HINT}`"
    )


def _version(bin_dir: Path) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in bin_dir.parent.name.split("."))
    except ValueError:
        return (-1,)


def _free_port() -> int:
    # The kernel picks a free port; another process may take it before the server binds it, so
    # `ThrowawayPostgres.start` retries with a new port when the server reports a bind failure.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary folder, stopped and removed on `close`.

    Password authentication (scram-sha-256) on TCP and on the Unix socket, which lies inside the
    folder; locale C, UTF8. As root, every server tool runs as the `postgres` system user, which
    owns the folder.

    Args:
        bin_dir: The folder of `initdb`, `pg_ctl`, `postgres` and `createdb`; found when omitted.
        user: The superuser's name.
        database: The database created for the tests.
        start_attempts: How many free ports to try when another process takes the first one.
    """

    def __init__(
        self,
        *,
        bin_dir: Path | None = None,
        user: str = "autokd",
        database: str = "autokd",
        start_attempts: int = 3,
    ) -> None:
        self._bin_dir = bin_dir
        self.user = user
        self.database = database
        self._start_attempts = start_attempts
        self._password = secrets.token_urlsafe(24)  # letters, digits, - and _: safe in a URL
        self._prefix: list[str] = []
        self.root: Path | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        """The SQLAlchemy URL (psycopg 3 driver) of `database`; holds the password."""
        if self.port is None:
            raise RuntimeError("the cluster is not started: call `start()` or use `with`")
        return (
            f"postgresql+psycopg://{self.user}:{self._password}@127.0.0.1:{self.port}/"
            f"{self.database}"
        )

    def __repr__(self) -> str:
        return f"ThrowawayPostgres(root={self.root}, port={self.port}, password=***)"

    def __enter__(self) -> ThrowawayPostgres:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        """initdb, start the server on a free port, create `database`; on any error, clean up."""
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        bin_dir = self._bin_dir = self._bin_dir or find_bin_dir()
        owner = self._server_owner()
        self.root = Path(tempfile.mkdtemp(prefix="autokd-pg-"))  # mode 0700
        if owner is not None:
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._prefix = self._run_as(owner.pw_name)
            if self._run(["test", "-w", str(self.root)], what="test -w", check=False).returncode:
                raise RuntimeError(
                    f"{owner.pw_name} cannot write {self.root}: set TMPDIR to a folder it can reach"
                )
        data, log = self.root / "data", self.root / "server.log"
        pwfile, passfile = self.root / "pwfile", self.root / "pgpass"
        self._write_private(pwfile, self._password + "\n", owner)
        self._write_private(passfile, f"127.0.0.1:*:*:{self.user}:{self._password}\n", owner)
        self._run(
            [
                str(bin_dir / "initdb"),
                f"--pgdata={data}",
                f"--username={self.user}",
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            what="initdb",
        )
        pwfile.unlink()
        settings = {**SETTINGS, "unix_socket_directories": f"'{self.root}'"}
        with open(data / "postgresql.conf", "a") as conf:  # later lines win
            conf.write("".join(f"{key} = {value}\n" for key, value in settings.items()))
        for attempt in range(1, self._start_attempts + 1):
            self.port = _free_port()
            result = self._run(
                [
                    str(bin_dir / "pg_ctl"),
                    "start",
                    "--wait",
                    f"--timeout={TIMEOUT_S // 2}",
                    f"--pgdata={data}",
                    f"--log={log}",
                    f"--options=-p {self.port}",
                ],
                what="pg_ctl start",
                check=False,
            )
            if result.returncode == 0:
                break
            tail = self._log_tail(log)
            if "could not bind" not in tail or attempt == self._start_attempts:
                raise RuntimeError(
                    f"pg_ctl start failed (exit {result.returncode}, port {self.port}): "
                    f"{result.stderr.strip()}\n--- tail of {log} ---\n{tail}"
                )
        self._run(
            [
                str(bin_dir / "createdb"),
                "--host=127.0.0.1",
                f"--port={self.port}",
                f"--username={self.user}",
                "--no-password",
                self.database,
            ],
            what="createdb",
            env={"PGPASSFILE": str(passfile)},
        )

    def close(self) -> None:
        """Stop the server (fast, else immediate) and remove the folder; safe to call twice."""
        if self.root is None:
            return
        data = self.root / "data"
        stop = [str(self._bin_dir / "pg_ctl"), "stop", f"--pgdata={data}", "--wait"]
        for mode in ("fast", "immediate"):
            if not (data / "postmaster.pid").exists():
                break
            self._run(
                [*stop, f"--timeout={TIMEOUT_S // 2}", f"--mode={mode}"], what="stop", check=False
            )
        else:
            if (data / "postmaster.pid").exists():
                warnings.warn(f"could not stop the PostgreSQL server of {data}", stacklevel=2)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None
        self.port = None

    @staticmethod
    def _server_owner() -> pwd.struct_passwd | None:
        """None when not root; as root, the `postgres` system user the server tools run as."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise PostgresUnavailable(
                f"running as root, and initdb/postgres refuse root, but there is no "
                f"`{SERVER_USER}` system user to run them as (`{INSTALL_HINT}` creates it)"
            ) from None

    @staticmethod
    def _run_as(name: str) -> list[str]:
        if shutil.which("runuser"):
            return ["runuser", "-u", name, "--"]
        if shutil.which("su"):  # `su -c` takes one shell string: `_run` joins the command
            return ["su", name, "-s", "/bin/sh", "-c"]
        raise PostgresUnavailable(f"running as root, but neither runuser nor su to become {name}")

    @staticmethod
    def _write_private(path: Path, text: str, owner: pwd.struct_passwd | None) -> None:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        if owner is not None:
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def _run(
        self,
        command: list[str],
        *,
        what: str,
        check: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        # `env` travels as `env K=V` so that it survives runuser and su; PG* variables of the
        # caller (PGHOST, PGPORT, ...) would point the client tools elsewhere, so they are dropped.
        command = ["env", *(f"{key}={value}" for key, value in (env or {}).items()), *command]
        if self._prefix[:1] == ["su"]:
            command = [shlex.join(command)]
        base_env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        try:
            result = subprocess.run(
                [*self._prefix, *command],
                cwd=self.root,  # as `postgres`, the caller's folder may be unreadable
                env={**base_env, "LC_ALL": "C"},
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as error:
            raise RuntimeError(f"{what} took over {TIMEOUT_S} s: {shlex.join(error.cmd)}") from None
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{what} failed (exit {result.returncode}): {shlex.join(result.args)}\n"
                f"{(result.stdout + result.stderr).strip()}"
            )
        return result

    @staticmethod
    def _log_tail(log: Path) -> str:
        try:
            lines = log.read_text(errors="replace").splitlines()
        except OSError as error:
            return f"(no log: {error})"
        return "\n".join(lines[-LOG_TAIL_LINES:])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway cluster's URL for the whole session; skips where PostgreSQL can't run here.

    Tests share the cluster and its database: give each Optuna study a name of its own.
    """
    cluster = ThrowawayPostgres()
    try:
        cluster.start()
    except PostgresUnavailable as reason:
        pytest.skip(str(reason))
    try:
        yield cluster.url
    finally:
        cluster.close()
