"""How configuration errors read: ``FILE[:LINE]: PATH: what is wrong; expected …``, one line each."""

from __future__ import annotations

import pytest

from connectors.mapping.errors import ConfigError, ConfigIssue


def test_one_issue_reads_as_one_line() -> None:
    error = ConfigError("unknown field 'emial'", path="connectors[0].x", expected="one of: email",
                        file="crm.yaml", line=12)
    assert str(error) == "crm.yaml:12: connectors[0].x: unknown field 'emial'; expected one of: email"
    assert (error.file, error.line, error.path) == ("crm.yaml", 12, "connectors[0].x")


def test_parts_that_are_unknown_are_left_out() -> None:
    assert str(ConfigError("no connectors", file="crm.yaml")) == "crm.yaml: no connectors"
    assert str(ConfigError("bad", path="a.b")) == "a.b: bad"


def test_located_fills_file_and_lines_but_keeps_known_ones() -> None:
    error = ConfigError.collect([ConfigIssue("first", "a.b"), ConfigIssue("second", "c", line=3)])
    located = error.located("f.yaml", {"a.b": 7}.get)
    assert str(located) == "f.yaml:7: a.b: first\nf.yaml:3: c: second"
    assert located.issues[0] == ConfigIssue("first", "a.b", file="f.yaml", line=7)


def test_collect_needs_an_issue() -> None:
    with pytest.raises(ValueError):
        ConfigError.collect([])
