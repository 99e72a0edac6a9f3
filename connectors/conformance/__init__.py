"""The connector conformance kit: a reusable pytest suite every connector must pass.

A connector's author writes a :class:`ConformanceCase` (how to prepare the source, the YAML
configuration, what a snapshot must contain, how to make a change and a bad record) and a test class
that inherits :class:`ConnectorConformance`; see ``docs/connectors.md``.
"""

from connectors.conformance.case import ConformanceCase, Expected
from connectors.conformance.suite import ConformanceWarning, ConnectorConformance

__all__ = ["ConformanceCase", "ConformanceWarning", "ConnectorConformance", "Expected"]
