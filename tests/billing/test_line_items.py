"""The billing add-on's Partner Center calls: the unbilled line items read with the core
client's paged read, each failed page explained as what it is by the add-on's own entry in
the core's explanation table. Against the sandbox's Partner Center routes and their
injected bad pages."""

import pytest
from conftest import _world, buy_subscription, partner_center_token

from odoo.addons.csp_connector.microsoft import errors
from odoo.addons.csp_connector.microsoft.http import MicrosoftHttp
from odoo.addons.csp_connector.microsoft.partner_center import PartnerCenter
from odoo.addons.csp_connector_billing.microsoft.errors import BillingReadError
from odoo.addons.csp_connector_billing.microsoft.line_items import unbilled_line_items

from mscloud_sandbox.app import Sandbox
from mscloud_sandbox.pricing import MARKETS

LINE_ITEMS = "/v1/invoices/unbilled/lineitems"


@pytest.fixture(scope="module")
def sb():
    with Sandbox(_world()) as sandbox:
        yield sandbox


@pytest.fixture
def client(sb):
    token = partner_center_token(sb)
    http = MicrosoftHttp(
        {"partnercenter": sb.urls["partner_center"]}, ca_bundle=sb.ca_path, backoff=0.01
    )
    yield PartnerCenter(http, lambda: token)
    sb.faults.clear()


@pytest.fixture(scope="module")
def currency(sb):
    """A currency with line items over several pages: three subscriptions bought."""
    tenant = next(t for t in sb.world.tenants.values() if t.reseller and t.country in MARKETS)
    for quantity in (2, 3, 4):
        buy_subscription(sb, tenant, sb.clock.now(), quantity)
    return MARKETS[tenant.country][0]


def _fail_line_items(sb, client, page, currency, **fault):
    assert len(list(unbilled_line_items(client, currency, page_size=2))) > 2  # two pages
    sb.faults.add(service="partnercenter", path=LINE_ITEMS, after=page - 1, **fault)
    with pytest.raises(BillingReadError) as caught:
        list(unbilled_line_items(client, currency, page_size=2))
    sb.faults.clear()
    return caught.value


def test_a_404_on_the_first_page_is_no_billing_data_in_that_currency(sb, client, currency):
    error = _fail_line_items(sb, client, 1, currency, status=404, times=1)
    assert error.page == 1
    assert "no unbilled billing data" in error.user_message()


@pytest.mark.parametrize("status", [404, 503])
def test_a_later_page_that_fails_is_a_read_stopped_part_way(sb, client, currency, status):
    error = _fail_line_items(sb, client, 2, currency, status=status)
    message = error.user_message()
    assert error.page == 2
    assert "stopped answering part-way through the line items (page 2)" in message
    assert "no unbilled billing data" not in message
    assert "Reconcile again" in message


def test_a_cut_page_of_line_items_is_not_no_charges(sb, client, currency):
    error = _fail_line_items(sb, client, 1, currency, body="cut", times=1)
    assert "came back cut short, so nothing was compared" in error.user_message()
    later = _fail_line_items(sb, client, 2, currency, body="emptied", times=1)
    assert "part-way through the line items (page 2)" in later.user_message()


def test_a_failure_billing_has_no_words_for_gets_the_cores(sb, client, currency):
    """A first page throttled past the wait: the core's text for throttling, through the
    error as raised; the ids Microsoft can find the call by are kept."""
    client.http.max_wait = 0
    error = _fail_line_items(sb, client, 1, currency, status=429, times=1)
    assert isinstance(error.original, errors.ThrottledError)
    assert error.explanation == errors.explain(error.original)
    assert "throttling" in error.user_message()
    assert error.request_id == error.original.request_id
