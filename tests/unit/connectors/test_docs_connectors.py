"""docs/connectors.md stays true: its YAML loads, and its configuration reference matches the models.

* Every ```yaml block holding ``connectors:`` loads with :func:`connectors.config.load_config`
  (with the environment variables below). A block whose first line is ``# invalid`` must instead
  fail, and the doc must show exactly the error it gives (the file named ``connectors.yaml``).
* A block whose first line is ``# output`` is one output (or a list of outputs) of the mapping
  language: it validates as ``OutputSpec`` and compiles against its entity's model. ``# fields``
  blocks are target fields (``FieldSpec`` by name) of a ``party``. ``# fragment`` blocks must
  only be valid YAML. Any other ```yaml block fails the test, so nothing goes unchecked.
* The configuration reference between the ``BEGIN/END generated`` markers is rendered from the
  adapters' pydantic models by :func:`reference_markdown`. After changing a model, regenerate it::

      .venv/bin/python -m tests.unit.connectors.test_docs_connectors --write
"""

from __future__ import annotations

import re
import sys
import types
import typing
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices, BaseModel, SecretStr, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from connectors.config import _YamlLoader, load_config
from connectors.mapping.engine import compile_output
from connectors.mapping.errors import ConfigError
from connectors.mapping.spec import Condition, FieldSpec, OutputSpec
from connectors.registry import _BUILTIN, _load, source_types
from connectors.sources.base import SourceConfig, StreamConfig
from connectors.sources.http import HttpSettings

DOC = Path(__file__).resolve().parents[3] / "docs" / "connectors.md"
BEGIN = "<!-- BEGIN generated: configuration reference (tests/unit/connectors/test_docs_connectors.py) -->"
END = "<!-- END generated: configuration reference -->"

ENV = {
    "CRM_DSN": "postgresql+asyncpg://overlay:secret@crm-db:5432/crm",
    "MOBILE_URL": "http://mobile-bss:8080",
    "MOBILE_TOKEN": "token",
    "PARTNER_URL": "http://partner:8080",
    "REGIO_TV_URL": "https://api.regio-tv.example",
    "REGIO_TV_CLIENT_SECRET": "secret",
    "WEBHOOK_SECRET": "secret",
    "FEED_URL": "http://export-host:8080",
}

TEMPLATE_SRC = DOC.parents[1] / "examples" / "connector-template" / "src"


def doc_source_types() -> dict[str, type[SourceConfig]]:
    """The built-in types plus the template's ``jsonl_http``, whose example the doc shows."""
    if str(TEMPLATE_SRC) not in sys.path:
        sys.path.insert(0, str(TEMPLATE_SRC))
    from overlay_jsonl_connector.source import JsonLinesHttpConfig

    return {**source_types(), "jsonl_http": JsonLinesHttpConfig}

_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)


def yaml_blocks() -> list[tuple[int, str]]:
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _BLOCK.finditer(text)]


def _kind(block: str) -> str:
    first = block.lstrip().split("\n", 1)[0].strip()
    marked = re.match(r"# (invalid|output|fields|fragment)\b", first)
    if marked:
        return marked.group(1)
    return "config" if re.search(r"^connectors:", block, re.M) else "unmarked"


def _ids(blocks: list[tuple[int, str]]) -> list[str]:
    return [f"line{line}" for line, _ in blocks]


BLOCKS = yaml_blocks()


@pytest.mark.parametrize(("line", "block"), BLOCKS, ids=_ids(BLOCKS))
def test_yaml_block(line: int, block: str, tmp_path: Path) -> None:
    kind = _kind(block)
    assert kind != "unmarked", (
        f"docs/connectors.md:{line}: a yaml block needs connectors: or a first line "
        "# output / # fields / # fragment / # invalid"
    )
    if kind in ("config", "invalid"):
        path = tmp_path / "connectors.yaml"
        path.write_text(block, encoding="utf-8")
        if kind == "config":
            assert load_config(path, doc_source_types(), environ=ENV)
            return
        with pytest.raises(ConfigError) as caught:
            load_config(path, doc_source_types(), environ=ENV)
        shown = str(caught.value).replace(str(path), "connectors.yaml")
        assert shown in DOC.read_text(encoding="utf-8"), f"the doc should show:\n{shown}"
        return
    data = yaml.load(block, Loader=_YamlLoader)  # the loader's YAML rules (Y/N/NO stay text)
    if kind == "output":
        for spec in TypeAdapter(list[OutputSpec]).validate_python(data if isinstance(data, list) else [data]):
            compile_output(spec, source_system="doc", where="doc")
    elif kind == "fields":
        fields = TypeAdapter(dict[str, FieldSpec]).validate_python(data)
        compile_output(OutputSpec(entity="party", key=FieldSpec(value="k"), fields=fields),
                       source_system="doc", where="doc")


def test_doc_has_every_kind_of_block() -> None:
    kinds = {_kind(block) for _, block in BLOCKS}
    assert {"config", "output", "invalid"} <= kinds


def test_configuration_reference_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text
    current = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert current == reference_markdown().strip(), (
        "docs/connectors.md's configuration reference is out of date; regenerate it with\n"
        "  .venv/bin/python -m tests.unit.connectors.test_docs_connectors --write"
    )


def test_every_builtin_type_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in _BUILTIN:
        assert f"### `type: {name}`" in text


# --- the reference generator ----------------------------------------------------------------------

# Meanings for fields whose model has no description (kept here, not in the models' code).
NOTES: dict[tuple[str, str], str] = {
    ("SourceConfig", "streams"): "What to read and what it becomes; see the adapter's stream fields.",
    ("StreamConfig", "name"): "Unique within the connector; names the stream in offsets, dead letters, "
    "metrics and `/webhooks/{connector}/{stream}`.",
    ("HttpSettings", "timeout_s"): "Per request (connect, read, write, pool).",
    ("HttpSettings", "headers"): "Sent with every request.",
    ("HttpSettings", "auth"): "`basic`, `bearer` or `oauth2_client_credentials` (below); none by default.",
    ("HttpSettings", "retry"): "Retries of timeouts, resets, 5xx and 429 (below).",
    ("RetryConfig", "initial_backoff_s"): "First pause; grows exponentially, with jitter.",
    ("RetryConfig", "max_backoff_s"): "Longest pause between attempts.",
    ("BasicAuthConfig", "username"): "HTTP Basic user.",
    ("BasicAuthConfig", "password"): "HTTP Basic password; use `${VAR}`.",
    ("BearerAuthConfig", "token"): "Sent as `Authorization: Bearer …`; use `${VAR}`.",
    ("OAuth2ClientCredentialsConfig", "token_url"): "Absolute, or relative to base_url.",
    ("OAuth2ClientCredentialsConfig", "client_id"): "OAuth2 client id.",
    ("OAuth2ClientCredentialsConfig", "client_secret"): "Use `${VAR}`.",
    ("OAuth2ClientCredentialsConfig", "scope"): "Space-separated scopes, if the server wants them.",
    ("SqlStream", "table"): "Table (or view) name.",
    ("SqlStream", "soft_delete"): "Rows marked deleted (below); they are still read, map them with "
    "`delete_when`.",
    ("SoftDelete", "column"): "Column holding the deletion mark.",
    ("SoftDelete", "deleted_values"): "Values meaning deleted, e.g. `[\"Y\"]`.",
    ("SqlSourceConfig", "connect_timeout_s"): "Opening a connection.",
    ("SqlSourceConfig", "page_size"): "Rows per keyset page; a checkpoint follows every page.",
    ("ListingStreamConfig", "modified_since_format"): "How the filter value is written: ISO 8601, "
    "epoch seconds or epoch milliseconds.",
    ("ListingStreamConfig", "overlap_seconds"): "Each pass asks for `since - overlap` and drops records "
    "already emitted, for inclusive, second-precise filters and late writes.",
    ("Tmf620StreamConfig", "overlap_seconds"): "Each pass asks for `lastUpdate.gt` the newest value "
    "seen minus this, and drops records already emitted.",
    ("RestStreamConfig", "pagination"): "One of the pagination kinds below.",
    ("XmlStreamConfig", "pagination"): "`none`, `page` or `offset` (as for rest).",
    ("PagePagination", "page_param"): "Query parameter of the page number.",
    ("PagePagination", "size_param"): "Query parameter of the page size.",
    ("PagePagination", "size"): "Records per page; a shorter page ends the pass.",
    ("PagePagination", "start"): "Number of the first page.",
    ("OffsetPagination", "offset_param"): "Query parameter of the offset.",
    ("OffsetPagination", "limit_param"): "Query parameter of the page size.",
    ("OffsetPagination", "limit"): "Records per page; a shorter page ends the pass.",
    ("CursorPagination", "cursor_param"): "Query parameter carrying the cursor.",
    ("CursorPagination", "size_param"): "Query parameter of the page size, if any.",
    ("CursorPagination", "size"): "Page size to ask for.",
    ("LinkHeaderPagination", "size_param"): "Query parameter of the page size, if any.",
    ("LinkHeaderPagination", "size"): "Page size to ask for.",
    ("Tmf620StreamConfig", "resource"): "The TMF620 resource this stream lists.",
    ("Tmf620SourceConfig", "api_prefix"): "Path of the TMF620 API under base_url.",
    ("FilesSourceConfig", "inbox"): "The drop folder (made absolute at load).",
    ("FileStream", "format"): "`jsonl` reads JSON Lines; `json` an array, or JSON Lines if the file "
    "does not start with `[`.",
    ("FileStream", "quotechar"): "CSV quote character.",
    ("SharedSecretVerification", "header"): "Header carrying the secret.",
    ("SharedSecretVerification", "secret"): "Compared in constant time; use `${VAR}`.",
    ("HmacVerification", "header"): "Header carrying the signature.",
    ("HmacVerification", "secret"): "HMAC key; use `${VAR}`.",
    ("HmacVerification", "encoding"): "Encoding of the signature.",
    ("WebhookSourceConfig", "verification"): "How requests are authenticated (below); none by default.",
    ("WebhookSourceConfig", "max_body_bytes"): "Larger requests get 413.",
}

_SKIP_NESTED = (StreamConfig, SourceConfig, OutputSpec, FieldSpec, Condition)


def _esc(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _field_name(name: str, info: FieldInfo) -> str:
    names = [info.alias or name]
    if isinstance(info.validation_alias, AliasChoices):
        names = [str(c) for c in info.validation_alias.choices]
    return " / ".join(f"`{n}`" for n in names)


def _type(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return _type(args[0])
    if origin is typing.Union or origin is types.UnionType:
        options = [a for a in args if a is not type(None)]
        if len(options) > 1 and all(isinstance(a, type) and issubclass(a, BaseModel) for a in options):
            return "one of " + ", ".join(f"`{a.__name__}`" for a in options)
        return " or ".join(_type(a) for a in options)
    if origin is typing.Literal:
        return " / ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"mapping of {_type(args[0])} → {_type(args[1])}"
    if tp is typing.Any:
        return "any"
    if tp is SecretStr:
        return "secret text"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return f"`{tp.__name__}`"
    if isinstance(tp, type) and issubclass(tp, Enum):
        return " / ".join(f"`{m.value}`" for m in tp)
    return {str: "text", int: "integer", float: "number", bool: "boolean", Path: "path"}.get(tp, str(tp))


def _constraints(info: FieldInfo) -> str:
    parts = []
    for item in info.metadata:
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{sign} {value}")
        if getattr(item, "min_length", None) is not None and item.min_length > 0:
            parts.append(f"min length {item.min_length}")
        if getattr(item, "max_length", None) is not None:
            parts.append(f"max length {item.max_length}")
        if getattr(item, "pattern", None):
            parts.append(f"pattern `{item.pattern}`")
    return ", ".join(parts)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            kind = getattr(value, "kind", None)
            return f"`{{kind: {kind}}}`" if kind is not None else "its defaults"
        return f"`{value!r}`" if value else ("`[]`" if isinstance(value, list) else "`{}`")
    value = info.default
    if value is None or value is PydanticUndefined:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Enum):
        return f"`{value.value}`"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return f"`{value}`"


def _owner(model: type[BaseModel], name: str) -> type[BaseModel]:
    """The class in ``model``'s MRO that declares ``name`` (for NOTES and for splitting tables)."""
    for klass in model.__mro__:
        if isinstance(klass, type) and issubclass(klass, BaseModel) and name in klass.__annotations__:
            return klass
    return model


def _nested(tp: Any, found: list[type[BaseModel]]) -> None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if not issubclass(tp, _SKIP_NESTED) and tp not in found:
            found.append(tp)
            for info in tp.model_fields.values():
                _nested(info.annotation, found)
        return
    for arg in typing.get_args(tp):
        _nested(arg, found)


def _table(model: type[BaseModel], *, skip: Callable[[str], bool] = lambda name: False) -> str:
    rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if skip(name):
            continue
        owner = _owner(model, name)
        meaning = (info.description or NOTES.get((owner.__name__, name))
                   or NOTES.get((model.__name__, name), ""))
        if name == "type" and not meaning:
            meaning = "Selects this adapter."
        kind = _type(info.annotation)
        limits = _constraints(info)
        rows.append(f"| {_field_name(name, info)} | {_esc(kind + (f', {limits}' if limits else ''))} | "
                    f"{_esc(_default(info))} | {_esc(meaning)} |")
    return "\n".join(rows)


def _declared_outside(model: type[BaseModel], bases: tuple[type[BaseModel], ...]) -> Callable[[str], bool]:
    """Skip fields that come unchanged from ``bases`` (they have their own table)."""
    def skip(name: str) -> bool:
        return any(name in base.model_fields and _owner(model, name) in base.__mro__ for base in bases)
    return skip


def reference_markdown() -> str:
    out = [
        "#### Every connector", "",
        _table(SourceConfig, skip=lambda n: n == "type"), "",
        "#### Every stream", "",
        _table(StreamConfig), "",
        "#### HTTP connection settings (`rest`, `xml`, `tmf620`)", "",
        "Flat fields of the connector, next to `name`, `type` and `streams`.", "",
        _table(HttpSettings), "",
    ]
    http_nested: list[type[BaseModel]] = []
    for info in HttpSettings.model_fields.values():
        _nested(info.annotation, http_nested)
    for nested in http_nested:
        kind = nested.model_fields.get("kind")
        title = f"`auth: {{kind: {typing.get_args(kind.annotation)[0]}}}`" if kind else f"`{nested.__name__}`"
        out += [f"##### {title}", "", _table(nested, skip=lambda n: n == "kind"), ""]
    for type_name, target in _BUILTIN.items():
        model = _load(target).config_model
        stream_model = typing.get_args(model.model_fields["streams"].annotation)[0]
        out += [f"### `type: {type_name}`", ""]
        doc = (model.__doc__ or "").strip().split("\n")[0]
        if doc and not doc.startswith("A source configuration with HTTP"):
            out += [doc, ""]
        connector_skip = _declared_outside(model, (SourceConfig, HttpSettings))
        connector_rows = _table(model, skip=lambda n, s=connector_skip: s(n) or n == "streams")
        if connector_rows.count("\n") > 1:
            out += ["Connector fields" + (" (besides the HTTP settings):" if issubclass(model, HttpSettings)
                                          else ":"), "", connector_rows, ""]
        elif issubclass(model, HttpSettings):
            out += ["Connector fields: the HTTP settings only.", ""]
        stream_rows = _table(stream_model, skip=_declared_outside(stream_model, (StreamConfig,)))
        if stream_rows.count("\n") > 1:
            out += ["Stream fields (besides `name` and `outputs`):", "", stream_rows, ""]
        else:
            out += ["Stream fields: `name` and `outputs` only.", ""]
        nested_models: list[type[BaseModel]] = []
        for info in [*model.model_fields.values(), *stream_model.model_fields.values()]:
            if info.annotation is not None:
                _nested(info.annotation, nested_models)
        for nested in nested_models:
            if nested in http_nested or issubclass(nested, HttpSettings):
                continue
            kind = nested.model_fields.get("kind")
            if kind is not None:
                value = typing.get_args(kind.annotation)[0]
                title = f"`{{kind: {value}}}`"
            else:
                title = f"`{nested.__name__}`"
            doc = (nested.__doc__ or "").strip().split("\n")[0]
            rows = _table(nested, skip=lambda n: n == "kind")
            out += [f"##### {title}", ""] + ([doc, ""] if doc else [])
            out += [rows, ""] if rows.count("\n") > 1 else ["No other fields.", ""]
    return "\n".join(out).rstrip() + "\n"


def _write() -> None:
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n\n{reference_markdown()}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    if "--write" in sys.argv:
        _write()
    else:
        sys.stdout.write(reference_markdown())
