"""A real MariaDB server run as a child process, for tests of the SQL adapter.

Binaries come from Debian's ``mariadb-server`` package (``mariadb-install-db`` and ``mariadbd``).
The server ignores every option file (``--no-defaults``), listens on loopback TCP plus a socket in
``data_dir``, and runs with ``--skip-grant-tables``: any user connects without a password, which
is what a throwaway test server wants and avoids the root@localhost-versus-127.0.0.1 grant dance.
Run as root it needs ``--user=root`` (mariadbd otherwise refuses).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import warnings
from pathlib import Path

import aiomysql
import pymysql

from overlay.infra.errors import ServiceStartError, ToolMissingError
from overlay.infra.ports import ensure_port_free, free_port
from overlay.infra.process import ChildProcess, LocalServer, wait_until
from overlay.logging import get_logger

log = get_logger(__name__)

DEFAULT_DATABASE = "overlay"
_SBIN = ("/usr/sbin", "/usr/libexec", "/usr/local/sbin")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _find(*names: str) -> str | None:
    search = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    for name in names:
        found = shutil.which(name, path=search)
        if found:
            return found
    return None


def find_mariadb_binaries() -> tuple[str, str]:
    """(install-db script, server binary), newest names first; a clear error if missing."""
    install_db = _find("mariadb-install-db", "mysql_install_db")
    server = _find("mariadbd", "mysqld")
    if install_db is None or server is None:
        raise ToolMissingError(
            "no MariaDB server found (mariadb-install-db and mariadbd): install it "
            "(Debian/Ubuntu: `apt-get install mariadb-server`)"
        )
    return install_db, server


async def mariadb_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        conn = await aiomysql.connect(host=host, port=port, user="root", connect_timeout=timeout)
    except (OSError, TimeoutError, pymysql.MySQLError):
        return False
    conn.close()
    return True


async def wait_for_mariadb(host: str, port: int, timeout: float = 60.0, interval: float = 0.05) -> None:
    await wait_until(lambda: mariadb_reachable(host, port), timeout,
                     f"MariaDB did not accept connections on {host}:{port} within {timeout:.0f}s", interval)


class MariaDbServer(LocalServer):
    """One MariaDB on ``host:port`` (0 → a free port at start), its files under ``data_dir``."""

    what = "the MariaDB"

    def __init__(
        self,
        data_dir: Path,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        start_timeout: float = 60.0,
        stop_timeout: float = 20.0,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._port = port
        self._proc: ChildProcess | None = None


    @property
    def dsn(self) -> str:
        """Async SQLAlchemy URL of the ``overlay`` database (created at start)."""
        return self.dsn_for(DEFAULT_DATABASE)

    def dsn_for(self, database: str) -> str:
        return f"mysql+aiomysql://root@{self.host}:{self.port}/{database}?charset=utf8mb4"

    @property
    def datadir(self) -> Path:
        return self.data_dir / "data"

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "mariadbd.sock"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "mariadb.log"


    def _user_args(self) -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    async def start(self) -> None:
        """Initialise the data folder (first time), start mariadbd, return once it accepts connections."""
        if self.is_running():
            return
        install_db, server = find_mariadb_binaries()
        if not self._port:
            self._port = free_port(self.host)
        try:
            await ensure_port_free(self.host, self.port, "MariaDB")
        except OSError as exc:
            raise ServiceStartError(str(exc)) from None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            server, "--no-defaults", f"--datadir={self.datadir}", f"--socket={self.socket_path}",
            f"--port={self.port}", f"--bind-address={self.host}",
            f"--pid-file={self.data_dir / 'mariadbd.pid'}",
            *self._user_args(), "--skip-grant-tables", "--skip-name-resolve", "--skip-log-bin",
            "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
            "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--performance-schema=OFF",
            "--character-set-server=utf8mb4", "--max-connections=200",
        ]
        proc = ChildProcess(
            "mariadb", argv, log_path=self.log_path, pid_path=self.data_dir / "mariadb.pid", cwd=self.data_dir
        )
        proc.check_leftover(marker=str(self.datadir))
        if not (self.datadir / "mysql").is_dir():
            await self._install_db(install_db)
        self._proc = proc
        await proc.spawn()
        try:
            await proc.wait_until_ready(
                wait_for_mariadb(self.host, self.port, self.start_timeout), address=f"{self.host}:{self.port}"
            )
            await self.create_database(DEFAULT_DATABASE, exist_ok=True)
        except BaseException:
            await self.stop()
            raise
        log.info("infra.mariadb.ready", dsn=self.dsn, pid=proc.pid)

    async def _install_db(self, install_db: str) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        proc = await asyncio.create_subprocess_exec(
            install_db, "--no-defaults", f"--datadir={self.datadir}", *self._user_args(),
            "--skip-test-db", "--auth-root-authentication-method=normal", "--skip-name-resolve",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, cwd=self.data_dir,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            text = out.decode("utf-8", "replace").strip()[-3000:]
            raise ServiceStartError(f"mariadb-install-db failed (exit {proc.returncode}): {text}")

    async def create_database(self, name: str, *, exist_ok: bool = False) -> str:
        """Create an empty database and return its DSN."""
        if not _IDENTIFIER.match(name):
            raise ValueError(f"database name {name!r} must match {_IDENTIFIER.pattern}")
        conn = await aiomysql.connect(host=self.host, port=self.port, user="root")
        try:
            async with conn.cursor() as cur:
                guard = "IF NOT EXISTS " if exist_ok else ""
                with warnings.catch_warnings():  # "database exists" is a note, not a problem
                    warnings.simplefilter("ignore", pymysql.Warning)
                    await cur.execute(f"CREATE DATABASE {guard}`{name}` CHARACTER SET utf8mb4")
        finally:
            conn.close()
        return self.dsn_for(name)


