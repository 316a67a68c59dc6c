"""A throw-away PostgreSQL server on 127.0.0.1 with scram password auth, for tests and the demo.

PostgreSQL refuses to run as root, so when we are root the server runs as an unprivileged OS user
($KUBEMAINT_PG_OS_USER, default ``postgres``) that owns the data dir.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

from .process import ManagedProcess, Server, ensure_free, free_port
from .tools import find_tool

# Kept beside PostgreSQL's own files, so a restart on the same data dir knows the password.
_SETTINGS_FILE = "kubemaint-devstack.json"


def _os_user() -> str | None:
    """The OS user to run PostgreSQL as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("KUBEMAINT_PG_OS_USER", "postgres")
    try:
        pwd.getpwnam(name)
    except KeyError:
        hint = f"running as root needs an OS user {name!r} for PostgreSQL: useradd {name}"
        raise RuntimeError(hint) from None
    return name


def _can_reach(path: Path, os_user: str) -> bool:
    probe = subprocess.run(
        ["test", "-d", str(path), "-a", "-x", str(path)], user=os_user, group=os_user, extra_groups=[],
        check=False, timeout=30,
    )  # fmt: skip
    return probe.returncode == 0


def reachable_data_dir(preferred: Path) -> Path:
    """``preferred`` if PostgreSQL's OS user can reach it, else a private folder under the system temp dir.

    As root, PostgreSQL runs as an unprivileged user, which cannot enter a checkout under a mode-700 folder
    (a CI clone in ``mktemp -d``, say). The fallback is named after ``preferred``, so it is stable across
    ``devstack up`` runs, and mode 711 so that user can traverse it.
    """
    os_user = _os_user()
    preferred.parent.mkdir(parents=True, exist_ok=True)
    if os_user is None or _can_reach(preferred.parent, os_user):
        return preferred
    digest = hashlib.sha256(str(preferred.resolve()).encode()).hexdigest()[:12]
    fallback = Path(tempfile.gettempdir()) / f"kubemaint-pg-{digest}"
    fallback.mkdir(mode=0o711, exist_ok=True)
    fallback.chmod(0o711)
    return fallback / preferred.name


def _check_reachable(path: Path, os_user: str) -> None:
    """Fail clearly if ``os_user`` cannot traverse to ``path`` (pytest's tmp_path under root is mode 700).

    Permissions are not changed behind the caller's back: a parallel pytest session resets them anyway.
    """
    if not _can_reach(path, os_user):
        raise RuntimeError(
            f"PostgreSQL runs as {os_user!r}, which cannot reach {path}: put the data dir under a folder "
            "that others may traverse, e.g. tempfile.mkdtemp() with mode 0o711 (as tests/conftest.py does)"
        )


class PostgresServer(Server):
    """PostgreSQL with one superuser (``user``/``password``) and one database, on a fixed TCP port."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        user: str = "kubemaint",
        password: str | None = None,
        database: str = "kubemaint",
        log_path: Path | None = None,
        detach: bool = False,
        start_timeout: float = 60.0,
    ) -> None:
        self.data_dir = data_dir
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.user = user
        self.database = database
        self.password = password or self._saved_password() or secrets.token_urlsafe(16)
        self.start_timeout = start_timeout
        self.log_path = log_path or data_dir.with_name(f"{data_dir.name}.log")
        self.os_user = _os_user()
        self.socket_dir = self._socket_dir()
        argv: list[str | os.PathLike[str]] = [find_tool("postgres"), "-D", data_dir, "-p", str(self.port)]
        for setting in (
            f"listen_addresses={self.host}",
            f"unix_socket_directories={self.socket_dir}",
            "max_connections=300",
            "fsync=off",  # test data only
            "synchronous_commit=off",
            "full_page_writes=off",
        ):
            argv += ["-c", setting]
        # SIGINT is PostgreSQL's "fast" shutdown: disconnect clients, checkpoint, exit.
        self.process = ManagedProcess(
            "postgres", argv, self.log_path, env=self._env(), user=self.os_user,
            stop_signal=signal.SIGINT, detach=detach,
        )  # fmt: skip

    @property
    def dsn(self) -> str:
        return self.dsn_for(self.database)

    def dsn_for(self, database: str) -> str:
        """A libpq/asyncpg URL for ``database`` on this server."""
        user, password = quote(self.user, safe=""), quote(self.password, safe="")
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{quote(database, safe='')}"

    @property
    def running(self) -> bool:
        return self.process.running

    def _saved_password(self) -> str | None:
        try:
            saved: dict[str, str] = json.loads((self.data_dir / _SETTINGS_FILE).read_text())
        except (OSError, ValueError):
            return None
        return saved.get("password") if saved.get("user") == self.user else None

    def _socket_dir(self) -> Path:
        # A unix socket path must stay under ~107 bytes; a deep data dir gets a short one in /tmp instead,
        # named after the port (two running servers never share a port).
        if len(str(self.data_dir)) + len("/.s.PGSQL.65535.lock") < 100:
            return self.data_dir
        return Path(tempfile.gettempdir()) / f"kubemaint-pg-{self.port}"

    def _prepare_socket_dir(self) -> None:
        if self.socket_dir == self.data_dir:
            return
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        if self.os_user:
            info = pwd.getpwnam(self.os_user)
            os.chown(self.socket_dir, info.pw_uid, info.pw_gid)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C.UTF-8", LANG="C.UTF-8")
        if self.os_user:
            env.update(HOME=pwd.getpwnam(self.os_user).pw_dir, USER=self.os_user, LOGNAME=self.os_user)
        return env

    def _initdb(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.os_user:
            info = pwd.getpwnam(self.os_user)
            _check_reachable(self.data_dir.parent, self.os_user)
            os.chown(self.data_dir, info.pw_uid, info.pw_gid)
        os.chmod(self.data_dir, 0o700)
        with tempfile.NamedTemporaryFile("w", prefix="kmpw-", delete=False) as pwfile:
            pwfile.write(self.password + "\n")
        try:
            if self.os_user:
                info = pwd.getpwnam(self.os_user)
                os.chown(pwfile.name, info.pw_uid, info.pw_gid)
            result = subprocess.run(
                [find_tool("initdb"), "-D", str(self.data_dir), "-U", self.user, f"--pwfile={pwfile.name}",
                 "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                 "--no-sync"],
                env=self._env(), user=self.os_user, group=self.os_user,
                extra_groups=[] if self.os_user else None, capture_output=True, text=True, timeout=120,
                check=False,
            )  # fmt: skip
        finally:
            os.unlink(pwfile.name)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed in {self.data_dir}:\n{result.stdout}\n{result.stderr}")
        settings = {"user": self.user, "password": self.password}
        (self.data_dir / _SETTINGS_FILE).write_text(json.dumps(settings))

    def _answers(self) -> bool:
        try:
            self.psql("select 1", database="postgres", timeout=5)
        except RuntimeError:
            return False
        return True

    def start(self) -> None:
        """initdb if needed, start, wait until a password login works, create ``database`` if missing."""
        if not (self.data_dir / "PG_VERSION").is_file():
            self._initdb()
        ensure_free(self.port, "postgres")
        self._prepare_socket_dir()
        self.process.start()
        self.process.wait_until(self._answers, self.start_timeout, "accepting password logins")
        query = f"select 1 from pg_database where datname = '{self.database}'"
        exists = self.psql(query, database="postgres")
        if not exists:
            self.create_database(self.database)

    def stop(self) -> None:
        self.process.stop()
        if self.socket_dir != self.data_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    def create_database(self, name: str) -> None:
        self.psql(f'create database "{name}"', database="postgres")

    def drop_database(self, name: str) -> None:
        self.psql(f'drop database if exists "{name}" with (force)', database="postgres")

    def psql(self, sql: str, *, database: str | None = None, timeout: float = 30) -> str:
        """Run SQL through psql over TCP with the password; return unaligned, tuples-only output."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGPASSWORD"] = self.password
        env["PGCONNECT_TIMEOUT"] = "5"
        result = subprocess.run(
            [find_tool("psql"), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.host,
             "-p", str(self.port), "-U", self.user, "-d", database or self.database, "-c", sql],
            env=env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()
