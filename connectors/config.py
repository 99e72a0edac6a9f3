"""Load the connectors' YAML configuration: interpolate the environment, validate, compile mappings.

The file lists connectors, each dispatched on ``type`` to its adapter's config model::

    connectors:
      - name: crm
        type: sql
        source_system: crm
        dsn: ${OVERLAY_CRM_DSN}               # ${VAR:-default} gives a default; $$ is a literal $
        streams:
          - name: customers
            table: CUST_MAST
            outputs: [...]                     # see connectors.mapping.spec

Top-level keys starting with ``x-`` are ignored (a place for YAML anchors). Every problem in the
file — bad YAML, unknown or missing fields, unset variables, unknown types or transforms, duplicate
names — is reported in one :class:`ConfigError`, one line per issue: ``FILE:LINE: PATH: what is
wrong; expected …``. Values are never echoed (they may be secrets once interpolated).

Loading reads a small file synchronously; async callers wrap it in ``asyncio.to_thread``.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from connectors.mapping.engine import CompiledStream, compile_stream
from connectors.mapping.errors import ConfigError, ConfigIssue
from connectors.mapping.spec import OutputSpec
from connectors.sources.base import SourceConfig

Loc = tuple[str | int, ...]
_OUTPUTS = TypeAdapter(list[OutputSpec])


@dataclass(frozen=True)
class LoadedConnector:
    """A validated connector configuration and its compiled streams, by stream name."""

    config: SourceConfig
    compiled: Mapping[str, CompiledStream] = field(default_factory=dict)


def load_config(
    path: Path,
    source_types: Mapping[str, type[SourceConfig]],
    *,
    environ: Mapping[str, str] | None = None,
) -> list[LoadedConnector]:
    """Every connector in ``path``, validated against ``source_types[type]``, mappings compiled.

    ``environ`` (default ``os.environ``) resolves ``${VAR}``. Raises :class:`ConfigError` listing
    every problem in the file.
    """
    return _Loader(path, source_types, os.environ if environ is None else environ).load()


# --- YAML with line numbers ----------------------------------------------------------------------

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BOOL_TAG = "tag:yaml.org,2002:bool"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _YamlLoader(_BaseLoader):  # type: ignore[valid-type, misc]
    """Safe YAML, but only true/false are booleans: ``country: NO`` stays Norway, ``Y``/``N`` text."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_yaml(text: str) -> Any:
    """Parse YAML as connector configurations are parsed (only true/false are booleans, merge
    keys resolved), without interpolation or validation: for tools that rewrite configurations."""
    return yaml.load(text, Loader=_YamlLoader)


def _index_lines(node: yaml.Node, loc: Loc, lines: dict[Loc, int], issues: list[ConfigIssue],
                 depth: int = 0) -> None:
    """Record the line of every key and list item; report duplicate keys YAML would silently drop."""
    if depth > 64:  # a recursive alias
        return
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        merged: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                is_list = isinstance(value_node, yaml.SequenceNode)
                merged.extend(value_node.value if is_list else [value_node])
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = str(key_node.value)
            here = (*loc, key)
            if key in seen:
                issues.append(ConfigIssue(f"duplicate key {key!r}", _path(here), "each key once",
                                          line=key_node.start_mark.line + 1))
            seen.add(key)
            lines.setdefault(here, key_node.start_mark.line + 1)
            _index_lines(value_node, here, lines, issues, depth + 1)
        for source in merged:  # keys from `<<: *anchor` point at the anchor's lines
            _index_lines(source, loc, lines, [], depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.setdefault((*loc, i), item.start_mark.line + 1)
            _index_lines(item, (*loc, i), lines, issues, depth + 1)


def _path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_PATH_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _loc(path: str) -> Loc:
    return tuple(int(i) if i else name for i, name in _PATH_TOKEN.findall(path))


# --- environment ---------------------------------------------------------------------------------

_ENV_REF = re.compile(r"\$\$|\$\{([^}:]*)(?::-([^}]*))?\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _interpolate(value: Any, loc: Loc, environ: Mapping[str, str], issues: list[ConfigIssue]) -> Any:
    """``${VAR}`` and ``${VAR:-default}`` (default when unset or empty) in string values."""
    if isinstance(value, dict):
        return {k: _interpolate(v, (*loc, str(k)), environ, issues) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*loc, i), environ, issues) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1).strip(), match.group(2)
        if not _ENV_NAME.fullmatch(name):
            issues.append(ConfigIssue(f"invalid environment reference {match.group(0)!r}", _path(loc),
                                      "${NAME} or ${NAME:-default}"))
            return ""
        found = environ.get(name)
        if default is not None and not found:
            return default
        if found is None:
            issues.append(ConfigIssue(f"environment variable {name} is not set", _path(loc),
                                      f"{name} in the environment, or a default: ${{{name}:-…}}"))
            return ""
        return found

    return _ENV_REF.sub(substitute, value)


# --- pydantic errors → config issues -------------------------------------------------------------


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin is typing.Union or origin is types.UnionType:
            options = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in options if isinstance(a, type) and issubclass(a, BaseModel)]
            tp = options[0] if len(options) == 1 else (models[0] if len(models) == 1 else Any)
        else:
            return tp


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The pydantic model at ``loc`` inside ``model`` (for listing the fields allowed there)."""
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {(info.alias or name): info for name, info in tp.model_fields.items()}
            info = fields.get(str(part)) or tp.model_fields.get(str(part))
            if info is None:
                return None
            tp = info.annotation
            continue
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (list, tuple, set, frozenset, Sequence) and isinstance(part, int):
            tp = args[0] if args else Any
        elif origin in (dict, Mapping):
            tp = args[1] if len(args) == 2 else Any
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _allowed(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return sorted(info.alias or name for name, info in model.model_fields.items())


def _did_you_mean(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _issues_from(exc: ValidationError, model: type[BaseModel], prefix: Loc) -> list[ConfigIssue]:
    issues = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = tuple(error["loc"])
        kind, msg = error["type"], error["msg"]
        if kind == "extra_forbidden":
            name = str(loc[-1]) if loc else "?"
            allowed = _allowed(_model_at(model, loc[:-1]))
            expected = ("one of: " + ", ".join(allowed) + _did_you_mean(name, allowed)) if allowed else None
            issues.append(ConfigIssue(f"unknown field {name!r}", _path((*prefix, *loc)), expected))
        elif kind == "missing":
            name = str(loc[-1]) if loc else "?"
            issues.append(ConfigIssue(f"missing required field {name!r}", _path((*prefix, *loc[:-1]))))
        elif msg.startswith("Input should be "):
            problem = "invalid value"
            if kind.endswith("_type"):
                problem += " (wrong type)"
            issues.append(ConfigIssue(problem, _path((*prefix, *loc)), msg[len("Input should be "):]))
        else:
            for noise in ("Value error, ", "Assertion failed, "):
                msg = msg.removeprefix(noise)
            issues.append(ConfigIssue(msg, _path((*prefix, *loc))))
    return issues


# --- the loader ----------------------------------------------------------------------------------


class _Loader:
    def __init__(
        self, path: Path, source_types: Mapping[str, type[SourceConfig]], environ: Mapping[str, str]
    ) -> None:
        self.path = path
        self.file = str(path)
        self.source_types = source_types
        self.environ = environ
        self.lines: dict[Loc, int] = {}
        self.issues: list[ConfigIssue] = []

    def fail(self, problem: str, path: str = "", expected: str | None = None) -> ConfigError:
        return ConfigError(problem, path=path, expected=expected).located(self.file, self.line_of)

    def issue(self, problem: str, loc: Loc, expected: str | None = None) -> None:
        self.issues.append(ConfigIssue(problem, _path(loc), expected))

    def line_of(self, path: str) -> int | None:
        """The line of ``path``, or of its nearest ancestor present in the file (for missing keys)."""
        loc = _loc(path)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return None

    def load(self) -> list[LoadedConnector]:
        data = self._read()
        entries = self._entries(data)
        loaded: list[LoadedConnector] = []
        names: dict[str, int] = {}
        for i, entry in enumerate(entries):
            config = self._validate(i, entry)
            if config is None:
                continue
            if config.name in names:
                first = names[config.name]
                self.issue(f"duplicate connector name {config.name!r} (also connectors[{first}])",
                           ("connectors", i, "name"), "a unique name per connector")
            names.setdefault(config.name, i)
            loaded.append(LoadedConnector(config, self._compile(i, config)))
        if self.issues:
            raise ConfigError.collect(self.issues).located(self.file, self.line_of)
        return loaded

    def _read(self) -> Any:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise self.fail(f"cannot read the file ({type(exc).__name__}: {exc.args[-1]})",
                            expected="a readable UTF-8 YAML file") from None
        loader = _YamlLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _index_lines(node, (), self.lines, self.issues)
            data = loader.construct_document(node) if node is not None else None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
            raise ConfigError(f"invalid YAML: {problem}", file=self.file,
                              line=mark.line + 1 if mark else None) from None
        except yaml.YAMLError as exc:
            raise self.fail(f"invalid YAML: {type(exc).__name__}") from None
        finally:
            loader.dispose()
        return _interpolate(data, (), self.environ, self.issues)

    def _entries(self, data: Any) -> list[Any]:
        if not isinstance(data, dict) or "connectors" not in data:
            raise self.fail("no 'connectors' list", expected="a mapping with connectors: [...]")
        for key in data:
            if key != "connectors" and not str(key).startswith("x-"):
                self.issue(f"unknown top-level key {key!r}", (str(key),),
                           "connectors (and x-… keys for YAML anchors)")
        entries = data["connectors"]
        if not isinstance(entries, list) or not entries:
            raise ConfigError.collect([
                *self.issues, ConfigIssue("no connectors", "connectors", "a non-empty list of connectors")
            ]).located(self.file, self.line_of)
        return entries

    def _validate(self, i: int, entry: Any) -> SourceConfig | None:
        here: Loc = ("connectors", i)
        known = ", ".join(sorted(self.source_types)) or "(none registered)"
        if not isinstance(entry, dict):
            self.issue("not a mapping", here, "a connector: {name, type, source_system, streams, …}")
            return None
        kind = entry.get("type")
        if kind is None:
            self.issue("missing required field 'type'", here, f"one of: {known}")
            return None
        model = self.source_types.get(str(kind))
        if model is None:
            self.issue(f"unknown connector type {kind!r}", (*here, "type"),
                       f"one of: {known}" + _did_you_mean(str(kind), list(self.source_types)))
            return None
        try:
            return model.model_validate(entry)
        except ValidationError as exc:
            self.issues.extend(_issues_from(exc, model, here))
            self._compile_valid_outputs(i, entry)
            return None

    def _compile_valid_outputs(self, i: int, entry: dict[str, Any]) -> None:
        """Still report mapping problems of a connector whose other settings are wrong."""
        system, streams = entry.get("source_system"), entry.get("streams")
        if not isinstance(system, str) or not isinstance(streams, list):
            return
        for j, stream in enumerate(streams):
            try:
                raw = stream.get("outputs") if isinstance(stream, dict) else None
                outputs = _OUTPUTS.validate_python(raw)
                compile_stream(outputs, source_system=system, where=_path(("connectors", i, "streams", j)))
            except ValidationError:
                continue  # already reported with the connector
            except ConfigError as exc:
                self.issues.extend(exc.issues)

    def _compile(self, i: int, config: SourceConfig) -> dict[str, CompiledStream]:
        compiled: dict[str, CompiledStream] = {}
        seen: set[str] = set()
        for j, stream in enumerate(config.streams):
            where = _path(("connectors", i, "streams", j))
            if stream.name in seen:
                self.issue(f"duplicate stream name {stream.name!r}", ("connectors", i, "streams", j, "name"),
                           "a unique name per stream of a connector")
            seen.add(stream.name)
            try:
                compiled[stream.name] = compile_stream(
                    stream.outputs, source_system=config.source_system, where=where
                )
            except ConfigError as exc:
                self.issues.extend(exc.issues)
        return compiled
