"""Source types by name: the built-in adapters plus third-party ones from the entry-point group
``overlay.connectors`` (``my_crm = my_package.source:MyCrmSource``), so an integrator's package adds
a ``type:`` usable in the YAML configuration without touching Overlay."""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from connectors.sources.base import Source, SourceConfig
from overlay.logging import get_logger

log = get_logger(__name__)

ENTRY_POINT_GROUP = "overlay.connectors"

_BUILTIN: dict[str, str] = {
    "sql": "connectors.sources.sql:SqlSource",
    "rest": "connectors.sources.rest:RestSource",
    "xml": "connectors.sources.xml_http:XmlSource",
    "tmf620": "connectors.sources.tmf620:Tmf620Source",
    "files": "connectors.sources.files:FilesSource",
    "webhook": "connectors.sources.webhook:WebhookSource",
}


def _load(target: str) -> type[Source[Any]]:
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Source)):
        raise TypeError(f"{target} is not a connectors.sources.base.Source subclass")
    return cls


@cache
def source_classes() -> dict[str, type[Source[Any]]]:
    """Every known source type; a third-party type may not shadow a built-in one."""
    classes = {name: _load(target) for name, target in _BUILTIN.items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in classes:
            log.warning("connectors.entry_point_shadowing", name=ep.name, value=ep.value)
            continue
        try:
            classes[ep.name] = _load(ep.value)
        except Exception as exc:
            log.error("connectors.entry_point_failed", name=ep.name, value=ep.value,
                      error=f"{type(exc).__name__}: {exc}")
    return classes


def source_types() -> dict[str, type[SourceConfig]]:
    """Type name → its configuration model, for the YAML loader."""
    return {name: cls.config_model for name, cls in source_classes().items()}


def create_source(config: SourceConfig) -> Source[Any]:
    return source_classes()[config.type](config)
