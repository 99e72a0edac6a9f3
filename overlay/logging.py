"""Structured logging for every Overlay process.

One call, :func:`configure_logging`, at process start; afterwards every module logs through
``get_logger(__name__)``. Correlation ids (event id, customer id, order id) are bound with
:func:`bind_correlation` so that every line a task writes carries them (structlog contextvars).
JSON in production, a readable console format for people; chosen by ``OVERLAY_LOG_FORMAT``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, Literal

import structlog

LogFormat = Literal["json", "console"]

# Keys whose values are personal data or secrets: masked before a line is rendered, so a
# careless ``log.info(..., email=...)`` never writes them in clear.
_SENSITIVE_KEYS = frozenset(
    {
        "password", "secret", "token", "authorization", "api_key", "client_secret",
        "email", "phone", "msisdn", "national_id", "birth_date", "first_name", "last_name",
        "given_name", "family_name", "name", "street", "payload",
    }
)


def _mask_sensitive(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in list(event_dict):
        if key.lower() in _SENSITIVE_KEYS and event_dict[key] is not None:
            event_dict[key] = "***"
    return event_dict


def configure_logging(level: str = "INFO", fmt: LogFormat = "json") -> None:
    """Route structlog and the standard library (faust, aiokafka, uvicorn) through one renderer."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_sensitive,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter that drowns the signal at INFO.
    for noisy in ("aiokafka", "faust", "mode", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger


def bind_correlation(**ids: Any) -> Mapping[str, Any]:
    """Bind correlation ids (event_id, customer_id, order_id, trace_id) to the current task."""
    return structlog.contextvars.bind_contextvars(**{k: v for k, v in ids.items() if v is not None})


def clear_correlation() -> None:
    structlog.contextvars.clear_contextvars()
