"""Reaching a Kafka cluster and making its topics match their specs, idempotently.

Topic *definitions* live elsewhere (``overlay.infra.topics``); anything with the attributes of
:class:`TopicSpecLike` works here, so that module and this one do not depend on each other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

from overlay.infra.errors import InfraError, TopicSpecMismatchError
from overlay.infra.ports import port_open
from overlay.logging import get_logger

log = get_logger(__name__)

_DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs config_source: set on the topic itself


class TopicSpecLike(Protocol):
    """What :func:`ensure_topics` needs to know of a topic."""

    @property
    def name(self) -> str: ...

    @property
    def partitions(self) -> int: ...

    @property
    def replication_factor(self) -> int: ...

    @property
    def config(self) -> Mapping[str, str]: ...


Action = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class TopicResult:
    """What :func:`ensure_topics` did to one topic; ``changed`` maps config keys to new values."""

    name: str
    action: Action
    changed: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class TopicsReport:
    results: tuple[TopicResult, ...]

    def names(self, action: Action) -> list[str]:
        return [r.name for r in self.results if r.action == action]

    @property
    def created(self) -> list[str]:
        return self.names("created")

    @property
    def updated(self) -> list[str]:
        return self.names("updated")

    @property
    def unchanged(self) -> list[str]:
        return self.names("unchanged")

    @property
    def problems(self) -> list[str]:
        return [p for r in self.results for p in r.problems]

    def __getitem__(self, name: str) -> TopicResult:
        return next(r for r in self.results if r.name == name)


def _split_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    hosts = []
    for item in bootstrap.split(","):
        host, _, port = item.strip().rpartition(":")
        hosts.append((host.strip("[]") or "127.0.0.1", int(port or 9092)))
    return hosts


async def _describe_cluster(bootstrap: str, request_timeout_ms: int) -> dict[str, Any]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=request_timeout_ms)
    try:
        await admin.start()
        cluster: dict[str, Any] = await admin.describe_cluster()
        return cluster
    finally:
        await admin.close()


async def kafka_reachable(bootstrap: str, timeout: float = 2.0) -> bool:
    """Whether a broker answers a metadata request, listing at least one broker, within ``timeout``."""
    deadline = time.monotonic() + timeout
    # A TCP probe first: aiokafka logs an ERROR for every refused connection.
    for host, port in _split_bootstrap(bootstrap):
        if await port_open(host, port, timeout=max(0.05, deadline - time.monotonic())):
            break
    else:
        return False
    remaining = max(0.1, deadline - time.monotonic())
    try:
        async with asyncio.timeout(remaining):
            cluster = await _describe_cluster(bootstrap, int(max(remaining, 1.0) * 1000))
    except Exception:  # any failure means "not (yet) reachable"; TimeoutError included
        return False
    return bool(cluster.get("brokers"))


async def wait_for_kafka(
    bootstrap: str, timeout: float = 60.0, interval: float = 0.25
) -> None:
    """Return once ``bootstrap`` answers metadata with a registered broker; else ``TimeoutError``."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if await kafka_reachable(bootstrap, timeout=max(0.5, min(5.0, remaining))):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"no Kafka broker answered on {bootstrap} within {timeout:.0f}s")
        await asyncio.sleep(interval)


def _raise_for(code: int, message: str | None, what: str) -> None:
    if code:
        error = for_code(code)
        raise InfraError(f"{what}: {error.__name__} ({code}) {message or ''}".rstrip())


def _topic_configs(responses: Sequence[Any]) -> dict[str, dict[str, tuple[str | None, bool]]]:
    """Topic → config key → (value, set on the topic), from DescribeConfigs responses."""
    out: dict[str, dict[str, tuple[str | None, bool]]] = {}
    for response in responses:
        for res in response.to_object()["resources"]:
            name = res["resource_name"]
            _raise_for(res["error_code"], res["error_message"], f"describing configs of {name}")
            entries = {}
            for entry in res["config_entries"]:
                if "config_source" in entry:
                    dynamic = entry["config_source"] == _DYNAMIC_TOPIC_CONFIG
                else:  # DescribeConfigs v0
                    dynamic = not entry["is_default"]
                entries[entry["config_names"]] = (entry["config_value"], dynamic)
            out[name] = entries
    return out


def _layout_problems(spec: TopicSpecLike, meta: Mapping[str, Any]) -> tuple[str, ...]:
    problems = []
    partitions = meta["partitions"]
    if len(partitions) != spec.partitions:
        problems.append(
            f"topic {spec.name} has {len(partitions)} partitions, the spec says {spec.partitions}: "
            "not changed in place (it would move keys between partitions); recreate it or change the spec"
        )
    replicas = min((len(p["replicas"]) for p in partitions), default=0)
    if partitions and replicas != spec.replication_factor:
        problems.append(
            f"topic {spec.name} has replication factor {replicas}, the spec says {spec.replication_factor}"
        )
    return tuple(problems)


async def _create(admin: AIOKafkaAdminClient, specs: Sequence[TopicSpecLike]) -> set[str]:
    """Create the topics; returns those that turned out to exist already (a concurrent creator)."""
    new = [NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=dict(s.config)) for s in specs]
    response = await admin.create_topics(new)
    existed = set()
    for item in response.to_object()["topic_errors"]:
        if item["error_code"] == TopicAlreadyExistsError.errno:
            existed.add(item["topic"])
            continue
        _raise_for(item["error_code"], item.get("error_message"), f"creating topic {item['topic']}")
    return existed


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: Sequence[str]) -> None:
    """New topics are usable once every partition has a leader; producers would retry otherwise."""
    while names:
        topics = await admin.describe_topics(list(names))
        if all(t["error_code"] == 0 and all(p["leader"] >= 0 for p in t["partitions"]) for t in topics):
            return
        await asyncio.sleep(0.1)


async def ensure_topics(
    bootstrap: str,
    specs: Sequence[TopicSpecLike],
    *,
    strict: bool = True,
    timeout: float = 30.0,
) -> TopicsReport:
    """Create missing topics and bring configs of existing ones to their spec; safe to repeat.

    Partition count and replication factor of an existing topic are only checked: changing them
    is a deliberate operation. With ``strict`` a difference raises :class:`TopicSpecMismatchError`
    (after every config update was applied); otherwise it is listed in the report.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout)
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        raced = await _create(admin, missing) if missing else set()
        created = [s.name for s in missing if s.name not in raced]
        try:
            async with asyncio.timeout(timeout):
                await _wait_for_leaders(admin, created)
        except TimeoutError:
            raise InfraError(f"new topics {created} have no leader after {timeout:.0f}s") from None

        to_check = [s for s in specs if s.name not in created]
        results = {name: TopicResult(name, "created") for name in created}
        if to_check:
            results.update(await _reconcile(admin, to_check))
    finally:
        await admin.close()

    report = TopicsReport(tuple(results[s.name] for s in specs))
    log.info("infra.kafka.topics", created=report.created, updated=report.updated, unchanged=report.unchanged)
    if strict and report.problems:
        raise TopicSpecMismatchError("; ".join(report.problems))
    return report


async def _reconcile(admin: AIOKafkaAdminClient, specs: Sequence[TopicSpecLike]) -> dict[str, TopicResult]:
    names = [s.name for s in specs]
    metadata = {t["topic"]: t for t in await admin.describe_topics(names)}
    resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
    current = _topic_configs(await admin.describe_configs(resources))

    results: dict[str, TopicResult] = {}
    alters: list[ConfigResource] = []
    for spec in specs:
        meta = metadata[spec.name]
        _raise_for(meta["error_code"], None, f"describing topic {spec.name}")
        configs = current.get(spec.name, {})
        changed = {k: v for k, v in spec.config.items() if configs.get(k, (None, False))[0] != v}
        if changed:
            # AlterConfigs replaces the topic's whole dynamic config: keep what is set and not ours.
            kept = {k: v for k, (v, dynamic) in configs.items() if dynamic and v is not None}
            alters.append(ConfigResource(ConfigResourceType.TOPIC, spec.name, {**kept, **spec.config}))
        results[spec.name] = TopicResult(
            spec.name, "updated" if changed else "unchanged", changed, _layout_problems(spec, meta)
        )
    if alters:
        for response in await admin.alter_configs(alters):
            for res in response.to_object()["resources"]:
                what = f"altering configs of {res['resource_name']}"
                _raise_for(res["error_code"], res["error_message"], what)
    return results
