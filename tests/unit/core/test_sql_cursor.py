from datetime import UTC, datetime, timedelta

from connectors.sql.cursor import SqlCursor, WindowDeduplicator, row_fingerprint

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_next_poll_starts_an_overlap_before_the_high_water():
    cursor = SqlCursor()
    assert cursor.start_from(timedelta(seconds=10)) is None
    cursor.advance(T0)
    cursor.advance(T0 - timedelta(seconds=5))  # a late row never moves the high water back
    assert cursor.start_from(timedelta(seconds=10)) == T0 - timedelta(seconds=10)


def test_rows_sharing_a_timestamp_are_each_emitted_once():
    dedup = WindowDeduplicator()
    a = {"CUST_NO": "K1", "UPD_TS": T0, "LAST_NM": "A"}
    b = {"CUST_NO": "K2", "UPD_TS": T0, "LAST_NM": "B"}
    for row in (a, b):
        assert dedup.is_new(row["CUST_NO"], T0, row_fingerprint(row))
        dedup.remember(row["CUST_NO"], T0, row_fingerprint(row))
    assert not dedup.is_new("K1", T0, row_fingerprint(a))
    assert not dedup.is_new("K2", T0, row_fingerprint(b))


def test_a_second_change_within_the_same_second_is_not_lost():
    dedup = WindowDeduplicator()
    first = {"CUST_NO": "K1", "UPD_TS": T0, "LAST_NM": "Meier"}
    dedup.remember("K1", T0, row_fingerprint(first))
    second = dict(first, LAST_NM="Maier")
    assert dedup.is_new("K1", T0, row_fingerprint(second))


def test_prune_forgets_only_rows_before_the_horizon():
    dedup = WindowDeduplicator()
    dedup.remember("old", T0 - timedelta(seconds=30), "x")
    dedup.remember("edge", T0 - timedelta(seconds=10), "y")
    dedup.remember("new", T0, "z")
    dedup.prune(T0 - timedelta(seconds=10))
    assert len(dedup) == 2
    assert not dedup.is_new("edge", T0 - timedelta(seconds=10), "y")


def test_cursor_state_round_trips_as_json():
    cursor = SqlCursor()
    cursor.advance(T0)
    assert SqlCursor.model_validate(cursor.model_dump(mode="json")) == cursor
