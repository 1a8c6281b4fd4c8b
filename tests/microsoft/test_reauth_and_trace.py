"""A 401 to a cached token is retried once with a fresh one; explained errors show
the HTTP status and the ids Microsoft can trace, never one it did not receive."""

import pytest
from test_clients import signed_in  # noqa: F401 - fixture
from test_http import Recorder, consented_tenant, make_http  # noqa: F401 - fixture

from odoo.addons.csp_connector.microsoft import auth, errors
from odoo.addons.csp_connector.microsoft.graph import Graph
from odoo.addons.csp_connector.microsoft.partner_center import PartnerCenter


def graph_client(sandbox, tenant, forget=False):
    """(recorder, http, Graph) for a customer tenant, with the app-only token cache."""
    rec = Recorder()
    http = make_http(sandbox, rec)
    gdap = sandbox.world.gdap_app
    graph = Graph(
        http,
        lambda: auth.cached_app_token(http, gdap.client_id, gdap.client_secret, tenant),
        tenant=tenant,
        forget_token=auth.forget_app_tokens if forget else None,
    )
    return rec, http, graph


def test_partner_center_401_is_retried_once_with_a_freshly_acquired_token(sandbox, signed_in):  # noqa: F811
    http, app, rec = signed_in
    client = PartnerCenter(
        http,
        lambda: auth.silent_token(app)["access_token"],
        fresh_token=lambda: auth.silent_token(app, force_refresh=True)["access_token"],
    )
    list(client.subscriptions(next(iter(sandbox.world.tenants))))  # the token is now cached
    rec.exchanges.clear()
    sandbox.faults.add(service="partnercenter", path="/subscriptions", status=401, times=1)
    tenant = next(t for t in sandbox.world.tenants.values() if t.reseller and t.subscriptions)
    assert {s["id"] for s in client.subscriptions(tenant.id)} == {
        s.id for s in tenant.subscriptions
    }
    kinds = [("token" if "/token" in e.url else "pc", e.status) for e in rec.exchanges]
    assert kinds == [("pc", 401), ("token", 200), ("pc", 200)], "a new token, then once more"

    # a second 401 in a row is an error, explained with its status
    sandbox.faults.add(service="partnercenter", path="/subscriptions", status=401, times=2)
    with pytest.raises(errors.MicrosoftError) as caught:
        list(client.subscriptions(tenant.id))
    assert caught.value.status == 401
    assert "HTTP 401" in caught.value.user_message()


def test_graph_401_on_a_later_page_is_retried_with_a_fresh_token(sandbox, consented_tenant):  # noqa: F811
    rec, _http, graph = graph_client(sandbox, consented_tenant, forget=True)
    pages = graph.iter_pages("v1.0/users", params={"$top": 3, "$select": "id"})
    first = next(pages)
    sandbox.faults.add(service="graph", path="/v1.0/users", status=401, times=1)
    rest = list(pages)
    ids = [u["id"] for page in [first, *rest] for u in page["value"]]
    assert sorted(ids) == sorted(sandbox.world.tenant(consented_tenant).users)
    statuses = [e.status for e in rec.exchanges if "/v1.0/users" in e.url]
    assert 401 in statuses and statuses[-1] == 200


def test_graph_errors_show_microsofts_ids_and_the_status(sandbox, consented_tenant):  # noqa: F811
    rec, http, graph = graph_client(sandbox, consented_tenant)
    with pytest.raises(errors.MicrosoftError) as caught:
        graph.get("v1.0/users/no-such-user")
    error = caught.value
    answer = rec.exchanges[-1]
    body = answer._response.json()["error"]["innerError"]
    text = error.user_message()
    assert "HTTP 404" in text
    assert f"Request id: {body['request-id']}" in text
    assert f"Client request id: {answer.request_id}" in text, "the id we sent, echoed"
    assert f"Date: {body['date']}" in text
    assert http.correlation_id not in text, "Graph never received our correlation id"
    # the same failure again is recognised despite new ids
    with pytest.raises(errors.MicrosoftError) as again:
        graph.get("v1.0/users/no-such-user")
    assert errors.same_failure(text, again.value.user_message())


def test_invalid_scope_is_explained():
    error = errors.AuthError(
        "AADSTS70011: The provided request must include a 'scope' input parameter.",
        service="login",
        code="invalid_scope",
        status=400,
    )
    assert error.aadsts == 70011
    assert "scope" in error.explanation.title
    assert "HTTP 400" in error.user_message()
    bare = errors.AuthError("The scope is not valid.", code="invalid_scope", status=400)
    assert bare.explanation == error.explanation


def test_token_endpoint_refusals_carry_their_http_status(sandbox):
    rec = Recorder()
    http = make_http(sandbox, rec)
    gdap = sandbox.world.gdap_app
    app = auth.confidential_app(
        http, gdap.client_id, "not-the-secret", sandbox.world.partner_tenant_id
    )
    with pytest.raises(errors.AuthError) as caught:
        auth.app_token(app)
    assert caught.value.status in (400, 401)
    assert f"HTTP {caught.value.status}" in caught.value.user_message()


def test_partner_center_links_in_each_published_form(sandbox):
    http = make_http(sandbox, Recorder())
    base = sandbox.urls["partner_center"]
    for uri in ("/v1/customers?size=2", "/customers?size=2", "v1/customers?size=2",
                " customers?size=2"):  # fmt: skip
        assert http._partner_center_link(uri) == f"{base}/v1/customers?size=2", uri
    absolute = f"{base}/v1/customers?size=2"
    assert http._partner_center_link(absolute) == absolute
