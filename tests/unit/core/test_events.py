from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from overlay.events import ChangeEvent, EntityType, Operation, version_from_datetime
from overlay.models import Party


def _event(**kw):
    base = dict(source_system="crm", entity_type=EntityType.PARTY, source_key="K1", version=5,
                payload=Party(given_name="Anna", family_name="Schmidt"))
    base.update(kw)
    return ChangeEvent[Party](**base)


def test_round_trip_through_json():
    event = _event()
    back = ChangeEvent[Party].model_validate_json(event.to_bytes())
    assert back == event
    assert back.payload is not None and back.payload.display_name == "Anna Schmidt"


def test_message_key_keeps_one_source_entity_in_one_partition():
    assert _event().message_key() == _event(version=9).message_key() == b"crm/K1"


def test_upsert_needs_payload_and_delete_carries_none():
    with pytest.raises(ValidationError, match="upsert needs a payload"):
        _event(payload=None)
    with pytest.raises(ValidationError, match="delete carries no payload"):
        _event(operation=Operation.DELETE)
    assert _event(operation=Operation.DELETE, payload=None).payload is None


def test_source_system_must_be_a_simple_name():
    with pytest.raises(ValidationError, match="source_system"):
        _event(source_system="CRM System")


def test_unknown_payload_fields_are_rejected():
    raw = _event().model_dump(mode="json")
    raw["payload"]["shoe_size"] = 42
    with pytest.raises(ValidationError, match="shoe_size"):
        ChangeEvent[Party].model_validate(raw)


def test_version_from_datetime_is_monotonic_and_treats_naive_as_utc():
    a = datetime(2024, 1, 1, 12, 0, 0)
    b = datetime(2024, 1, 1, 12, 0, 0, 1, tzinfo=UTC)
    assert version_from_datetime(a) + 1 == version_from_datetime(b)
    assert version_from_datetime(datetime(1970, 1, 1, tzinfo=UTC)) == 0


def test_log_context_has_no_personal_data():
    ctx = _event().log_context()
    assert "Anna" not in str(ctx)
    assert set(ctx) == {"event_id", "trace_id", "source", "entity_type", "version"}
