"""Microsoft Graph v1.0 as served by the sandbox, exercised over real HTTPS."""

from datetime import timedelta

import pytest
import requests
from conftest import graph_token

from mscloud_sandbox.app import Sandbox
from mscloud_sandbox.generate import build_world
from mscloud_sandbox.world import User


def graph_get(sb, tenant_id, path, params=None, headers=None, token=None):
    """GET a Graph path (or an absolute nextLink/deltaLink) as the tenant's app."""
    url = path if path.startswith("https://") else f"{sb.urls['graph']}/v1.0{path}"
    auth = {"Authorization": f"Bearer {token or graph_token(sb, tenant_id)}"}
    return requests.get(
        url, params=params, headers={**auth, **(headers or {})}, verify=sb.ca_path, timeout=30
    )


def graph_post(sb, tenant_id, path, body):
    url = f"{sb.urls['graph']}/v1.0{path}"
    auth = {"Authorization": f"Bearer {graph_token(sb, tenant_id)}"}
    return requests.post(url, json=body, headers=auth, verify=sb.ca_path, timeout=30)


def all_pages(sb, tenant_id, path, params=None, headers=None):
    """Every page of a collection: (pages, last body)."""
    token = graph_token(sb, tenant_id)
    response = graph_get(sb, tenant_id, path, params, headers, token)
    pages = []
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["value"])
        link = body.get("@odata.nextLink")
        if not link:
            return pages, body
        response = graph_get(sb, tenant_id, link, headers=headers, token=token)


def error_code(response):
    return response.json()["error"]["code"]


def customer(sb, *flags_absent, p1=None):
    """A customer tenant with GDAP consent (Graph tokens can be had for it)."""
    special = sb.world.special
    excluded = set(special["no_consent"]) | {special["consent_blocked"]}
    for tenant in sb.world.tenants.values():
        if tenant.id in excluded or tenant.id in flags_absent:
            continue
        if p1 is None or tenant.has_p1 == p1:
            return sb.world.tenant(tenant.id)
    raise LookupError("no such tenant")


@pytest.fixture(scope="module")
def big_sandbox():
    """A sandbox whose last tenant holds 10,000 users."""
    with Sandbox(build_world(seed=1, tenants=2, users=10, big_tenant_users=10000)) as sb:
        yield sb


# -- users --------------------------------------------------------------------------


def test_users_page_through_10000_users_at_top_999(big_sandbox):
    tenant_id = big_sandbox.world.special["big"]
    pages, _ = all_pages(
        big_sandbox, tenant_id, "/users", {"$top": "999", "$select": "id,userPrincipalName"}
    )
    ids = [user["id"] for page in pages for user in page]
    assert len(pages) == 11
    assert all(len(page) == 999 for page in pages[:-1])
    assert len(ids) == len(set(ids)) == len(big_sandbox.world.tenants[tenant_id].users)
    assert len(ids) >= 10000


def test_users_select_serves_only_the_selected_properties(sandbox_session):
    tenant = customer(sandbox_session)
    body = graph_get(
        sandbox_session, tenant.id, "/users", {"$select": "displayName,accountEnabled"}
    ).json()
    assert body["@odata.context"].endswith("$metadata#users(id,displayName,accountEnabled)")
    assert {frozenset(user) for user in body["value"]} == {
        frozenset({"id", "displayName", "accountEnabled"})
    }


def test_users_default_properties_and_page_size(sandbox_session):
    tenant = customer(sandbox_session)
    body = graph_get(sandbox_session, tenant.id, "/users").json()
    first = body["value"][0]
    assert "userPrincipalName" in first
    assert "accountEnabled" not in first
    assert "is_service_account" not in first
    assert len(body["value"]) == min(100, len(tenant.users))


def test_users_unknown_select_property_is_a_bad_request(sandbox_session):
    tenant = customer(sandbox_session)
    response = graph_get(sandbox_session, tenant.id, "/users", {"$select": "is_service_account"})
    assert response.status_code == 400
    assert error_code(response) == "Request_BadRequest"


def test_users_top_above_999_is_refused_like_graph(sandbox_session):
    tenant = customer(sandbox_session)
    response = graph_get(sandbox_session, tenant.id, "/users", {"$top": "1000"})
    assert response.status_code == 400
    assert error_code(response) == "Request_UnsupportedQuery"
    assert "between 1 and 999" in response.json()["error"]["message"]


def test_users_filters(sandbox_session):
    sb = sandbox_session
    tenant = customer(sb)
    users = list(tenant.users.values())
    wanted = [users[0].id, users[3].id, "00000000-0000-0000-0000-000000000000"]
    in_list = ",".join(f"'{i}'" for i in wanted)
    body = graph_get(sb, tenant.id, "/users", {"$filter": f"id in ({in_list})"}).json()
    assert sorted(u["id"] for u in body["value"]) == sorted(wanted[:2])

    upn = users[1].userPrincipalName.upper()
    body = graph_get(sb, tenant.id, "/users", {"$filter": f"userPrincipalName eq '{upn}'"}).json()
    assert [u["id"] for u in body["value"]] == [users[1].id]

    params = {"$filter": "userType eq 'Guest'", "$select": "userPrincipalName,userType"}
    guests = graph_get(sb, tenant.id, "/users", params).json()["value"]
    assert guests
    assert len(guests) == sum(u.userType == "Guest" for u in users)
    assert all("#EXT#" in g["userPrincipalName"] for g in guests)

    params = {"$filter": "accountEnabled eq false", "$select": "accountEnabled"}
    disabled = graph_get(sb, tenant.id, "/users", params).json()["value"]
    assert len(disabled) == sum(not u.accountEnabled for u in users)


def test_users_unsupported_filter_is_refused(sandbox_session):
    tenant = customer(sandbox_session)
    response = graph_get(
        sandbox_session, tenant.id, "/users", {"$filter": "officeLocation eq 'Leeds'"}
    )
    assert response.status_code == 400
    assert error_code(response) == "Request_UnsupportedQuery"


def test_get_user_by_id_or_upn_and_unknown_user(sandbox_session):
    tenant = customer(sandbox_session)
    user = next(iter(tenant.users.values()))
    by_upn = graph_get(sandbox_session, tenant.id, f"/users/{user.userPrincipalName}").json()
    assert by_upn["id"] == user.id
    missing = graph_get(sandbox_session, tenant.id, "/users/nobody@example.com")
    assert missing.status_code == 404
    assert error_code(missing) == "Request_ResourceNotFound"


def test_sign_in_activity_needs_entra_p1(sandbox_session):
    params = {"$select": "id,signInActivity"}
    premium = customer(sandbox_session, p1=True)
    body = graph_get(sandbox_session, premium.id, "/users", params).json()
    assert all("signInActivity" in user for user in body["value"])
    assert any(user["signInActivity"]["lastSignInDateTime"] for user in body["value"])

    basic = customer(sandbox_session, p1=False)
    refused = graph_get(sandbox_session, basic.id, "/users", params)
    assert refused.status_code == 403
    assert error_code(refused) == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    assert "signInActivity" not in graph_get(sandbox_session, basic.id, "/users").json()["value"][0]


def test_member_of_lists_the_users_groups(sandbox_session):
    tenant = customer(sandbox_session)
    group = next(g for g in tenant.groups.values() if g.members)
    body = graph_get(sandbox_session, tenant.id, f"/users/{group.members[0]}/memberOf").json()
    assert group.id in {entry["id"] for entry in body["value"]}
    assert {entry["@odata.type"] for entry in body["value"]} == {"#microsoft.graph.group"}


# -- delta --------------------------------------------------------------------------


def full_delta(sb, tenant_id, kind, params=None, page_size=7):
    prefer = {"Prefer": f"odata.maxpagesize={page_size}"}
    pages, last = all_pages(sb, tenant_id, f"/{kind}/delta", params, prefer)
    return [item for page in pages for item in page], last["@odata.deltaLink"], len(pages)


def follow(sb, tenant_id, link):
    response = graph_get(sb, tenant_id, link)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "@odata.nextLink" not in body
    return body["value"], body["@odata.deltaLink"]


def test_users_delta_initial_pass_then_only_changes(sandbox):
    tenant = customer(sandbox)
    world = sandbox.world
    items, delta_link, pages = full_delta(sandbox, tenant.id, "users", {"$select": "displayName"})
    assert pages > 1
    assert {i["id"] for i in items} == set(tenant.users)
    named = {u.id for u in tenant.users.values() if u.displayName}
    assert all(set(i) == ({"id", "displayName"} if i["id"] in named else {"id"}) for i in items)
    assert named != set(tenant.users), "users without a display name are served without one"
    assert "$deltatoken=" in delta_link

    changed, deleted = list(tenant.users)[:2]
    world.update_user(tenant, changed, displayName="Renamed Person")
    world.delete_user(tenant, deleted)
    added = User(
        id="11111111-2222-4333-8444-555555555555",
        userPrincipalName="new@x.com",
        displayName="New Starter",
    )
    world.upsert_user(tenant, added)

    items, delta_link = follow(sandbox, tenant.id, delta_link)
    by_id = {i["id"]: i for i in items}
    assert set(by_id) == {changed, deleted, added.id}
    assert by_id[changed]["displayName"] == "Renamed Person"
    assert by_id[deleted]["@removed"] == {"reason": "changed"}
    assert set(by_id[added.id]) == {"id", "displayName"}

    assert follow(sandbox, tenant.id, delta_link)[0] == []


def test_delta_entries_of_updated_users_carry_only_the_changed_properties(sandbox):
    tenant = customer(sandbox)
    select = {"$select": "displayName,jobTitle,mobilePhone,mail,assignedLicenses"}
    _items, link, _ = full_delta(sandbox, tenant.id, "users", select)
    user = next(u for u in tenant.users.values() if u.mobilePhone and u.jobTitle)
    sandbox.world.update_user(tenant, user.id, jobTitle="Head of Tests", mobilePhone=None)
    sandbox.world.update_user(tenant, user.id, department="Quality")  # not selected
    quiet = next(u for u in tenant.users.values() if u.id != user.id)
    sandbox.world.update_user(tenant, quiet.id, department="Quality")

    items, link = follow(sandbox, tenant.id, link)
    # absent means unchanged; a cleared property comes as null; unselected changes bring
    # no entry at all
    assert items == [{"id": user.id, "jobTitle": "Head of Tests", "mobilePhone": None}]

    sandbox.world.update_tenant(tenant, delta_full_records=True)
    sandbox.world.update_user(tenant, user.id, jobTitle="Tester")
    (entry,), _ = follow(sandbox, tenant.id, link)
    assert set(entry) == {"id", "displayName", "jobTitle", "mobilePhone", "mail",
                          "assignedLicenses"}  # fmt: skip
    assert entry["mobilePhone"] is None


def test_delta_full_pass_leaves_nulls_out_and_removals_say_why(sandbox):
    tenant = customer(sandbox)
    items, link, _ = full_delta(sandbox, tenant.id, "users", {"$select": "mobilePhone,mail"})
    without_phone = {u.id for u in tenant.users.values() if u.mobilePhone is None}
    assert without_phone
    assert all("mobilePhone" not in i for i in items if i["id"] in without_phone)

    soft, hard, restored = list(tenant.users)[3:6]
    world = sandbox.world
    world.delete_user(tenant, soft)
    world.delete_user(tenant, hard, permanent=True)
    world.delete_user(tenant, restored)
    items, link = follow(sandbox, tenant.id, link)
    assert {i["id"]: i["@removed"]["reason"] for i in items} == {
        soft: "changed",
        hard: "deleted",
        restored: "changed",
    }

    back = world.restore_user(tenant, restored)
    world.delete_user(tenant, soft, permanent=True)  # emptied from deleted items
    items, _ = follow(sandbox, tenant.id, link)
    by_id = {i["id"]: i for i in items}
    assert by_id[soft]["@removed"] == {"reason": "deleted"}
    whole = {"id": restored, "mail": back.mail, "mobilePhone": back.mobilePhone}
    assert by_id[restored] == {k: v for k, v in whole.items() if v}, "a whole user again"


def test_groups_delta_spreads_a_large_groups_members_over_pages(sandbox):
    tenant = customer(sandbox)
    group = max(tenant.groups.values(), key=lambda g: len(g.members))
    assert len(group.members) >= 5
    sandbox.world.update_tenant(tenant, delta_members_per_entry=2)
    prefer = {"Prefer": "odata.maxpagesize=50"}
    pages, last = all_pages(sandbox, tenant.id, "/groups/delta", None, prefer)
    holding = [page for page in pages if any(e["id"] == group.id for e in page)]
    assert len(holding) >= 3, "the group's members come over several pages"
    entries = [e for page in pages for e in page if e["id"] == group.id]
    assert entries[0]["displayName"] == group.displayName
    assert all(set(e) == {"id", "members@delta"} for e in entries[1:])
    assert all(len(e["members@delta"]) <= 2 for e in entries)
    seen = [m["id"] for e in entries for m in e["members@delta"]]
    assert sorted(seen) == sorted(group.members)

    # a later round: only the changes, also split
    newcomers = [u for u in tenant.users if u not in group.members][:3]
    sandbox.world.set_group_members(tenant, group.id, [*group.members[1:], *newcomers])
    pages, _ = all_pages(sandbox, tenant.id, last["@odata.deltaLink"], None, prefer)
    entries = [e for page in pages for e in page if e["id"] == group.id]
    assert len(entries) == 2 and len(pages) == 2
    changes = [m for e in entries for m in e["members@delta"]]
    assert sorted(m["id"] for m in changes if "@removed" not in m) == sorted(newcomers)
    assert len([m for m in changes if "@removed" in m]) == 1


def test_delta_token_latest_returns_no_objects(sandbox):
    tenant = customer(sandbox)
    body = graph_get(sandbox, tenant.id, "/users/delta", {"$deltaToken": "latest"}).json()
    assert body["value"] == []
    sandbox.world.update_user(tenant, next(iter(tenant.users)), jobTitle="Chief Tester")
    items, _ = follow(sandbox, tenant.id, body["@odata.deltaLink"])
    assert [i["id"] for i in items] == [next(iter(tenant.users))]


def test_delta_token_expires_after_seven_days(sandbox):
    tenant = customer(sandbox)
    link = graph_get(sandbox, tenant.id, "/users/delta", {"$deltatoken": "latest"}).json()[
        "@odata.deltaLink"
    ]
    sandbox.clock.advance(timedelta(days=6, hours=23).total_seconds())
    assert graph_get(sandbox, tenant.id, link).status_code == 200
    sandbox.clock.advance(timedelta(hours=2).total_seconds())
    expired = graph_get(sandbox, tenant.id, link)
    assert expired.status_code == 410
    assert error_code(expired) == "syncStateNotFound"
    assert "/v1.0/users/delta" in expired.headers["Location"]


def test_delta_token_of_another_tenant_is_refused(sandbox):
    first = customer(sandbox)
    second = customer(sandbox, first.id)
    link = graph_get(sandbox, first.id, "/users/delta", {"$deltatoken": "latest"}).json()[
        "@odata.deltaLink"
    ]
    assert graph_get(sandbox, second.id, link).status_code == 400
    tampered = link.replace("$deltatoken=", "$deltatoken=x")
    assert graph_get(sandbox, first.id, tampered).status_code == 400


def test_groups_delta_reports_member_changes(sandbox):
    tenant = customer(sandbox)
    items, delta_link, _ = full_delta(sandbox, tenant.id, "groups")
    group = next(g for g in tenant.groups.values() if len(g.members) >= 2)
    initial = next(i for i in items if i["id"] == group.id)
    assert {m["id"] for m in initial["members@delta"]} == set(group.members)

    removed = group.members[0]
    newcomer = next(u for u in tenant.users if u not in group.members)
    sandbox.world.set_group_members(tenant, group.id, [*group.members[1:], newcomer])

    items, _ = follow(sandbox, tenant.id, delta_link)
    assert [i["id"] for i in items] == [group.id]
    members = {m["id"]: m for m in items[0]["members@delta"]}
    assert set(members) == {removed, newcomer}
    assert members[removed]["@removed"] == {"reason": "deleted"}
    assert "@removed" not in members[newcomer]


# -- licences -----------------------------------------------------------------------


def skus_by_id(sb, tenant_id):
    body = graph_get(sb, tenant_id, "/subscribedSkus").json()
    return {sku["skuId"]: sku for sku in body["value"]}


def test_subscribed_skus_count_the_users_licences(sandbox_session):
    tenant = customer(sandbox_session)
    skus = skus_by_id(sandbox_session, tenant.id)
    pages, _ = all_pages(sandbox_session, tenant.id, "/users", {"$select": "assignedLicenses"})
    held = {}
    for user in (u for page in pages for u in page):
        for lic in user["assignedLicenses"]:
            held[lic["skuId"]] = held.get(lic["skuId"], 0) + 1
    assert held
    assert {sku_id: sku["consumedUnits"] for sku_id, sku in skus.items()} == held | {
        s: 0 for s in skus if s not in held
    }
    for sku in skus.values():
        assert sku["id"] == f"{tenant.id}_{sku['skuId']}"
        assert sku["skuPartNumber"]
        assert (
            sku["consumedUnits"] <= sku["prepaidUnits"]["enabled"]
            or sku["prepaidUnits"]["suspended"]
        )


def test_assign_license_updates_user_delta_and_consumed_units(sandbox):
    tenant = customer(sandbox)
    skus = skus_by_id(sandbox, tenant.id)
    sku = next(s for s in skus.values() if s["prepaidUnits"]["enabled"] > s["consumedUnits"])
    user = next(
        u
        for u in tenant.users.values()
        if sku["skuId"] not in {lic["skuId"] for lic in u.assignedLicenses}
    )
    latest = {"$deltatoken": "latest", "$select": "assignedLicenses"}
    delta_link = graph_get(sandbox, tenant.id, "/users/delta", latest).json()["@odata.deltaLink"]
    response = graph_post(
        sandbox,
        tenant.id,
        f"/users/{user.id}/assignLicense",
        {"addLicenses": [{"skuId": sku["skuId"], "disabledPlans": []}], "removeLicenses": []},
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == user.id
    assert skus_by_id(sandbox, tenant.id)[sku["skuId"]]["consumedUnits"] == (
        sku["consumedUnits"] + 1
    )
    assert [i["id"] for i in follow(sandbox, tenant.id, delta_link)[0]] == [user.id]

    response = graph_post(
        sandbox,
        tenant.id,
        f"/users/{user.id}/assignLicense",
        {"addLicenses": [], "removeLicenses": [sku["skuId"]]},
    )
    assert response.status_code == 200
    assert skus_by_id(sandbox, tenant.id)[sku["skuId"]]["consumedUnits"] == sku["consumedUnits"]


def test_assign_license_refuses_unknown_and_exhausted_skus(sandbox):
    tenant = customer(sandbox)
    user = next(iter(tenant.users.values()))
    unknown = "99999999-9999-4999-8999-999999999999"
    response = graph_post(
        sandbox,
        tenant.id,
        f"/users/{user.id}/assignLicense",
        {"addLicenses": [{"skuId": unknown, "disabledPlans": []}], "removeLicenses": []},
    )
    assert response.status_code == 400
    assert "does not correspond to a valid company License" in response.json()["error"]["message"]

    skus = skus_by_id(sandbox, tenant.id)
    sku_id = next(iter(skus))
    for subscription in tenant.subscriptions:
        if subscription.skuId == sku_id:
            subscription.quantity = 0
    response = graph_post(
        sandbox,
        tenant.id,
        f"/users/{next(reversed(tenant.users))}/assignLicense",
        {"addLicenses": [{"skuId": sku_id, "disabledPlans": []}], "removeLicenses": []},
    )
    assert response.status_code == 400
    assert error_code(response) == "Request_BadRequest"
    assert "does not have any available licenses" in response.json()["error"]["message"]


# -- groups, devices, organization ----------------------------------------------------


def test_groups_and_members_page_with_select(sandbox_session):
    tenant = customer(sandbox_session)
    pages, _ = all_pages(sandbox_session, tenant.id, "/groups", {"$top": "3"})
    assert {g["id"] for page in pages for g in page} == set(tenant.groups)
    group = max(tenant.groups.values(), key=lambda g: len(g.members))
    params = {"$top": "4", "$select": "userPrincipalName"}
    pages, _ = all_pages(sandbox_session, tenant.id, f"/groups/{group.id}/members", params)
    members = [m for page in pages for m in page]
    assert [m["id"] for m in members] == group.members
    assert set(members[0]) == {"@odata.type", "id", "userPrincipalName"}


def test_managed_devices_page_and_filter(sandbox_session):
    tenant = customer(sandbox_session)
    pages, _ = all_pages(
        sandbox_session, tenant.id, "/deviceManagement/managedDevices", {"$top": "5"}
    )
    assert len(pages) > 1
    assert {d["id"] for page in pages for d in page} == set(tenant.devices)
    params = {"$filter": "operatingSystem eq 'Windows'", "$select": "deviceName,operatingSystem"}
    body = graph_get(sandbox_session, tenant.id, "/deviceManagement/managedDevices", params).json()
    windows = [d for d in tenant.devices.values() if d.operatingSystem == "Windows"]
    assert len(body["value"]) == len(windows) > 0
    assert {d["operatingSystem"] for d in body["value"]} == {"Windows"}
    one = graph_get(sandbox_session, tenant.id, f"/deviceManagement/managedDevices/{windows[0].id}")
    assert one.json()["serialNumber"] == windows[0].serialNumber


def test_organization_describes_the_tenant(sandbox_session):
    tenant = customer(sandbox_session)
    org = graph_get(sandbox_session, tenant.id, "/organization").json()["value"][0]
    assert org["id"] == tenant.id
    assert org["displayName"] == tenant.company_name
    assert tenant.default_domain in {d["name"] for d in org["verifiedDomains"]}


# -- GDAP -------------------------------------------------------------------------------


def test_delegated_admin_relationships_for_the_partner_only(sandbox_session):
    sb = sandbox_session
    partner = sb.world.partner_tenant_id
    gdap = [t for t in sb.world.tenants.values() if t.gdap is not None]
    pages, _ = all_pages(
        sb, partner, "/tenantRelationships/delegatedAdminRelationships", {"$top": "2"}
    )
    relationships = [r for page in pages for r in page]
    assert {r["customer"]["tenantId"] for r in relationships} == {t.id for t in gdap}
    assert all(r["accessDetails"]["unifiedRoles"] for r in relationships)

    params = {"$filter": "status eq 'active'"}
    active = graph_get(sb, partner, "/tenantRelationships/delegatedAdminRelationships", params)
    assert {r["id"] for r in active.json()["value"]} == {
        t.gdap.id for t in gdap if t.gdap.status == "active"
    }

    one = graph_get(
        sb, partner, f"/tenantRelationships/delegatedAdminRelationships/{gdap[0].gdap.id}"
    )
    assert one.json()["customer"]["displayName"] == gdap[0].company_name
    assignments = graph_get(
        sb,
        partner,
        f"/tenantRelationships/delegatedAdminRelationships/{gdap[0].gdap.id}/accessAssignments",
    ).json()["value"]
    assert len(assignments) == len(gdap[0].gdap.access_assignments)

    refused = graph_get(sb, customer(sb).id, "/tenantRelationships/delegatedAdminRelationships")
    assert refused.status_code == 403
