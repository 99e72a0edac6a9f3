from datetime import date, datetime

from connectors.builtin.crm_sql import CrmSqlConfig, CrmSqlConnector, party_from_row
from connectors.protocol import DeadLetterMessage, RecordMessage
from overlay.events import Operation
from overlay.models import PartyKind

ROW = {
    "CUST_NO": "K00000001", "SALUTATION": "Herr", "FIRST_NM": "  JÜRGEN ", "LAST_NM": "MÜLLER",
    "BIRTH_DT": "1971-03-04", "NATL_ID": None, "CUST_TYPE": "P", "CUST_STATUS": "A", "DEL_FLG": "N",
    "UPD_TS": datetime(2024, 5, 1, 12, 0, 0),
}


def test_party_from_legacy_row():
    party = party_from_row(ROW)
    assert party.given_name == "Jürgen" and party.family_name == "Müller"
    assert party.birth_date == date(1971, 3, 4)
    assert party.status == "active" and party.segment == "residential"
    assert party.kind is PartyKind.INDIVIDUAL


def _connector():
    return CrmSqlConnector(CrmSqlConfig(dsn="sqlite+aiosqlite:///:memory:"))


def test_soft_deleted_row_becomes_a_delete_event():
    message = _connector()._to_message(dict(ROW, DEL_FLG="Y"))
    assert isinstance(message, RecordMessage)
    assert message.event.operation is Operation.DELETE and message.event.payload is None


def test_unmappable_row_goes_to_dead_letter_with_reason_and_position():
    message = _connector()._to_message(dict(ROW, BIRTH_DT="31.02.1970"))
    assert isinstance(message, DeadLetterMessage)
    assert message.position["CUST_NO"] == "K00000001"
    assert "1970" in message.original["BIRTH_DT"]
