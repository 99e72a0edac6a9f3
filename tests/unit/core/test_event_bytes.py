"""ChangeEvent.to_bytes writes canonical events with orjson: held here to pydantic's own JSON, byte
for byte, for every canonical model and the awkward values (time zones, floats, decimals, text);
and the trusted validator the mapping engine uses validates exactly as the model does."""

from __future__ import annotations

import enum
import random
import types
import typing
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from pydantic import BaseModel, ValidationError

from overlay import models
from overlay.events import (
    _PLAIN_EVENTS,
    ChangeEvent,
    EntityType,
    Operation,
    _plain_json,
    version_from_datetime,
)
from overlay.models import Characteristic, Party, ProductInstance, ProductOfferingPrice, SourceRef

CANONICAL = [getattr(models, name) for name in models.__all__
             if isinstance(getattr(models, name), type) and issubclass(getattr(models, name), BaseModel)]

ZONES = [UTC, None, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30)),
         timezone(timedelta(0)), ZoneInfo("Europe/Berlin"), ZoneInfo("UTC")]
TEXTS = ["", "a", "DE", "EUR", "Müller", "O'Brien", 'say "hi"', "back\\slash", "tab\there", "line\nbreak",
         "\x00\x1f\x7f", "\u2028\u2029", "😀 emoji", "  padded  ", "</script>", "a" * 40]
FLOATS = [0.0, -0.0, 0.1, 1.5, 1e16, 1e-7, 123456789.123, float("inf"), float("-inf"), float("nan"), 5e-324]
DECIMALS = ["0", "12.50", "1E+2", "0.000001", "1E-7", "123456789012345678901234567890.123"]


def _value(tp: Any, r: random.Random, depth: int = 0) -> Any:
    """A random value for an annotation: mostly valid, validation sorts out the rest."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        return _value(r.choice(args), r, depth)
    if origin is typing.Annotated:
        return _value(args[0], r, depth)
    if origin is tuple:
        return tuple(_value(args[0], r, depth + 1) for _ in range(r.randrange(3 if depth < 2 else 1)))
    if origin is dict:
        return {r.choice(TEXTS[1:]): _value(args[1], r, depth + 1) for _ in range(r.randrange(3))}
    if tp is type(None):
        return None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _instance(tp, r, depth + 1)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return r.choice(list(tp))
    if tp is bool:
        return r.random() < 0.5
    if tp is int:
        return r.choice([0, 1, 7, 2**31, 2**63 - 1])
    if tp is float:
        return r.choice(FLOATS)
    if tp is Decimal:
        return Decimal(r.choice(DECIMALS))
    if tp is datetime:
        return datetime(r.randrange(1, 9999), r.randrange(1, 13), r.randrange(1, 29), r.randrange(24),
                        r.randrange(60), r.randrange(60), r.choice([0, 500000, r.randrange(10**6)]),
                        tzinfo=r.choice(ZONES))
    if tp is date:
        return date(r.randrange(1, 9999), r.randrange(1, 13), r.randrange(1, 29))
    if tp is str:
        return r.choice(TEXTS)
    raise AssertionError(f"no generator for {tp!r}")


def _instance(model: type[BaseModel], r: random.Random, depth: int = 0) -> Any:
    hints = typing.get_type_hints(model)
    for _ in range(200):
        data = {name: _value(hints[name], r, depth) for name, info in model.model_fields.items()
                if info.is_required() or r.random() < 0.7}
        try:
            return model.model_validate(data)
        except ValidationError:
            continue
    raise AssertionError(f"could not make a valid {model.__name__}")


def _pydantic_bytes(event: ChangeEvent[Any]) -> bytes:
    return event.__pydantic_serializer__.to_json(event, exclude_none=False)


def _event(payload: Any, model: type[BaseModel], r: random.Random, **kw: Any) -> ChangeEvent[Any]:
    fields: dict[str, Any] = dict(
        source_system="crm", entity_type=EntityType.PARTY, source_key=r.choice(TEXTS[1:]),
        version=r.randrange(2**62), modified_at=_value(datetime | None, r), observed_at=_value(datetime, r),
        payload=payload, operation=Operation.UPSERT if payload is not None else Operation.DELETE,
    )
    fields.update(kw)
    return ChangeEvent[model](**fields)  # type: ignore[valid-type]


@pytest.mark.parametrize("model", CANONICAL, ids=lambda m: m.__name__)
def test_bytes_are_pydantics_for_every_canonical_model(model: type[BaseModel]) -> None:
    r = random.Random(model.__name__)
    assert _PLAIN_EVENTS[ChangeEvent[model]] is model  # type: ignore[valid-type]  # orjson writes these
    for _ in range(300):
        payload = _instance(model, r) if r.random() < 0.9 else None
        event = _event(payload, model, r)
        fast = orjson.dumps(event.__dict__, default=_plain_json, option=orjson.OPT_UTC_Z)
        assert fast == event.to_bytes() == _pydantic_bytes(event) == event.model_dump_json().encode()


def test_awkward_values_are_written_as_pydantic_writes_them() -> None:
    r = random.Random(7)
    for value in [*FLOATS, True, False, 0, -1, 2**63 - 1, *TEXTS]:
        payload = ProductInstance(party=SourceRef(system="crm", key="1"), stack="fixed",
                                  characteristics=(Characteristic(name="x", value=value),))
        event = _event(payload, ProductInstance, r)
        assert event.to_bytes() == _pydantic_bytes(event)
    for text in DECIMALS:
        price = ProductOfferingPrice(code="P", stack="s", price_type="oneTime", amount=Decimal(text))
        event = _event(price, ProductOfferingPrice, r)
        assert event.to_bytes() == _pydantic_bytes(event)
    for zone in ZONES:
        for micro in (0, 1, 500000, 999999):
            moment = datetime(2024, 3, 31, 1, 30, 0, micro, tzinfo=zone)
            event = _event(Party(), Party, r, modified_at=moment, observed_at=moment)
            assert event.to_bytes() == _pydantic_bytes(event)


def test_what_orjson_cannot_write_goes_to_pydantic() -> None:
    r = random.Random(3)
    big = ProductInstance(party=SourceRef(system="crm", key="1"), stack="fixed",
                          characteristics=(Characteristic(name="x", value=2**70),))
    event = _event(big, ProductInstance, r)
    assert event.to_bytes() == _pydantic_bytes(event) and b"1180591620717411303424" in event.to_bytes()

    class WiderRef(SourceRef):  # a subclass instance: pydantic writes the declared fields only
        note: str = "not on the wire"

    wide = ProductInstance(party=WiderRef(system="crm", key="1"), stack="fixed")
    event = _event(wide, ProductInstance, r)
    assert event.to_bytes() == _pydantic_bytes(event)

    class Noted(Party):
        note: str = "extra"

    event = ChangeEvent[Party](source_system="crm", entity_type=EntityType.PARTY, source_key="1", version=1,
                               payload=Noted())
    assert event.to_bytes() == _pydantic_bytes(event)
    loose = ChangeEvent(source_system="crm", entity_type=EntityType.PARTY, source_key="1", version=1,
                        payload=Party(given_name="Anna"))
    assert loose.to_bytes() == _pydantic_bytes(loose)


# --- the trusted validator ----------------------------------------------------------------------


def _envelope(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(
        event_id="e", trace_id="t", source_system="crm", entity_type=EntityType.PARTY, source_key="K1",
        operation=Operation.UPSERT, version=5, modified_at=None, observed_at=datetime(2024, 1, 1, tzinfo=UTC),
        payload={"given_name": " Anna ", "birth_date": "1984-07-12"},
    )
    base.update(kw)
    return base


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"operation": Operation.DELETE, "payload": None},
        {"payload": {"kind": "alien"}},
        {"payload": {"shoe_size": 42}},
        {"source_system": "CRM System"},
        {"version": -1, "source_key": ""},
        {"observed_at": "not a time", "payload": {"birth_date": "soon"}},
        {"entity_type": "nonsense"},
    ],
)
def test_trusted_validator_validates_as_the_model(changes: dict[str, Any]) -> None:
    envelope = _envelope(**changes)
    trusted = ChangeEvent[Party].trusted_operation_validator()
    try:
        expected = ChangeEvent[Party].model_validate(envelope)
    except ValidationError as exc:
        with pytest.raises(ValidationError) as caught:
            trusted(envelope)
        assert caught.value.errors() == exc.errors()
        return
    event = trusted(envelope)
    assert type(event) is ChangeEvent[Party] and event == expected
    assert event.model_fields_set == expected.model_fields_set


def test_trusted_validator_leaves_out_only_the_operation_check() -> None:
    trusted = ChangeEvent[Party].trusted_operation_validator()
    assert trusted is ChangeEvent[Party].trusted_operation_validator()
    assert trusted(_envelope(payload=None)).payload is None  # the caller's guarantee, not checked
    with pytest.raises(ValidationError, match="upsert needs a payload"):
        ChangeEvent[Party].model_validate(_envelope(payload=None))  # the model itself still checks
    with pytest.raises(ValidationError, match="delete carries no payload"):
        ChangeEvent[Party](**_envelope(operation=Operation.DELETE))


def test_trusted_validator_of_a_model_with_shared_definitions() -> None:
    trusted = ChangeEvent[ProductInstance].trusted_operation_validator()
    payload = {"party": {"system": "crm", "key": "1"}, "account": {"system": "crm", "key": "A"}, "stack": "x"}
    event = trusted(_envelope(entity_type=EntityType.PRODUCT_INSTANCE, payload=payload))
    assert event == ChangeEvent[ProductInstance].model_validate(
        _envelope(entity_type=EntityType.PRODUCT_INSTANCE, payload=payload)
    )


def test_version_from_datetime_is_exact() -> None:
    r = random.Random(11)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for _ in range(2000):
        moment = _value(datetime, r)
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        delta = aware - epoch
        expected = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        assert version_from_datetime(moment) == expected
