"""Injected faults as a client sees them: throttling, outages, delays, resets, AADSTS."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from conftest import GRAPH_SCOPE, graph_token, msal_app, partner_center_token

from mscloud_sandbox.faults import FaultRule, FaultSet


def discovery_url(sb):
    return f"{sb.base_url}/{sb.world.partner_tenant_id}/v2.0/.well-known/openid-configuration"


def consented(world, index=0):
    tenants = [t for t in world.tenants.values() if world.gdap_app.client_id in t.consented_apps]
    return tenants[index]


def graph_users(sb, token, params=None):
    return requests.get(
        f"{sb.urls['graph']}/v1.0/users",
        headers={"Authorization": f"Bearer {token}", "ConsistencyLevel": "eventual"},
        params=params,
        verify=sb.ca_path,
        timeout=30,
    )


def test_throttling_once_then_success(sandbox):
    token = graph_token(sandbox, consented(sandbox.world).id)
    sandbox.faults.add(service="graph", path="/v1.0/users", status=429, retry_after=7, times=1)
    throttled = graph_users(sandbox, token)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "7"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    retried = graph_users(sandbox, token)
    assert retried.status_code == 200
    assert retried.json()["value"]


def test_outage_is_shaped_per_service(sandbox):
    sandbox.faults.add(service="partnercenter", status=503)
    sandbox.faults.add(service="login", path="/oauth2/v2.0/token", status=503)
    pc = requests.get(f"{sandbox.urls['partner_center']}/v1/customers", verify=sandbox.ca_path)
    assert pc.status_code == 503
    assert pc.json()["source"] == "PartnerFD"
    token = requests.post(
        f"{sandbox.base_url}/common/oauth2/v2.0/token", data={}, verify=sandbox.ca_path
    )
    assert token.status_code == 503
    assert token.json()["error"] == "temporarily_unavailable"
    # the rest of the login service is untouched
    assert requests.get(discovery_url(sandbox), verify=sandbox.ca_path).status_code == 200


def test_rule_for_one_tenant_only(sandbox):
    hit, spared = consented(sandbox.world, 0), consented(sandbox.world, 1)
    sandbox.faults.add(service="graph", tenant=hit.id, status=500)
    failed = graph_users(sandbox, graph_token(sandbox, hit.id))
    assert (failed.status_code, failed.json()["error"]["code"]) == (500, "generalException")
    assert graph_users(sandbox, graph_token(sandbox, spared.id)).status_code == 200


def test_delay(sandbox):
    sandbox.faults.add(path="/.well-known/openid-configuration", delay=0.4, times=1)
    started = time.monotonic()
    assert requests.get(discovery_url(sandbox), verify=sandbox.ca_path).status_code == 200
    assert time.monotonic() - started >= 0.4


def test_connection_reset(sandbox):
    sandbox.faults.add(path="/.well-known/openid-configuration", reset=True, times=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(discovery_url(sandbox), verify=sandbox.ca_path)
    assert requests.get(discovery_url(sandbox), verify=sandbox.ca_path).status_code == 200


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (50076, "invalid_grant"),
        (65001, "invalid_grant"),
        (7000229, "invalid_client"),
        (7000119, "unauthorized_client"),
        (700016, "unauthorized_client"),
    ],
)
def test_aadsts_injection(sandbox, code, error):
    sandbox.faults.add(service="login", path="/oauth2/v2.0/token", aadsts=code, times=1)
    client = msal_app(sandbox, sandbox.world.gdap_app)
    failed = client.acquire_token_for_client([GRAPH_SCOPE])
    assert (failed["error"], failed["error_codes"]) == (error, [code])
    assert f"AADSTS{code}:" in failed["error_description"]
    # MSAL replays a failed answer to the same app for a while, so ask with a new one
    retry = msal_app(sandbox, sandbox.world.gdap_app).acquire_token_for_client([GRAPH_SCOPE])
    assert "access_token" in retry


def test_a_forbidden_answer_as_graph_gives_it_with_or_without_a_sign_in_code(sandbox):
    token = graph_token(sandbox, consented(sandbox.world).id)
    sandbox.faults.add(service="graph", path="/v1.0/users", status=403, times=1)
    denied = graph_users(sandbox, token).json()["error"]
    assert denied["code"] == "Authorization_RequestDenied"
    assert denied["message"] == "Insufficient privileges to complete the operation."
    sandbox.faults.add(service="graph", path="/v1.0/users", status=403, aadsts=530034, times=1)
    risky = graph_users(sandbox, token)
    assert risky.status_code == 403
    assert risky.json()["error"]["message"].startswith("AADSTS530034: A delegated administrator")
    assert graph_users(sandbox, token).status_code == 200


def test_concurrent_clients_are_served_in_parallel(sandbox):
    sandbox.faults.add(path="/.well-known/openid-configuration", delay=1.0)
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(
                lambda _: requests.get(discovery_url(sandbox), verify=sandbox.ca_path).status_code,
                range(8),
            )
        )
    assert statuses == [200] * 8
    # one after the other would take 8 s; in parallel about 1 s (wide margin for a busy CI)
    assert time.monotonic() - started < 6


def test_control_api_manages_rules(sandbox):
    control = sandbox.urls["control"]
    created = requests.post(
        f"{control}/faults",
        json={"service": "pricing", "status": 503, "times": 2},
        verify=sandbox.ca_path,
    )
    assert created.status_code == 201
    [rule] = requests.get(f"{control}/faults", verify=sandbox.ca_path).json()["rules"]
    assert (rule["service"], rule["times"]) == ("pricing", 2)
    for _ in range(2):
        response = requests.get(f"{sandbox.urls['pricing']}/anything", verify=sandbox.ca_path)
        assert response.status_code == 503
    assert requests.get(f"{control}/faults", verify=sandbox.ca_path).json()["rules"] == []

    bad = requests.post(f"{control}/faults", json={"service": "nope"}, verify=sandbox.ca_path)
    assert bad.status_code == 400
    requests.post(f"{control}/faults", json={"status": 500}, verify=sandbox.ca_path)
    # faults never hit the control API itself
    assert requests.get(f"{control}/state", verify=sandbox.ca_path).status_code == 200
    assert requests.delete(f"{control}/faults", verify=sandbox.ca_path).status_code == 204
    assert sandbox.faults.rules() == []


def test_fault_set_matching_and_consumption():
    faults = FaultSet()
    rule = faults.add(FaultRule(service="partner_center", method="post", path="/orders", times=2))
    assert rule.service == "partnercenter"
    assert faults.match("partnercenter", "GET", "/v1/customers/x/orders") is None
    assert faults.match("partnercenter", "POST", "/v1/customers/x/orders") is rule
    assert faults.match("partnercenter", "POST", "/v1/customers/x/orders") is rule
    assert faults.match("partnercenter", "POST", "/v1/customers/x/orders") is None
    with pytest.raises(ValueError):
        FaultRule(aadsts=12345)


def test_omit_body_fault_leaves_properties_out(sandbox):
    token = graph_token(sandbox, consented(sandbox.world).id)
    sandbox.faults.add(service="graph", path="/v1.0/users", body="omit:mail,displayName", times=1)
    users = graph_users(sandbox, token).json()["value"]
    assert users and all("mail" not in u and "displayName" not in u and u["id"] for u in users)
    assert "displayName" in graph_users(sandbox, token).json()["value"][0]
    with pytest.raises(ValueError):
        FaultRule(body="half")


# -- Partner Center's bad pages and other answer shapes ------------------------------------


def partner_center_get(sb, path, token, **params):
    return requests.get(
        f"{sb.urls['partner_center']}{path}",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        verify=sb.ca_path,
    )


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("empty_object", lambda page, whole: page == {}),
        ("no_value", lambda page, whole: "items" not in page and page["totalCount"] == 2),
        ("emptied", lambda page, whole: page["items"] == [] and page["totalCount"] == 2),
        ("emptied_uncounted", lambda page, whole: page["items"] == [] and "totalCount" not in page),
        ("cut", lambda page, whole: page["items"] == whole["items"][:1]
         and page["totalCount"] == 2 and "next" not in page["links"]
         and "continuationToken" not in page),
        ("no_next", lambda page, whole: page["items"] == whole["items"]
         and "next" not in page["links"] and page["continuationToken"]),
    ],
)  # fmt: skip
def test_partner_center_pages_come_broken_on_request(sandbox, kind, expected):
    token = partner_center_token(sandbox)
    whole = partner_center_get(sandbox, "/v1/customers", token, size=2).json()
    assert len(whole["items"]) == whole["totalCount"] == 2 and whole["links"]["next"]
    sandbox.faults.add(service="partnercenter", path="/v1/customers", body=kind, times=1)
    broken = partner_center_get(sandbox, "/v1/customers", token, size=2)
    assert broken.status_code == 200
    assert expected(broken.json(), whole)
    assert partner_center_get(sandbox, "/v1/customers", token, size=2).json() == whole


def test_a_rule_can_let_the_first_pages_through(sandbox):
    token = partner_center_token(sandbox)
    sandbox.faults.add(service="partnercenter", path="/v1/customers", body="empty", after=1,
                       times=1)  # fmt: skip
    first = partner_center_get(sandbox, "/v1/customers", token, size=2)
    assert first.json()["items"], "the first page is untouched"
    following = first.json()["links"]["next"]
    second = requests.get(
        f"{sandbox.urls['partner_center']}{following['uri']}",
        headers={"Authorization": f"Bearer {token}",
                 **{h["key"]: h["value"] for h in following["headers"]}},
        verify=sandbox.ca_path,
    )  # fmt: skip
    assert (second.status_code, second.content) == (200, b"")
    assert sandbox.faults.rules() == []


@pytest.mark.parametrize("kind", ["pascal", "accepted", "accepted_empty"])
def test_a_subscription_patch_answers_each_documented_shape(sandbox, kind):
    tenant = next(t for t in sandbox.world.tenants.values() if t.reseller and t.subscriptions)
    sub = next(s for s in tenant.subscriptions if s.status == "active"
               and not s.scheduledNextTermInstructions)  # fmt: skip
    before = sub.quantity
    sandbox.faults.add(service="partnercenter", method="PATCH", body=kind, times=1)
    answer = requests.patch(
        f"{sandbox.urls['partner_center']}/v1/customers/{tenant.id}/subscriptions/{sub.id}",
        json={"quantity": before + 1},
        headers={"Authorization": f"Bearer {partner_center_token(sandbox)}"},
        verify=sandbox.ca_path,
    )
    assert sub.quantity == before + 1, "the change is applied whatever the answer"
    assert answer.headers["MS-CorrelationId"]
    if kind == "pascal":
        assert answer.status_code == 200
        body = answer.json()
        assert (body["Id"], body["Quantity"]) == (sub.id, before + 1)
        assert "RefundableQuantity" in body and "quantity" not in body
    elif kind == "accepted":
        assert (answer.status_code, answer.json()["quantity"]) == (202, before)
    else:
        assert (answer.status_code, answer.content) == (202, b"")


def test_drop_body_fault_cuts_the_page_and_lowers_the_count_with_it(sandbox):
    token = graph_token(sandbox, consented(sandbox.world).id)
    whole = graph_users(sandbox, token, params={"$count": "true"}).json()
    sandbox.faults.add(service="graph", path="/v1.0/users", body="drop:2", times=1)
    cut = graph_users(sandbox, token, params={"$count": "true"}).json()
    assert len(cut["value"]) == len(whole["value"]) - 2
    assert cut["@odata.count"] == whole["@odata.count"] - 2 == len(cut["value"])
    assert "@odata.nextLink" not in cut
    with pytest.raises(ValueError):
        FaultRule(body="drop:some")
