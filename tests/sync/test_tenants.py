from datetime import UTC, datetime

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


CUSTOMERS = [customer("A", "Alpha Ltd", "alpha.onmicrosoft.com"), customer("B", "Beta", "b.com")]
RELATIONSHIPS = [
    rel("A", "Alpha", "expired", "2025-01-01T00:00:00Z"),
    rel("A", "Alpha", "active", "2027-06-01T00:00:00.1234567Z", extend="P180D"),
    rel("C", "Gamma GDAP only", "active", "2026-12-07T00:00:00Z"),
]


def test_gdap_and_dap_merges_both_sources():
    found = {t.tenant_id.upper(): t for t in tenants.merge(CUSTOMERS, RELATIONSHIPS)}
    assert found["A"].relationship == "both"
    assert found["B"].relationship == "reseller" and found["B"].gdap_status is None
    assert found["C"].relationship == "gdap" and found["C"].name == "Gamma GDAP only"
    # the active relationship wins over the expired one
    assert found["A"].gdap_status == "active" and found["A"].gdap_auto_extend
    assert found["A"].gdap_end == datetime(2027, 6, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert found["A"].name == "Alpha Ltd"  # Partner Center's company name


def test_gdap_only_ignores_reseller_customers():
    found = {t.tenant_id.upper() for t in tenants.merge(CUSTOMERS, RELATIONSHIPS, "gdap_only")}
    assert found == {"A", "C"}


def test_expiring_relationships_are_flagged_unless_they_auto_extend():
    merged = tenants.merge(CUSTOMERS, RELATIONSHIPS)

    def soon(days=30):
        return [
            t.tenant_id
            for t in merged
            if tenants.ends_soon(t.gdap_status, t.gdap_end, t.gdap_auto_extend, NOW, days)
        ]

    assert soon() == ["c"]
    assert soon(days=5) == []
    end = datetime(2026, 12, 1, tzinfo=UTC)
    assert tenants.ends_soon("expiring", end, False, NOW)
    assert not tenants.ends_soon("expired", end, False, NOW)


def test_timestamps_without_zone_are_utc():
    assert tenants.parse_datetime("2026-12-07T10:00:00") == datetime(2026, 12, 7, 10, tzinfo=UTC)
    assert tenants.parse_datetime(None) is None
