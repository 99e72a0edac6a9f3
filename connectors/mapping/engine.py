"""Compile a mapping (:mod:`connectors.mapping.spec`) once into closures, then map records fast.

Compilation does every check that does not need data — target field names against the entity's
pydantic model (nested objects and list elements too), required fields mapped, transform names,
regular expressions, ``^`` paths only inside ``for_each`` — and reports all problems of an output as
one :class:`ConfigError`. Building then only walks prepared closures: no reflection per record.

Per field, in order: the source (``from`` path, ``value``, ``template``, nested ``fields``,
``items``) → the ``transform`` chain (skipped for a missing value) → ``map`` (keys compared as
trimmed text; ``true``/``false`` for booleans) → ``default`` for a missing or empty value →
``required`` → ``pattern`` (``re.search`` on the value's text; anchor it yourself).
``on_error: "null"`` turns a failing transform, unmapped code or pattern mismatch into null.
Fields that resolve to null are left out of the payload, so the model's own defaults apply; the
entity model then validates the payload. Every failure is a :class:`MappingError` naming the field
path, never the value.

A nested object is null when the data identifying it is missing: its required fields mapped from
the record (else any field mapped from it; constants do not count). A :class:`SourceRef` field
gets ``system`` = the connector's source system unless mapped, and a bare value (``party:
CUST_NO``) is a reference to that key in the same system. Map a ``version`` (int, or datetime →
microseconds) or a ``modified_at``; without either the version is the observation time.
"""

from __future__ import annotations

import difflib
import re
import string
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from os import urandom
from typing import Any, Literal, cast

from pydantic import BaseModel, ValidationError

from connectors.mapping.errors import ConfigError, ConfigIssue, MappingError, TransformError
from connectors.mapping.spec import Condition, FieldSpec, OutputSpec
from connectors.mapping.transforms import BoundTransform, as_utc, get_transform, is_pure_transform
from overlay.events import ChangeEvent, EntityType, Operation, version_from_datetime
from overlay.models.common import SourceRef
from overlay.topics import BY_ENTITY

Record = Mapping[str, Any]
Getter = Callable[[Record, Record | None], Any]
"""``(record, parent) -> value``; ``parent`` is the enclosing record inside ``for_each``."""


def map_key(value: Any) -> str:
    """How ``map`` keys and condition values compare: as trimmed text, booleans as true/false."""
    if value.__class__ is str:
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _kind(value: Any) -> str:
    return type(value).__name__


# --- target types ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """What a mapped value must become, as far as mapping cares: an object, a list, a scalar."""

    kind: Literal["model", "dict", "list", "scalar", "any"]
    name: str
    model: type[BaseModel] | None = None
    inner: _Target | None = None


_ANY = _Target("any", "any value")


def _target(tp: Any) -> _Target:
    if tp is Any or tp is None:
        return _ANY
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _target(args[0])
    if origin is typing.Union or origin is types.UnionType:
        options = [_target(a) for a in args if a is not type(None)]
        if len(options) == 1:
            return options[0]
        if all(o.kind == "scalar" for o in options):
            return _Target("scalar", " | ".join(o.name for o in options))
        return _ANY
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _Target("model", tp.__name__, model=tp)
    if origin in (list, tuple, set, frozenset, Sequence):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return _Target("list", "tuple", inner=_ANY)
        inner = _target(args[0]) if args else _ANY
        return _Target("list", f"list of {inner.name}", inner=inner)
    if origin in (dict, Mapping):
        inner = _target(args[1]) if len(args) == 2 else _ANY
        return _Target("dict", f"mapping of {inner.name}", inner=inner)
    if origin is not None:
        return _ANY
    return _Target("scalar", getattr(tp, "__name__", str(tp)))


def _is_ref(target: _Target) -> bool:
    return target.model is not None and issubclass(target.model, SourceRef)


# --- the compiler ---------------------------------------------------------------------------------


class _Compiler:
    """Turns specs into getters, collecting every problem instead of stopping at the first."""

    def __init__(self, source_system: str, where: str, in_for_each: bool) -> None:
        self.source_system = source_system
        self.where = where
        self.in_for_each = in_for_each
        self.issues: list[ConfigIssue] = []

    def issue(self, path: str, problem: str, expected: str | None = None) -> None:
        full = f"{self.where}.{path}" if self.where and path else self.where or path
        self.issues.append(ConfigIssue(problem, full, expected))

    # paths and templates

    def path(self, source: str, at: str) -> Getter:
        text = source.strip()
        parent = text.startswith("^")
        if parent:
            text = text[1:]
            if not self.in_for_each:
                self.issue(at, f"path {source!r} reads the parent record ('^') outside for_each",
                           "a path without '^'")
        segments = re.split(r"[./]", text)
        if not text or any(not s for s in segments):
            self.issue(at, f"invalid path {source!r}", "dotted names such as Customer.Address.@type")
            return _const(None)
        if len(segments) == 1:
            key = segments[0]
            if parent:
                return lambda r, p: p.get(key) if p is not None else None
            return lambda r, p: r.get(key)
        steps = tuple((s, int(s) if s.lstrip("-").isdigit() else None) for s in segments)

        def get(r: Record, p: Record | None) -> Any:
            current: Any = p if parent else r
            for key, index in steps:
                if isinstance(current, Mapping):
                    current = current.get(key)
                elif index is not None and isinstance(current, list | tuple):
                    current = current[index] if -len(current) <= index < len(current) else None
                elif key == "#text" and isinstance(current, str):
                    pass  # an XML element without attributes is just its text
                else:
                    return None
            return current

        return get

    def template(self, text: str, at: str) -> Getter:
        parts: list[tuple[str, Getter | None, str]] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            self.issue(at, f"invalid template: {exc}", "text with {path} placeholders ({{ for a brace})")
            return _const(None)
        for literal, field, spec, conversion in parsed:
            if field is None:
                parts.append((literal, None, ""))
                continue
            if conversion:
                self.issue(at, f"template conversion !{conversion} is not supported", "{path} or {path:spec}")
            if not field.strip():
                self.issue(at, "empty {} in template", "a source path inside the braces")
                continue
            parts.append((literal, self.path(field, at), spec or ""))
        frozen = tuple(parts)

        def get(r: Record, p: Record | None) -> Any:
            out: list[str] = []
            for literal, getter, spec in frozen:
                out.append(literal)
                if getter is None:
                    continue
                value = getter(r, p)
                if value is None or value == "":
                    return None
                try:
                    out.append(format(value, spec) if spec else str(value))
                except (ValueError, TypeError):
                    problem = f"template format '{spec}' does not fit a {_kind(value)}"
                    raise MappingError(f"{at}: {problem}") from None
            return "".join(out)

        return get

    # fields

    def field(self, spec: FieldSpec, at: str, target: _Target) -> Getter:
        source = self._source(spec, at, target)
        steps = self._transforms(spec.transform, at)
        mapping = {map_key(k): v for k, v in spec.map.items()} if spec.map is not None else None
        pattern = self._pattern(spec.pattern, at)
        to_ref = _is_ref(target) and spec.fields is None
        default, required, lenient = spec.default, spec.required, spec.on_error == "null"
        if not (steps or mapping is not None or default is not None or required or pattern or to_ref):
            return source
        chain = _chain(steps, at) if steps else None
        if steps and not (mapping is not None or default is not None or required or pattern or to_ref):
            return _transformed(source, _plain_key(spec), steps, at, lenient)
        map_expected = "one of: " + ", ".join(mapping) if mapping else "a mapped code"
        source_system = self.source_system

        def get(r: Record, p: Record | None) -> Any:
            value = source(r, p)
            if value is not None:
                if chain is not None:
                    try:
                        value = chain(value)
                    except MappingError:
                        if not lenient:
                            raise
                        value = None
                if mapping is not None and value is not None:
                    found = mapping.get(map_key(value), _UNMAPPED)
                    if found is _UNMAPPED:
                        if default is None and not lenient:
                            raise MappingError(f"{at}: value not in map; expected {map_expected}")
                        found = None
                    value = found
            if default is not None and (value is None or value == ""):
                value = default
            if required and (value is None or value == ""):
                raise MappingError(f"{at}: required value missing")
            if pattern is not None and value is not None and not pattern.search(
                value if value.__class__ is str else map_key(value)
            ):
                if not lenient:
                    raise MappingError(f"{at}: value does not match pattern '{pattern.pattern}'")
                value = None
            if to_ref and value is not None:
                value = _as_ref(value, source_system)
            return value

        return get

    def _source(self, spec: FieldSpec, at: str, target: _Target) -> Getter:
        if spec.from_ is not None:
            return self.path(spec.from_, at)
        if spec.template is not None:
            return self.template(spec.template, at)
        if spec.fields is not None:
            return self.object(spec.fields, f"{at}.fields", target, nested=True)
        if spec.items is not None:
            return self.items(spec.items, f"{at}.items", target)
        return _const(spec.value)

    def _transforms(self, names: list[str], at: str) -> tuple[BoundTransform, ...]:
        found: list[BoundTransform] = []
        for i, name in enumerate(names):
            try:
                found.append(get_transform(name))
            except ConfigError as exc:
                self.issue(f"{at}.transform[{i}]", exc.problem, exc.expected)
        return tuple(found)

    def _pattern(self, pattern: str | None, at: str) -> re.Pattern[str] | None:
        if pattern is None:
            return None
        try:
            return re.compile(pattern)
        except re.error as exc:
            self.issue(f"{at}.pattern", f"invalid regular expression: {exc}", "a Python regular expression")
            return None

    def object(self, fields: Mapping[str, FieldSpec], at: str, target: _Target, *, nested: bool) -> Getter:
        """A dict of mapped values. Nested, it is null when the data identifying it is all missing:
        its required fields mapped from the record (else all fields mapped from it; constants and
        defaults do not count)."""
        if target.kind == "model":
            assert target.model is not None
            compiled, identifying = self._model_fields(fields, at, target.model, target.name)
        elif target.kind in ("dict", "any"):
            inner = target.inner or _ANY
            compiled = tuple((name, f"{at}.{name}", self.field(s, f"{at}.{name}", inner))
                             for name, s in fields.items())
            identifying = tuple(name for name, _, _ in compiled)
        else:
            self.issue(at, f"nested fields given, but the field is a {target.name}",
                       "a from/value/template, or nested fields only on object fields")
            return _const(None)
        getters = tuple((name, getter) for name, _, getter in compiled)
        paths = {name: path for name, path, _ in compiled}
        system = self.source_system if _is_ref(target) and "system" not in fields else None

        def get(r: Record, p: Record | None) -> Any:
            out: dict[str, Any] = {}
            for name, getter in getters:
                try:
                    value = getter(r, p)
                except MappingError:
                    raise
                except Exception as exc:
                    raise MappingError(f"{paths[name]}: failed ({type(exc).__name__})") from None
                if value is not None:
                    out[name] = value
            if nested and identifying:
                for name in identifying:
                    if out.get(name) is not None:
                        break
                else:
                    return None
            if system is not None:
                out["system"] = system
            return out

        return get

    def _model_fields(
        self, fields: Mapping[str, FieldSpec], at: str, model: type[BaseModel], what: str
    ) -> tuple[tuple[tuple[str, str, Getter], ...], tuple[str, ...]]:
        known = {name: (info.alias or name, info) for name, info in model.model_fields.items()}
        known.update({info.alias: (info.alias, info) for info in model.model_fields.values() if info.alias})
        allowed = ", ".join(sorted(model.model_fields))
        compiled: list[tuple[str, str, Getter]] = []
        required_mapped: list[str] = []
        from_data: list[str] = []
        for name, spec in fields.items():
            path = f"{at}.{name}"
            if name not in known:
                self.issue(path, f"unknown field {name!r} of {what}",
                           f"one of: {allowed}" + _did_you_mean(name, known))
                continue
            key, info = known[name]
            compiled.append((key, path, self.field(spec, path, _target(info.annotation))))
            if spec.from_ is not None or spec.template is not None or spec.fields or spec.items:
                from_data.append(key)  # constants and defaults say nothing about presence
                if info.is_required():
                    required_mapped.append(key)
        mapped = {known[n][0] for n in fields if n in known}
        defaulted = {"system"} if issubclass(model, SourceRef) else set()
        for name, info in model.model_fields.items():
            if info.is_required() and (info.alias or name) not in mapped | defaulted:
                self.issue(at, f"required field {name!r} of {what} is not mapped", f"a mapping for {name}")
        return tuple(compiled), tuple(required_mapped or from_data)

    def items(self, specs: list[FieldSpec], at: str, target: _Target) -> Getter:
        if target.kind not in ("list", "any"):
            self.issue(at, f"items given, but the field is a {target.name}", "items only on list fields")
            return _const(None)
        inner = target.inner or _ANY
        getters = tuple(self.field(s, f"{at}[{i}]", inner) for i, s in enumerate(specs))

        def get(r: Record, p: Record | None) -> Any:
            return [v for v in (g(r, p) for g in getters) if v is not None]

        return get

    def condition(self, cond: Condition, at: str) -> Callable[[Record, Record | None], bool]:
        getter = self.path(cond.field, f"{at}.field")
        if cond.in_ is not None:
            keys = frozenset(map_key(v) for v in cond.in_ if v is not None)
            with_none = any(v is None for v in cond.in_)

            def is_in(r: Record, p: Record | None) -> bool:
                value = getter(r, p)
                return with_none if value is None else map_key(value) in keys

            return is_in
        if cond.equals is not None:
            wanted = map_key(cond.equals)
            return lambda r, p: (v := getter(r, p)) is not None and map_key(v) == wanted
        expect_empty = bool(cond.empty)
        return lambda r, p: _is_empty(getter(r, p)) is expect_empty


_UNMAPPED = object()
# UUID4 text straight from os.urandom: the envelope's uuid4() default factories cost twice as much.
_VARIANT = {h: "89ab"[int(h, 16) & 3] for h in "0123456789abcdef"}
_TO_DATETIME = get_transform("datetime")


_UPSERT = Operation.UPSERT
_DELETE = Operation.DELETE


def _dump(spec: FieldSpec | None) -> str | None:
    """A spec as comparable text (``repr`` tells ``1`` from ``"1"`` and ``True``)."""
    return None if spec is None else repr(spec.model_dump(by_alias=True))


def _pure(spec: FieldSpec | None) -> bool:
    """Whether a field's value depends on the record only: no plug-in transform (they may not)."""
    if spec is None:
        return True
    return (
        all(is_pure_transform(name) for name in spec.transform)
        and all(_pure(s) for s in (spec.fields or {}).values())
        and all(_pure(s) for s in spec.items or ())
    )


def _share_key(name: str, spec: FieldSpec, model: type[BaseModel], source_system: str) -> Any:
    """What decides a payload field's value (``name`` as mapped), for sharing it between outputs;
    None when that is not worth it (a plain value) or unsafe (a plug-in transform)."""
    if not (spec.fields is not None or spec.items is not None or spec.transform) or not _pure(spec):
        return None
    known = dict(model.model_fields)
    known.update({info.alias: info for info in model.model_fields.values() if info.alias})
    info = known.get(name)
    if info is None:
        return None
    return ("field", name, _dump(spec), _target(info.annotation), source_system)


def _plain_key(spec: FieldSpec) -> str | None:
    """The record key when ``from`` is a single plain name (the usual case for flat records)."""
    path = (spec.from_ or "").strip()
    if not path or path.startswith("^") or "." in path or "/" in path:
        return None
    return path


def _const(value: Any) -> Getter:
    return lambda r, p: value


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | dict):
        return not value
    return False


def _as_ref(value: Any, system: str) -> Any:
    """A SourceRef from a bare key (``party: CUST_NO``) or a mapping without a system."""
    if isinstance(value, Mapping):
        return value if value.get("system") is not None else {**value, "system": system}
    if isinstance(value, str | int) and not isinstance(value, bool):
        return {"system": system, "key": str(value)}
    return value


def _did_you_mean(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _transformed(
    source: Getter, key: str | None, steps: tuple[BoundTransform, ...], at: str, lenient: bool
) -> Getter:
    """The common case — a path and transforms only — without the general pipeline's steps.

    ``key`` is set when the path is one plain key of the record: read it inline, saving a call.
    """
    chain = _chain(steps, at)
    if len(steps) != 1 or lenient:

        def get(r: Record, p: Record | None) -> Any:
            value = r.get(key) if key is not None else source(r, p)
            if value is None:
                return None
            try:
                return chain(value)
            except MappingError:
                if lenient:
                    return None
                raise

        return get
    name, fn, arg = steps[0].name, steps[0].fn, steps[0].arg

    def get_one(r: Record, p: Record | None) -> Any:
        value = r.get(key) if key is not None else source(r, p)
        if value is None:
            return None
        try:
            return fn(value, arg)
        except MappingError as exc:
            raise TransformError(f"{at}: transform {name}: {exc}") from None
        except Exception as exc:
            raise TransformError(f"{at}: transform {name} failed ({type(exc).__name__})") from None

    return get_one


def _chain(steps: tuple[BoundTransform, ...], at: str) -> Callable[[Any], Any]:
    if len(steps) == 1:
        name, fn, arg = steps[0].name, steps[0].fn, steps[0].arg

        def run_one(value: Any) -> Any:
            try:
                return fn(value, arg)
            except MappingError as exc:
                raise TransformError(f"{at}: transform {name}: {exc}") from None
            except Exception as exc:
                raise TransformError(f"{at}: transform {name} failed ({type(exc).__name__})") from None

        return run_one

    def run(value: Any) -> Any:
        for step in steps:
            try:
                value = step.fn(value, step.arg)
            except MappingError as exc:
                raise TransformError(f"{at}: transform {step.name}: {exc}") from None
            except Exception as exc:
                raise TransformError(f"{at}: transform {step.name} failed ({type(exc).__name__})") from None
            if value is None:
                break
        return value

    return run


def _reason(exc: ValidationError, prefix: str = "") -> str:
    """Field paths and pydantic's messages, without the input values (``payload`` → ``fields``)."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = [str(x) for x in error["loc"]]
        if prefix:
            loc.insert(0, prefix)
        elif loc and loc[0] == "payload":
            loc[0] = "fields"
        parts.append(f"{'.'.join(loc) or 'record'}: {error['msg']}")
    return "; ".join(parts)


# --- compiled outputs ----------------------------------------------------------------------------


class CompiledOutput:
    """One output, ready to turn raw records into change events. Built by :func:`compile_output`."""

    def __init__(
        self,
        *,
        entity: EntityType,
        model: type[BaseModel],
        source_system: str,
        key: Getter,
        version: Getter | None,
        modified_at: Getter | None,
        for_each: Getter | None,
        for_each_path: str | None,
        delete_when: Callable[[Record, Record | None], bool] | None,
        skip_when: Callable[[Record, Record | None], bool] | None,
        fields: tuple[tuple[str, str, Getter], ...],
        shareable: tuple[Any, ...] | None = None,
        time_shareable: Any = None,
    ) -> None:
        self.entity = entity
        self.model = model
        self.source_system = source_system
        self.event_type = cast(type[ChangeEvent[Any]], ChangeEvent[model])  # type: ignore[valid-type]
        self._key = key
        self._version = version
        self._modified_at = modified_at
        self._for_each = for_each
        self._for_each_path = for_each_path
        self._delete_when = delete_when
        self._skip_when = skip_when
        self._fields = fields
        # What decides a field's value (its spec, target type, source system), per field, and the
        # same for modified-at and version; None where sharing is unsafe or pointless (for_each, a
        # plug-in transform, a plain value). Outputs of one stream compute equal keys' values once.
        self.shareable = shareable if shareable is not None else (None,) * len(fields)
        self.time_shareable = time_shareable
        self._unshared: tuple[Any, ...] = (None,) * len(fields)
        self._shared = self._unshared
        self._time_shared: Any = None
        self._validate_event = self.event_type.__pydantic_validator__.validate_python

    def _share(self, shared: set[Any]) -> None:
        """Set by :class:`CompiledStream`: the keys (of :attr:`shareable`) other outputs have too."""
        self._shared = tuple(k if k in shared else None for k in self.shareable)
        self._time_shared = self.time_shareable if self.time_shareable in shared else None

    def build(self, record: Record, *, observed_at: datetime) -> list[ChangeEvent[Any]]:
        """The events of one raw record: none if skipped, one per element with ``for_each``."""
        return self._build_memo(record, observed_at, None)

    def _build_memo(
        self, record: Record, observed_at: datetime, memo: dict[Any, Any] | None
    ) -> list[ChangeEvent[Any]]:
        """:meth:`build`; ``memo`` holds the values this record's other outputs already computed."""
        try:
            return self._build(record, observed_at, memo)
        except MappingError:
            raise
        except Exception as exc:  # an odd record must dead-letter, not stop the connector
            raise MappingError(f"cannot map the record ({type(exc).__name__})") from None

    def _build(
        self, record: Record, observed_at: datetime, memo: dict[Any, Any] | None
    ) -> list[ChangeEvent[Any]]:
        if self._for_each is None:
            event = self._one(record, None, observed_at, memo)
            return [] if event is None else [event]
        elements = self._for_each(record, None)
        if elements is None:
            return []
        if isinstance(elements, Mapping):  # one XML child comes as an object, not a list of one
            elements = [elements]
        elif not isinstance(elements, list | tuple):
            raise MappingError(f"for_each {self._for_each_path}: expected a list, got {_kind(elements)}")
        events = []
        for i, element in enumerate(elements):
            if not isinstance(element, Mapping):
                raise MappingError(
                    f"for_each {self._for_each_path}[{i}]: expected an object, got {_kind(element)}"
                )
            try:
                event = self._one(element, record, observed_at, None)
            except MappingError as exc:
                raise MappingError(f"for_each {self._for_each_path}[{i}]: {exc}") from None
            if event is not None:
                events.append(event)
        return events

    def _one(
        self, r: Record, p: Record | None, observed_at: datetime, memo: dict[Any, Any] | None
    ) -> ChangeEvent[Any] | None:
        if self._skip_when is not None and self._skip_when(r, p):
            return None
        key = self._key(r, p)
        if key is None or key == "":
            raise MappingError("key: missing (no value for the entity's key)")
        shared = self._time_shared if memo is not None else None
        if shared is None:
            modified = self._modified(r, p)
            version = self._version_of(r, p, modified, observed_at)
        else:
            assert memo is not None
            times = memo.get(shared)
            if times is None:
                modified = self._modified(r, p)
                times = memo[shared] = (modified, self._version_of(r, p, modified, observed_at))
            modified, version = times
        values: dict[str, Any] | None
        if self._delete_when is not None and self._delete_when(r, p):
            values = None
            operation = _DELETE
        else:
            values = self._values(r, p, memo)
            operation = _UPSERT
        noise = urandom(32).hex()
        envelope = {
            "event_id": f"{noise[:8]}-{noise[8:12]}-4{noise[13:16]}-{_VARIANT[noise[16]]}{noise[17:20]}-"
            f"{noise[20:32]}",
            "trace_id": noise[32:],
            "source_system": self.source_system,
            "entity_type": self.entity,
            "source_key": str(key),
            "operation": operation,
            "version": version,
            "modified_at": modified,
            "observed_at": observed_at,
            "payload": values,
        }
        try:  # payload and envelope validated in one go, the common case
            return cast("ChangeEvent[Any]", self._validate_event(envelope))
        except ValidationError:
            pass
        # Invalid: validate the payload first and then the envelope, for the errors of the first
        # that fails, named as ever (fields.… for the payload's).
        if values is not None:
            try:
                envelope["payload"] = self.model.model_validate(values)
            except ValidationError as exc:
                raise MappingError(_reason(exc, "fields")) from None
        try:
            return self.event_type(**envelope)
        except ValidationError as exc:
            raise MappingError(_reason(exc)) from None

    def _values(self, r: Record, p: Record | None, memo: dict[Any, Any] | None) -> dict[str, Any]:
        """The payload's mapped values, not yet validated; ``memo`` shares them between outputs."""
        values: dict[str, Any] = {}
        shared_keys = self._shared if memo is not None else self._unshared
        for (name, path, getter), shared in zip(self._fields, shared_keys, strict=True):
            try:
                if shared is None:
                    value = getter(r, p)
                else:
                    assert memo is not None
                    value = memo.get(shared, _UNMAPPED)
                    if value is _UNMAPPED:
                        value = memo[shared] = getter(r, p)
            except MappingError:
                raise
            except Exception as exc:  # a bug or an odd value: still a dead letter, not a crash
                raise MappingError(f"{path}: failed ({type(exc).__name__})") from None
            if value is not None:
                values[name] = value
        return values

    def _modified(self, r: Record, p: Record | None) -> datetime | None:
        if self._modified_at is None:
            return None
        value = self._modified_at(r, p)
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return as_utc(value)
        try:
            return cast(datetime, _TO_DATETIME(value))
        except TransformError as exc:
            raise MappingError(f"modified_at: {exc}") from None

    def _version_of(self, r: Record, p: Record | None, modified: datetime | None, observed: datetime) -> int:
        value = self._version(r, p) if self._version is not None else None
        if value is None or value == "":
            return version_from_datetime(modified or observed)
        if isinstance(value, bool):
            raise MappingError("version: expected an integer or a datetime, got bool")
        if isinstance(value, int):
            if value < 0:
                raise MappingError("version: must not be negative")
            return value
        if isinstance(value, datetime):
            return version_from_datetime(value)
        if isinstance(value, date):
            return version_from_datetime(datetime(value.year, value.month, value.day))
        raise MappingError(
            f"version: expected an integer or a datetime, got {_kind(value)} (add transform int or datetime)"
        )


def compile_output(spec: OutputSpec, *, source_system: str, where: str) -> CompiledOutput:
    """Check ``spec`` against its entity model and compile it; ``where`` prefixes error paths.

    Raises :class:`ConfigError` listing every problem found (paths like ``{where}.fields.emial``).
    """
    topic = BY_ENTITY.get(spec.entity)
    if topic is None or topic.payload is None:
        raise ConfigError(f"entity {spec.entity.value!r} has no canonical topic", path=f"{where}.entity")
    model = topic.payload
    c = _Compiler(source_system, where, in_for_each=spec.for_each is not None)
    for_each = None
    if spec.for_each is not None:
        if spec.for_each.strip().startswith("^"):
            c.issue("for_each", "for_each cannot read the parent record ('^')", "a path in the record")
        c_outer = _Compiler(source_system, where, in_for_each=False)
        for_each = c_outer.path(spec.for_each, "for_each")
        c.issues.extend(c_outer.issues)
    key = c.field(spec.key, "key", _ANY)
    version = c.field(spec.version, "version", _ANY) if spec.version is not None else None
    modified_at = c.field(spec.modified_at, "modified_at", _ANY) if spec.modified_at is not None else None
    delete_when = c.condition(spec.delete_when, "delete_when") if spec.delete_when is not None else None
    skip_when = c.condition(spec.skip_when, "skip_when") if spec.skip_when is not None else None
    fields, _ = c._model_fields(spec.fields, "fields", model, spec.entity.value)
    if c.issues:
        raise ConfigError.collect(c.issues)
    shareable: tuple[Any, ...] | None = None
    time_shareable: Any = None
    if spec.for_each is None:
        shareable = tuple(
            _share_key(name, spec.fields[name], model, source_system)
            for name in (path.removeprefix("fields.") for _, path, _ in fields)
        )
        if _pure(spec.modified_at) and _pure(spec.version):
            time_shareable = ("time", _dump(spec.modified_at), _dump(spec.version))
    return CompiledOutput(
        entity=spec.entity,
        model=model,
        source_system=source_system,
        key=key,
        version=version,
        modified_at=modified_at,
        for_each=for_each,
        for_each_path=spec.for_each,
        delete_when=delete_when,
        skip_when=skip_when,
        fields=fields,
        shareable=shareable,
        time_shareable=time_shareable,
    )


class CompiledStream:
    """All outputs of a stream: a record yields their events together, or fails as a whole."""

    def __init__(self, outputs: Sequence[CompiledOutput]) -> None:
        self.outputs = tuple(outputs)
        # Values several outputs compute alike (a parsed modified-at, a party reference) are
        # computed once per record: the first output that needs one stores it in a per-record memo.
        seen: set[Any] = set()
        shared: set[Any] = set()
        for output in self.outputs:
            keys = {k for k in (*output.shareable, output.time_shareable) if k is not None}
            shared |= keys & seen
            seen |= keys
        for output in self.outputs:
            output._share(shared)
        self._memo = bool(shared)

    def build(self, record: Record, observed_at: datetime) -> list[ChangeEvent[Any]]:
        events: list[ChangeEvent[Any]] = []
        memo: dict[Any, Any] | None = {} if self._memo else None
        for i, output in enumerate(self.outputs):
            try:
                events.extend(output._build_memo(record, observed_at, memo))
            except MappingError as exc:
                raise MappingError(f"outputs[{i}] ({output.entity.value}): {exc}") from None
        return events


def compile_stream(outputs: Sequence[OutputSpec], *, source_system: str, where: str) -> CompiledStream:
    """Compile every output (``{where}.outputs[i]``), reporting the problems of all of them at once."""
    compiled: list[CompiledOutput] = []
    issues: list[ConfigIssue] = []
    for i, spec in enumerate(outputs):
        try:
            compiled.append(compile_output(spec, source_system=source_system, where=f"{where}.outputs[{i}]"))
        except ConfigError as exc:
            issues.extend(exc.issues)
    if issues:
        raise ConfigError.collect(issues)
    return CompiledStream(compiled)
