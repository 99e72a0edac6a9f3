"""The mapping engine: every FieldSpec feature, for_each, deletes and skips, versions, and errors."""

from __future__ import annotations

import linecache
import os
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
import yaml

from connectors.mapping.engine import CompiledOutput, compile_output, compile_stream
from connectors.mapping.errors import ConfigError, MappingError
from connectors.mapping.spec import OutputSpec
from connectors.mapping.transforms import register_transform
from overlay.events import ChangeEvent, EntityType, Operation, version_from_datetime
from overlay.models import (
    Address,
    Characteristic,
    ContactMedium,
    Party,
    PartyKind,
    ProductInstance,
    SourceRef,
)

OBSERVED = datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC)
SECRET = "Geheim-Müller"  # a personal value that must never appear in an error message


def output(text: str, *, source_system: str = "crm") -> CompiledOutput:
    spec = OutputSpec.model_validate(yaml.safe_load(text))
    return compile_output(spec, source_system=source_system, where="test.yaml: outputs[0]")


def build(out: CompiledOutput, record: dict[str, Any]) -> list[ChangeEvent[Any]]:
    return out.build(record, observed_at=OBSERVED)


def one(out: CompiledOutput, record: dict[str, Any]) -> ChangeEvent[Any]:
    events = build(out, record)
    assert len(events) == 1
    return events[0]


def payload(text: str, record: dict[str, Any], **kw: Any) -> Any:
    return one(output(text, **kw), record).payload


def mapping_error(out: CompiledOutput, record: dict[str, Any]) -> str:
    with pytest.raises(MappingError) as caught:
        build(out, record)
    message = str(caught.value)
    assert SECRET not in message
    assert caught.value.__cause__ is None, "a chained cause could carry the value into logs"
    return message


def config_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        output(text)
    return caught.value


PARTY = """
entity: party
key: CUST_NO
modified_at: {from: UPD_TS, transform: [datetime]}
delete_when: {field: DEL_FLG, in: ["Y"]}
fields:
  title: {from: SALUTATION, transform: [clean_name]}
  given_name: {from: FIRST_NM, transform: [strip, clean_name]}
  family_name: {from: LAST_NM, transform: [clean_name]}
  birth_date: {from: BIRTH_DT, transform: [date]}
  status: {from: CUST_STATUS, map: {A: active, I: inactive}, default: unknown}
  segment: {from: CUST_TYPE, map: {P: residential, B: business}}
  email: {from: EMAIL, transform: [email], on_error: "null"}
  kind: {value: individual}
"""

ROW = {
    "CUST_NO": 42, "SALUTATION": "frau", "FIRST_NM": "  ANNA ", "LAST_NM": "SCHMIDT",
    "BIRTH_DT": "12.07.1984", "CUST_STATUS": "A", "CUST_TYPE": "P", "DEL_FLG": "N",
    "EMAIL": " Anna@Example.DE", "UPD_TS": "2024-05-01 12:00:00",
}


# --- the envelope --------------------------------------------------------------------------------


def test_a_party_upsert() -> None:
    event = one(output(PARTY), ROW)
    assert event.source_system == "crm" and event.entity_type is EntityType.PARTY
    assert event.source_key == "42"
    assert event.operation is Operation.UPSERT
    assert event.modified_at == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert event.version == version_from_datetime(datetime(2024, 5, 1, 12, tzinfo=UTC))
    assert event.observed_at == OBSERVED
    assert event.payload == Party(
        kind=PartyKind.INDIVIDUAL, title="Frau", given_name="Anna", family_name="Schmidt",
        birth_date=date(1984, 7, 12), status="active", segment="residential", email="anna@example.de",
    )
    assert uuid.UUID(event.event_id).version == 4 and len(event.trace_id) == 32
    assert ChangeEvent[Party].model_validate_json(event.to_bytes()) == event


def test_events_get_distinct_ids() -> None:
    out = output(PARTY)
    first, second = one(out, ROW), one(out, ROW)
    assert first.event_id != second.event_id and first.trace_id != second.trace_id


def test_missing_key_is_a_mapping_error() -> None:
    message = mapping_error(output(PARTY), dict(ROW, CUST_NO=None))
    assert message == "key: missing (no value for the entity's key)"
    assert "key: missing" in mapping_error(output(PARTY), dict(ROW, CUST_NO=""))


# --- versions ------------------------------------------------------------------------------------


def test_version_int_is_taken_as_is() -> None:
    out = output("entity: party\nkey: K\nversion: {from: V, transform: [int]}\nfields: {}")
    assert one(out, {"K": "1", "V": "17"}).version == 17


def test_version_datetime_becomes_microseconds() -> None:
    out = output("entity: party\nkey: K\nversion: TS\nfields: {}")
    moment = datetime(2024, 5, 1, 12, 0, 0, 5, tzinfo=UTC)
    assert one(out, {"K": "1", "TS": moment}).version == version_from_datetime(moment)


def test_version_defaults_to_modified_at_then_observed_at() -> None:
    out = output("entity: party\nkey: K\nmodified_at: TS\nfields: {}")
    event = one(out, {"K": "1", "TS": "2024-05-01T10:00:00Z"})  # parsed as a datetime, naive = UTC
    assert event.version == version_from_datetime(datetime(2024, 5, 1, 10, tzinfo=UTC))
    assert one(out, {"K": "1", "TS": None}).version == version_from_datetime(OBSERVED)
    unversioned = output("entity: party\nkey: K\nfields: {}")
    assert one(unversioned, {"K": "1"}).version == version_from_datetime(OBSERVED)


def test_missing_version_value_falls_back() -> None:
    out = output("entity: party\nkey: K\nversion: V\nfields: {}")
    assert one(out, {"K": "1"}).version == version_from_datetime(OBSERVED)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("17", "version: expected an integer or a datetime, got str (add transform int or datetime)"),
        (-1, "version: must not be negative"),
        (True, "version: expected an integer or a datetime, got bool"),
    ],
)
def test_bad_versions(value: Any, message: str) -> None:
    out = output("entity: party\nkey: K\nversion: V\nfields: {}")
    assert mapping_error(out, {"K": "1", "V": value}) == message


def test_bad_modified_at() -> None:
    out = output("entity: party\nkey: K\nmodified_at: TS\nfields: {}")
    assert mapping_error(out, {"K": "1", "TS": SECRET}).startswith("modified_at: not a datetime")


# --- deletes and skips ---------------------------------------------------------------------------


def test_delete_when_gives_a_delete_without_payload() -> None:
    # the deleted record's fields are not mapped, so an invalid birth date does not matter
    event = one(output(PARTY), dict(ROW, DEL_FLG="Y", BIRTH_DT="garbage"))
    assert event.operation is Operation.DELETE and event.payload is None
    assert event.source_key == "42"
    assert event.version == version_from_datetime(datetime(2024, 5, 1, 12, tzinfo=UTC))


def test_skip_when_produces_nothing() -> None:
    out = output("entity: party\nkey: K\nskip_when: {field: TYPE, equals: test}\nfields: {}")
    assert build(out, {"K": "1", "TYPE": "test"}) == []
    assert len(build(out, {"K": "1", "TYPE": "real"})) == 1


@pytest.mark.parametrize(
    ("condition", "value", "matches"),
    [
        ("{field: F, in: [Y, J]}", "J", True),
        ("{field: F, in: [Y, J]}", "N", False),
        ("{field: F, in: [Y, J]}", None, False),
        ("{field: F, in: [Y, null]}", None, True),
        ("{field: F, in: [1]}", "1", True),  # compared as text
        ("{field: F, in: ['1']}", 1, True),
        ("{field: F, in: [Y]}", "Y ", True),  # padded CHAR columns
        ("{field: F, equals: 0}", 0, True),
        ("{field: F, equals: 0}", "0", True),
        ("{field: F, equals: true}", True, True),
        ("{field: F, equals: true}", "true", True),
        ("{field: F, empty: true}", None, True),
        ("{field: F, empty: true}", "  ", True),
        ("{field: F, empty: true}", [], True),
        ("{field: F, empty: true}", "x", False),
        ("{field: F, empty: false}", "x", True),
        ("{field: F, empty: false}", None, False),
        ("{field: A.B, equals: x}", {"B": "x"}, False),  # the path starts at the record: A is F here
    ],
)
def test_conditions(condition: str, value: Any, matches: bool) -> None:
    out = output(f"entity: party\nkey: K\nskip_when: {condition}\nfields: {{}}")
    assert (build(out, {"K": "1", "F": value}) == []) is matches


# --- paths, templates, constants -----------------------------------------------------------------

NESTED = {
    "Customer": {
        "@id": "C1",
        "Name": {"#text": "Anna", "@lang": "de"},
        "Family": "Schmidt",
        "Phones": ["0151 1", {"Number": "0151 2345 6789"}],
    },
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("Customer.@id", "C1"),
        ("Customer/@id", "C1"),
        ("Customer.Name.#text", "Anna"),
        ("Customer.Name.@lang", "de"),
        ("Customer.Family.#text", "Schmidt"),  # an element without attributes is just its text
        ("Customer.Phones.1.Number", "0151 2345 6789"),
        ("Customer.Phones.-2", "0151 1"),
        ("Customer.Phones.5", None),
        ("Customer.Nope.Deeper", None),
        ("Customer.Family.Deeper", None),
    ],
)
def test_paths(path: str, expected: Any) -> None:
    event = one(output(f"entity: party\nkey: Customer.@id\nfields:\n  national_id: '{path}'"), NESTED)
    assert event.payload.national_id == expected


def test_templates() -> None:
    text = """
entity: party
key: {template: "{Customer.@id}/{Customer/Name/@lang}"}
fields:
  national_id: {template: "{{{Customer.Family}}}-{N:03d}"}
  title: {template: "{Customer.Missing} x"}
"""
    event = one(output(text), dict(NESTED, N=7))
    assert event.source_key == "C1/de"
    assert event.payload.national_id == "{Schmidt}-007"
    assert event.payload.title is None  # a missing value makes the template null


def test_template_format_that_does_not_fit() -> None:
    out = output('entity: party\nkey: K\nfields:\n  national_id: {template: "{N:03d}"}')
    assert mapping_error(out, {"K": "1", "N": SECRET}) == (
        "fields.national_id: template format '03d' does not fit a str"
    )


def test_constant_and_default_only() -> None:
    data = payload(
        "entity: party\nkey: K\nfields:\n  kind: {value: organization}\n  segment: {default: business}",
        {"K": "1"},
    )
    assert data.kind is PartyKind.ORGANIZATION and data.segment == "business"


def test_missing_values_leave_model_defaults() -> None:
    data = payload("entity: party\nkey: K\nfields:\n  status: S\n  kind: T", {"K": "1"})
    assert data.status == "active" and data.kind is PartyKind.INDIVIDUAL


# --- transforms, map, default, required, pattern, on_error ---------------------------------------


def test_transform_chain_stops_at_null() -> None:
    data = payload(
        "entity: party\nkey: K\nfields:\n  given_name: {from: N, transform: [empty_to_null, email]}",
        {"K": "1", "N": "  "},
    )
    assert data.given_name is None


def test_transform_failure_names_field_and_transform_not_the_value() -> None:
    out = output("entity: party\nkey: K\nfields:\n  birth_date: {from: B, transform: [strip, date]}")
    assert mapping_error(out, {"K": "1", "B": SECRET}) == (
        "fields.birth_date: transform date: not a date in a known format "
        "(YYYY-MM-DD, DD.MM.YYYY or YYYYMMDD)"
    )


def test_on_error_null_turns_failures_into_null() -> None:
    text = """
entity: party
key: K
fields:
  email: {from: E, transform: [email], on_error: "null"}
  national_id: {from: N, pattern: '^\\d+$', on_error: "null"}
  segment: {from: S, map: {P: residential}, on_error: "null"}
"""
    data = payload(text, {"K": "1", "E": SECRET, "N": SECRET, "S": "X"})
    assert data.email is None and data.national_id is None and data.segment is None


def test_unexpected_exception_in_a_transform_is_a_mapping_error() -> None:
    def explode(value: Any, arg: str | None) -> Any:
        raise RuntimeError(f"cannot handle {value}")

    register_transform("test_explode", explode, replace=True)
    out = output("entity: party\nkey: K\nfields:\n  title: {from: T, transform: [test_explode]}")
    assert mapping_error(out, {"K": "1", "T": SECRET}) == (
        "fields.title: transform test_explode failed (RuntimeError)"
    )


def test_map_compares_as_text_and_falls_back_to_default() -> None:
    text = """
entity: party
key: K
fields:
  status: {from: S, map: {1: active, 0: inactive}, default: unknown}
  segment: {from: B, map: {true: business, false: residential}}
"""
    out = output(text)
    assert one(out, {"K": "1", "S": 1}).payload.status == "active"
    assert one(out, {"K": "1", "S": "0"}).payload.status == "inactive"
    assert one(out, {"K": "1", "B": True}).payload.segment == "business"
    assert one(out, {"K": "1", "B": "false"}).payload.segment == "residential"
    assert one(out, {"K": "1", "S": 7}).payload.status == "unknown"
    assert one(out, {"K": "1", "S": None}).payload.status == "unknown"


def test_unmapped_value_without_default_is_an_error() -> None:
    out = output("entity: party\nkey: K\nfields:\n  segment: {from: S, map: {P: residential, B: business}}")
    assert mapping_error(out, {"K": "1", "S": SECRET}) == (
        "fields.segment: value not in map; expected one of: P, B"
    )


def test_map_applies_after_transforms() -> None:
    out = output("entity: party\nkey: K\nfields:\n"
                 "  segment: {from: S, transform: [upper], map: {P: residential}}")
    assert one(out, {"K": "1", "S": "p"}).payload.segment == "residential"


def test_default_replaces_null_and_empty() -> None:
    out = output("entity: party\nkey: K\nfields:\n  segment: {from: S, default: residential}")
    assert one(out, {"K": "1", "S": ""}).payload.segment == "residential"
    assert one(out, {"K": "1"}).payload.segment == "residential"
    assert one(out, {"K": "1", "S": "business"}).payload.segment == "business"


def test_required() -> None:
    out = output("entity: party\nkey: K\nfields:\n  family_name: {from: F, required: true}")
    assert mapping_error(out, {"K": "1", "F": ""}) == "fields.family_name: required value missing"
    assert mapping_error(out, {"K": "1"}) == "fields.family_name: required value missing"
    assert one(out, {"K": "1", "F": "Schmidt"}).payload.family_name == "Schmidt"


def test_pattern() -> None:
    out = output("entity: party\nkey: K\nfields:\n  national_id: {from: N, pattern: '^[A-Z]{2}\\d+$'}")
    assert one(out, {"K": "1", "N": "DE123"}).payload.national_id == "DE123"
    assert mapping_error(out, {"K": "1", "N": SECRET}) == (
        "fields.national_id: value does not match pattern '^[A-Z]{2}\\d+$'"
    )


def test_model_validation_errors_name_the_field_not_the_value() -> None:
    out = output("entity: party\nkey: K\nfields:\n  birth_date: B\n  kind: T")
    message = mapping_error(out, {"K": "1", "B": SECRET, "T": "alien"})
    assert message == (
        "fields.kind: Input should be 'individual' or 'organization'; "
        "fields.birth_date: Input should be a valid date or datetime, invalid character in year"
    )
    assert "alien" not in message


# --- nested objects, lists, SourceRef ------------------------------------------------------------

PRODUCT = """
entity: productInstance
key: SUB_ID
fields:
  party: CUST_NO                      # a bare key: a SourceRef in the connector's system
  account: {fields: {key: ACC_NO, kind: {value: billingAccount}}}
  stack: {value: mobile}
  service_address:
    fields:
      street: STREET
      postcode: {from: PLZ, transform: [postcode]}
      party: {fields: {key: CUST_NO, system: {value: crm}}}
  identifiers:
    fields:
      msisdn: {from: MSISDN, transform: [phone_e164]}
      iccid: ICCID
  characteristics:
    items:
      - {fields: {name: {value: dataVolume}, value: {from: GB, transform: [int]}, unit: {value: GB}}}
      - {fields: {name: {value: roaming}, value: {from: ROAMING, transform: [bool]}}}
"""


def test_nested_objects_lists_and_source_refs() -> None:
    record = {
        "SUB_ID": "S1", "CUST_NO": "MC7", "ACC_NO": "A9", "STREET": "Hauptstr.", "PLZ": "10 115",
        "MSISDN": "0151 2345 6789", "GB": "20", "ROAMING": None,
    }
    data = payload(PRODUCT, record, source_system="mobile")
    assert data == ProductInstance(
        party=SourceRef(system="mobile", key="MC7"),
        account=SourceRef(system="mobile", key="A9", kind="billingAccount"),
        stack="mobile",
        service_address=Address(
            street="Hauptstr.", postcode="10115", party=SourceRef(system="crm", key="MC7")
        ),
        identifiers={"msisdn": "+4915123456789"},
        characteristics=(Characteristic(name="dataVolume", value=20, unit="GB"),),
    )


def test_nested_object_whose_identifying_fields_are_missing_is_null() -> None:
    data = payload(PRODUCT, {"SUB_ID": "S1", "CUST_NO": "MC7"})
    assert data.account is None  # kind is a constant, but the key is missing
    assert data.service_address == Address(party=SourceRef(system="crm", key="MC7"))  # its party is data
    assert data.identifiers == {} and data.characteristics == ()


def test_address_without_any_value_is_null() -> None:
    data = payload(
        "entity: productInstance\nkey: S\nfields:\n  party: C\n  stack: {value: fixed}\n"
        "  service_address: {fields: {street: ST, city: CI}}",
        {"S": "1", "C": "2"},
    )
    assert data.service_address is None


def test_source_ref_mapping_keeps_an_explicit_system_and_fills_a_missing_one() -> None:
    text = """
entity: party
key: K
fields:
  cross_refs:
    items:
      - {fields: {system: {value: mobile}, key: M}}
      - {fields: {key: F}}
      - {fields: {key: MISSING}}
      - {from: REF}
"""
    data = payload(text, {"K": "1", "M": "MC1", "F": "F1", "REF": {"key": "X1"}})
    assert data.cross_refs == (
        SourceRef(system="mobile", key="MC1"),
        SourceRef(system="crm", key="F1"),
        SourceRef(system="crm", key="X1"),
    )


def test_nested_validation_error_names_the_nested_path() -> None:
    out = output("entity: contactMedium\nkey: K\nfields:\n  party: {fields: {key: P}}\n"
                 "  medium_type: {value: email}\n  value: {from: V, required: true}")
    assert mapping_error(out, {"K": "1", "P": "   ", "V": SECRET.lower()}) == (
        "fields.party.key: String should have at least 1 character"
    )


# --- for_each ------------------------------------------------------------------------------------

FOR_EACH = """
entity: productInstance
for_each: Products.Product
key: {template: "{^@id}/{@code}"}
skip_when: {field: "@status", equals: test}
delete_when: {field: "^DEL", in: [Y]}
fields:
  party: {fields: {key: {from: "^@id"}}}
  stack: {value: fixed}
  offering_code: "@code"
  name: {template: "{@code} for {^Name}"}
"""


def test_for_each_reads_the_parent_with_caret() -> None:
    record = {"@id": "C1", "Name": "Anna", "Products": {"Product": [
        {"@code": "DSL100"}, {"@code": "X", "@status": "test"}, {"@code": "TV"},
    ]}}
    events = build(output(FOR_EACH), record)
    assert [e.source_key for e in events] == ["C1/DSL100", "C1/TV"]
    assert events[0].payload == ProductInstance(
        party=SourceRef(system="crm", key="C1"), stack="fixed", offering_code="DSL100",
        name="DSL100 for Anna",
    )


def test_for_each_delete_reads_the_parent() -> None:
    record = {"@id": "C1", "DEL": "Y", "Products": {"Product": [{"@code": "A"}, {"@code": "B"}]}}
    events = build(output(FOR_EACH), record)
    assert [(e.source_key, e.operation) for e in events] == [
        ("C1/A", Operation.DELETE), ("C1/B", Operation.DELETE),
    ]


@pytest.mark.parametrize("products", [{"Product": []}, {}, None])
def test_for_each_over_nothing_gives_no_events(products: Any) -> None:
    assert build(output(FOR_EACH), {"@id": "C1", "Products": products}) == []


def test_for_each_single_object_counts_as_a_list_of_one() -> None:
    events = build(output(FOR_EACH), {"@id": "C1", "Products": {"Product": {"@code": "A"}}})
    assert [e.source_key for e in events] == ["C1/A"]


def test_for_each_errors_name_the_element() -> None:
    out = output(FOR_EACH)
    bad = {"@id": "C1", "Products": {"Product": [{"@code": "A"}, {"@code": None}]}}
    assert mapping_error(out, bad) == (
        "for_each Products.Product[1]: key: missing (no value for the entity's key)"
    )
    assert mapping_error(out, {"@id": "C1", "Products": {"Product": SECRET}}) == (
        "for_each Products.Product: expected a list, got str"
    )
    assert mapping_error(out, {"@id": "C1", "Products": {"Product": [SECRET]}}) == (
        "for_each Products.Product[0]: expected an object, got str"
    )


# --- streams -------------------------------------------------------------------------------------


def _stream() -> Any:
    specs = [OutputSpec.model_validate(yaml.safe_load(t)) for t in (
        "entity: party\nkey: K\nfields: {family_name: N}",
        "entity: contactMedium\nkey: {template: '{K}/email'}\nskip_when: {field: E, empty: true}\n"
        "fields: {party: K, medium_type: {value: email}, value: {from: E, transform: [email]}}",
    )]
    return compile_stream(specs, source_system="crm", where="test.yaml: streams[0]")


def test_stream_combines_outputs() -> None:
    events = _stream().build({"K": "7", "N": "Schmidt", "E": "A@B.DE"}, OBSERVED)
    assert [(e.entity_type, e.source_key) for e in events] == [
        (EntityType.PARTY, "7"), (EntityType.CONTACT_MEDIUM, "7/email"),
    ]
    assert events[1].payload == ContactMedium(party=SourceRef(system="crm", key="7"), medium_type="email",
                                              value="a@b.de")
    assert len(_stream().build({"K": "7", "N": "Schmidt"}, observed_at=OBSERVED)) == 1


def test_one_failing_output_fails_the_record() -> None:
    with pytest.raises(MappingError) as caught:
        _stream().build({"K": "7", "N": "Schmidt", "E": SECRET}, OBSERVED)
    assert str(caught.value) == (
        "outputs[1] (contactMedium): fields.value: transform email: not an email address"
    )


def test_stream_reports_compile_errors_of_every_output() -> None:
    specs = [OutputSpec.model_validate(yaml.safe_load(t)) for t in (
        "entity: party\nkey: K\nfields: {nmae: N}",
        "entity: account\nkey: K\nfields: {party: K, account_number: {from: A, transform: [nope]}}",
    )]
    with pytest.raises(ConfigError) as caught:
        compile_stream(specs, source_system="crm", where="s")
    assert [i.path for i in caught.value.issues] == [
        "s.outputs[0].fields.nmae", "s.outputs[1].fields.account_number.transform[0]",
    ]


# --- compile-time checks -------------------------------------------------------------------------


def test_unknown_field_names_entity_and_allowed_names() -> None:
    error = config_error("entity: party\nkey: K\nfields:\n  emial: E")
    assert str(error) == (
        "test.yaml: outputs[0].fields.emial: unknown field 'emial' of party; expected one of: birth_date, "
        "cross_refs, email, family_name, given_name, kind, national_id, organization_name, phone, segment, "
        "status, title (did you mean 'email'?)"
    )


def test_unknown_nested_fields_are_checked_against_nested_models() -> None:
    error = config_error(
        "entity: productInstance\nkey: K\nfields:\n  party: {fields: {key: P, sytem: {value: x}}}\n"
        "  stack: {value: x}\n  service_address: {fields: {zip: Z}}\n"
        "  characteristics: {items: [{fields: {name: {value: a}, valeu: V}}]}"
    )
    assert [(i.path, i.problem) for i in error.issues] == [
        ("test.yaml: outputs[0].fields.party.fields.sytem", "unknown field 'sytem' of SourceRef"),
        ("test.yaml: outputs[0].fields.service_address.fields.zip", "unknown field 'zip' of Address"),
        ("test.yaml: outputs[0].fields.characteristics.items[0].fields.valeu",
         "unknown field 'valeu' of Characteristic"),
        ("test.yaml: outputs[0].fields.characteristics.items[0].fields",
         "required field 'value' of Characteristic is not mapped"),
    ]
    assert error.issues[0].expected == "one of: key, kind, system (did you mean 'system'?)"


def test_required_fields_must_be_mapped() -> None:
    error = config_error("entity: contactMedium\nkey: K\nfields:\n  value: V")
    assert [str(i) for i in error.issues] == [
        "test.yaml: outputs[0].fields: required field 'party' of contactMedium is not mapped; "
        "expected a mapping for party",
        "test.yaml: outputs[0].fields: required field 'medium_type' of contactMedium is not mapped; "
        "expected a mapping for medium_type",
    ]


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ("title: {from: T, transform: [strip, clean_nmae]}", "fields.title.transform[1]",
         "unknown transform 'clean_nmae'; expected one of: bool, casefold, clean_name"),
        ("title: {from: T, transform: ['phone_e164:ZZ']}", "fields.title.transform[0]",
         "transform 'phone_e164': unknown region 'ZZ'"),
        ("title: {from: T, pattern: '[a-'}", "fields.title.pattern",
         "invalid regular expression: unterminated character set at position 0"),
        ("title: {from: '^T'}", "fields.title",
         "path '^T' reads the parent record ('^') outside for_each; expected a path without '^'"),
        ("title: {from: 'a..b'}", "fields.title", "invalid path 'a..b'"),
        ("title: {template: '{}'}", "fields.title", "empty {} in template"),
        ("title: {template: '{a!r}'}", "fields.title", "template conversion !r is not supported"),
        ("title: {fields: {x: X}}", "fields.title.fields", "nested fields given, but the field is a str"),
        ("title: {items: [X]}", "fields.title.items", "items given, but the field is a str"),
        ("cross_refs: {fields: {key: X}}", "fields.cross_refs.fields",
         "nested fields given, but the field is a list of SourceRef"),
    ],
)
def test_compile_errors(fields: str, path: str, message: str) -> None:
    error = config_error(f"entity: party\nkey: K\nfields:\n  {fields}")
    assert error.path == f"test.yaml: outputs[0].{path}"
    assert message in str(error)


def test_condition_paths_are_checked() -> None:
    error = config_error("entity: party\nkey: K\nskip_when: {field: '^X', empty: true}\nfields: {}")
    assert error.path == "test.yaml: outputs[0].skip_when.field"


def test_for_each_cannot_start_at_the_parent() -> None:
    error = config_error("entity: party\nfor_each: '^X'\nkey: K\nfields: {}")
    assert error.path == "test.yaml: outputs[0].for_each"


# --- what the generated code must keep --------------------------------------------------------------


def test_event_and_trace_ids_stay_unique_uuid4_text_across_blocks() -> None:
    out = output("entity: party\nkey: K\nfields: {}")
    events = [one(out, {"K": str(i)}) for i in range(5000)]  # more than one block of 4,096
    ids = [e.event_id for e in events]
    traces = [e.trace_id for e in events]
    assert len(set(ids)) == len(ids) and len(set(traces)) == len(traces)
    for event_id in ids[:: 97]:
        parsed = uuid.UUID(event_id)
        assert str(parsed) == event_id and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert all(len(t) == 32 and int(t, 16) >= 0 for t in traces)
    assert 2 <= len({i[:33] for i in ids}) <= 3  # blocks of 4,096, each its own random prefix


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    out = output("entity: party\nkey: K\nfields: {}")
    one(out, {"K": "1"})  # the parent has a block under way
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        try:
            event = one(out, {"K": "1"})
            os.write(write, f"{event.event_id} {event.trace_id}".encode())
        finally:
            os._exit(0)
    os.close(write)
    child_event, child_trace = os.read(read, 200).decode().split()
    os.close(read)
    os.waitpid(pid, 0)
    event = one(out, {"K": "1"})
    assert child_event[:33] != event.event_id[:33] and child_trace[:29] != event.trace_id[:29]


SHARED_REF = """
- entity: account
  key: A
  fields: {party: {fields: {key: K, kind: {value: customer}}}, account_number: A}
- entity: productInstance
  key: S
  fields: {party: {fields: {key: K, kind: {value: customer}}}, stack: {value: mobile}}
"""


def test_a_reference_outputs_share_is_validated_once_and_shared() -> None:
    specs = [OutputSpec.model_validate(s) for s in yaml.safe_load(SHARED_REF)]
    stream = compile_stream(specs, source_system="mobile", where="s")
    account, product = stream.build({"K": "C1", "A": "A1", "S": "S1"}, OBSERVED)
    assert account.payload.party is product.payload.party  # one frozen SourceRef for both
    assert product.payload.party == SourceRef(system="mobile", key="C1", kind="customer")
    assert product.payload.party.model_fields_set == {"system", "key", "kind"}
    with pytest.raises(MappingError) as caught:  # invalid: reported as without sharing
        stream.build({"K": "   ", "A": "A1", "S": "S1"}, OBSERVED)
    assert str(caught.value) == (
        "outputs[0] (account): fields.party.key: String should have at least 1 character"
    )


def test_nested_mappings_keep_their_order_and_leave_out_nulls() -> None:
    text = """
entity: productInstance
key: S
fields:
  party: C
  stack: {value: fixed}
  identifiers: {fields: {z: Z, fixed: {value: "1"}, a: A, m: {from: M, transform: [strip]}}}
"""
    data = payload(text, {"S": "1", "C": "2", "Z": "last", "A": None, "M": " mid "})
    assert list(data.identifiers.items()) == [("z", "last"), ("fixed", "1"), ("m", "mid")]
    # a constant identifies a plain mapping: it is there even when everything else is missing
    assert payload(text, {"S": "1", "C": "2"}).identifiers == {"fixed": "1"}


def test_generated_code_is_readable_in_tracebacks() -> None:
    out = output(PARTY)
    lines = linecache.getlines(out._build.__code__.co_filename)
    assert lines[0].startswith("def build(record, observed_at):")
    assert any("record.get('FIRST_NM')" in line for line in lines)
