"""Compile a mapping (:mod:`connectors.mapping.spec`) once into Python code, then map records fast.

Compilation does every check that does not need data — target field names against the entity's
pydantic model (nested objects and list elements too), required fields mapped, transform names,
regular expressions, ``^`` paths only inside ``for_each`` — and reports all problems of an output as
one :class:`ConfigError`. It then writes the Python source of one function per stream (and one per
output, for :meth:`CompiledOutput.build`), straight-line code for exactly the fields that stream
maps: record keys read inline, constants inlined, each transform called directly, values several
outputs share computed once into a local variable, the envelope one dict literal and one pydantic
validation per event. Building a record is one call of that function: no reflection, no loop over
field descriptions, no closure per field.

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

Event ids are UUID-4-shaped text from blocks of 4,096 that share a random prefix (one urandom call
per block, new blocks after a fork), so they are unique without a random draw per event; trace ids
are built the same way.
"""

from __future__ import annotations

import difflib
import itertools
import linecache
import os
import re
import string
import types
import typing
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, cast

from pydantic import BaseModel, ValidationError

from connectors.mapping.errors import ConfigError, ConfigIssue, MappingError, TransformError
from connectors.mapping.spec import Condition, FieldSpec, OutputSpec
from connectors.mapping.transforms import (
    BoundTransform,
    as_utc,
    get_transform,
    is_pure_transform,
    text_shortcut,
)
from overlay.events import ChangeEvent, EntityType, Operation, version_from_datetime
from overlay.models.common import SourceRef
from overlay.topics import BY_ENTITY

Record = Mapping[str, Any]
BuildFunction = Callable[[Record, datetime], list[ChangeEvent[Any]]]


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


# --- generated code -------------------------------------------------------------------------------


class _Code:
    """The Python source of one generated function: its lines and the objects it names (globals)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = dict(_RUNTIME)
        self._named: dict[int, str] = {}
        self._count = 0

    def fresh(self, hint: str) -> str:
        """A new local variable name."""
        self._count += 1
        return f"{hint}{self._count}"

    def const(self, value: Any, hint: str = "_k") -> str:
        """An expression for a constant: a literal for None/bool/int/str, else a global name (the
        very object, as the interpreter would have used it)."""
        if value is None or value.__class__ in (bool, int, str):
            return repr(value)
        name = self._named.get(id(value))
        if name is None:
            name = self._named[id(value)] = self.fresh(hint)
            self.names[name] = value
        return name

    def add(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def section(self, emit: Callable[[], Any]) -> tuple[list[str], Any]:
        """The lines ``emit`` adds, taken out (emitted in one order, placed in another)."""
        saved, self.lines = self.lines, []
        try:
            result = emit()
            return self.lines, result
        finally:
            self.lines = saved

    def function(self, name: str, params: str, where: str) -> Callable[..., Any]:
        source = f"def {name}({params}):\n" + "\n".join(self.lines) + "\n"
        filename = f"<mapping {where} {zlib.crc32(source.encode()):08x}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # tracebacks
        namespace = dict(self.names)
        exec(compile(source, filename, "exec"), namespace)
        return cast(Callable[..., Any], namespace[name])


def _event_ids(_: int) -> Iterator[str]:
    """4,096 event ids in UUID 4 form: a fresh random prefix (one urandom call) and a 3-digit count."""
    noise = os.urandom(15).hex()
    prefix = f"{noise[:8]}-{noise[8:12]}-4{noise[13:16]}-{_VARIANT[noise[16]]}{noise[17:20]}-{noise[20:29]}"
    return map(prefix.__add__, _SUFFIXES)


def _trace_ids(_: int) -> Iterator[str]:
    """4,096 trace ids: 32 hex digits, a fresh random prefix and a 3-digit count."""
    return map(os.urandom(15).hex()[:29].__add__, _SUFFIXES)


class _Ids:
    """Event and trace ids without a random draw per event: blocks of 4,096 sharing a random
    prefix (110 and 116 random bits), so unique without a urandom call and uuid4() per event.
    Iterators all the way down: next() on them runs no Python code but once per block."""

    __slots__ = ("events", "traces")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.events: Iterator[str] = itertools.chain.from_iterable(map(_event_ids, itertools.count()))
        self.traces: Iterator[str] = itertools.chain.from_iterable(map(_trace_ids, itertools.count()))


_VARIANT = {h: "89ab"[int(h, 16) & 3] for h in "0123456789abcdef"}
_SUFFIXES = tuple(f"{i:03x}" for i in range(4096))
_IDS = _Ids()
os.register_at_fork(after_in_child=_IDS.reset)  # a forked child must not repeat its parent's ids

_UNSET = object()
_TO_DATETIME = get_transform("datetime")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_KEY_MISSING = "key: missing (no value for the entity's key)"


def _walk(current: Any, steps: tuple[tuple[str, int | None], ...]) -> Any:
    """A dotted path from ``current``: mappings by key, lists by index, an XML element's #text."""
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


def _version_value(value: Any, modified: datetime | None, observed: datetime) -> int:
    """The version from a mapped ``version`` value (the common non-negative int is inline)."""
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


# What generated code may name besides its own constants.
_RUNTIME: dict[str, Any] = {
    "MappingError": MappingError,
    "TransformError": TransformError,
    "ValidationError": ValidationError,
    "Mapping": Mapping,
    "datetime": datetime,
    "map_key": map_key,
    "_kind": _kind,
    "_walk": _walk,
    "_is_empty": _is_empty,
    "_as_ref": _as_ref,
    "_as_utc": as_utc,
    "_to_datetime": _TO_DATETIME.fn,
    "_version_value": _version_value,
    "_vfd": version_from_datetime,
    "_UTC": UTC,
    "_EPOCH": _EPOCH,
    "_MICROSECOND": _MICROSECOND,
    "_UNSET": _UNSET,
    "_IDS": _IDS,
    "_UPSERT": Operation.UPSERT,
    "_DELETE": Operation.DELETE,
}


# --- the compiler ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """A field of an object being built: its key there, the local (or constant) holding its value,
    and whether that value may be null (then it is left out)."""

    key: str
    var: str
    maybe_none: bool
    const: bool = False


class _Compiler:
    """Turns specs into code, collecting every problem instead of stopping at the first.

    Emitting methods write statements that assign a local variable (``out``) at an indent level;
    ``r`` and ``p`` name the record and the parent record (inside ``for_each``) in the code.
    """

    def __init__(self, code: _Code, source_system: str, where: str, in_for_each: bool) -> None:
        self.code = code
        self.source_system = source_system
        self.where = where
        self.in_for_each = in_for_each
        self.issues: list[ConfigIssue] = []

    def issue(self, path: str, problem: str, expected: str | None = None) -> None:
        full = f"{self.where}.{path}" if self.where and path else self.where or path
        self.issues.append(ConfigIssue(problem, full, expected))

    # paths, templates, conditions

    def path(self, source: str, at: str, r: str, p: str) -> str:
        """An expression for the value at a path (None where it leads nowhere)."""
        text = source.strip()
        parent = text.startswith("^")
        if parent:
            text = text[1:]
            if not self.in_for_each:
                self.issue(at, f"path {source!r} reads the parent record ('^') outside for_each",
                           "a path without '^'")
                return "None"
        segments = re.split(r"[./]", text)
        if not text or any(not s for s in segments):
            self.issue(at, f"invalid path {source!r}", "dotted names such as Customer.Address.@type")
            return "None"
        root = p if parent else r
        if len(segments) == 1:
            return f"{root}.get({segments[0]!r})"
        steps = tuple((s, int(s) if s.lstrip("-").isdigit() else None) for s in segments)
        # Plain dicts all the way, inline; anything else (lists, XML text, missing parts) by _walk.
        t = self.code.fresh("t")
        tests = [f"{root}.__class__ is dict", f"({t} := {root}.get({segments[0]!r})).__class__ is dict"]
        tests += [f"({t} := {t}.get({s!r})).__class__ is dict" for s in segments[1:-1]]
        return (f"({t}.get({segments[-1]!r}) if {' and '.join(tests)} "
                f"else _walk({root}, {self.code.const(steps, '_steps')}))")

    def template(self, text: str, at: str, out: str, ind: int, r: str, p: str) -> None:
        code = self.code
        parts: list[tuple[str, str | None, str]] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            self.issue(at, f"invalid template: {exc}", "text with {path} placeholders ({{ for a brace})")
            code.add(ind, f"{out} = None")
            return
        for literal, field, spec, conversion in parsed:
            if field is None:
                parts.append((literal, None, ""))
                continue
            if conversion:
                self.issue(at, f"template conversion !{conversion} is not supported", "{path} or {path:spec}")
            if not field.strip():
                self.issue(at, "empty {} in template", "a source path inside the braces")
                continue
            parts.append((literal, self.path(field, at, r, p), spec or ""))
        # Each placeholder in turn: read, null if missing or empty, formatted; then all joined.
        pieces: list[str] = []
        for literal, getter, spec in parts:
            if literal:
                pieces.append(repr(literal))
            if getter is None:
                continue
            t = code.fresh("t")
            pieces.append(t)
            code.add(ind, f"{t} = {getter}")
            code.add(ind, f"if {t} is None or {t} == '':")
            code.add(ind + 1, f"{out} = None")
            code.add(ind, "else:")
            ind += 1
            convert = f"format({t}, {spec!r})" if spec else f"str({t})"
            problem = f"{at}: template format '{spec}' does not fit a "
            if not spec:
                code.add(ind, f"if {t}.__class__ is not str:")
                ind += 1
            code.add(ind, "try:")
            code.add(ind + 1, f"{t} = {convert}")
            code.add(ind, "except (ValueError, TypeError):")
            code.add(ind + 1, f"raise MappingError({problem!r} + _kind({t})) from None")
            if not spec:
                ind -= 1
        code.add(ind, f"{out} = {' + '.join(pieces) or repr('')}")

    def condition(self, cond: Condition, at: str, r: str, p: str) -> str:
        """An expression, true when the condition holds."""
        getter = self.path(cond.field, f"{at}.field", r, p)
        x = self.code.fresh("c")
        text = f"({x}.strip() if {x}.__class__ is str else map_key({x}))"
        if cond.in_ is not None:
            keys = frozenset(map_key(v) for v in cond.in_ if v is not None)
            with_none = any(v is None for v in cond.in_)
            keys_name = self.code.const(keys, "_in")
            return f"({with_none!r} if ({x} := {getter}) is None else {text} in {keys_name})"
        if cond.equals is not None:
            return f"(({x} := {getter}) is not None and {text} == {map_key(cond.equals)!r})"
        return f"(_is_empty({getter}) is {bool(cond.empty)!r})"

    # fields

    def field(self, spec: FieldSpec, at: str, target: _Target, out: str, ind: int, r: str, p: str) -> bool:
        """Statements that set ``out`` to the field's value; whether that may be None."""
        code = self.code
        steps = self._transforms(spec.transform, at)
        mapping = {map_key(k): v for k, v in spec.map.items()} if spec.map is not None else None
        pattern = self._pattern(spec.pattern, at)
        to_ref = _is_ref(target) and spec.fields is None
        default, required, lenient = spec.default, spec.required, spec.on_error == "null"
        maybe_none = self._source(spec, at, target, out, ind, r, p)
        if steps or mapping is not None:
            maybe_none = True
            code.add(ind, f"if {out} is not None:")
            inner = ind + 1
            if steps:
                self._chain(steps, at, lenient, out, inner)
            if mapping is not None:
                if steps:
                    code.add(inner, f"if {out} is not None:")
                    inner += 1
                code.add(inner, f"{out} = {code.const(mapping, '_map')}.get("
                                f"{out}.strip() if {out}.__class__ is str else map_key({out}), _UNSET)")
                code.add(inner, f"if {out} is _UNSET:")
                if default is None and not lenient:
                    expected = "one of: " + ", ".join(mapping) if mapping else "a mapped code"
                    unmapped = f"{at}: value not in map; expected {expected}"
                    code.add(inner + 1, f"raise MappingError({unmapped!r})")
                else:
                    code.add(inner + 1, f"{out} = None")
        if default is not None:
            code.add(ind, f"if {out} is None or {out} == '':")
            code.add(ind + 1, f"{out} = {code.const(default)}")
            maybe_none = False
        if required:
            code.add(ind, f"if {out} is None or {out} == '':")
            code.add(ind + 1, f"raise MappingError({f'{at}: required value missing'!r})")
            maybe_none = False
        if pattern is not None:
            code.add(ind, f"if {out} is not None and not {code.const(pattern, '_re')}.search("
                          f"{out} if {out}.__class__ is str else map_key({out})):")
            if lenient:
                code.add(ind + 1, f"{out} = None")
                maybe_none = True
            else:
                problem = f"{at}: value does not match pattern '{pattern.pattern}'"
                code.add(ind + 1, f"raise MappingError({problem!r})")
        if to_ref:
            system = repr(self.source_system)
            code.add(ind, f"if {out} is not None:")
            code.add(ind + 1, f"{out} = {{'system': {system}, 'key': {out}}} if {out}.__class__ is str "
                              f"else _as_ref({out}, {system})")
        return maybe_none

    def _source(self, spec: FieldSpec, at: str, target: _Target, out: str, ind: int, r: str, p: str) -> bool:
        if spec.from_ is not None:
            self.code.add(ind, f"{out} = {self.path(spec.from_, at, r, p)}")
            return True
        if spec.template is not None:
            self.template(spec.template, at, out, ind, r, p)
            return True
        if spec.fields is not None:
            return self.object(spec.fields, f"{at}.fields", target, out, ind, r, p, nested=True)
        if spec.items is not None:
            return self.items(spec.items, f"{at}.items", target, out, ind, r, p)
        self.code.add(ind, f"{out} = {self.code.const(spec.value)}")
        return spec.value is None

    def _chain(self, steps: tuple[BoundTransform, ...], at: str, lenient: bool, out: str, ind: int) -> None:
        """Each transform in turn, stopping at null; a failure names the field and the transform
        (``on_error: "null"``: any failure makes the value null)."""
        code = self.code
        if lenient:
            code.add(ind, "try:")
            ind += 1
        for i, step in enumerate(steps):
            if i:
                code.add(ind, f"if {out} is not None:")
                ind += 1
            fn, arg = code.const(step.fn, "_f"), code.const(step.arg)
            call = f"{fn}({out}, {arg})"
            shortcut = text_shortcut(step)
            if shortcut is not None:
                call = f"{code.const(shortcut, '_s')}({out}) if {out}.__class__ is str else {call}"
            if lenient:
                code.add(ind, f"{out} = {call}")
                continue
            code.add(ind, "try:")
            code.add(ind + 1, f"{out} = {call}")
            code.add(ind, "except MappingError as exc:")
            said = f"{at}: transform {step.name}: "
            code.add(ind + 1, f"raise TransformError({said!r} + str(exc)) from None")
            code.add(ind, "except Exception as exc:")
            failed = f"{at}: transform {step.name} failed ("
            code.add(ind + 1, f"raise TransformError({failed!r} + type(exc).__name__ + ')') from None")
        if lenient:
            code.add(ind - len(steps), "except Exception:")  # back to the try's level
            code.add(ind - len(steps) + 1, f"{out} = None")

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

    def value(self, key: str, path: str, spec: FieldSpec, target: _Target, ind: int, r: str, p: str,
              shared: Callable[[str, FieldSpec], str | None] | None = None) -> _Entry:
        """A field of an object into a local; an unexpected exception names the field. ``shared``
        gives the variable of a value other outputs of the record compute too (once, first come)."""
        code = self.code
        if _constant(spec) and not _is_ref(target):
            return _Entry(key, code.const(spec.value), spec.value is None, const=True)
        var = shared(path, spec) if shared is not None else None
        inner = ind
        if var is None:
            var = code.fresh("v")
        else:
            code.add(ind, f"if {var} is _UNSET:")
            inner += 1
        code.add(inner, "try:")
        maybe_none = self.field(spec, path, target, var, inner + 1, r, p)
        code.add(inner, "except MappingError:")
        code.add(inner + 1, "raise")
        code.add(inner, "except Exception as exc:")
        failed = f"{path}: failed ("
        code.add(inner + 1, f"raise MappingError({failed!r} + type(exc).__name__ + ')') from None")
        if inner > ind and target.kind == "model":
            # Shared by outputs: validate the nested model once, and give them the (frozen)
            # instance, which pydantic takes as it is. Invalid, it stays a dict: each payload's
            # validation then reports it exactly as without sharing.
            assert target.model is not None
            validate = code.const(target.model.__pydantic_validator__.validate_python, "_model")
            code.add(inner, f"if {var} is not None:")
            code.add(inner + 1, "try:")
            code.add(inner + 2, f"{var} = {validate}({var})")
            code.add(inner + 1, "except ValidationError:")
            code.add(inner + 2, "pass")
        return _Entry(key, var, maybe_none)

    def object(self, fields: Mapping[str, FieldSpec], at: str, target: _Target, out: str, ind: int,
               r: str, p: str, *, nested: bool) -> bool:
        """A dict of mapped values. Nested, it is null when the data identifying it is all missing:
        its required fields mapped from the record (else all fields mapped from it; constants and
        defaults do not count)."""
        if target.kind == "model":
            assert target.model is not None
            found, identifying = self.model_fields(fields, at, target.model, target.name, ind, r, p)
        elif target.kind in ("dict", "any"):
            inner = target.inner or _ANY
            found = [self.value(name, f"{at}.{name}", s, inner, ind, r, p) for name, s in fields.items()]
            identifying = tuple(fields)
        else:
            self.issue(at, f"nested fields given, but the field is a {target.name}",
                       "a from/value/template, or nested fields only on object fields")
            self.code.add(ind, f"{out} = None")
            return True
        if _is_ref(target) and "system" not in fields:
            found.append(_Entry("system", repr(self.source_system), False))
        checked = [e for e in found if e.key in identifying]
        if nested and identifying and not any(e.const and not e.maybe_none for e in checked):
            tests = [e for e in checked if not e.const]
            if not tests:  # identified by constants that are all null
                self.code.add(ind, f"{out} = None")
                return True
            self.code.add(ind, f"if {' and '.join(f'{e.var} is None' for e in tests)}:")
            self.code.add(ind + 1, f"{out} = None")
            self.code.add(ind, "else:")
            if len(tests) == 1:  # then that one is not null here
                found = [_Entry(e.key, e.var, False, e.const) if e is tests[0] else e for e in found]
            _emit_dict(self.code, out, found, ind + 1)
            return True
        _emit_dict(self.code, out, found, ind)
        return False

    def model_fields(
        self, fields: Mapping[str, FieldSpec], at: str, model: type[BaseModel], what: str, ind: int,
        r: str, p: str, shared: Callable[[str, FieldSpec], str | None] | None = None,
    ) -> tuple[list[_Entry], tuple[str, ...]]:
        """Each known field's value into a local (see :meth:`value`), and the keys that identify
        the object."""
        known = {name: (info.alias or name, info) for name, info in model.model_fields.items()}
        known.update({info.alias: (info.alias, info) for info in model.model_fields.values() if info.alias})
        allowed = ", ".join(sorted(model.model_fields))
        found: list[_Entry] = []
        required_mapped: list[str] = []
        from_data: list[str] = []
        for name, spec in fields.items():
            path = f"{at}.{name}"
            if name not in known:
                self.issue(path, f"unknown field {name!r} of {what}",
                           f"one of: {allowed}" + _did_you_mean(name, known))
                continue
            key, info = known[name]
            found.append(self.value(key, path, spec, _target(info.annotation), ind, r, p, shared))
            if spec.from_ is not None or spec.template is not None or spec.fields or spec.items:
                from_data.append(key)  # constants and defaults say nothing about presence
                if info.is_required():
                    required_mapped.append(key)
        mapped = {known[n][0] for n in fields if n in known}
        defaulted = {"system"} if issubclass(model, SourceRef) else set()
        for name, info in model.model_fields.items():
            if info.is_required() and (info.alias or name) not in mapped | defaulted:
                self.issue(at, f"required field {name!r} of {what} is not mapped", f"a mapping for {name}")
        return found, tuple(required_mapped or from_data)

    def items(self, specs: list[FieldSpec], at: str, target: _Target, out: str, ind: int, r: str,
              p: str) -> bool:
        if target.kind not in ("list", "any"):
            self.issue(at, f"items given, but the field is a {target.name}", "items only on list fields")
            self.code.add(ind, f"{out} = None")
            return True
        inner = target.inner or _ANY
        found = []
        for i, s in enumerate(specs):
            var = self.code.fresh("v")
            found.append((var, self.field(s, f"{at}[{i}]", inner, var, ind, r, p)))
        if not any(maybe_none for _, maybe_none in found):
            self.code.add(ind, f"{out} = [{', '.join(var for var, _ in found)}]")
            return False
        self.code.add(ind, f"{out} = []")  # entries that resolve to null are left out
        for var, maybe_none in found:
            if maybe_none:
                self.code.add(ind, f"if {var} is not None:")
                self.code.add(ind + 1, f"{out}.append({var})")
            else:
                self.code.add(ind, f"{out}.append({var})")
        return False


def _emit_dict(code: _Code, out: str, entries: Sequence[_Entry], ind: int) -> None:
    """``out`` = a dict of the entries in order, nulls left out."""
    entries = [e for e in entries if not (e.const and e.maybe_none)]
    lead = 0
    while lead < len(entries) and not entries[lead].maybe_none:
        lead += 1
    code.add(ind, f"{out} = {{{', '.join(f'{e.key!r}: {e.var}' for e in entries[:lead])}}}")
    for e in entries[lead:]:
        if e.maybe_none:
            code.add(ind, f"if {e.var} is not None:")
            code.add(ind + 1, f"{out}[{e.key!r}] = {e.var}")
        else:
            code.add(ind, f"{out}[{e.key!r}] = {e.var}")


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

    def __init__(self, spec: OutputSpec, *, model: type[BaseModel], source_system: str, where: str) -> None:
        self.spec = spec
        self.entity: EntityType = spec.entity
        self.model = model
        self.source_system = source_system
        self.where = where
        self.event_type = cast(type[ChangeEvent[Any]], ChangeEvent[model])  # type: ignore[valid-type]
        # One pydantic call per event validates envelope and payload. The model's own check that
        # an upsert has a payload and a delete none is left out: the generated code guarantees it.
        self._validate_event = self.event_type.trusted_operation_validator()
        # What decides a field's value (its spec, target type, source system), per field, and the
        # same for modified-at and version; None where sharing is unsafe or pointless (for_each, a
        # plug-in transform, a plain value). Outputs of one stream compute equal keys' values once.
        self.shareable: tuple[Any, ...] = ()
        self.time_shareable: Any = None
        if spec.for_each is None:
            self.shareable = tuple(
                _share_key(name, field, model, source_system) for name, field in spec.fields.items()
            )
            if _pure(spec.modified_at) and _pure(spec.version):
                self.time_shareable = ("time", _dump(spec.modified_at), _dump(spec.version))
        self._build: BuildFunction = _generate((self,), frozenset(), in_stream=False, where=where)

    def build(self, record: Record, *, observed_at: datetime) -> list[ChangeEvent[Any]]:
        """The events of one raw record: none if skipped, one per element with ``for_each``."""
        return self._build(record, observed_at)

    def _rejected(self, envelope: dict[str, Any]) -> ChangeEvent[Any]:
        """An envelope that failed validation: the payload's errors first (named ``fields.…``),
        then the envelope's."""
        values = envelope["payload"]
        if values is not None:
            try:
                envelope["payload"] = self.model.model_validate(values)
            except ValidationError as exc:
                raise MappingError(_reason(exc, "fields")) from None
        try:
            return self.event_type(**envelope)
        except ValidationError as exc:
            raise MappingError(_reason(exc)) from None

    def _emit(self, code: _Code, ind: int, index: int, shared: Mapping[Any, str]) -> list[ConfigIssue]:
        """This output's events into ``events``: the code for one record (``record``), or for each
        element of its ``for_each`` list. Returns the problems found, in the order of the spec."""
        spec = self.spec
        c = _Compiler(code, self.source_system, self.where, in_for_each=spec.for_each is not None)
        code.names[f"_validate{index}"] = self._validate_event
        code.names[f"_output{index}"] = self
        if spec.for_each is None:
            self._emit_event(c, code, ind, index, "record", "None", shared)
            return c.issues
        if spec.for_each.strip().startswith("^"):
            c.issue("for_each", "for_each cannot read the parent record ('^')", "a path in the record")
        outer = _Compiler(code, self.source_system, self.where, in_for_each=False)
        elements = outer.path(spec.for_each, "for_each", "record", "None")
        issues = [*c.issues, *outer.issues]
        c.issues.clear()
        where = f"for_each {spec.for_each}"
        els, i, el = code.fresh("elements"), code.fresh("i"), code.fresh("element")
        code.add(ind, f"{els} = {elements}")
        code.add(ind, f"if {els} is not None:")
        code.add(ind + 1, f"if isinstance({els}, Mapping):  # one XML child comes as an object")
        code.add(ind + 2, f"{els} = [{els}]")
        code.add(ind + 1, f"elif not isinstance({els}, (list, tuple)):")
        code.add(ind + 2, f"raise MappingError({f'{where}: expected a list, got '!r} + _kind({els}))")
        code.add(ind + 1, f"for {i}, {el} in enumerate({els}):")
        code.add(ind + 2, f"if not isinstance({el}, Mapping):")
        code.add(ind + 3, f"raise MappingError({where!r} + '[' + str({i}) + ']: expected an object, got ' "
                          f"+ _kind({el}))")
        code.add(ind + 2, "try:")
        self._emit_event(c, code, ind + 3, index, el, "record", {})
        code.add(ind + 2, "except MappingError as exc:")
        code.add(ind + 3, f"raise MappingError({where!r} + '[' + str({i}) + ']: ' + str(exc)) from None")
        return issues + c.issues

    def _emit_event(self, c: _Compiler, code: _Code, ind: int, index: int, r: str, p: str,
                    shared: Mapping[Any, str]) -> None:
        """One event from record ``r``: skip_when, key, modified-at and version, delete_when or the
        payload, the envelope, one validation. The parts are compiled in the order of the spec (so
        problems are reported in that order) and placed in the order they run."""
        spec, model = self.spec, self.model
        body = ind + 1 if spec.skip_when is not None else ind
        key, modified, version, values, op = (code.fresh(n) for n in ("key", "m", "ver", "values", "op"))
        time_var = shared.get(self.time_shareable)
        timed = body + 1 if time_var is not None else body
        key_code, _ = code.section(lambda: c.field(spec.key, "key", _ANY, key, body, r, p))
        version_code, _ = code.section(lambda: self._emit_version(c, code, timed, r, p, modified, version))
        modified_code, _ = code.section(lambda: self._emit_modified(c, code, timed, r, p, modified))
        deleted = c.condition(spec.delete_when, "delete_when", r, p) if spec.delete_when is not None else None
        skipped = c.condition(spec.skip_when, "skip_when", r, p) if spec.skip_when is not None else None
        filled = body + 1 if deleted is not None else body

        def share(path: str, field: FieldSpec) -> str | None:
            return shared.get(_share_key(path.removeprefix("fields."), field, model, self.source_system))

        payload_code, (found, _) = code.section(
            lambda: c.model_fields(spec.fields, "fields", model, spec.entity.value, filled, r, p, share)
        )

        if skipped is not None:
            code.add(ind, f"if not {skipped}:")
        code.lines += key_code
        code.add(body, f"if {key} is None or {key} == '':")
        code.add(body + 1, f"raise MappingError({_KEY_MISSING!r})")
        if time_var is not None:
            code.add(body, f"if {time_var} is _UNSET:")
        code.lines += modified_code + version_code
        if time_var is not None:
            code.add(body + 1, f"{time_var} = ({modified}, {version})")
            code.add(body, "else:")
            code.add(body + 1, f"{modified}, {version} = {time_var}")
        if deleted is not None:
            code.add(body, f"if {deleted}:")
            code.add(body + 1, f"{values} = None")
            code.add(body + 1, f"{op} = _DELETE")
            code.add(body, "else:")
        code.lines += payload_code
        _emit_dict(code, values, found, filled)
        code.add(filled, f"{op} = _UPSERT")
        code.add(body, "envelope = {")
        code.add(body + 1, '"event_id": next(_IDS.events),')
        code.add(body + 1, '"trace_id": next(_IDS.traces),')
        code.add(body + 1, f'"source_system": {self.source_system!r},')
        code.add(body + 1, f'"entity_type": {code.const(self.entity, "_entity")},')
        code.add(body + 1, f'"source_key": {key} if {key}.__class__ is str else str({key}),')
        code.add(body + 1, f'"operation": {op},')
        code.add(body + 1, f'"version": {version},')
        code.add(body + 1, f'"modified_at": {modified},')
        code.add(body + 1, '"observed_at": observed_at,')
        code.add(body + 1, f'"payload": {values},')
        code.add(body, "}")
        code.add(body, "try:")  # payload and envelope validated in one go, the common case
        code.add(body + 1, f"events.append(_validate{index}(envelope))")
        code.add(body, "except ValidationError:")
        code.add(body + 1, f"events.append(_output{index}._rejected(envelope))")

    def _emit_modified(self, c: _Compiler, code: _Code, ind: int, r: str, p: str, out: str) -> None:
        """``out`` = the modified-at time as an aware UTC datetime, or None."""
        if self.spec.modified_at is None:
            code.add(ind, f"{out} = None")
            return
        c.field(self.spec.modified_at, "modified_at", _ANY, out, ind, r, p)
        code.add(ind, f"if {out}.__class__ is datetime:")
        code.add(ind + 1, f"if {out}.tzinfo is not _UTC:")
        code.add(ind + 2, f"{out} = _as_utc({out})")
        code.add(ind, f"elif {out} is None or {out} == '':")
        code.add(ind + 1, f"{out} = None")
        code.add(ind, f"elif isinstance({out}, datetime):")
        code.add(ind + 1, f"{out} = _as_utc({out})")
        code.add(ind, "else:")
        code.add(ind + 1, "try:")
        code.add(ind + 2, f"{out} = _to_datetime({out}, None)")
        code.add(ind + 1, "except TransformError as exc:")
        code.add(ind + 2, "raise MappingError('modified_at: ' + str(exc)) from None")

    def _emit_version(self, c: _Compiler, code: _Code, ind: int, r: str, p: str, modified: str,
                      out: str) -> None:
        """``out`` = the version: mapped, else from modified-at (aware, so inline), else observed-at."""
        from_time = f"({modified} - _EPOCH) // _MICROSECOND if {modified} is not None else _vfd(observed_at)"
        if self.spec.version is None:
            code.add(ind, f"{out} = {from_time}")
            return
        c.field(self.spec.version, "version", _ANY, out, ind, r, p)
        code.add(ind, f"if {out}.__class__ is not int or {out} < 0:")
        code.add(ind + 1, f"{out} = _version_value({out}, {modified}, observed_at)")


def _generate(outputs: Sequence[CompiledOutput], shared_keys: frozenset[Any], *, in_stream: bool,
              where: str) -> BuildFunction:
    """The function ``(record, observed_at) -> events`` of these outputs; in a stream, an error names
    the output. Raises :class:`ConfigError` with every problem of every output."""
    code = _Code()
    code.add(1, "events = []")
    shared = {key: code.fresh("shared") for key in sorted(shared_keys, key=repr)}
    for var in shared.values():
        code.add(1, f"{var} = _UNSET")
    issues: list[ConfigIssue] = []
    for i, output in enumerate(outputs):
        prefix = f"outputs[{i}] ({output.entity.value}): " if in_stream else ""
        code.add(1, "try:")
        issues += output._emit(code, 2, i, shared)
        code.add(1, "except MappingError as exc:")
        code.add(2, f"raise MappingError({prefix!r} + str(exc)) from None" if prefix else "raise")
        code.add(1, "except Exception as exc:  # an odd record must dead-letter, not stop the connector")
        code.add(2, f"raise MappingError({prefix + 'cannot map the record ('!r} + type(exc).__name__ + ')') "
                    "from None")
    code.add(1, "return events")
    if issues:
        raise ConfigError.collect(issues)
    return cast(BuildFunction, code.function("build", "record, observed_at", where))


def _constant(spec: FieldSpec) -> bool:
    """Whether a field is just its ``value``: no source to read, nothing applied to it."""
    return (
        spec.from_ is None and spec.template is None and spec.fields is None and spec.items is None
        and not spec.transform and spec.map is None and spec.default is None and not spec.required
        and spec.pattern is None
    )


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


def _did_you_mean(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def compile_output(spec: OutputSpec, *, source_system: str, where: str) -> CompiledOutput:
    """Check ``spec`` against its entity model and compile it; ``where`` prefixes error paths.

    Raises :class:`ConfigError` listing every problem found (paths like ``{where}.fields.emial``).
    """
    topic = BY_ENTITY.get(spec.entity)
    if topic is None or topic.payload is None:
        raise ConfigError(f"entity {spec.entity.value!r} has no canonical topic", path=f"{where}.entity")
    return CompiledOutput(spec, model=topic.payload, source_system=source_system, where=where)


class CompiledStream:
    """All outputs of a stream: a record yields their events together, or fails as a whole."""

    def __init__(self, outputs: Sequence[CompiledOutput]) -> None:
        self.outputs = tuple(outputs)
        # Values several outputs compute alike (a parsed modified-at, a party reference) are
        # computed once per record, by the first output that needs one, into a local variable.
        seen: set[Any] = set()
        shared: set[Any] = set()
        for output in self.outputs:
            keys = {k for k in (*output.shareable, output.time_shareable) if k is not None}
            shared |= keys & seen
            seen |= keys
        where = self.outputs[0].where.rpartition(".outputs[")[0] if self.outputs else "stream"
        self._build = _generate(self.outputs, frozenset(shared), in_stream=True, where=where)

    def build(self, record: Record, observed_at: datetime) -> list[ChangeEvent[Any]]:
        return self._build(record, observed_at)


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
