"""An Overlay source adapter for JSON Lines served over HTTP (``type: jsonl_http``)."""

from overlay_jsonl_connector.source import JsonLinesHttpConfig, JsonLinesHttpSource, JsonLinesStream

__all__ = ["JsonLinesHttpConfig", "JsonLinesHttpSource", "JsonLinesStream"]
