"""A real PostgreSQL server run as a child process, for tests of the SQL adapter.

Binaries come from Debian's ``postgresql`` package (``/usr/lib/postgresql/<version>/bin``, the
newest), ``$OVERLAY_PG_BIN`` or ``PATH``. The cluster is initialised with ``trust`` auth for the
``postgres`` role, listens on loopback TCP only (no Unix socket, so long paths do not matter) and
runs with fsync off: it is a throwaway test server.

PostgreSQL refuses to run as root. Run as root we therefore drop to the ``postgres`` system user
(created with ``useradd --system`` if missing) through ``setpriv``, which ``exec``\\s, so the pid we
watch and signal is the postmaster itself. That user must be able to reach the cluster folder; when
an ancestor of ``data_dir`` is private to root (pytest's ``/tmp/pytest-of-root`` is 0700), the
cluster goes to ``/tmp/overlay-pg-<hash of data_dir>`` instead and is deleted on ``stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import pwd
import re
import shutil
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from overlay.infra.errors import ServiceStartError, ToolMissingError
from overlay.infra.ports import ensure_port_free, free_port
from overlay.infra.process import ChildProcess, LocalServer, wait_until
from overlay.logging import get_logger

log = get_logger(__name__)

PG_BIN_ENV = "OVERLAY_PG_BIN"
SERVICE_USER = "postgres"
SUPERUSER = "postgres"
_DEBIAN_GLOB = "/usr/lib/postgresql/*/bin"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def find_pg_bindir() -> Path:
    """``$OVERLAY_PG_BIN``, else the newest ``/usr/lib/postgresql/*/bin``, else ``initdb`` on PATH."""
    override = os.environ.get(PG_BIN_ENV)
    candidates: list[Path] = [Path(override)] if override else []
    versions = sorted(
        Path("/").glob(_DEBIAN_GLOB.lstrip("/")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(versions)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    where = f"{PG_BIN_ENV}={override} has no initdb/postgres; " if override else ""
    raise ToolMissingError(
        f"{where}no PostgreSQL server binaries found: install them "
        f"(Debian/Ubuntu: `apt-get install postgresql`) or point {PG_BIN_ENV} at their bin folder"
    )


@dataclass(frozen=True)
class _RunAs:
    """The unprivileged account the server runs under when we are root."""

    uid: int
    gid: int

    def prefix(self) -> list[str]:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise ToolMissingError("running PostgreSQL as root needs `setpriv` (Debian: util-linux)")
        return [setpriv, f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--"]

    def can_traverse(self, path: Path) -> bool:
        """Whether this account may enter every folder from ``/`` down to ``path`` (x bits)."""
        for folder in (path, *path.parents):
            try:
                st = folder.stat()
            except FileNotFoundError:
                continue
            if st.st_uid == self.uid:
                bit = 0o100
            elif st.st_gid == self.gid:
                bit = 0o010
            else:
                bit = 0o001
            if not st.st_mode & bit:
                return False
        return True


async def _run(argv: list[str], what: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        text = out.decode("utf-8", "replace").strip()
        raise ServiceStartError(f"{what} failed (exit {proc.returncode}): {text[-3000:]}")


async def _service_account() -> _RunAs | None:
    """None unless we are root; then the ``postgres`` user, created (system user) if missing."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        await _run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin",
             SERVICE_USER],
            f"creating the system user {SERVICE_USER!r}",
        )
        entry = pwd.getpwnam(SERVICE_USER)
    return _RunAs(entry.pw_uid, entry.pw_gid)


async def postgres_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        conn = await asyncpg.connect(
            host=host, port=port, user=SUPERUSER, database="postgres", timeout=timeout
        )
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


async def wait_for_postgres(host: str, port: int, timeout: float = 30.0, interval: float = 0.05) -> None:
    await wait_until(lambda: postgres_reachable(host, port), timeout,
                     f"PostgreSQL refused connections on {host}:{port} for {timeout:.0f}s", interval)


class PostgresServer(LocalServer):
    """One PostgreSQL on ``host:port`` (0 → a free port at start), its files under ``data_dir``."""

    what = "the PostgreSQL"

    def __init__(
        self,
        data_dir: Path,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        bindir: Path | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 15.0,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.bindir = bindir
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._port = port
        self._proc: ChildProcess | None = None
        self._cluster: Path | None = None
        self._ephemeral = False


    @property
    def dsn(self) -> str:
        """Async SQLAlchemy URL of the ``postgres`` database."""
        return self.dsn_for("postgres")

    def dsn_for(self, database: str) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@{self.host}:{self.port}/{database}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "postgres.log"


    def _cluster_dir(self, run_as: _RunAs | None) -> tuple[Path, bool]:
        """Where the cluster lives and whether it is ephemeral (see the module docstring)."""
        inside = self.data_dir / "pgdata"
        if run_as is None or run_as.can_traverse(self.data_dir):
            return inside, False
        digest = hashlib.blake2b(str(self.data_dir).encode(), digest_size=6).hexdigest()
        base = Path(tempfile.gettempdir())
        if not run_as.can_traverse(base):
            base = Path("/tmp")
        return base / f"overlay-pg-{digest}", True

    async def start(self) -> None:
        """initdb (first time), start the postmaster, return once it accepts connections."""
        if self.is_running():
            return
        bindir = self.bindir or find_pg_bindir()
        run_as = await _service_account()
        prefix = run_as.prefix() if run_as is not None else []
        if not self._port:
            self._port = free_port(self.host)
        try:
            await ensure_port_free(self.host, self.port, "PostgreSQL")
        except OSError as exc:
            raise ServiceStartError(str(exc)) from None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster, ephemeral = self._cluster_dir(run_as)
        self._cluster, self._ephemeral = cluster, ephemeral
        argv = [
            *prefix, str(bindir / "postgres"), "-D", str(cluster), "-p", str(self.port),
            "-c", f"listen_addresses={self.host}", "-c", "unix_socket_directories=",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=200", "-c", "shared_buffers=32MB", "-c", "logging_collector=off",
        ]
        proc = ChildProcess(
            "postgres", argv, log_path=self.log_path, pid_path=self.data_dir / "postgres.pid",
            cwd=self.data_dir,
        )
        proc.check_leftover(marker=str(cluster))
        if ephemeral:
            await asyncio.to_thread(shutil.rmtree, cluster, True)
        if not (cluster / "PG_VERSION").is_file():
            await self._initdb(bindir, cluster, run_as, prefix)
        self._proc = proc
        await proc.spawn()
        try:
            await proc.wait_until_ready(
                wait_for_postgres(self.host, self.port, self.start_timeout),
                address=f"{self.host}:{self.port}",
            )
        except BaseException:
            await self.stop()
            raise
        log.info("infra.postgres.ready", dsn=self.dsn, pid=proc.pid, cluster=str(cluster))

    async def _initdb(self, bindir: Path, cluster: Path, run_as: _RunAs | None, prefix: list[str]) -> None:
        def prepare() -> None:
            cluster.mkdir(parents=True, exist_ok=True, mode=0o700)
            if run_as is not None:
                os.chown(cluster, run_as.uid, run_as.gid)

        await asyncio.to_thread(prepare)
        await _run(
            [*prefix, str(bindir / "initdb"), "-D", str(cluster), "-U", SUPERUSER, "--auth=trust",
             "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            "initdb",
        )

    async def create_database(self, name: str) -> str:
        """Create an empty database (a lower-case identifier) and return its DSN."""
        if not _IDENTIFIER.match(name):
            raise ValueError(f"database name {name!r} must match {_IDENTIFIER.pattern}")
        conn = await asyncpg.connect(host=self.host, port=self.port, user=SUPERUSER, database="postgres")
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.dsn_for(name)

    async def stop(self) -> None:
        """Fast shutdown (SIGINT: clients are disconnected), SIGKILL after ``stop_timeout``. Idempotent."""
        proc = self._proc
        if proc is not None and proc.is_running() and proc.pid is not None:
            # SIGTERM would be a "smart" shutdown that waits for every pooled client to leave.
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGINT)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), self.stop_timeout)
        if proc is not None:
            await proc.stop(grace=2.0)
        if self._ephemeral and self._cluster is not None:
            await asyncio.to_thread(shutil.rmtree, self._cluster, True)

