"""The generated world: deterministic, realistic, with every special case in place."""

import csv
from collections import Counter
from datetime import UTC, datetime, timedelta

from mscloud_sandbox.generate import DATA_DIR, build_world, catalogue

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _world(**kwargs):
    return build_world(**{"seed": 1, "tenants": 8, "users": 40, "now": NOW, **kwargs})


def _snapshot(tenant):
    tenant.ensure_loaded()
    return (
        [
            (u.id, u.userPrincipalName, tuple(lic["skuId"] for lic in u.assignedLicenses))
            for u in tenant.users.values()
        ],
        [(g.id, g.displayName, tuple(g.members)) for g in tenant.groups.values()],
        [(d.id, d.serialNumber, d.userId) for d in tenant.devices.values()],
    )


def test_same_seed_gives_same_world_and_other_seed_differs():
    first, second, other = _world(), _world(), _world(seed=2)
    assert list(first.tenants) == list(second.tenants)
    assert [t.company_name for t in first.tenants.values()] == [
        t.company_name for t in second.tenants.values()
    ]
    assert first.partner_tenant_id == second.partner_tenant_id
    assert first.gdap_app.client_id == second.gdap_app.client_id
    for a, b in zip(first.tenants.values(), second.tenants.values(), strict=True):
        assert [s.id for s in a.subscriptions] == [s.id for s in b.subscriptions]
    assert set(first.tenants).isdisjoint(other.tenants)
    assert first.gdap_app.client_id != other.gdap_app.client_id


def test_tenant_contents_do_not_depend_on_loading_order():
    forward, backward = _world(), _world()
    backward_snapshots = {tid: _snapshot(t) for tid, t in reversed(backward.tenants.items())}
    for tid, tenant in forward.tenants.items():
        assert _snapshot(tenant) == backward_snapshots[tid]


def test_loading_is_lazy():
    world = _world()
    tenant = next(iter(world.tenants.values()))
    assert tenant.users == {}
    assert len(world.tenant(tenant.id).users) == 40


def test_special_tenants():
    world = _world()
    special = world.special
    tenants = world.tenants
    first, second = (tenants[tid] for tid in special["two_tenant_company"])
    assert second.company_name.startswith(first.company_name)
    assert first.domains[0].split(".")[0] == second.domains[0].split(".")[0]
    assert first.country != second.country

    expiring = tenants[special["expiring_gdap"]].gdap
    assert datetime.fromisoformat(expiring.endDateTime) == NOW + timedelta(days=10)

    assert special["gdap_only"]
    for tid in special["gdap_only"]:
        assert not tenants[tid].reseller and tenants[tid].gdap is not None
    for tid in special["reseller_only"]:
        assert tenants[tid].reseller and tenants[tid].gdap is None
    for tid in special["no_consent"] + [special["consent_blocked"]]:
        assert world.gdap_app.client_id not in tenants[tid].consented_apps
    assert tenants[special["consent_blocked"]].consent_blocked
    consented = [t for t in tenants.values() if world.gdap_app.client_id in t.consented_apps]
    assert len(consented) >= len(tenants) // 2

    p1_skus = {s.sku_id for s in catalogue().values() if s.entra_p1}
    for tenant in tenants.values():
        owns_p1 = any(s.skuId in p1_skus for s in tenant.subscriptions)
        assert owns_p1 == tenant.has_p1
        assert (tenant.id in special["no_p1"]) == (not tenant.has_p1)

    tid, sid = special["suspended_subscription"]
    assert next(s for s in tenants[tid].subscriptions if s.id == sid).status == "suspended"
    tid, sid = special["scheduled_subscription"]
    sub = next(s for s in tenants[tid].subscriptions if s.id == sid)
    assert sub.scheduledNextTermInstructions["quantity"] > sub.quantity
    tid, sid = special["refundable_subscription"]
    sub = next(s for s in tenants[tid].subscriptions if s.id == sid)
    until = datetime.fromisoformat(sub.refundable[0]["allowedUntilDateTime"])
    assert NOW < until <= NOW + timedelta(days=7)
    assert {t.country for t in tenants.values()} <= {"GB", "US", "AU", "CA", "NZ"}


def test_users_groups_and_devices_are_realistic():
    world = _world()
    tenant = world.tenant(world.special["two_tenant_company"][0])
    users = list(tenant.users.values())
    guests = [u for u in users if u.userType == "Guest"]
    services = [u for u in users if u.is_service_account]
    members = [u for u in users if u.userType == "Member" and not u.is_service_account]
    assert guests and all("#EXT#@" in u.userPrincipalName for u in guests)
    assert {u.userPrincipalName.split("@")[0] for u in services} >= {"svc-backup", "scanner"}
    assert all(not u.assignedLicenses for u in services + guests)
    assert any(not u.accountEnabled for u in members)
    assert all(u.userPrincipalName.endswith("@" + tenant.domains[0]) for u in members)
    assert len({u.userPrincipalName for u in users}) == len(users)
    assert 2 <= len({u.officeLocation for u in members}) <= 4
    assert all(u.signInActivity is not None for u in users)  # P1 tenant
    no_p1 = world.tenant(world.special["no_p1"][0])
    assert all(u.signInActivity is None for u in no_p1.users.values())

    names = [g.displayName for g in tenant.groups.values()]
    assert names[:2] == ["All Staff", "Device Admins"]
    assert any(name.startswith("Licensed - ") for name in names)
    assert all(set(g.members) <= set(tenant.users) for g in tenant.groups.values())

    devices = list(tenant.devices.values())
    assert len(devices) == 32
    systems = Counter(d.operatingSystem for d in devices)
    assert systems.keys() >= {"Windows", "iOS", "Android"}
    world_devices = [d for t in world.tenants.values() for d in world.tenant(t.id).devices.values()]
    assert any(d.managementAgent == "msSense" for d in world_devices)
    assert any(d.userId is None for d in world_devices)
    assert all(d.userId in tenant.users for d in devices if d.userId)


def test_assigned_licences_never_exceed_purchased_quantity():
    world = _world(users=60)
    for tenant in world.tenants.values():
        world.tenant(tenant.id)
        bought = Counter()
        for sub in tenant.subscriptions:
            bought[sub.skuId] += sub.quantity
        used = Counter(lic["skuId"] for u in tenant.users.values() for lic in u.assignedLicenses)
        assert used, tenant.company_name
        for sku_id, count in used.items():
            assert count <= bought[sku_id], (tenant.company_name, sku_id)


def test_subscriptions_have_terms_windows_and_free_skus():
    world = _world()
    subs = [s for t in world.tenants.values() for s in t.subscriptions]
    assert {s.termDuration for s in subs} >= {"P1M", "P1Y"}
    assert {s.billingCycle for s in subs} >= {"monthly", "annual", "none"}
    assert any(catalogue()[s.skuId].free for s in subs)
    for sub in subs:
        start = datetime.fromisoformat(sub.effectiveStartDate)
        end = datetime.fromisoformat(sub.commitmentEndDate)
        assert start <= NOW <= end + timedelta(days=1)
    for tenant in world.tenants.values():
        paid = [s for s in tenant.subscriptions if s.billingCycle != "none"]
        assert 2 <= len(paid) <= 6
    assert world.audit_records
    assert all(r.operationDate <= "2026-03-01T00:00:00Z" for r in world.audit_records)


def test_parameters_change_sizes():
    world = build_world(seed=3, tenants=2, users=12, groups=3, devices=5, subscriptions=4, now=NOW)
    for tenant in world.tenants.values():
        world.tenant(tenant.id)
        assert (len(tenant.users), len(tenant.groups), len(tenant.devices)) == (12, 3, 5)
        assert len([s for s in tenant.subscriptions if s.billingCycle != "none"]) >= 4


def test_big_tenant_loads_on_first_use():
    # its speed is the benchmarks' business (no timed tests): here, that it loads whole
    world = build_world(seed=1, tenants=2, users=10, big_tenant_users=10_000, now=NOW)
    big = world.tenants[world.special["big"]]
    assert len(world.tenants) == 3 and big.n_users == 10_000
    assert not big.users  # nothing generated before the tenant is first used
    world.tenant(big.id)
    assert len(big.users) == 10_000


def test_sku_catalogue_file():
    with open(DATA_DIR / "skus.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert 30 <= len(rows) <= 60
    assert len({r["sku_id"] for r in rows}) == len(rows)
    assert len({r["nce_product_id"] for r in rows}) == len(rows)
    by_part = {r["sku_part_number"]: r for r in rows}
    assert by_part["O365_BUSINESS_ESSENTIALS"]["product_name"] == "Microsoft 365 Business Basic"
    assert by_part["SPE_E3"]["sku_id"] == "05e9a617-0261-4cee-bb44-138d3ef5d965"
    assert by_part["FLOW_FREE"]["free"] == "true"
    assert by_part["TEAMS_EXPLORATORY"]["free"] == "true"
    for row in rows:
        assert len(row["nce_product_id"]) == 12 and row["nce_product_id"].startswith("CFQ7TTC0")
        assert (float(row["list_price_usd"]) == 0) == (row["free"] == "true")


def test_a_few_users_per_tenant_lack_a_display_name_or_mail():
    world = build_world(seed=3, tenants=3, users=40)
    for tenant in world.tenants.values():
        users = list(world.tenant(tenant.id).users.values())
        nameless = [u for u in users if not u.displayName]
        mailless = [u for u in users if not u.mail]
        assert nameless and mailless
        assert any(not (u.givenName or u.surname) for u in nameless), "only a sign-in name"
        assert len(nameless) + len(mailless) <= 4, "a few, not many"
        assert all(u.userPrincipalName for u in users)
    again = build_world(seed=3, tenants=3, users=40)
    first = next(iter(world.tenants))
    assert [u.displayName for u in world.tenant(first).users.values()] == [
        u.displayName for u in again.tenant(first).users.values()
    ], "seeded"
