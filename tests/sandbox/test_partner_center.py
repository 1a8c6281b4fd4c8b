"""Partner Center REST as served by the sandbox, exercised over real HTTPS."""

import uuid
from collections import Counter

import pytest
import requests
from conftest import PARTNER_CENTER_SCOPE, msal_app, partner_center_token, sign_in


def _headers(token, **extra):
    return {"Authorization": f"Bearer {token}", "Accept": "application/json", **extra}


def _get(sb, path, token, **headers):
    return requests.get(
        sb.urls["partner_center"] + path, headers=_headers(token, **headers), verify=sb.ca_path
    )


def _patch(sb, path, token, body, **headers):
    return requests.patch(
        sb.urls["partner_center"] + path,
        json=body,
        headers=_headers(token, **headers),
        verify=sb.ca_path,
    )


@pytest.fixture(scope="module")
def session_token(sandbox_session):
    return partner_center_token(sandbox_session)


def _versioned(uri):
    """Next links come with or without "/v1", as in Partner Center's examples."""
    return uri if uri.startswith("/v1/") else "/v1" + uri


def _subscription(sb, token, customer_id, subscription_id):
    response = _get(sb, f"/v1/customers/{customer_id}/subscriptions/{subscription_id}", token)
    assert response.status_code == 200, response.text
    return response.json()


def _plain_subscription(sb):
    """(customer id, subscription) of a reseller customer's active paid subscription."""
    for tenant in sb.world.tenants.values():
        for sub in tenant.subscriptions:
            if (
                tenant.reseller
                and sub.status == "active"
                and sub.billingCycle != "none"
                and not sub.scheduledNextTermInstructions
                and not sub.refundable
            ):
                return tenant.id, sub
    raise AssertionError("no plain subscription in the world")


def test_customers_are_paged_with_continuation_tokens(sandbox_session, session_token):
    sb = sandbox_session
    response = _get(sb, "/v1/customers?size=2", session_token)
    pages, seen, links = 1, [], []
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["attributes"]["objectType"] == "Collection"
        assert body["totalCount"] == len(body["items"]) <= 2
        seen += [item["id"] for item in body["items"]]
        following = body["links"].get("next")
        if following is None:
            break
        assert "seekOperation=Next" in following["uri"]
        links.append(following["uri"])
        headers = {h["key"]: h["value"] for h in following["headers"]}
        response = _get(sb, _versioned(following["uri"]), session_token, **headers)
        pages += 1
    resellers = [t.id for t in sb.world.tenants.values() if t.reseller]
    assert seen == resellers
    assert pages >= 3
    assert {uri.startswith("/v1/") for uri in links} == {True, False}, "both published forms"
    first = _get(sb, "/v1/customers", session_token).json()["items"][0]
    tenant = sb.world.tenants[first["id"]]
    assert first["companyProfile"] == {
        "tenantId": tenant.id,
        "domain": tenant.default_domain,
        "companyName": tenant.company_name,
        "links": first["companyProfile"]["links"],
        "attributes": {"objectType": "CustomerCompanyProfile"},
    }
    assert first["relationshipToPartner"] == "reseller"


def test_next_page_without_token_or_with_bad_token_is_refused(sandbox_session, session_token):
    sb = sandbox_session
    response = _get(sb, "/v1/customers?size=2&seekOperation=Next", session_token)
    assert response.status_code == 400
    bad = _get(
        sb,
        "/v1/customers?size=2&seekOperation=Next",
        session_token,
        **{"MS-ContinuationToken": "garbage"},
    )
    assert bad.status_code == 400 and bad.json()["source"] == "PartnerFD"
    assert _get(sb, "/v1/customers?size=0", session_token).status_code == 400


def test_customer_lookup_errors(sandbox_session, session_token):
    sb = sandbox_session
    missing = _get(sb, f"/v1/customers/{uuid.uuid4()}", session_token)
    assert missing.status_code == 404
    assert set(missing.json()) == {"code", "description", "data", "source"}
    gdap_only = sb.world.special["gdap_only"][0]
    forbidden = _get(sb, f"/v1/customers/{gdap_only}/subscriptions", session_token)
    assert forbidden.status_code == 403 and forbidden.json()["code"] == 20002


def test_subscriptions_carry_partner_center_fields(sandbox_session, session_token):
    sb = sandbox_session
    tenant_id, sub_id = sb.world.special["refundable_subscription"]
    body = _get(sb, f"/v1/customers/{tenant_id}/subscriptions", session_token).json()
    assert body["totalCount"] == len(sb.world.tenants[tenant_id].subscriptions)
    item = next(i for i in body["items"] if i["id"] == sub_id)
    expected = {
        "id",
        "offerId",
        "offerName",
        "friendlyName",
        "quantity",
        "unitType",
        "creationDate",
        "effectiveStartDate",
        "commitmentEndDate",
        "status",
        "autoRenewEnabled",
        "billingType",
        "billingCycle",
        "termDuration",
        "isTrial",
        "productType",
        "refundableQuantity",
        "scheduledNextTermInstructions",
        "promotionId",
        "links",
        "attributes",
    }
    assert expected <= set(item)
    assert item["billingType"] == "license" and item["termDuration"] == "P1M"
    assert item["refundableQuantity"]["totalQuantity"] == item["quantity"]
    assert item["attributes"]["objectType"] == "Subscription"
    assert item["offerId"].count(":") == 1 and len(item["offerId"].split(":")[0]) == 12


def test_request_and_correlation_ids_are_echoed(sandbox_session, session_token):
    response = _get(
        sandbox_session,
        "/v1/customers",
        session_token,
        **{"MS-RequestId": "req-1", "MS-CorrelationId": "corr-1"},
    )
    assert response.headers["MS-RequestId"] == "req-1"
    assert response.headers["MS-CorrelationId"] == "corr-1"
    error = _get(
        sandbox_session,
        f"/v1/customers/{uuid.uuid4()}",
        session_token,
        **{"MS-CorrelationId": "corr-2"},
    )
    assert error.headers["MS-CorrelationId"] == "corr-2"


def test_seats_can_be_removed_only_inside_the_refund_window(sandbox):
    sb = sandbox
    # Start 8 days back so that the clock ends at real time: tokens issued on a clock
    # ahead of real time are refused (PyJWT checks "iat" against real time).
    sb.clock.advance(-8 * 86400)
    token = partner_center_token(sb)
    customer_id, sub = _plain_subscription(sb)
    path = f"/v1/customers/{customer_id}/subscriptions/{sub.id}"
    body = _subscription(sb, token, customer_id, sub.id)
    start = body["quantity"]
    assert body["refundableQuantity"]["totalQuantity"] == 0

    refused = _patch(sb, path, token, {**body, "quantity": start - 1})
    assert refused.status_code == 400
    assert refused.json()["code"] == 800002

    increased = _patch(sb, path, token, {**body, "quantity": start + 5})
    assert increased.status_code == 200, increased.text
    added = increased.json()
    assert added["quantity"] == start + 5
    assert added["refundableQuantity"]["totalQuantity"] == 5
    assert added["attributes"]["etag"] != body["attributes"]["etag"]

    decreased = _patch(sb, path, token, {**added, "quantity": start + 2})
    assert decreased.status_code == 200, decreased.text
    assert decreased.json()["refundableQuantity"]["totalQuantity"] == 2

    sb.clock.advance(8 * 86400)
    token = partner_center_token(sb)
    current = _subscription(sb, token, customer_id, sub.id)
    assert current["refundableQuantity"] == {"totalQuantity": 0, "details": []}
    late = _patch(sb, path, token, {**current, "quantity": start})
    assert late.status_code == 400
    assert late.json()["code"] == 800002 and late.json()["source"] == "PartnerFD"
    assert _subscription(sb, token, customer_id, sub.id)["quantity"] == start + 2


def test_repeated_request_id_is_applied_once(sandbox):
    sb = sandbox
    token = partner_center_token(sb)
    customer_id, sub = _plain_subscription(sb)
    path = f"/v1/customers/{customer_id}/subscriptions/{sub.id}"
    body = _subscription(sb, token, customer_id, sub.id)
    request_id = str(uuid.uuid4())
    first = _patch(
        sb, path, token, {**body, "quantity": body["quantity"] + 1}, **{"MS-RequestId": request_id}
    )
    again = _patch(
        sb, path, token, {**body, "quantity": body["quantity"] + 1}, **{"MS-RequestId": request_id}
    )
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert again.headers["MS-RequestId"] == request_id
    assert _subscription(sb, token, customer_id, sub.id)["quantity"] == body["quantity"] + 1
    fresh = _patch(sb, path, token, {**body, "quantity": body["quantity"] + 2})
    assert fresh.status_code == 400 and fresh.json()["code"] == 2055  # stale etag


def test_status_and_auto_renew_changes_and_conflicts(sandbox):
    sb = sandbox
    token = partner_center_token(sb)
    customer_id, sub = _plain_subscription(sb)
    path = f"/v1/customers/{customer_id}/subscriptions/{sub.id}"
    body = _subscription(sb, token, customer_id, sub.id)
    suspended = _patch(
        sb,
        path,
        token,
        {**body, "status": "suspended", "autoRenewEnabled": not body["autoRenewEnabled"]},
    )
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"
    assert suspended.json()["autoRenewEnabled"] != body["autoRenewEnabled"]
    body = suspended.json()
    no_seats = _patch(sb, path, token, {**body, "quantity": body["quantity"] + 1})
    assert no_seats.status_code == 400 and no_seats.json()["code"] == 2001
    bad_status = _patch(sb, path, token, {**body, "status": "deleted"})
    assert bad_status.status_code == 400
    assert _patch(sb, path, token, {**body, "status": "active"}).json()["status"] == "active"

    scheduled_tenant, scheduled_id = sb.world.special["scheduled_subscription"]
    scheduled = _subscription(sb, token, scheduled_tenant, scheduled_id)
    conflict = _patch(
        sb,
        f"/v1/customers/{scheduled_tenant}/subscriptions/{scheduled_id}",
        token,
        {**scheduled, "quantity": scheduled["quantity"] + 1},
    )
    assert conflict.status_code == 409 and conflict.json()["code"] == 800014
    missing = _patch(sb, f"/v1/customers/{customer_id}/subscriptions/{uuid.uuid4()}", token, body)
    assert missing.status_code == 404


def test_subscribed_skus_match_subscriptions_and_users(sandbox_session, session_token):
    sb = sandbox_session
    tenant_id, _ = sb.world.special["suspended_subscription"]
    body = _get(sb, f"/v1/customers/{tenant_id}/subscribedskus", session_token).json()
    tenant = sb.world.tenant(tenant_id)
    consumed = Counter(
        lic["skuId"] for user in tenant.users.values() for lic in user.assignedLicenses
    )
    by_sku = {item["productSku"]["id"]: item for item in body["items"]}
    assert set(by_sku) == {s.skuId for s in tenant.subscriptions}
    for sku_id, item in by_sku.items():
        subs = [s for s in tenant.subscriptions if s.skuId == sku_id]
        active = sum(s.quantity for s in subs if s.status == "active")
        suspended = sum(s.quantity for s in subs if s.status == "suspended")
        assert item["activeUnits"] == active
        assert item["suspendedUnits"] == suspended
        assert item["consumedUnits"] == consumed[sku_id]
        assert item["totalUnits"] == active + suspended
        assert item["productSku"]["skuPartNumber"]
    assert any(item["capabilityStatus"] == "Suspended" for item in body["items"]) or any(
        item["suspendedUnits"] for item in body["items"]
    )


def test_audit_records_follow_changes(sandbox):
    sb = sandbox
    token = partner_center_token(sb)
    customer_id, sub = _plain_subscription(sb)
    body = _subscription(sb, token, customer_id, sub.id)
    since = sb.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    path = f"/v1/customers/{customer_id}/subscriptions/{sub.id}"
    assert _patch(sb, path, token, {**body, "quantity": body["quantity"] + 2}).status_code == 200
    recent = _get(sb, f"/v1/auditrecords?startDate={since}", token).json()["items"]
    assert [r["customerId"] for r in recent] == [customer_id]
    assert recent[0]["operationType"] == "UpdateSubscription"
    assert f'"quantity": {body["quantity"] + 2}' in recent[0]["resourceNewValue"]

    response = _get(sb, "/v1/auditrecords?startDate=2000-01-01&size=1", token)
    collected = []
    while True:
        page = response.json()
        collected += page["items"]
        following = page["links"].get("next")
        if following is None:
            break
        response = _get(
            sb,
            _versioned(following["uri"]),
            token,
            **{h["key"]: h["value"] for h in following["headers"]},
        )
    assert len(collected) == len(sb.world.audit_records) >= 2
    assert _get(sb, "/v1/auditrecords", token).status_code == 400


def test_tokens_are_required_and_must_come_from_the_partner(sandbox_session):
    sb = sandbox_session
    anonymous = requests.get(sb.urls["partner_center"] + "/v1/customers", verify=sb.ca_path)
    assert anonymous.status_code == 401
    assert anonymous.json()["source"] == "PartnerFD"
    customer = sb.world.special["expiring_gdap"]
    client = msal_app(sb, sb.world.gdap_app, customer)
    result = sign_in(sb, client, [PARTNER_CENTER_SCOPE])
    forbidden = _get(sb, "/v1/customers", result["access_token"])
    assert forbidden.status_code == 403


def test_subscriptions_carry_the_documented_fields_and_links(sandbox_session, session_token):
    customer_id, sub = _plain_subscription(sandbox_session)
    body = _subscription(sandbox_session, session_token, customer_id, sub.id)
    for key in ("entitlementId", "partnerId", "attentionNeeded", "actionTaken"):
        assert key in body, key
    assert body["attentionNeeded"] is False and body["actionTaken"] is False
    links = body["links"]
    assert links["offer"]["uri"].startswith(f"/offers/{sub.offerId}?country=")
    assert "/availabilities/" in links["availability"]["uri"]
    assert links["self"]["uri"] == f"/customers/{customer_id}/subscriptions/{sub.id}"
    assert all(link["method"] == "GET" and link["headers"] == [] for link in links.values())
