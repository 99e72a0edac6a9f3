"""The examples in docs/ are real: every event example validates against the models."""

from __future__ import annotations

import json
import re
from pathlib import Path

from overlay.events import ChangeEvent, EntityType
from overlay.topics import BY_ENTITY, resolve_all

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _json_blocks(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]


def test_event_examples_validate():
    blocks = [b for b in _json_blocks((DOCS / "events.md").read_text()) if "entity_type" in b]
    assert len(blocks) >= 3
    for block in blocks:
        payload_model = BY_ENTITY[EntityType(block["entity_type"])].payload
        assert payload_model is not None
        ChangeEvent[payload_model].model_validate(block)  # type: ignore[valid-type]


def test_topic_table_lists_every_topic():
    text = (DOCS / "events.md").read_text()
    for topic in resolve_all():
        assert f"`{topic.spec.name}`" in text, topic.spec.name
