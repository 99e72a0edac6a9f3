"""Objects before start, the topic report, config parsing and the process helpers."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from overlay.infra.errors import ServiceStartError
from overlay.infra.kafka_admin import TopicResult, TopicsReport, _layout_problems, _topic_configs
from overlay.infra.kafka_broker import KafkaBroker
from overlay.infra.process import ChildProcess, pid_alive, tail
from overlay.infra.redis_server import RedisServer
from overlay.infra.stack import LocalStack


def test_broker_ports_are_chosen_at_start(tmp_path: Path) -> None:
    broker = KafkaBroker(tmp_path, cache_dir=tmp_path / "cache")
    with pytest.raises(RuntimeError, match="start"):
        _ = broker.bootstrap
    assert not broker.is_running() and broker.pid is None
    broker._choose_ports()
    assert broker.port != broker.controller_port
    assert broker.bootstrap == f"127.0.0.1:{broker.port}"


def test_broker_writes_its_config_into_the_data_dir(tmp_path: Path) -> None:
    extra = {"num.io.threads": "2"}
    broker = KafkaBroker(tmp_path / "k", port=19500, controller_port=19501, properties=extra)
    server_props, log4j = broker._write_config()
    text = server_props.read_text()
    assert "listeners=PLAINTEXT://127.0.0.1:19500,CONTROLLER://127.0.0.1:19501" in text
    assert f"log.dirs={broker.log_dir}" in text and "num.io.threads=2" in text
    assert "kafka.server.KafkaRaftServer" in log4j.read_text()
    assert broker._jvm_options()[0] == "-Xmx1g"


def test_cache_dir_defaults_per_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVERLAY_KAFKA_CACHE", str(tmp_path / "c"))
    broker = KafkaBroker(tmp_path, version="4.0.1")
    assert broker.libs_dir == tmp_path / "c" / "4.0.1" / "libs"


def test_redis_url_needs_a_port(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        _ = RedisServer(tmp_path).url
    assert RedisServer(tmp_path, port=6390).url == "redis://127.0.0.1:6390/0"


def test_stack_uses_services_named_by_the_environment() -> None:
    stack = LocalStack(
        environ={"OVERLAY_KAFKA_BOOTSTRAP": "kafka:9092", "OVERLAY_REDIS_URL": "redis://cache:6379/1"}
    )
    assert stack.bootstrap == "kafka:9092" and stack.redis_url == "redis://cache:6379/1"
    with pytest.raises(RuntimeError, match="not started"):
        _ = LocalStack(environ={}).bootstrap


def _response(resources: list[dict[str, Any]]) -> Any:
    return SimpleNamespace(to_object=lambda: {"resources": resources})


def test_topic_configs_mark_what_is_set_on_the_topic() -> None:
    entries = [
        {"config_names": "cleanup.policy", "config_value": "compact", "config_source": 1},
        {"config_names": "retention.ms", "config_value": "604800000", "config_source": 5},
    ]
    resource = {"error_code": 0, "error_message": None, "resource_name": "t", "config_entries": entries}
    parsed = _topic_configs([_response([resource])])
    assert parsed == {"t": {"cleanup.policy": ("compact", True), "retention.ms": ("604800000", False)}}


def test_layout_problems_name_partitions_and_replication() -> None:
    spec = SimpleNamespace(name="t", partitions=3, replication_factor=1, config={})
    meta = {"partitions": [{"replicas": [1, 2]}]}
    problems = _layout_problems(spec, meta)
    assert "1 partitions, the spec says 3" in problems[0]
    assert "replication factor 2" in problems[1]
    matching = SimpleNamespace(name="t", partitions=1, replication_factor=2, config={})
    assert _layout_problems(matching, meta) == ()


def test_report_groups_topics_by_action() -> None:
    report = TopicsReport(
        (TopicResult("a", "created"), TopicResult("b", "updated", {"x": "1"}), TopicResult("c", "unchanged"))
    )
    assert (report.created, report.updated, report.unchanged) == (["a"], ["b"], ["c"])
    assert report["b"].changed == {"x": "1"} and report.problems == []


def test_tail_and_pid_helpers(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    assert tail(log) == "(no log)"
    log.write_text("a" * 5000 + "END")
    assert tail(log, max_bytes=10).endswith("END") and len(tail(log, max_bytes=10)) == 10
    assert pid_alive(os.getpid())


def test_stale_pid_file_of_a_dead_process_is_ignored(tmp_path: Path) -> None:
    proc = ChildProcess("svc", ["true"], log_path=tmp_path / "l", pid_path=tmp_path / "svc.pid", cwd=tmp_path)
    (tmp_path / "svc.pid").write_text("999999999\n")
    proc.check_leftover(marker=str(tmp_path))
    assert not (tmp_path / "svc.pid").exists()


def test_leftover_live_process_is_refused(tmp_path: Path) -> None:
    # Our own pid stands in for a leftover server whose command line names the data dir.
    marker = Path(f"/proc/{os.getpid()}/cmdline").read_bytes().split(b"\0")[0].decode()
    proc = ChildProcess("svc", ["true"], log_path=tmp_path / "l", pid_path=tmp_path / "svc.pid", cwd=tmp_path)
    (tmp_path / "svc.pid").write_text(f"{os.getpid()}\n")
    with pytest.raises(ServiceStartError, match="still running"):
        proc.check_leftover(marker=marker)
