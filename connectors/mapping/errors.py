"""Errors of the mapping layer: configuration mistakes (found at load time) and record failures.

The split matters to the runtime: a :class:`ConfigError` stops a connector before it reads anything,
a :class:`MappingError` dead-letters one record and the connector carries on. Neither message ever
contains a source value, because source values are often personal data and messages end up in logs
and on the dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ConfigIssue:
    """One thing wrong in a configuration, and where."""

    problem: str
    path: str = ""
    expected: str | None = None
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else self.file
        text = ": ".join(part for part in (where, self.path, self.problem) if part)
        return f"{text}; expected {self.expected}" if self.expected else text


class ConfigError(Exception):
    """The configuration is wrong: ``FILE[:LINE]: PATH: what is wrong; expected …``, one line per issue.

    ``issues`` holds every problem found (a load reports all of them, not just the first); the
    ``file``/``line``/``path``/``problem``/``expected`` attributes describe the first one.
    """

    def __init__(
        self,
        problem: str,
        *,
        path: str = "",
        expected: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        self._init((ConfigIssue(problem, path, expected, file, line),))

    def _init(self, issues: tuple[ConfigIssue, ...]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))

    @classmethod
    def collect(cls, issues: Iterable[ConfigIssue]) -> ConfigError:
        """One error reporting several issues (there must be at least one)."""
        found = tuple(issues)
        if not found:
            raise ValueError("ConfigError.collect needs at least one issue")
        error = cls.__new__(cls)
        error._init(found)
        return error

    @property
    def problem(self) -> str:
        return self.issues[0].problem

    @property
    def path(self) -> str:
        return self.issues[0].path

    @property
    def expected(self) -> str | None:
        return self.issues[0].expected

    @property
    def file(self) -> str | None:
        return self.issues[0].file

    @property
    def line(self) -> int | None:
        return self.issues[0].line

    def located(self, file: str, line_of: Callable[[str], int | None] | None = None) -> ConfigError:
        """The same issues, attributed to ``file`` (and a line, looked up from each issue's path)."""
        return ConfigError.collect(
            replace(
                issue,
                file=issue.file or file,
                line=issue.line or (line_of(issue.path) if line_of else None),
            )
            for issue in self.issues
        )


class MappingError(Exception):
    """A record cannot be mapped: the message names the field path and why, never the value."""


class TransformError(MappingError):
    """A transform rejected its input (wrong type or format)."""
