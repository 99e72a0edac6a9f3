"""The REST adapter and its listing engine: pagination kinds, incremental windows, estimate, errors."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import httpx
import pytest

from connectors.sources.base import Checkpoint, SourceRecord
from connectors.sources.http import HttpSourceError, getter, json_body, lookup
from connectors.sources.rest import RestSource, RestSourceConfig, Window, fingerprint, format_ts, parse_ts

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
OUT = [{"entity": "party", "key": "id"}]


class Listing:
    """A fake legacy listing, ordered by (modified, id), filter ``modified_since`` inclusive."""

    def __init__(self, n: int) -> None:
        self.rows: dict[str, dict[str, Any]] = {
            f"R{i:03d}": {"id": f"R{i:03d}", "modified": T0 + timedelta(seconds=i), "v": 0} for i in range(n)
        }
        self.requests: list[httpx.URL] = []
        self.on_request: Any = None

    def touch(self, rid: str, at: datetime) -> None:
        row = self.rows.setdefault(rid, {"id": rid, "v": 0})
        row.update(modified=at, v=row["v"] + 1)

    def query(self, since: str | None) -> list[dict[str, Any]]:
        floor = parse_ts(since)
        rows = sorted(self.rows.values(), key=lambda r: (r["modified"], r["id"]))
        return [{**r, "modified": format_ts(r["modified"])}
                for r in rows if floor is None or r["modified"] >= floor]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url)
        if self.on_request:
            self.on_request(len(self.requests))
        q = request.url.params
        rows = self.query(q.get("modified_since"))
        kind = request.url.path.strip("/")
        if kind == "page":
            size, page = int(q["page_size"]), int(q["page"])
            items = rows[(page - 1) * size: page * size]
            return httpx.Response(200, json={"total": len(rows), "items": items})
        if kind == "offset":
            offset, limit = int(q["offset"]), int(q["limit"])
            return httpx.Response(200, json={"data": {"rows": rows[offset: offset + limit]}})
        if kind == "cursor":
            start = int(q.get("cursor", 0))
            nxt = start + 10 if start + 10 < len(rows) else None
            return httpx.Response(200, json={"items": rows[start: start + 10], "meta": {"next": nxt}})
        if kind == "link":
            page = int(q.get("p", 1))
            headers = {"Link": f'</link?p={page + 1}>; rel="next", </link?p=1>; rel="first"'} \
                if page * 10 < len(rows) else {}
            return httpx.Response(200, json=rows[(page - 1) * 10: page * 10], headers=headers)
        return httpx.Response(200, json=rows)


PAGINATIONS: dict[str, dict[str, Any]] = {
    "page": {"path": "/page", "records_path": "items", "total_path": "total",
             "pagination": {"kind": "page", "size": 10}},
    "offset": {"path": "/offset", "records_path": "data.rows",
               "pagination": {"kind": "offset", "limit": 10}},
    "cursor": {"path": "/cursor", "records_path": "items",
               "pagination": {"kind": "cursor", "cursor_path": "meta.next", "cursor_param": "cursor"}},
    "link": {"path": "/link", "pagination": {"kind": "link_header"}},
    "none": {"path": "/none"},
}


def source(server: Listing, **stream: Any) -> RestSource:
    config = RestSourceConfig.model_validate({
        "name": "legacy", "type": "rest", "source_system": "legacy", "base_url": "http://legacy.test",
        "streams": [{"name": "rows", "outputs": OUT, "key": "id", "modified_field": "modified",
                     "path": "/none", **stream}],
    })
    return RestSource(config, transport=httpx.MockTransport(server))


async def collect(src: RestSource, state: Mapping[str, Any] | None = None
                  ) -> tuple[list[dict[str, Any]], list[Checkpoint]]:
    records: list[dict[str, Any]] = []
    checkpoints: list[Checkpoint] = []
    async for item in src.read(src.config.streams[0], state or {}):
        if isinstance(item, SourceRecord):
            records.append(dict(item.data))
        else:
            checkpoints.append(item)
    return records, checkpoints


@pytest.mark.parametrize("kind", list(PAGINATIONS))
async def test_every_pagination_kind_reads_everything_once(kind: str) -> None:
    server = Listing(25)
    records, checkpoints = await collect(source(server, **PAGINATIONS[kind]))
    assert sorted(r["id"] for r in records) == sorted(server.rows)
    assert len(records) == 25
    assert checkpoints[-1].state["since"] == "2024-05-01T12:00:24Z"
    assert len(checkpoints) == (1 if kind == "none" else 3)


@pytest.mark.parametrize("kind", ["page", "offset", "none"])
async def test_incremental_pass_emits_only_changes(kind: str) -> None:
    server = Listing(25)
    src = source(server, modified_since_param="modified_since", **PAGINATIONS[kind])
    _, checkpoints = await collect(src)
    state = checkpoints[-1].state
    server.touch("R003", T0 + timedelta(seconds=24))  # same second as the newest row: inclusive boundary
    server.touch("R100", T0 + timedelta(seconds=30))
    server.requests.clear()
    records, checkpoints = await collect(src, state)
    assert sorted(r["id"] for r in records) == ["R003", "R100"]
    assert server.requests[0].params["modified_since"] == "2024-05-01T12:00:19Z"  # since - 5 s overlap
    assert checkpoints[-1].state["since"] == "2024-05-01T12:00:30Z"
    again, _ = await collect(src, checkpoints[-1].state)
    assert again == []


async def test_reanchors_instead_of_walking_pages_over_a_moving_table() -> None:
    server = Listing(30)
    src = source(server, modified_since_param="modified_since", **PAGINATIONS["page"])

    def modify_early_row(n: int) -> None:
        if n == 2:  # after page 1 was served, a row of page 1 changes: pages shift by one
            server.touch("R002", T0 + timedelta(seconds=60))

    server.on_request = modify_early_row
    records, _ = await collect(src)
    assert {r["id"] for r in records} == set(server.rows)  # page walking would skip R010
    assert server.requests[1].params["modified_since"] == "2024-05-01T12:00:09Z"
    assert server.requests[1].params["page"] == "1"


async def test_checkpoint_after_each_page_resumes_without_gaps() -> None:
    server = Listing(25)
    src = source(server, modified_since_param="modified_since", **PAGINATIONS["page"])
    _, checkpoints = await collect(src)
    assert [c.state["since"] for c in checkpoints] == [
        "2024-05-01T12:00:09Z", "2024-05-01T12:00:18Z", "2024-05-01T12:00:24Z"]  # re-anchored
    resumed, _ = await collect(src, checkpoints[0].state)  # crash after page 1
    assert {r["id"] for r in resumed} == {f"R{i:03d}" for i in range(10, 25)}


async def test_without_server_filter_the_window_filters_client_side() -> None:
    server = Listing(5)
    src = source(server, path="/none")
    _, checkpoints = await collect(src)
    server.touch("R001", T0 + timedelta(seconds=100))
    records, _ = await collect(src, checkpoints[-1].state)
    assert [r["id"] for r in records] == ["R001"]


async def test_unordered_source_only_advances_at_the_end() -> None:
    server = Listing(25)
    src = source(server, ordered=False, **PAGINATIONS["offset"])
    _, checkpoints = await collect(src, {})
    assert [dict(c.state) for c in checkpoints[:-1]] == [{}, {}]
    assert checkpoints[-1].state["since"] == "2024-05-01T12:00:24Z"


async def test_estimate_and_errors() -> None:
    server = Listing(25)
    assert await source(server, **PAGINATIONS["page"]).estimate(source(server).config.streams[0]) == 25
    assert await source(server, path="/none").estimate(source(server).config.streams[0]) is None
    with pytest.raises(HttpSourceError, match="records_path 'total' is not a list"):
        await collect(source(server, path="/page", records_path="total",
                             pagination={"kind": "page", "page_param": "page", "size": 10}))
    not_json = httpx.MockTransport(lambda r: httpx.Response(200, text="<x/>"))
    bad = RestSource(source(server).config, transport=not_json)
    with pytest.raises(HttpSourceError, match="not JSON"):
        await collect(bad)


async def test_link_header_to_another_origin_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"id": "A"}], headers={"Link": '<http://evil.test/x>; rel="next"'})

    src = RestSource(source(Listing(0), path="/link", pagination={"kind": "link_header"}).config,
                     transport=httpx.MockTransport(handler))
    with pytest.raises(HttpSourceError, match="another origin"):
        await collect(src)


async def test_check_and_discover() -> None:
    server = Listing(3)
    src = source(server, **PAGINATIONS["page"])
    result = await src.check()
    assert result.ok and "HTTP 200" in result.message
    [desc] = await src.discover()
    assert desc.fields == ("id", "modified", "v") and desc.key == ("id",) and desc.cursor == ("modified",)
    down = RestSource(src.config, transport=httpx.MockTransport(lambda r: httpx.Response(404)))
    assert not (await down.check()).ok


def test_window_dedupes_by_fingerprint_and_prunes() -> None:
    src = source(Listing(1))
    window = Window(src.listing(src.config.streams[0]), {})
    row = {"id": "A", "modified": "2024-05-01T12:00:00Z", "v": 1}
    assert window.admit(row) and not window.admit(dict(row))
    assert window.admit({**row, "v": 2})  # same key and time, other content: a change
    assert window.admit({"id": "B", "modified": "2024-05-01T12:01:00Z"})
    state = window.state(final=True)
    assert state["since"] == "2024-05-01T12:01:00Z" and len(state["seen"]) == 1


def test_timestamps() -> None:
    assert parse_ts("2024-05-01T12:00:00") == T0  # naive means UTC
    assert parse_ts("2024-05-01T14:00:00+02:00") == T0
    assert parse_ts(int(T0.timestamp())) == T0 and parse_ts(int(T0.timestamp() * 1000)) == T0
    assert format_ts(T0) == "2024-05-01T12:00:00Z"
    assert format_ts(T0, "epoch") == str(int(T0.timestamp()))
    assert format_ts(T0.replace(microsecond=123000)) == "2024-05-01T12:00:00.123Z"


# --- the window's fingerprints: cheap, lazy, and the same decisions as hashing every row ------------
class EagerWindow:
    """The window as it was: every admitted row fingerprinted at once (the reference)."""

    def __init__(self, listing: Any, state: Mapping[str, Any]) -> None:
        self.listing, self.overlap = listing, timedelta(seconds=listing.overlap_s)
        self.start_state = dict(state)
        self.since = parse_ts(state.get("since"))
        self.floor = None if self.since is None else self.since - self.overlap
        self.seen: dict[str, datetime] = (
            {fp: self.since for fp in state.get("seen", [])} if self.since else {})
        self.newest = self.since

    def admit(self, record: Mapping[str, Any]) -> bool:
        modified = parse_ts(record.get(self.listing.modified_field))
        if modified is None:
            return True
        if self.floor is not None and modified < self.floor:
            return False
        fp = fingerprint(record)
        if fp in self.seen:
            return False
        self.seen[fp] = modified
        self.newest = modified if self.newest is None or modified > self.newest else self.newest
        return True

    def state(self, *, final: bool) -> dict[str, Any]:
        if self.newest is None or not (final or self.listing.ordered):
            return self.start_state
        edge = self.newest - self.overlap
        self.seen = {fp: ts for fp, ts in self.seen.items() if ts >= edge}
        return {"since": format_ts(self.newest), "seen": sorted(self.seen)}


def _random_row(rng: random.Random) -> dict[str, Any]:
    at = None if rng.random() < 0.05 else format_ts(T0 + timedelta(seconds=rng.randrange(20)))
    return {"id": rng.choice("ABCDEF"), "modified": at, "v": rng.randrange(3)}


@pytest.mark.parametrize("ordered", [True, False])
def test_lazy_fingerprints_decide_as_eager_ones(ordered: bool) -> None:
    rng = random.Random(7)
    src = source(Listing(1), ordered=ordered)
    listing = src.listing(src.config.streams[0])
    for _ in range(300):
        state: dict[str, Any] = {}
        if rng.random() < 0.7:  # resume from a previous pass's state
            earlier = EagerWindow(listing, {})
            for _ in range(rng.randrange(1, 12)):
                earlier.admit(_random_row(rng))
            state = earlier.state(final=True)
        lazy, eager = Window(listing, state), EagerWindow(listing, state)
        for _ in range(rng.randrange(1, 6)):
            page = [_random_row(rng) for _ in range(rng.randrange(9))]
            page += [dict(r) for r in rng.sample(page, min(2, len(page)))]  # served twice
            assert lazy.admit_page(page) == [i for i, r in enumerate(page) if eager.admit(r)]
            if rng.random() < 0.8:
                assert lazy.state(final=False) == eager.state(final=False)
        assert lazy.state(final=True) == eager.state(final=True)


def test_fingerprint_is_of_the_content_whatever_its_key_order() -> None:
    row = {"id": "A", "modified": "2024-05-01T12:00:00Z", "v": 1, "nested": {"b": 1, "a": [1, 2]}}
    shuffled = {"nested": {"a": [1, 2], "b": 1}, "v": 1, "modified": "2024-05-01T12:00:00Z", "id": "A"}
    assert fingerprint(row) == fingerprint(shuffled)
    assert fingerprint(row) != fingerprint({**row, "v": 2})
    # pinned: persisted in stream state, so a change of definition must be deliberate (and documented)
    assert fingerprint(row) == hashlib.blake2b(
        b'{"id":"A","modified":"2024-05-01T12:00:00Z","nested":{"a":[1,2],"b":1},"v":1}', digest_size=12
    ).hexdigest()
    # values JSON has no type for are hashed by their text; what orjson cannot encode goes to json
    assert fingerprint({"d": Decimal("1.10"), "t": T0}) != fingerprint({"d": Decimal("1.1"), "t": T0})
    huge = {"id": 2**70, "v": 1}
    assert fingerprint(huge) == fingerprint(dict(huge)) != fingerprint({"id": 2**70 + 1, "v": 1})


def _parse_ts_reference(value: Any) -> datetime | None:
    """parse_ts before its fast path."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        number = float(value)
        ts = datetime.fromtimestamp(number / 1000 if number > 1e11 else number, UTC)
    else:
        try:
            ts = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


@pytest.mark.parametrize("value", [
    "2024-05-01T12:00:00Z", "2024-05-01T12:00:00", "2024-05-01T14:00:00+02:00", "2024-05-01 12:00:00.250Z",
    " 2024-05-01T12:00:00Z ", "2024-05-01T12:00:00z", "2024-05-01", "20240501T120000Z", "1714564800",
    " 1714564800 ", "1714564800000", "", "  ", "garbage", "Z", None, 1714564800, 1714564800.5,
    T0, T0.replace(tzinfo=None), datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2))),
])
def test_parse_ts_fast_path_agrees(value: Any) -> None:
    assert parse_ts(value) == _parse_ts_reference(value)
    parsed = parse_ts(value)
    assert parsed is None or parsed.tzinfo is UTC


def test_json_bodies_keep_every_integer_exact() -> None:
    def body(content: bytes) -> Any:
        return json_body(httpx.Response(200, content=content, request=httpx.Request("GET", "http://h/x")))

    assert body(b'{"items":[{"id":"A","n":1.5,"s":"\\u00e9"}]}') == {
        "items": [{"id": "A", "n": 1.5, "s": "é"}]}
    assert body(b'[18446744073709551616, -9223372036854775809, 12]') == [2**64, -(2**63) - 1, 12]
    assert body(b'{"x": NaN}')["x"] != body(b'{"x": NaN}')["x"]  # the standard library's reading
    assert body('{"s": "ä"}'.encode("utf-16")) == {"s": "ä"}
    with pytest.raises(HttpSourceError, match=r"GET http://h/x: response is not JSON"):
        body(b"<x/>")


def test_getter_is_lookup() -> None:
    doc = {"a": {"b": {"c": 1}}, "x": 2, "l": [1]}
    for path in ["", "x", "a.b.c", "a/b", "a.b.c.d", "l.0", "missing", ".x."]:
        assert getter(path)(doc) == lookup(doc, path)
    assert getter("x")([1]) is None and getter("x")(MappingProxyType({"x": 3})) == 3
