"""Rendering of the development broker's configuration."""

from __future__ import annotations

import base64
from pathlib import Path

from overlay.infra.kafka_config import DEV_DEFAULTS, broker_properties, new_cluster_id, render_properties


def test_broker_properties_wire_both_listeners_to_the_ports() -> None:
    props = broker_properties(host="127.0.0.1", port=19092, controller_port=19093, log_dir=Path("/d/logs"))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["log.dirs"] == "/d/logs"
    assert props["auto.create.topics.enable"] == "false"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["share.coordinator.state.topic.min.isr"] == "1"
    assert props["log.retention.hours"] == "24"
    assert props["log.segment.bytes"] == str(64 * 1024 * 1024)


def test_extra_properties_override_defaults() -> None:
    props = broker_properties(
        host="127.0.0.1", port=1, controller_port=2, log_dir=Path("/x"),
        extra={"log.retention.hours": "1", "message.max.bytes": "2000000"},
    )
    assert props["log.retention.hours"] == "1"
    assert props["message.max.bytes"] == "2000000"
    assert DEV_DEFAULTS["log.retention.hours"] == "24"  # the defaults are not mutated


def test_render_properties_escapes_and_keeps_order() -> None:
    text = render_properties({"a": "1", "log.dirs": "C:\\kafka\\logs", "we:ird key": "x\ny"})
    lines = text.splitlines()
    assert lines[0].startswith("#")
    assert lines[1:] == ["a=1", "log.dirs=C:\\\\kafka\\\\logs", "we\\:ird\\ key=x\\ny"]
    assert text.endswith("\n")


def test_cluster_id_is_a_base64url_uuid() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cid in ids:
        assert len(cid) == 22 and not cid.startswith("-")
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16
