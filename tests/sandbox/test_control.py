"""The control API: state, clock, tenant objects, consent, flags, webhooks."""

import socket
import time
from datetime import UTC, datetime

import pytest
import requests
import trustme
from conftest import GRAPH_SCOPE, msal_app

from mscloud_sandbox import webhooks
from mscloud_sandbox.generate import build_world
from mscloud_sandbox.graph import sku_table


@pytest.fixture
def control(sandbox):
    """call(method, path, json=None) -> response, against sandbox's control API."""

    def call(method, path, json=None):
        url = f"{sandbox.urls['control']}{path}"
        return requests.request(method, url, json=json, verify=sandbox.ca_path)

    return call


def first_tenant(world):
    return next(iter(world.tenants.values()))


def test_state_summarises_world(sandbox, control):
    state = control("GET", "/state").json()
    world = sandbox.world
    assert state["partner"]["tenant_id"] == world.partner_tenant_id
    assert state["apps"]["gdap"]["client_id"] == world.gdap_app.client_id
    assert (
        state["apps"]["partner_center"]["client_secret"] == world.partner_center_app.client_secret
    )
    assert [t["id"] for t in state["tenants"]] == list(world.tenants)
    assert state["urls"]["graph"] == f"{sandbox.base_url}/graph"
    summaries = {t["id"]: t for t in state["tenants"]}
    for tenant in world.tenants.values():
        summary = summaries[tenant.id]
        assert summary["consent_blocked"] == tenant.consent_blocked
        assert summary["consented_apps"] == sorted(tenant.consented_apps)
        assert summary["gdap"] == (
            tenant.gdap
            and {
                "id": tenant.gdap.id,
                "status": tenant.gdap.status,
                "endDateTime": tenant.gdap.endDateTime,
            }
        )


def test_clock_advance_and_set(sandbox, control):
    before = sandbox.clock.now()
    answer = control("POST", "/clock", {"advance_seconds": 86400}).json()
    assert (sandbox.clock.now() - before).total_seconds() >= 86400
    assert answer["now"].endswith("Z")
    control("POST", "/clock", {"set": "2030-01-02T03:04:05Z"})
    assert sandbox.clock.now().replace(microsecond=0) >= datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert sandbox.clock.now().year == 2030
    assert control("POST", "/clock", {"set": "tomorrow"}).status_code == 400


def test_clock_expires_tokens(sandbox, control):
    result = msal_app(sandbox, sandbox.world.gdap_app).acquire_token_for_client([GRAPH_SCOPE])
    token = result["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    customer_free = f"{sandbox.urls['graph']}/v1.0/tenantRelationships/delegatedAdminRelationships"
    assert requests.get(customer_free, headers=headers, verify=sandbox.ca_path).status_code == 200
    control("POST", "/clock", {"advance_seconds": 3600})
    expired = requests.get(customer_free, headers=headers, verify=sandbox.ca_path)
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_user_create_patch_delete(sandbox, control):
    tenant = first_tenant(sandbox.world)
    body = {
        "userPrincipalName": f"new.starter@{tenant.default_domain}",
        "displayName": "New Starter",
        "jobTitle": "Engineer",
        "passwordProfile": {"password": "ignored"},
    }
    created = control("POST", f"/tenants/{tenant.id}/users", body)
    assert created.status_code == 201
    user_id = created.json()["id"]
    assert tenant.users[user_id].displayName == "New Starter"
    seq = tenant.seq

    patched = control("PATCH", f"/tenants/{tenant.id}/users/{user_id}", {"jobTitle": "Lead"})
    assert patched.json()["jobTitle"] == "Lead"
    assert tenant.users[user_id].jobTitle == "Lead"
    assert tenant.changed_since("user", seq) == {user_id: False}

    assert control("DELETE", f"/tenants/{tenant.id}/users/{user_id}").status_code == 204
    assert user_id not in tenant.users
    assert tenant.changed_since("user", seq) == {user_id: "changed"}, "soft delete"

    restored = control("POST", f"/tenants/{tenant.id}/users/{user_id}/restore")
    assert restored.json()["jobTitle"] == "Lead"
    assert tenant.changed_since("user", seq) == {user_id: False}
    assert control("DELETE", f"/tenants/{tenant.id}/users/{user_id}?permanent=true").ok
    assert tenant.changed_since("user", seq) == {user_id: "deleted"}
    assert control("POST", f"/tenants/{tenant.id}/users/{user_id}/restore").status_code == 404
    assert control("DELETE", f"/tenants/{tenant.id}/users/{user_id}").status_code == 404


def test_user_validation(sandbox, control):
    tenant = first_tenant(sandbox.world)
    user_id = next(iter(sandbox.world.tenant(tenant.id).users))
    bad_field = control("PATCH", f"/tenants/{tenant.id}/users/{user_id}", {"shoeSize": 9})
    assert bad_field.status_code == 400
    missing = control("POST", f"/tenants/{tenant.id}/users", {"displayName": "No UPN"})
    assert missing.status_code == 400
    assert control("POST", "/tenants/not-a-tenant/users", {}).status_code == 404


def test_group_members_and_device(sandbox, control):
    tenant = sandbox.world.tenant(first_tenant(sandbox.world).id)
    members = list(tenant.users)[:2]
    group = control("POST", f"/tenants/{tenant.id}/groups", {"displayName": "Sales"}).json()
    seq = tenant.seq
    patched = control(
        "PATCH",
        f"/tenants/{tenant.id}/groups/{group['id']}",
        {"members": members, "description": "Sales team"},
    )
    assert patched.json()["members"] == members
    assert tenant.groups[group["id"]].description == "Sales team"
    assert group["id"] in tenant.changed_since("group", seq)

    device = control(
        "POST", f"/tenants/{tenant.id}/devices", {"deviceName": "LAPTOP-01", "osVersion": "11"}
    )
    assert device.status_code == 201
    device_id = device.json()["id"]
    assert tenant.devices[device_id].deviceName == "LAPTOP-01"
    control("PATCH", f"/tenants/{tenant.id}/devices/{device_id}", {"complianceState": "unknown"})
    assert tenant.devices[device_id].complianceState == "unknown"
    assert control("DELETE", f"/tenants/{tenant.id}/devices/{device_id}").status_code == 204
    assert device_id not in tenant.devices


def test_subscriptions(sandbox, control):
    tenant = first_tenant(sandbox.world)
    count = len(tenant.subscriptions)
    body = {
        "offerId": "CFQ7TTC0LH18:0001",
        "offerName": "Microsoft 365 Business Basic",
        "skuId": "3b555118-da6a-4418-894f-7df1e2096870",
        "quantity": 5,
    }
    created = control("POST", f"/tenants/{tenant.id}/subscriptions", body)
    assert created.status_code == 201
    sub_id = created.json()["id"]
    assert len(tenant.subscriptions) == count + 1
    control("PATCH", f"/tenants/{tenant.id}/subscriptions/{sub_id}", {"status": "suspended"})
    assert next(s for s in tenant.subscriptions if s.id == sub_id).status == "suspended"
    assert control("DELETE", f"/tenants/{tenant.id}/subscriptions/{sub_id}").status_code == 204
    assert len(tenant.subscriptions) == count


def test_licences_filled_to_a_number_of_holders_within_their_seats(sandbox, control):
    tenant = next(t for t in sandbox.world.tenants.values() if t.n_users >= 20)
    tenant.ensure_loaded()
    body = {"offerId": "CFQ7TTC0LH1G:0001", "skuId": "CDD28E44-67E3-425E-BE4C-737FAB2899D3",
            "quantity": 4}  # fmt: skip
    control("POST", f"/tenants/{tenant.id}/subscriptions", body)
    filled = control("POST", f"/tenants/{tenant.id}/licences/fill", {"per_sku": 6}).json()
    sku = body["skuId"].lower()
    assert filled[sku] == 4, "no more holders than seats"
    holders = [
        u for u in tenant.users.values()
        if any(lic["skuId"].lower() == sku for lic in u.assignedLicenses)
    ]  # fmt: skip
    assert len(holders) == 4
    assert all(u.userType == "Member" and u.accountEnabled for u in holders)
    seats = {key: sum(units.values()) for key, units in sku_table(tenant).items()}
    assert all(count >= min(6, seats[key]) for key, count in filled.items())
    # filling again changes nothing
    again = control("POST", f"/tenants/{tenant.id}/licences/fill", {"per_sku": 6}).json()
    assert again == filled


def test_consent_and_tenant_flags(sandbox, control):
    world = sandbox.world
    tenant = next(t for t in world.tenants.values() if world.gdap_app.client_id in t.consented_apps)
    client = msal_app(sandbox, world.gdap_app, tenant.id)
    control("DELETE", f"/tenants/{tenant.id}/consent")
    assert tenant.consented_apps == set()
    assert client.acquire_token_for_client([GRAPH_SCOPE])["error_codes"] == [7000229]
    granted = control("POST", f"/tenants/{tenant.id}/consent", {"apps": [world.gdap_app.client_id]})
    assert granted.json()["consented_apps"] == [world.gdap_app.client_id]

    changed = control(
        "PATCH",
        f"/tenants/{tenant.id}",
        {"consent_blocked": True, "has_p1": False, "gdap": {"status": "terminated"}},
    ).json()
    assert (changed["consent_blocked"], changed["has_p1"]) == (True, False)
    assert tenant.gdap.status == changed["gdap"]["status"] == "terminated"
    assert control("PATCH", f"/tenants/{tenant.id}", {"id": "x"}).status_code == 400


def test_webhook_send_without_registration(sandbox, control):
    tenant = first_tenant(sandbox.world)
    answer = control(
        "POST", "/webhooks/send", {"EventName": "subscription-updated", "customerId": tenant.id}
    )
    assert answer.status_code == 200
    assert answer.json()["delivered"] is False
    assert control("POST", "/webhooks/send", {}).status_code == 400


def test_reset_starts_the_sandbox_anew_on_the_same_port(sandbox, control):
    """What a test session sharing one sandbox process does between test classes."""
    tenant = first_tenant(sandbox.world)
    result = msal_app(sandbox, sandbox.world.gdap_app).acquire_token_for_client([GRAPH_SCOPE])
    headers = {"Authorization": f"Bearer {result['access_token']}"}
    customer_free = f"{sandbox.urls['graph']}/v1.0/tenantRelationships/delegatedAdminRelationships"
    user = {"userPrincipalName": "new@example.com"}
    assert control("POST", f"/tenants/{tenant.id}/users", user).status_code == 201
    control("POST", "/clock", {"advance_seconds": 86400 * 40})
    assert control("POST", "/faults", {"service": "graph", "status": 503}).status_code == 201
    pem = trustme.CA(organization_name="Someone Else").cert_pem.bytes().decode()
    assert control("POST", "/webhooks/certificates", {"name": "rogue", "pem": pem}).ok
    sandbox.world.webhook = {"WebhookUrl": "https://127.0.0.1:9/hook", "WebhookEvents": []}
    port = sandbox.port

    answer = control("POST", "/reset", {"tenants": 3, "users": 5})

    assert answer.status_code == 200, answer.text
    state = answer.json()
    expected = build_world(seed=1, tenants=3, users=5)
    assert [t["id"] for t in state["tenants"]] == list(expected.tenants)
    assert [t["users"] for t in state["tenants"]] == [5, 5, 5]
    assert state["partner"]["tenant_id"] == expected.partner_tenant_id
    assert (state["faults"], state["webhook"]) == ([], None)
    assert abs((sandbox.clock.now() - datetime.now(UTC)).total_seconds()) < 60
    assert (sandbox.port, state["urls"]["graph"]) == (port, f"{sandbox.base_url}/graph")
    users = sandbox.world.tenant(tenant.id).users.values()  # seed 1's first tenant again
    assert "new@example.com" not in {user.userPrincipalName for user in users}
    # a token of before the reset is refused (a new signing key); a new one is served
    refused = requests.get(customer_free, headers=headers, verify=sandbox.ca_path)
    assert refused.status_code == 401
    result = msal_app(sandbox, sandbox.world.gdap_app).acquire_token_for_client([GRAPH_SCOPE])
    headers = {"Authorization": f"Bearer {result['access_token']}"}
    assert requests.get(customer_free, headers=headers, verify=sandbox.ca_path).status_code == 200
    # the published certificate is gone, the signing one still served
    rogue = requests.get(f"{sandbox.base_url}/certs/rogue.cer", verify=sandbox.ca_path)
    assert rogue.status_code == 404
    signing = requests.get(webhooks.certificate_url(sandbox), verify=sandbox.ca_path)
    assert signing.status_code == 200
    # the seed stays unless given; sizes are checked
    assert control("POST", "/reset", {}).json()["seed"] == 1
    assert control("POST", "/reset", {"seed": 2}).json()["seed"] == 2
    assert control("POST", "/reset", {"colour": "red"}).status_code == 400
    assert control("POST", "/reset", {"tenants": -1}).status_code == 400
    assert control("POST", "/reset", {"seed": None}).status_code == 400


def test_reset_stops_webhook_deliveries_under_way(sandbox, control):
    with socket.socket() as closed:  # a port nothing listens on: every attempt fails
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"
    sandbox.world.webhook = {"WebhookUrl": url, "WebhookEvents": ["subscription-updated"]}
    webhooks.configure(sandbox, attempts=1000, delay=0.01)
    results = []
    thread = webhooks.deliver_later(
        sandbox, "subscription-updated", "https://example.invalid/x", done=results.append
    )
    deadline = time.monotonic() + 10
    while len(webhooks.state(sandbox).deliveries) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(webhooks.state(sandbox).deliveries) >= 2

    control("POST", "/reset", {})

    thread.join(10)
    assert not thread.is_alive()
    assert results[0]["delivered"] is False
    assert webhooks.state(sandbox).deliveries == []
