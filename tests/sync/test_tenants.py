from datetime import UTC, datetime

from odoo.addons.csp_connector.microsoft.dates import odoo_datetime
from odoo.addons.csp_connector.sync import tenants

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def customer(tid, name, domain):
    return {"id": tid, "companyProfile": {"tenantId": tid, "companyName": name, "domain": domain}}


def rel(tid, name, status, end, extend="PT0S", rid=None):
    return {
        "id": rid or f"rel-{tid}-{status}",
        "customer": {"tenantId": tid, "displayName": name},
        "status": status,
        "endDateTime": end,
        "autoExtendDuration": extend,
    }


A = "AAAAAAAA-0000-4000-8000-000000000001"
B = "bbbbbbbb-0000-4000-8000-000000000002"
C = "cccccccc-0000-4000-8000-000000000003"
CUSTOMERS = [customer(A, "Alpha Ltd", "alpha.onmicrosoft.com"), customer(B, "Beta", "b.com")]
RELATIONSHIPS = [
    rel(A, "Alpha", "expired", "2025-01-01T00:00:00Z"),
    rel(A, "Alpha", "active", "2027-06-01T00:00:00.1234567Z", extend="P180D"),
    rel(C, "Gamma GDAP only", "active", "2026-12-07T00:00:00Z"),
]


def test_gdap_and_dap_merges_both_sources():
    found = {t.tenant_id: t for t in tenants.merge(CUSTOMERS, RELATIONSHIPS)}
    a, b, c = A.lower(), B, C
    assert found[a].relationship == "both"
    assert found[b].relationship == "reseller" and found[b].gdap_status is None
    assert found[c].relationship == "gdap" and found[c].name == "Gamma GDAP only"
    # the active relationship wins over the expired one
    assert found[a].gdap_status == "active" and found[a].gdap_auto_extend
    assert found[a].gdap_end == datetime(2027, 6, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert found[a].name == "Alpha Ltd"  # Partner Center's company name


def test_gdap_only_ignores_reseller_customers():
    found = {t.tenant_id for t in tenants.merge(CUSTOMERS, RELATIONSHIPS, "gdap_only")}
    assert found == {A.lower(), C}


def test_expiring_relationships_are_flagged_unless_they_auto_extend():
    merged = tenants.merge(CUSTOMERS, RELATIONSHIPS)

    def soon(days=30):
        return [
            t.tenant_id
            for t in merged
            if tenants.ends_soon(t.gdap_status, t.gdap_end, t.gdap_auto_extend, NOW, days)
        ]

    assert soon() == [C]
    assert soon(days=5) == []
    end = datetime(2026, 12, 1, tzinfo=UTC)
    assert tenants.ends_soon("expiring", end, False, NOW)
    assert not tenants.ends_soon("expired", end, False, NOW)


def test_timestamps_without_zone_are_utc():
    assert tenants.parse_datetime("2026-12-07T10:00:00") == datetime(2026, 12, 7, 10, tzinfo=UTC)
    assert tenants.parse_datetime(None) is None


def test_timestamps_in_every_published_shape():
    want = datetime(2026, 1, 31, 10, 0, 0, 123456, tzinfo=UTC)
    for text in ("2026-01-31T10:00:00.1234567Z", "2026-01-31T11:00:00.1234567+01:00",
                 "2026-01-31T11:00:00.1234567+0100", "2026-01-31 T10:00:00.1234567 Z",
                 " 2026-01-31 10:00:00.123456z", "2026-01-31T10:00:00.123456"):  # fmt: skip
        assert tenants.parse_datetime(text) == want, text
    assert tenants.parse_datetime("31/01/2026 10:00") is None, "refused, not raised"
    assert tenants.parse_datetime("0001-01-01T00:00:00Z").year == 1


def test_odoo_datetimes_are_naive_utc_and_never_is_empty():
    # an offset is converted (a sign-in at 11:00 in Paris is 10:00 UTC), not dropped
    assert odoo_datetime("2026-01-31T11:00:00+01:00") == datetime(2026, 1, 31, 10)
    assert odoo_datetime("2026-01-31T10:00:00Z") == datetime(2026, 1, 31, 10)
    assert odoo_datetime("0001-01-01T00:00:00Z") is None, "Microsoft's never"
    assert odoo_datetime("not a date") is None
    assert odoo_datetime(None) is None


def test_customers_are_keyed_on_their_id_and_never_merged_by_a_look_alike():
    twin = customer(B, "Beta (again)", "b.com")
    odd = customer("not-a-guid", "Odd Ltd", "odd.com")
    crossed = {"id": C, "companyProfile": {"tenantId": A, "companyName": "Crossed"}}
    no_profile = {"id": "DDDDDDDD-0000-4000-8000-000000000004"}
    bad_rel = rel("tenant-x", "X", "active", "2027-01-01T00:00:00Z")
    refused = []
    found = tenants.merge([*CUSTOMERS, twin, odd, crossed, no_profile],
                          [*RELATIONSHIPS, bad_rel], refused=refused)  # fmt: skip
    by_id = {t.tenant_id: t for t in found}
    assert set(by_id) == {A.lower(), B, C, no_profile["id"].lower()}
    assert by_id[A.lower()].name == "Alpha Ltd", "the crossed customer did not merge into A"
    assert by_id[C].relationship == "gdap", "nor was it taken for C's customer"
    assert len(refused) == 4
    text = "\n".join(refused)
    for words in ("twice", "not-a-guid", "Crossed", "tenant-x"):
        assert words in text
