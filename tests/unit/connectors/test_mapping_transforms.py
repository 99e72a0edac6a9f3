"""The named transforms of the mapping language: results, failures, and the registry."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from connectors.mapping import transforms
from connectors.mapping.errors import ConfigError, MappingError, TransformError
from connectors.mapping.transforms import get_transform, known_transforms, register_transform


def t(spec: str, value: Any) -> Any:
    return get_transform(spec)(value)


def fails(spec: str, value: Any) -> str:
    with pytest.raises(TransformError) as caught:
        t(spec, value)
    message = str(caught.value)
    if isinstance(value, str) and len(value) > 2:
        assert value not in message, "a transform error must not repeat the value"
    return message


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        ("strip", "  a b  ", "a b"),
        ("strip", 42, "42"),
        ("strip", b" x ", "x"),
        ("lower", "ÄBC", "äbc"),
        ("upper", "straße", "STRASSE"),
        ("casefold", "Straße", "strasse"),
        ("clean_name", "  JÜRGEN  ", "Jürgen"),
        ("clean_name", "MÜLLER-LÜDENSCHEIDT", "Müller-Lüdenscheidt"),
        ("clean_name", "   ", None),
        ("fold_name", "Müller", "mueller"),
        ("email", " Anna.Schmidt @Example.DE ", "anna.schmidt@example.de"),
        ("phone_e164", "0151 2345 6789", "+4915123456789"),
        ("phone_e164:AT", "0664 1234567", "+436641234567"),
        ("phone_e164", 4915123456789, "+4915123456789"),
        ("postcode", " ab1 2cd ", "AB12CD"),
        ("str", 12, "12"),
        ("str", date(2024, 5, 1), "2024-05-01"),
        ("str", Decimal("1.50"), "1.50"),
        ("int", "42", 42),
        ("int", " 1_000 ", 1000),
        ("int", "12.0", 12),
        ("int", 7.0, 7),
        ("int", Decimal("3"), 3),
        ("int", True, 1),
        ("float", "1,5", 1.5),
        ("float", "2.25", 2.25),
        ("float", 3, 3.0),
        ("decimal", "19,99", Decimal("19.99")),
        ("decimal", 0.1, Decimal("0.1")),
        ("decimal", 5, Decimal(5)),
        ("bool", "Y", True),
        ("bool", "n", False),
        ("bool", "J", True),
        ("bool", "1", True),
        ("bool", "0", False),
        ("bool", "true", True),
        ("bool", "FALSE", False),
        ("bool", "yes", True),
        ("bool", "No", False),
        ("bool", 1, True),
        ("bool", False, False),
        ("empty_to_null", "  ", None),
        ("empty_to_null", "", None),
        ("empty_to_null", [], None),
        ("empty_to_null", "x", "x"),
        ("empty_to_null", 0, 0),
        ("split", "a, b,,c", ["a", "b", "c"]),
        ("split:;", "a;b", ["a", "b"]),
        ("split::", "a:b", ["a", "b"]),
        ("split", ["x"], ["x"]),
        ("first", ["a", "b"], "a"),
        ("first", [], None),
        ("first", {"@id": "1"}, {"@id": "1"}),
        ("contact_value", " Anna@Example.DE", "anna@example.de"),
        ("contact_value", "0151 2345 6789", "+4915123456789"),
        ("contact_value:AT", "0664 1234567", "+436641234567"),
        ("pluck:id", [{"id": "a"}, {"id": "b"}, {"name": "c"}], ["a", "b"]),
        ("pluck:ref.id", [{"ref": {"id": 1}}], [1]),
        ("pluck:id", {"id": "a"}, ["a"]),
        ("join", ["a", None, 2], "a,2"),
        ("join: ", ["a", "b"], "a b"),
        ("join:/", ("a", "b"), "a/b"),
    ],
)
def test_transform_results(spec: str, value: Any, expected: Any) -> None:
    assert t(spec, value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01", date(2024, 5, 1)),
        (" 01.05.2024 ", date(2024, 5, 1)),
        ("1.5.2024", date(2024, 5, 1)),
        ("20240501", date(2024, 5, 1)),
        (20240501, date(2024, 5, 1)),
        ("2024-05-01T23:30:00", date(2024, 5, 1)),
        (datetime(2024, 5, 1, 12, 0), date(2024, 5, 1)),
        (date(2024, 5, 1), date(2024, 5, 1)),
    ],
)
def test_date(value: Any, expected: date) -> None:
    assert t("date", value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T12:00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01 12:00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01 12:00:00.250000", datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("01.05.2024 12:30", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        (1714564800, datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("1714564800", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        (1714564800250, datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)),
        ("1714564800250", datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)),
        (1714564800.5, datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        (datetime(2024, 5, 1, 12), datetime(2024, 5, 1, 12, tzinfo=UTC)),
        (datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2))), datetime(2024, 5, 1, 12, tzinfo=UTC)),
        (date(2024, 5, 1), datetime(2024, 5, 1, tzinfo=UTC)),
    ],
)
def test_datetime_is_aware_utc(value: Any, expected: datetime) -> None:
    result = t("datetime", value)
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("spec", "value", "message"),
    [
        ("strip", ["x"], "expected text, got list"),
        ("strip", b"\xff\xfe", "bytes are not UTF-8 text"),
        ("email", "anna.schmidt.example.de", "not an email address"),
        ("phone_e164", "hello world", "not a phone number in region DE"),
        ("int", "zwölf", "not an integer"),
        ("int", "12.5", "not a whole number"),
        ("int", 1.5, "not a whole number"),
        ("float", "1.5 Euro", "not a number"),
        ("float", True, "expected a number, got bool"),
        ("decimal", "19.99 EUR", "not a decimal number"),
        ("decimal", "NaN", "not a finite number"),
        ("bool", "maybe", "not a yes/no value"),
        ("bool", 2, "not a yes/no value"),
        ("date", "31.02.1970", "not a valid calendar date"),
        ("date", "May 1st, 2024", "not a date in a known format (YYYY-MM-DD, DD.MM.YYYY or YYYYMMDD)"),
        ("date", 3.5, "not a date in a known format"),
        ("date", ["2024-05-01"], "expected text, got list"),
        ("datetime", "2024-13-01T00:00:00", "not a valid date and time"),
        ("datetime", "yesterday noon", "not a datetime in a known format"),
        ("join", 5, "expected a list, got int"),
        ("pluck:id", "abc", "expected a list of objects, got str"),
        ("contact_value", "not reachable", "not an email address or phone number"),
    ],
)
def test_transform_failures_say_what_was_expected(spec: str, value: Any, message: str) -> None:
    assert message in fails(spec, value)


def test_transform_error_is_a_mapping_error() -> None:
    assert issubclass(TransformError, MappingError)


def test_unknown_transform_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        get_transform("phone_164")
    assert caught.value.problem == "unknown transform 'phone_164'"
    assert caught.value.expected is not None
    assert "phone_e164" in caught.value.expected and "clean_name" in caught.value.expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("int:10", "transform 'int' takes no argument"),
        ("pluck", "transform 'pluck' needs an argument"),
        ("pluck:a..b", "transform 'pluck': invalid path 'a..b'"),
        ("phone_e164:XX", "transform 'phone_e164': unknown region 'XX'"),
    ],
)
def test_bad_transform_arguments_are_config_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        get_transform(spec)


def test_registered_transform_is_usable_and_names_are_unique() -> None:
    register_transform("test_reverse", lambda value, arg: str(value)[::-1], replace=True)
    assert t("test_reverse", "abc") == "cba"
    assert "test_reverse" in known_transforms()
    with pytest.raises(ValueError, match="already registered"):
        register_transform("test_reverse", lambda value, arg: value)
    with pytest.raises(ValueError, match="identifiers"):
        register_transform("no spaces", lambda value, arg: value)


def _shout(value: Any, arg: str | None) -> str:
    return f"{value}{arg or '!'}"


def test_entry_point_transforms_are_discovered(monkeypatch: pytest.MonkeyPatch) -> None:
    points = [
        EntryPoint("test_shout", f"{__name__}:_shout", transforms.ENTRY_POINT_GROUP),
        EntryPoint("test_broken", "no_such_module_xyz:fn", transforms.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(transforms, "entry_points", lambda group: points)
    monkeypatch.setattr(transforms, "_entry_points_loaded", False)
    monkeypatch.setattr(transforms, "_REGISTRY", dict(transforms._REGISTRY))
    assert t("test_shout:?", "hey") == "hey?"
    assert "test_broken" not in known_transforms()  # logged and skipped, the others still load


# --- fast paths: the same results as the plain ones --------------------------------------------------


class _Moment(datetime):
    """A datetime subclass: as_utc keeps the class (replace does)."""


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2024, 5, 1, 12, 30, 1, 250),
        datetime(2024, 10, 27, 2, 30, fold=1),
        datetime.min,
        datetime.max,
        datetime(1901, 1, 1),
        _Moment(2024, 5, 1, 12),
    ],
)
def test_as_utc_of_a_naive_time_is_replace(moment: datetime) -> None:
    result = transforms.as_utc(moment)
    expected = moment.replace(tzinfo=UTC)
    assert result == expected and result.tzinfo is UTC and type(result) is type(expected)
    assert (result.fold, result.isoformat()) == (expected.fold, expected.isoformat())


def test_as_utc_keeps_utc_and_converts_offsets() -> None:
    moment = datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert transforms.as_utc(moment) is moment
    converted = transforms.as_utc(datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2))))
    assert converted == moment and converted.tzinfo is UTC


@pytest.mark.parametrize(
    "name", ["strip", "lower", "upper", "casefold", "clean_name", "fold_name", "postcode"]
)
def test_text_shortcuts_do_what_the_transform_does(name: str) -> None:
    bound = get_transform(name)
    shortcut = transforms.text_shortcut(bound)
    assert shortcut is not None
    texts = ["", "  ", " Anna ", "SCHMIDT", "müller-LÜDENSCHEIDT", "o'brien", "10 115", "Straße", "a\tb\nc"]
    for text in texts:
        assert shortcut(text) == bound(text)
    assert transforms.text_shortcut(get_transform("date")) is None  # only where one exists


def test_cached_clean_name_is_clean_name() -> None:
    from overlay import normalize

    for text in ["  JÜRGEN  ", "anna", "Anna-Lena", "  ", "MÜLLER LÜDENSCHEIDT", "e\u0301mile"]:
        assert t("clean_name", text) == normalize.clean_name(text)
        assert t("clean_name", text) == normalize.clean_name(text)  # and again, from the cache


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (" 2024-02-30 ", "not a valid date and time"),
        ("2024-05-01T25:00:00", "not a valid date and time"),
        ("2024-05-01X", "not a valid date and time"),
    ],
)
def test_datetime_text_fast_path_fails_as_before(value: str, message: str) -> None:
    assert message in fails("datetime", value)


def test_datetime_text_fast_path_results() -> None:
    assert t("datetime", " 2024-05-01T12:00:00Z ") == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert t("datetime", "2024-05-01").tzinfo is UTC
    assert t("datetime", "2024-05-01T14:00:00+02:00").tzinfo is UTC
    assert t("date", " 2024-05-01 ") == date(2024, 5, 1)
    assert "not a valid calendar date" in fails("date", "2024-02-30")
