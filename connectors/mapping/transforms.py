"""Named value transforms used in mappings: ``transform: [strip, phone_e164:AT, split:;]``.

A transform is ``fn(value, arg) -> value``: ``arg`` is the text after the first ``:`` in the
transform's name, or ``None``. It raises :class:`TransformError` on bad input with a message that
says what was expected but never repeats the value (it may be personal data). The engine never
calls a transform with ``None``: a missing value stays missing.

Beyond the built-ins, transforms come from :func:`register_transform` or from installed
distributions declaring an entry point in the ``overlay.transforms`` group (name → callable)::

    [project.entry-points."overlay.transforms"]
    msisdn_at = "acme_overlay.transforms:msisdn_at"
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Literal

import phonenumbers

from connectors.mapping.errors import ConfigError, TransformError
from overlay import normalize
from overlay.logging import get_logger

log = get_logger(__name__)

ENTRY_POINT_GROUP = "overlay.transforms"

Transform = Callable[[Any, str | None], Any]
ArgRule = Literal["none", "optional", "required"]


@dataclass(frozen=True)
class TransformDef:
    """A registered transform: the function, whether it takes ``:arg``, and an optional arg check."""

    name: str
    fn: Transform
    arg: ArgRule = "optional"
    check_arg: Callable[[str], None] | None = None
    """Raises ValueError (with a helpful message) for an argument that can never work."""


@dataclass(frozen=True)
class BoundTransform:
    """A transform with its argument, ready to apply."""

    name: str
    fn: Transform
    arg: str | None

    def __call__(self, value: Any) -> Any:
        return self.fn(value, self.arg)


_REGISTRY: dict[str, TransformDef] = {}
_BUILTIN_FUNCTIONS: set[Transform] = set()
_TEXT_SHORTCUTS: dict[Transform, Callable[[str], Any]] = {}
_entry_points_loaded = False


def register_transform(
    name: str,
    fn: Transform,
    *,
    arg: ArgRule = "optional",
    check_arg: Callable[[str], None] | None = None,
    replace: bool = False,
) -> None:
    """Make ``fn`` available to mappings as ``name`` (``replace=True`` to override an existing one)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name):
        raise ValueError(f"transform names are identifiers, not {name!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"transform {name!r} is already registered")
    _REGISTRY[name] = TransformDef(name, fn, arg, check_arg)


def _load_entry_points() -> None:
    """Register third-party transforms once; a broken plug-in is logged, not fatal to others."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _REGISTRY:
            log.warning("transform_entry_point_shadowed", name=ep.name, value=ep.value)
            continue
        try:
            fn = ep.load()
        except Exception as exc:  # a plug-in's import error must not hide the others
            log.warning("transform_entry_point_failed", name=ep.name, value=ep.value, error=repr(exc))
            continue
        if not callable(fn):
            log.warning("transform_entry_point_not_callable", name=ep.name, value=ep.value)
            continue
        register_transform(ep.name, fn)


def is_pure_transform(spec: str) -> bool:
    """Whether ``name`` or ``name:arg`` is a built-in transform, whose result depends on its input
    only (a plug-in's may not), so equal inputs may share one result."""
    found = _REGISTRY.get(spec.partition(":")[0].strip())
    return found is not None and found.fn in _BUILTIN_FUNCTIONS


def text_shortcut(bound: BoundTransform) -> Callable[[str], Any] | None:
    """A function of one argument that does what ``bound`` does to a str (the same result, the same
    exceptions), one call cheaper; None if there is none. The engine calls it for str values."""
    return _TEXT_SHORTCUTS.get(bound.fn)


def known_transforms() -> list[str]:
    _load_entry_points()
    return sorted(_REGISTRY)


def get_transform(spec: str) -> BoundTransform:
    """Look up ``name`` or ``name:arg``; a :class:`ConfigError` (without a path) if it cannot work."""
    name, sep, arg_text = spec.partition(":")
    name = name.strip()
    arg = arg_text if sep else None
    _load_entry_points()
    found = _REGISTRY.get(name)
    if found is None:
        raise ConfigError(
            f"unknown transform {name!r}", expected="one of: " + ", ".join(known_transforms())
        )
    if found.arg == "none" and arg is not None:
        raise ConfigError(f"transform {name!r} takes no argument", expected=name)
    if found.arg == "required" and not arg:
        raise ConfigError(f"transform {name!r} needs an argument", expected=f"{name}:ARG")
    if arg is not None and found.check_arg is not None:
        try:
            found.check_arg(arg)
        except ValueError as exc:
            raise ConfigError(f"transform {name!r}: {exc}") from None
    return BoundTransform(name, found.fn, arg)


# --- helpers -------------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    """The type of a value, safe to put in a message (unlike the value)."""
    return type(value).__name__


def _text(value: Any) -> str:
    """Text from a text-like value; numbers become their decimal text (legacy columns vary)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise TransformError("bytes are not UTF-8 text") from None
    raise TransformError(f"expected text, got {_kind(value)}")


def _text_fn(fn: Callable[[str], Any]) -> Transform:
    def transform(value: Any, arg: str | None) -> Any:
        return fn(value if value.__class__ is str else _text(value))

    _TEXT_SHORTCUTS[transform] = fn
    return transform


def _normalized(fn: Callable[[str], Any]) -> Transform:
    def transform(value: Any, arg: str | None) -> Any:
        try:
            return fn(value if value.__class__ is str else _text(value))
        except normalize.NormalizationError as exc:
            raise TransformError(str(exc)) from None

    return transform


# --- text ----------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _cached_e164(text: str, region: str) -> str:
    """normalize.phone_e164 remembered: a record's number is often normalised by several outputs
    (a party's phone, a contact medium, a product's identifiers). Failures are not remembered."""
    return normalize.phone_e164(text, region)


# Names repeat across records (a few thousand given and family names cover most customers), and
# cleaning one costs a regular expression, a Unicode normalisation and case checks.
_cached_clean_name = lru_cache(maxsize=8192)(normalize.clean_name)


def _phone_e164(value: Any, arg: str | None) -> str:
    try:
        if value.__class__ is str:
            return _cached_e164(value, arg or "DE")
        return normalize.phone_e164(_text(value), arg or "DE")
    except normalize.NormalizationError as exc:
        raise TransformError(str(exc)) from None


def _contact_value(value: Any, arg: str | None) -> str:
    """An email (it has an @) or else a phone number, for systems that keep both in one column."""
    text = _text(value)
    try:
        return normalize.email(text) if "@" in text else normalize.phone_e164(text, arg or "DE")
    except normalize.NormalizationError as exc:
        raise TransformError(f"not an email address or phone number ({exc})") from None


def _check_region(arg: str) -> None:
    if arg not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown region {arg!r}; expected an ISO 3166 country code such as DE, AT, CH")


def _str(value: Any, arg: str | None) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return _text(value)
    return str(value)


def _empty_to_null(value: Any, arg: str | None) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    if isinstance(value, list | tuple | dict) and not value:
        return None
    return value


# --- numbers and booleans ------------------------------------------------------------------------


def _number_text(value: Any) -> str:
    text = _text(value).strip().replace("_", "")
    if "," in text and "." not in text:  # a decimal comma, as German legacy systems write it
        text = text.replace(",", ".")
    return text


def _int(value: Any, arg: str | None) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        if value != value or value in (float("inf"), float("-inf")) or value != int(value):
            raise TransformError("not a whole number")
        return int(value)
    text = _number_text(value)
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise TransformError("not an integer") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise TransformError("not a whole number")
    return int(number)


def _float(value: Any, arg: str | None) -> float:
    if isinstance(value, bool):
        raise TransformError("expected a number, got bool")
    if isinstance(value, int | float | Decimal):
        return float(value)
    try:
        return float(_number_text(value))
    except ValueError:
        raise TransformError("not a number") from None


def _decimal(value: Any, arg: str | None) -> Decimal:
    if isinstance(value, bool):
        raise TransformError("expected a number, got bool")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        return Decimal(value)
    else:  # floats via their shortest text, so 0.1 stays 0.1
        try:
            number = Decimal(_number_text(value))
        except InvalidOperation:
            raise TransformError("not a decimal number") from None
    if not number.is_finite():
        raise TransformError("not a finite number")
    return number


_TRUE = frozenset({"y", "j", "ja", "1", "true", "yes", "t"})
_FALSE = frozenset({"n", "nein", "0", "false", "no", "f"})


def _bool(value: Any, arg: str | None) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        folded = value.strip().casefold()
        if folded in _TRUE:
            return True
        if folded in _FALSE:
            return False
    raise TransformError("not a yes/no value (Y/N, J/N, 1/0, true/false, yes/no)")


# --- dates and times -----------------------------------------------------------------------------

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DOTTED_DATETIME = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?")
_EPOCH = re.compile(r"-?\d+(\.\d+)?")
_DATE_FORMATS = "YYYY-MM-DD, DD.MM.YYYY or YYYYMMDD"
_EPOCH_START = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)


def _date(value: Any, arg: str | None) -> date:
    if value.__class__ is str:
        text = value.strip()
    elif isinstance(value, datetime):
        return value.date()
    elif isinstance(value, date):
        return value
    else:
        if isinstance(value, int) and not isinstance(value, bool) and 10_000_000 <= value <= 99_999_999:
            value = str(value)
        text = _text(value).strip()
    try:
        if _ISO_DATE.fullmatch(text):
            return date.fromisoformat(text)
        if match := _DOTTED_DATE.fullmatch(text):
            day, month, year = map(int, match.groups())
            return date(year, month, day)
        if match := _COMPACT_DATE.fullmatch(text):
            year, month, day = map(int, match.groups())
            return date(year, month, day)
        if len(text) > 10 and _ISO_DATE.match(text) and text[10] in "T ":
            return datetime.fromisoformat(text).date()
    except ValueError:
        raise TransformError("not a valid calendar date") from None
    raise TransformError(f"not a date in a known format ({_DATE_FORMATS})")


def as_utc(moment: datetime) -> datetime:
    """Aware UTC; a naive time is taken to be UTC already (legacy databases store UTC, mostly)."""
    zone = moment.tzinfo
    if zone is UTC:
        return moment
    if zone is None:
        if moment.__class__ is datetime and not moment.fold:
            # moment.replace(tzinfo=UTC) — the same datetime, in a tenth of the time
            return _EPOCH_START + (moment - _NAIVE_EPOCH)
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _from_epoch(number: float | int) -> datetime:
    """Seconds, or milliseconds (|n| ≥ 1e11, i.e. from 1973 on) or microseconds (|n| ≥ 1e14)."""
    size = abs(number)
    if size >= 100_000_000_000_000:
        micros = int(number)
    elif size >= 100_000_000_000:
        micros = int(number * 1000)
    else:
        micros = round(number * 1_000_000)
    try:
        return _EPOCH_START + timedelta(microseconds=micros)
    except OverflowError:
        raise TransformError("epoch number out of range") from None


def _datetime(value: Any, arg: str | None) -> datetime:
    if value.__class__ is str:  # the usual case first: ISO 8601 text (as_utc inline)
        text = value.strip()
        if len(text) >= 10 and text[4] == "-" and text[7] == "-":
            try:
                moment = datetime.fromisoformat(text)
                zone = moment.tzinfo
                if zone is UTC:
                    return moment
                if zone is None and not moment.fold:
                    return _EPOCH_START + (moment - _NAIVE_EPOCH)
                return as_utc(moment)
            except ValueError:
                raise TransformError("not a valid date and time") from None
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        if isinstance(value, float) and value != value:
            raise TransformError("not a datetime (NaN)")
        return _from_epoch(int(value) if isinstance(value, Decimal) else value)
    text = _text(value).strip()
    if len(text) >= 10 and text[4] == "-" and text[7] == "-":  # ISO 8601, by far the most common
        try:
            return as_utc(datetime.fromisoformat(text))
        except ValueError:
            raise TransformError("not a valid date and time") from None
    if _EPOCH.fullmatch(text):
        if len(text) == 8 and text.isdigit():  # YYYYMMDD, not 1970-04-26
            return _datetime(_date(text, None), None)
        return _from_epoch(float(text) if "." in text else int(text))
    try:
        if match := _DOTTED_DATETIME.fullmatch(text):
            day, month, year, hour, minute = (int(g) for g in match.groups()[:5])
            second = int(match.group(6) or 0)
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        if _DOTTED_DATE.fullmatch(text):
            return _datetime(_date(text, None), None)
    except ValueError:
        raise TransformError("not a valid date and time") from None
    raise TransformError(
        "not a datetime in a known format (ISO 8601, YYYY-MM-DD HH:MM:SS, epoch seconds or millis)"
    )


# --- lists ---------------------------------------------------------------------------------------


def _split(value: Any, arg: str | None) -> list[str]:
    """Split on ``arg`` (default ``,``), trimming parts and dropping empty ones."""
    if isinstance(value, list | tuple):
        return list(value)
    return [part for part in (p.strip() for p in _text(value).split(arg or ",")) if part]


def _first(value: Any, arg: str | None) -> Any:
    """The first element; a single non-list value (one XML child) is its own first element."""
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def _pluck(value: Any, arg: str | None) -> list[Any]:
    """``pluck:id``: the value at a (dotted) path of each object in a list, nulls left out."""
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list | tuple):
        raise TransformError(f"expected a list of objects, got {_kind(value)}")
    path = (arg or "").split(".")
    out = []
    for item in items:
        for key in path:
            item = item.get(key) if isinstance(item, dict) else None
        if item is not None:
            out.append(item)
    return out


def _check_path(arg: str) -> None:
    if not arg or any(not part for part in arg.split(".")):
        raise ValueError(f"invalid path {arg!r}; expected pluck:name or pluck:a.b")


def _join(value: Any, arg: str | None) -> str:
    if isinstance(value, str):
        return value
    if not isinstance(value, list | tuple):
        raise TransformError(f"expected a list, got {_kind(value)}")
    return (arg if arg is not None else ",").join(_str(v, None) for v in value if v is not None)


def _register_builtins() -> None:
    plain: dict[str, Transform] = {
        "strip": _text_fn(str.strip),
        "lower": _text_fn(str.lower),
        "upper": _text_fn(str.upper),
        "casefold": _text_fn(str.casefold),
        "clean_name": _text_fn(_cached_clean_name),
        "fold_name": _text_fn(normalize.fold_name),
        "email": _normalized(normalize.email),
        "postcode": _text_fn(normalize.postcode),
        "str": _str,
        "int": _int,
        "float": _float,
        "decimal": _decimal,
        "bool": _bool,
        "date": _date,
        "datetime": _datetime,
        "empty_to_null": _empty_to_null,
        "first": _first,
    }
    for name, fn in plain.items():
        register_transform(name, fn, arg="none", replace=True)
    register_transform("phone_e164", _phone_e164, check_arg=_check_region, replace=True)
    register_transform("contact_value", _contact_value, check_arg=_check_region, replace=True)
    register_transform("pluck", _pluck, arg="required", check_arg=_check_path, replace=True)
    register_transform("split", _split, replace=True)
    register_transform("join", _join, replace=True)
    _BUILTIN_FUNCTIONS.update(d.fn for d in _REGISTRY.values())


_register_builtins()
