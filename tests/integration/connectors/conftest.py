"""Real databases for the connector tests: one PostgreSQL and one MariaDB per session.

Both start on free loopback ports in a temporary folder (about a second each) and only when a test
asks for them, so SQLite-only runs stay server-free. ``crm_dsn`` gives each test an empty database
of its own on SQLite, PostgreSQL and MariaDB in turn.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from overlay.infra.mariadb import MariaDbServer
from overlay.infra.postgres import PostgresServer
from overlay.infra.process import pid_alive

DIALECTS = ("sqlite", "postgresql", "mariadb")


@pytest.fixture(scope="session")
async def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PostgresServer]:
    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    async with server:
        yield server
    assert server.pid is None or not pid_alive(server.pid), "PostgreSQL survived stop()"


@pytest.fixture(scope="session")
async def mariadb_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MariaDbServer]:
    server = MariaDbServer(tmp_path_factory.mktemp("mariadb"))
    async with server:
        yield server
    assert server.pid is None or not pid_alive(server.pid), "MariaDB survived stop()"


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: PostgresServer) -> str:
    return postgres_server.dsn


@pytest.fixture(scope="session")
def mariadb_dsn(mariadb_server: MariaDbServer) -> str:
    return mariadb_server.dsn


@pytest.fixture(params=DIALECTS)
def crm_server(request: pytest.FixtureRequest) -> PostgresServer | MariaDbServer | None:
    """The dialect's server (None for SQLite), started on first use (sync: getfixturevalue needs it)."""
    if request.param == "postgresql":
        pg: PostgresServer = request.getfixturevalue("postgres_server")
        return pg
    if request.param == "mariadb":
        maria: MariaDbServer = request.getfixturevalue("mariadb_server")
        return maria
    return None


@pytest.fixture
async def crm_dsn(crm_server: PostgresServer | MariaDbServer | None, tmp_path: Path) -> str:
    """An empty database for this test alone, on SQLite, PostgreSQL and MariaDB in turn."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    if crm_server is None:
        return f"sqlite+aiosqlite:///{tmp_path / name}.sqlite"
    return await crm_server.create_database(name)
