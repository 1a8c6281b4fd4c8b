"""Partner Center's answers as the client reads them: a list is whole only when each page
proves itself and the last one says it is the last; a quantity PATCH answered in either
casing or accepted (202). Against the sandbox's Partner Center routes and their injected
bad pages."""

from datetime import datetime

import pytest
from conftest import _world, partner_center_token

from odoo.addons.csp_connector.microsoft import errors
from odoo.addons.csp_connector.microsoft.http import MicrosoftHttp, partner_center_page_problem
from odoo.addons.csp_connector.microsoft.partner_center import PartnerCenter, camel_keys

from mscloud_sandbox.app import Sandbox

BAD_PAGES = ("empty", "empty_object", "no_value", "emptied", "emptied_uncounted", "cut",
             "no_next")  # fmt: skip


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


def _richest(sb):
    return max(
        (t for t in sb.world.tenants.values() if t.reseller), key=lambda t: len(t.subscriptions)
    )


@pytest.mark.parametrize("page", [1, 2])
@pytest.mark.parametrize("kind", BAD_PAGES)
def test_a_customer_list_with_a_bad_page_is_never_taken_as_complete(sb, client, kind, page):
    whole = list(client.customers(page_size=2))
    assert len(whole) >= 5  # three pages or more
    sb.faults.add(service="partnercenter", path="/v1/customers", method="GET", body=kind,
                  after=page - 1, times=1)  # fmt: skip
    with pytest.raises(errors.IncompleteReadError) as caught:
        list(client.customers(page_size=2))
    error = caught.value
    assert (error.service, error.page) == ("partnercenter", page)
    message = error.user_message()
    assert "Partner Center's list came back incomplete" in message
    assert "no subscription was marked removed and no tenant archived" in message
    assert f"Page {page} of" in message
    assert list(client.customers(page_size=2)) == whole, "the next read is whole again"


@pytest.mark.parametrize("kind", ["empty", "empty_object", "no_value", "emptied",
                                  "emptied_uncounted", "cut"])  # fmt: skip
def test_a_bad_page_of_subscriptions_or_audit_records_raises(sb, client, kind):
    tenant = _richest(sb)
    sb.faults.add(service="partnercenter", path="/subscriptions", body=kind, times=1)
    with pytest.raises(errors.IncompleteReadError):
        list(client.subscriptions(tenant.id))
    assert len(list(client.subscriptions(tenant.id))) == len(tenant.subscriptions)
    sb.faults.add(service="partnercenter", path="/v1/auditrecords", body=kind, times=1)
    start = min(r.operationDate for r in sb.world.audit_records)
    since = datetime.fromisoformat(start)
    with pytest.raises(errors.IncompleteReadError):
        list(client.audit_records(since))
    assert list(client.audit_records(since))


def test_what_proves_a_page():
    assert partner_center_page_problem({"items": [], "totalCount": 0}) is None
    assert partner_center_page_problem({"items": [{"id": "a"}]}) is None  # no count sent
    next_link = {"next": {"uri": "/customers?seekOperation=Next", "headers": []}}
    assert partner_center_page_problem(
        {"items": [{"id": "a"}], "totalCount": 1, "links": next_link, "continuationToken": "t"}
    ) is None  # fmt: skip
    problems = {
        "a body that is not JSON": None,
        "a body that is not a JSON object": [],
        "an empty body": {},
        "no 'items' list": {"totalCount": 0, "value": []},
        "1 items where its totalCount announced 2": {"items": [{}], "totalCount": 2},
        "without a totalCount": {"items": []},
        "without an address": {"items": [{}], "links": {"next": {"headers": []}}},
        "no link to the next page": {"items": [{}], "continuationToken": "t"},
    }
    for words, page in problems.items():
        assert words in partner_center_page_problem(page)


# -- quantity changes ------------------------------------------------------------------


def _patch(sb, client, kind, extra):
    tenant = _richest(sb)
    sub = next(
        s
        for s in tenant.subscriptions
        if s.status == "active" and not s.scheduledNextTermInstructions
    )
    current = client.subscription(tenant.id, sub.id)
    if kind:
        sb.faults.add(service="partnercenter", method="PATCH", body=kind, times=1)
    answer = client.patch_subscription(
        tenant.id, sub.id, {**current, "quantity": current["quantity"] + extra}
    )
    return answer, current, client.subscription(tenant.id, sub.id)


@pytest.mark.parametrize("kind", [None, "pascal"])
def test_a_patch_answered_200_in_either_casing_is_applied(sb, client, kind):
    answer, before, after = _patch(sb, client, kind, 2)
    assert answer.status == 200 and answer.applied
    assert answer.subscription["id"] == before["id"]
    assert answer.subscription["quantity"] == after["quantity"] == before["quantity"] + 2
    assert answer.subscription["refundableQuantity"]["totalQuantity"] >= 2


@pytest.mark.parametrize("kind", ["accepted", "accepted_empty"])
def test_a_patch_answered_202_is_accepted_not_applied(sb, client, kind):
    answer, before, after = _patch(sb, client, kind, 1)
    assert answer.status == 202 and not answer.applied
    if kind == "accepted":  # the subscription as it was: the change is still pending
        assert answer.subscription["quantity"] == before["quantity"]
    else:
        assert answer.subscription is None
    assert after["quantity"] == before["quantity"] + 1, "Partner Center applies it later"


def test_camel_keys():
    sent = {"Id": "X", "Quantity": 3, "RefundableQuantity": {"Details": [{"Quantity": 1}]},
            "id": "kept"}  # fmt: skip
    assert camel_keys(sent) == {"id": "kept", "quantity": 3,
                                "refundableQuantity": {"details": [{"quantity": 1}]}}  # fmt: skip
