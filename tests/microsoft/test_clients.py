"""Partner Center and Graph clients against the sandbox, with real MSAL tokens."""

import pytest
from test_auth import REDIRECT, browser_answer, pc_app
from test_http import Recorder, make_http

from odoo.addons.csp_connector.microsoft import auth, errors
from odoo.addons.csp_connector.microsoft.graph import Graph
from odoo.addons.csp_connector.microsoft.partner_center import PartnerCenter


@pytest.fixture
def signed_in(sandbox):
    """MicrosoftHttp + an MSAL app holding the partner admin's Partner Center sign-in."""
    rec = Recorder()
    http = make_http(sandbox, rec)
    app = pc_app(http, sandbox, auth.load_cache(None))
    flow = auth.start_code_flow(app, REDIRECT, state="s")
    auth.finish_code_flow(app, flow, browser_answer(sandbox, flow))
    return http, app, rec


def test_customers_are_read_across_continuation_pages(sandbox, signed_in):
    http, app, rec = signed_in
    client = PartnerCenter(http, lambda: auth.silent_token(app)["access_token"])
    rec.exchanges.clear()
    customers = list(client.customers(page_size=2))
    resellers = [t for t in sandbox.world.tenants.values() if t.reseller]
    assert sorted(c["companyProfile"]["tenantId"] for c in customers) == sorted(
        t.id for t in resellers
    )
    pages = [e for e in rec.exchanges if "/v1/customers" in e.url]
    assert len(pages) == -(-len(resellers) // 2) >= 3
    # Partner Center requests carry a correlation id shared by the whole run
    assert len({e.correlation_id for e in pages}) == 1


def test_subscriptions_of_a_customer_across_continuation_pages(sandbox, signed_in):
    http, app, rec = signed_in
    client = PartnerCenter(http, lambda: auth.silent_token(app)["access_token"])
    tenant = max(
        (t for t in sandbox.world.tenants.values() if t.reseller),
        key=lambda t: len(t.subscriptions),
    )
    assert len(tenant.subscriptions) >= 3
    subs = list(client.subscriptions(tenant.id))
    assert {s["id"] for s in subs} == {s.id for s in tenant.subscriptions}
    assert all("refundableQuantity" in s and "billingCycle" in s for s in subs)
    # pages of one: every page after the first is asked with its continuation token
    rec.exchanges.clear()
    paged = list(client.subscriptions(tenant.id, page_size=1))
    assert [s["id"] for s in paged] == [s["id"] for s in subs]
    pages = [e for e in rec.exchanges if "/subscriptions" in e.url]
    assert len(pages) == len(subs) >= 3
    assert all("seekOperation=Next" in e.url for e in pages[1:])


def test_an_add_ons_calls_go_through_the_public_api(sandbox, signed_in):
    """What an add-on's own Partner Center calls use: the paged GET (every page proven
    whole, continuation followed), its items, a single GET; each exchange is logged with
    the customer it is about."""
    http, app, rec = signed_in
    client = PartnerCenter(http, lambda: auth.silent_token(app)["access_token"])
    tenant = max(
        (t for t in sandbox.world.tenants.values() if t.reseller),
        key=lambda t: len(t.subscriptions),
    )
    path = f"v1/customers/{tenant.id}/subscriptions"
    rec.exchanges.clear()
    pages = list(client.pages(path, {"size": 1}, tenant=tenant.id))
    assert [len(page["items"]) for page in pages] == [1] * len(tenant.subscriptions)
    ids = [page["items"][0]["id"] for page in pages]
    assert [item["id"] for item in client.items(path, tenant=tenant.id)] == ids
    assert client.get(f"{path}/{ids[0]}", tenant=tenant.id)["id"] == ids[0]
    assert {e.tenant for e in rec.exchanges} == {tenant.id}


def test_gdap_relationships_with_a_partner_token(sandbox, signed_in):
    http, _app, _rec = signed_in
    gdap = sandbox.world.gdap_app
    partner_app = auth.confidential_app(
        http, gdap.client_id, gdap.client_secret, sandbox.world.partner_tenant_id
    )
    graph = Graph(http, lambda: auth.app_token(partner_app)["access_token"])
    relationships = list(graph.iter_relationships())
    with_gdap = {t.id for t in sandbox.world.tenants.values() if t.gdap}
    assert {r["customer"]["tenantId"] for r in relationships} == with_gdap
    expiring = sandbox.world.special["expiring_gdap"]
    ending = next(r for r in relationships if r["customer"]["tenantId"] == expiring)
    assert ending["endDateTime"]


def test_graph_refuses_a_customer_token_for_relationships(sandbox, signed_in):
    http, _app, _rec = signed_in
    special = sandbox.world.special
    tenant_id = next(
        tid
        for tid in sandbox.world.tenants
        if tid not in special["no_consent"] and tid != special["consent_blocked"]
    )
    gdap = sandbox.world.gdap_app
    customer_app = auth.confidential_app(http, gdap.client_id, gdap.client_secret, tenant_id)
    graph = Graph(http, lambda: auth.app_token(customer_app)["access_token"], tenant=tenant_id)
    assert graph.organization()["id"] == tenant_id
    with pytest.raises(errors.MicrosoftError) as caught:
        list(graph.iter_relationships())
    assert caught.value.status == 403
