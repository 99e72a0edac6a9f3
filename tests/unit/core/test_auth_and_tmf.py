from overlay.http.auth import Principal, mask
from overlay.tmf import project_fields


def test_fields_projection_keeps_id_href_type():
    resource = {"id": "1", "href": "/x/1", "@type": "Customer", "name": "A", "status": "active"}
    assert project_fields(resource, "name") == {"id": "1", "href": "/x/1", "@type": "Customer", "name": "A"}
    assert project_fields(resource, None) == resource


def test_mask_removes_personal_data_for_uncleared_principals():
    body = [{"id": "1", "contactMedium": [{"x": 1}], "engagedParty": {"birthDate": "1990-01-01"}}]
    cleared = Principal()
    assert mask(cleared, body) == body
    masked = mask(Principal(channel="partner", sees_personal_data=False), body)
    assert masked == [{"id": "1", "contactMedium": "***", "engagedParty": {"birthDate": "***"}}]


def test_scopes():
    assert Principal().allows("customer:read")
    assert not Principal(scopes=frozenset({"catalog:read"})).allows("customer:read")
