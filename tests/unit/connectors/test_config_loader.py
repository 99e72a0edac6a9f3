"""Loading connectors.yaml: dispatch on type, environment interpolation, and exact, located errors."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import Field

from connectors.config import LoadedConnector, load_config
from connectors.mapping.engine import CompiledStream
from connectors.mapping.errors import ConfigError
from connectors.sources.base import SourceConfig, StreamConfig
from overlay.events import EntityType


class SqlStream(StreamConfig):
    table: str
    cursor: str | None = None


class SqlConfig(SourceConfig):
    dsn: str
    page_size: int = Field(1000, ge=1)
    streams: list[SqlStream] = Field(min_length=1)  # type: ignore[assignment]


class RestStream(StreamConfig):
    resource: str


class RestConfig(SourceConfig):
    base_url: str
    streams: list[RestStream] = Field(min_length=1)  # type: ignore[assignment]


TYPES: dict[str, type[SourceConfig]] = {"sql": SqlConfig, "rest": RestConfig}

GOOD = """\
x-party-fields: &party
  given_name: {from: FIRST_NM, transform: [clean_name]}
  family_name: {from: LAST_NM, transform: [clean_name]}

connectors:
  - name: crm
    type: sql
    source_system: crm
    dsn: ${CRM_DSN}
    poll_interval_s: ${POLL:-2.5}
    streams:
      - name: customers
        table: CUST_MAST
        outputs:
          - entity: party
            key: CUST_NO
            delete_when: {field: DEL_FLG, in: [Y]}
            fields:
              <<: *party
              status: {from: CUST_STATUS, map: {A: active, I: inactive}, default: unknown}
          - entity: address
            key: {template: "{CUST_NO}/home"}
            fields:
              party: CUST_NO
              country: {from: COUNTRY, default: NO}
  - name: shop
    type: rest
    source_system: shop
    base_url: "https://${SHOP_HOST:-shop.example}/api?token=$${literal}"
    streams:
      - name: orders
        resource: orders
        outputs:
          - {entity: party, key: id, fields: {given_name: first}}
"""

ENV = {"CRM_DSN": "sqlite+aiosqlite:///crm.sqlite"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "connectors.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[LoadedConnector]:
    return load_config(write(tmp_path, text), TYPES, environ=ENV if env is None else env)


def error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, env)
    return caught.value


def line(text: str, needle: str, nth: int = 1) -> int:
    """The 1-based line of the ``nth`` line containing ``needle``."""
    found = [i for i, ln in enumerate(textwrap.dedent(text).splitlines(), 1) if needle in ln]
    return found[nth - 1]


def replace(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


# --- a good file ---------------------------------------------------------------------------------


def test_loads_validates_and_compiles(tmp_path: Path) -> None:
    crm, shop = load(tmp_path, GOOD)
    assert isinstance(crm.config, SqlConfig) and isinstance(shop.config, RestConfig)
    assert crm.config.dsn == "sqlite+aiosqlite:///crm.sqlite"
    assert crm.config.poll_interval_s == 2.5
    assert crm.config.streams[0].table == "CUST_MAST"
    assert shop.config.base_url == "https://shop.example/api?token=${literal}"
    assert set(crm.compiled) == {"customers"} and isinstance(crm.compiled["customers"], CompiledStream)

    events = crm.compiled["customers"].build(
        {"CUST_NO": "K1", "FIRST_NM": "ANNA", "LAST_NM": "SCHMIDT", "CUST_STATUS": "I", "DEL_FLG": "N"},
        observed_at=datetime(2024, 5, 1, tzinfo=UTC),
    )
    assert [e.entity_type for e in events] == [EntityType.PARTY, EntityType.ADDRESS]
    assert events[0].payload.given_name == "Anna" and events[0].payload.status == "inactive"
    assert events[1].payload.country == "NO"  # YAML 1.2 booleans: Norway stays Norway


def test_environment_overrides_defaults(tmp_path: Path) -> None:
    crm, shop = load(tmp_path, GOOD, dict(ENV, POLL="0.5", SHOP_HOST="api.shop.de"))
    assert crm.config.poll_interval_s == 0.5
    assert shop.config.base_url.startswith("https://api.shop.de/")


def test_empty_variable_takes_the_default(tmp_path: Path) -> None:
    crm, _ = load(tmp_path, GOOD, dict(ENV, POLL=""))
    assert crm.config.poll_interval_s == 2.5


def test_yes_no_and_y_n_stay_text(tmp_path: Path) -> None:
    crm, _ = load(tmp_path, replace("in: [Y]", "in: [Y, yes, on]"))
    deleted = crm.compiled["customers"].build({"CUST_NO": "K1", "DEL_FLG": "yes"},
                                              observed_at=datetime(2024, 5, 1, tzinfo=UTC))
    assert deleted[0].operation == "delete"


# --- errors --------------------------------------------------------------------------------------


def test_missing_environment_variable(tmp_path: Path) -> None:
    err = error(tmp_path, GOOD, env={})
    path = tmp_path / "connectors.yaml"
    assert str(err) == (
        f"{path}:{line(GOOD, 'dsn:')}: connectors[0].dsn: environment variable CRM_DSN is not set; "
        "expected CRM_DSN in the environment, or a default: ${CRM_DSN:-…}"
    )


def test_invalid_environment_reference(tmp_path: Path) -> None:
    err = error(tmp_path, replace("${CRM_DSN}", "${CRM DSN}"))
    assert err.path == "connectors[0].dsn"
    assert err.problem == "invalid environment reference '${CRM DSN}'"


def test_unknown_mapping_field_with_path_and_line(tmp_path: Path) -> None:
    text = replace("status: {from: CUST_STATUS", "stauts: {from: CUST_STATUS")
    err = error(tmp_path, text)
    assert err.file == str(tmp_path / "connectors.yaml")
    assert err.line == line(text, "stauts:")
    assert err.path == "connectors[0].streams[0].outputs[0].fields.stauts"
    assert err.problem == "unknown field 'stauts' of party"
    assert err.expected is not None and err.expected.endswith("(did you mean 'status'?)")


def test_unknown_field_spec_key(tmp_path: Path) -> None:
    text = replace("transform: [clean_name]}\n  family", "transfrom: [clean_name]}\n  family")
    err = error(tmp_path, text)
    assert str(err) == (
        f"{tmp_path / 'connectors.yaml'}:{line(text, 'transfrom')}: "
        "connectors[0].streams[0].outputs[0].fields.given_name.transfrom: unknown field 'transfrom'; "
        "expected one of: default, fields, from, items, map, on_error, pattern, required, template, "
        "transform, value (did you mean 'transform'?)"
    )


def test_unknown_adapter_field(tmp_path: Path) -> None:
    text = replace("table: CUST_MAST", "tabel: CUST_MAST")
    err = error(tmp_path, text)
    assert {(i.path, i.problem, i.line) for i in err.issues} == {
        ("connectors[0].streams[0].tabel", "unknown field 'tabel'", line(text, "tabel")),
        ("connectors[0].streams[0]", "missing required field 'table'", line(text, "- name: customers")),
    }
    unknown = next(i for i in err.issues if i.problem.startswith("unknown"))
    assert unknown.expected == (
        "one of: cursor, name, outputs, reconcile_every_s, table (did you mean 'table'?)"
    )


def test_bad_type(tmp_path: Path) -> None:
    text = replace("${POLL:-2.5}", "fast")
    err = error(tmp_path, text)
    assert str(err) == (
        f"{tmp_path / 'connectors.yaml'}:{line(text, 'poll_interval_s')}: connectors[0].poll_interval_s: "
        "invalid value; expected a valid number, unable to parse string as a number"
    )


def test_bad_constraint_and_enum(tmp_path: Path) -> None:
    text = replace("${POLL:-2.5}", "0").replace("entity: address", "entity: adress")
    err = error(tmp_path, text)
    assert [str(i).split(": ", 1)[1] for i in err.issues] == [
        "connectors[0].poll_interval_s: invalid value; expected greater than 0",
        "connectors[0].streams[0].outputs[1].entity: invalid value; expected 'party', 'contactMedium', "
        "'address', 'account', 'productInstance', 'productSpecification', 'productOffering', "
        "'productOfferingPrice', 'order' or 'orderStatus'",
    ]


def test_field_spec_rules(tmp_path: Path) -> None:
    text = replace("status: {from: CUST_STATUS,", "status: {from: CUST_STATUS, value: x,")
    err = error(tmp_path, text)
    assert err.path == "connectors[0].streams[0].outputs[0].fields.status"
    assert err.problem == "give one of from/value/template/fields/items, not from and value"
    assert err.line == line(text, "status:")


def test_unknown_type_lists_known_types(tmp_path: Path) -> None:
    text = replace("type: sql", "type: sqll")
    err = error(tmp_path, text)
    assert str(err) == (
        f"{tmp_path / 'connectors.yaml'}:{line(text, 'sqll')}: connectors[0].type: unknown connector type "
        "'sqll'; expected one of: rest, sql (did you mean 'sql'?)"
    )


def test_missing_type(tmp_path: Path) -> None:
    err = error(tmp_path, replace("    type: sql\n", ""))
    assert (err.path, err.problem, err.expected) == ("connectors[0]", "missing required field 'type'",
                                                     "one of: rest, sql")


def test_duplicate_connector_names(tmp_path: Path) -> None:
    text = replace("name: shop", "name: crm")
    err = error(tmp_path, text)
    assert str(err) == (
        f"{tmp_path / 'connectors.yaml'}:{line(text, '- name: crm', nth=2)}: connectors[1].name: duplicate "
        "connector name 'crm' (also connectors[0]); expected a unique name per connector"
    )


def test_duplicate_stream_names(tmp_path: Path) -> None:
    text = replace("    streams:\n      - name: customers\n", "    streams:\n      - name: customers\n"
                   "        table: OTHER\n        outputs: [{entity: party, key: id, fields: {}}]\n"
                   "      - name: customers\n")
    err = error(tmp_path, text)
    assert (err.path, err.problem, err.line) == (
        "connectors[0].streams[1].name", "duplicate stream name 'customers'",
        line(text, "- name: customers", 2),
    )


def test_unknown_transform(tmp_path: Path) -> None:
    text = replace("transform: [clean_name]}\n  family", "transform: [strip, clean_nam]}\n  family")
    err = error(tmp_path, text)
    assert err.path == "connectors[0].streams[0].outputs[0].fields.given_name.transform[1]"
    assert err.problem == "unknown transform 'clean_nam'"
    assert err.line == line(text, "clean_nam")
    assert err.expected is not None and "clean_name" in err.expected


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = replace("type: sql", "type: sqll").replace("resource: orders", "resourc: orders").replace(
        "given_name: first", "given_nam: first")
    err = error(tmp_path, text, env={})
    assert sorted(i.path for i in err.issues) == [
        "connectors[0].dsn",  # CRM_DSN is unset; SHOP_HOST has a default, so it is not an issue
        "connectors[0].type",
        "connectors[1].streams[0]",  # resource missing
        "connectors[1].streams[0].outputs[0].fields.given_nam",
        "connectors[1].streams[0].resourc",
    ]
    assert len(str(err).splitlines()) == len(err.issues) == 5
    assert "environment variable CRM_DSN is not set" in str(err)


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    text = replace("table: CUST_MAST", "table: [CUST_MAST")
    err = error(tmp_path, text)
    assert err.line is not None and err.line >= line(text, "table:")
    assert err.problem.startswith("invalid YAML:")


def test_duplicate_yaml_keys(tmp_path: Path) -> None:
    text = replace("    dsn: ${CRM_DSN}\n", "    dsn: ${CRM_DSN}\n    dsn: other\n")
    err = error(tmp_path, text)
    assert (err.path, err.problem) == ("connectors[0].dsn", "duplicate key 'dsn'")
    assert err.line == line(text, "dsn: other")


def test_shape_errors(tmp_path: Path) -> None:
    assert error(tmp_path, "").problem == "no 'connectors' list"
    assert error(tmp_path, "connectors: []").problem == "no connectors"
    assert error(tmp_path, GOOD + "extra: 1\n").problem == "unknown top-level key 'extra'"
    assert error(tmp_path, "connectors: [5]").problem == "not a mapping"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml", TYPES)
    assert str(caught.value).startswith(f"{tmp_path / 'nope.yaml'}: cannot read the file (FileNotFoundError")
