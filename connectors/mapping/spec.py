"""The mapping language, as configured in YAML: how a raw record becomes canonical entities.

A stream has one or more ``outputs``; each output builds one entity type from a raw record::

    outputs:
      - entity: party
        key: CUST_NO                       # shorthand for {from: CUST_NO}
        version: {from: UPD_TS, transform: [datetime]}
        delete_when: {field: DEL_FLG, in: ["Y"]}
        fields:
          given_name: {from: FIRST_NM, transform: [clean_name]}
          status: {from: CUST_STATUS, map: {A: active, I: inactive}, default: unknown}
          email: {from: EMAIL, transform: [email], on_error: "null"}
      - entity: productInstance
        for_each: Products.Product         # one entity per element of a list in the record
        key: {template: "{^@id}/{@code}"}   # ^ reads from the parent record
        fields:
          party: {fields: {key: {from: "^@id"}}}   # a SourceRef; system defaults to the connector's
          stack: {value: fixed}

Paths are dotted (``a.b.c``; ``/`` works too, for XML-minded people); XML attributes are ``@name``
and element text ``#text`` (see the XML adapter). A ``^`` prefix reads from the enclosing record
inside ``for_each``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from overlay.events import EntityType


class FieldSpec(BaseModel):
    """How one target field gets its value. Exactly one of from / value / template / fields / items."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str | None = Field(None, alias="from", description="Path of the source value.")
    value: Any = Field(None, description="A constant.")
    template: str | None = Field(None, description="A str.format template over source paths: '{a}/{b}'.")
    fields: dict[str, FieldSpec] | None = Field(None, description="A nested object, field by field.")
    items: list[FieldSpec] | None = Field(
        None, description="A list; entries that resolve to null are left out."
    )
    transform: list[str] = Field(
        default_factory=list, description="Transforms applied in order, e.g. [strip, phone_e164:DE]."
    )
    map: dict[str, Any] | None = Field(None, description="Translate source codes (after transforms).")
    default: Any = Field(None, description="Used when the value is missing, empty or unmapped.")
    required: bool = Field(False, description="A missing value rejects the record (dead letter).")
    pattern: str | None = Field(None, description="Regular expression the final value must match.")
    on_error: Literal["reject", "null"] = Field(
        "reject", description="A failing transform or pattern: reject the record, or use null."
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """A bare string is a source path: ``key: CUST_NO`` means ``key: {from: CUST_NO}``."""
        if isinstance(data, str):
            return {"from": data}
        return data

    @field_validator("map", mode="before")
    @classmethod
    def _codes_as_text(cls, data: Any) -> Any:
        """Codes compare as text, so YAML keys like ``1:`` or ``true:`` mean "1" and "true"."""
        if isinstance(data, dict):
            return {("true" if k is True else "false" if k is False else str(k)): v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        sources = [
            name for name, present in (
                ("from", self.from_ is not None), ("value", self.value is not None),
                ("template", self.template is not None), ("fields", self.fields is not None),
                ("items", self.items is not None),
            ) if present
        ]
        if len(sources) > 1:
            raise ValueError(f"give one of from/value/template/fields/items, not {' and '.join(sources)}")
        if not sources and self.default is None:
            raise ValueError("give one of from/value/template/fields/items (or a default)")
        return self


class Condition(BaseModel):
    """A test on one source value: ``in`` a list, ``equals`` a value, or ``empty``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    field: str
    in_: list[Any] | None = Field(None, alias="in")
    equals: Any = None
    empty: bool | None = None

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        tests = sum(x is not None for x in (self.in_, self.equals, self.empty))
        if tests != 1:
            raise ValueError("give exactly one of in / equals / empty")
        return self


class OutputSpec(BaseModel):
    """One canonical entity built from a raw record (or from each element of a list in it)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    entity: EntityType
    key: FieldSpec = Field(description="The entity's key in the source system (source_key).")
    for_each: str | None = Field(None, description="Path of a list: one entity per element.")
    version: FieldSpec | None = Field(
        None, description="A number or timestamp that grows with every change; default: the "
        "modified-at value, else the time the connector observed the record.",
    )
    modified_at: FieldSpec | None = Field(None, description="When the source says it changed.")
    delete_when: Condition | None = Field(None, description="The record is a deletion of the entity.")
    skip_when: Condition | None = Field(None, description="Produce nothing for this record.")
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
