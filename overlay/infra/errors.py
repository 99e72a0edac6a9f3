"""Errors of the local infrastructure, each telling the reader what to do next."""

from __future__ import annotations


class InfraError(RuntimeError):
    """Base of every error raised by ``overlay.infra``."""


class ToolMissingError(InfraError):
    """A program the infrastructure needs (java, mvn, redis-server) is not installed."""


class InstallError(InfraError):
    """Fetching the Kafka jars failed."""


class ServiceStartError(InfraError):
    """A service exited or did not answer in time; the message carries its log tail."""


class ServiceUnreachableError(InfraError):
    """An external service named by the environment did not answer in time."""


class TopicSpecMismatchError(InfraError):
    """An existing topic differs from its spec in a way that cannot be altered in place."""
