"""Partner Center's billed invoices served by the sandbox: listed once Microsoft has
invoiced a month (from the 9th of the next), paged with continuation tokens; each
invoice's reconciliation line items are the month's licence charges (the lines Partner
Center listed unbilled for it) and its Azure plan charges, in Microsoft's shapes."""

from datetime import UTC, datetime
from decimal import Decimal

import requests
from conftest import buy_subscription, partner_center_token, sandbox_control

from mscloud_sandbox import invoices, unbilled
from mscloud_sandbox.pricing import MARKETS


def _get_all(sb, path, params):
    """Every item of a paged list, following links.next with its token; the pages."""
    token = partner_center_token(sb)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    url, items, pages = sb.urls["partner_center"] + path, [], []
    while True:
        answer = requests.get(url, params=params, headers=headers, verify=sb.ca_path)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["totalCount"] == len(body["items"])
        assert "continuationToken" not in body
        items += body["items"]
        pages.append(body)
        following = body["links"].get("next")
        if not following:
            return items, pages
        uri = following["uri"]
        uri = uri if uri.startswith("/v1/") else "/v1" + uri
        url, params = sb.urls["partner_center"] + uri, None
        headers = {**headers, **{h["key"]: h["value"] for h in following["headers"]}}


def test_a_month_is_invoiced_from_the_9th_of_the_next_with_its_line_items(sandbox):
    tenant = next(t for t in sandbox.world.tenants.values() if t.reseller and t.country in MARKETS)
    currency = MARKETS[tenant.country][0]
    sandbox_control(sandbox, "POST", "/clock", {"set": "2026-11-20T10:00:00Z"})
    sub_id, __ = buy_subscription(sandbox, tenant, "2026-11-14T09:00:00Z", 4)
    unbilled_items = unbilled.period_line_items(sandbox, currency, "current")
    mine = [i for i in unbilled_items if i["subscriptionId"] == sub_id]
    assert [i["chargeType"] for i in mine] == ["new"]

    # the 8th of December: November is not invoiced yet
    sandbox_control(sandbox, "POST", "/clock", {"set": "2026-12-08T10:00:00Z"})
    listed, __ = _get_all(sandbox, "/v1/invoices", {"size": 2})
    assert not [i for i in listed if i["billingPeriodStartDate"].startswith("2026-11")]

    # the 9th: it is, in the customer's currency, its lines are November's unbilled ones
    sandbox_control(sandbox, "POST", "/clock", {"set": "2026-12-09T10:00:00Z"})
    listed, pages = _get_all(sandbox, "/v1/invoices", {"size": 2})
    assert len(pages) > 1  # paged
    (november,) = [
        i for i in listed
        if i["billingPeriodStartDate"].startswith("2026-11") and i["currencyCode"] == currency
    ]  # fmt: skip
    assert november["id"].startswith("G") and "pdfDownloadLink" not in november
    assert len({i["invoiceDate"][10:] for i in listed}) > 1  # dates in several shapes
    items, pages = _get_all(
        sandbox, f"/v1/invoices/{november['id']}/lineitems",
        {"provider": "onetime", "invoicelineitemtype": "billinglineitems", "size": 3},
    )  # fmt: skip
    licences = [i for i in items if "meterId" not in i]
    azure = [i for i in items if "meterId" in i]
    (bought,) = [i for i in licences if i["subscriptionId"] == sub_id]
    assert (bought["chargeType"], bought["quantity"]) == ("new", 4)
    assert bought["invoiceNumber"] == november["id"]
    assert {i["invoiceNumber"] for i in items} == {november["id"]}
    month = datetime(2026, 11, 1, tzinfo=UTC)
    expected = unbilled.window_line_items(
        sandbox, currency, month, datetime(2026, 12, 1, tzinfo=UTC)
    )
    assert len(licences) == len(expected)
    # the invoice's total is its lines' total
    total = sum(Decimal(str(i["subtotal"])) for i in items)
    assert Decimal(str(november["totalCharges"])) == total
    # Azure: one line per customer and meter, some without their unit price
    if azure:
        assert all(i["productCategory"] == "Azure" and i["subtotal"] > 0 for i in azure)
    every_azure = [
        line for c in invoices._currencies(None)
        for line in invoices.azure_lines(sandbox, month, c, "G0")
    ]  # fmt: skip
    assert every_azure and any("unitPrice" not in line for line in every_azure)


def test_an_unknown_invoice_is_a_404_and_a_wrong_provider_a_400(sandbox):
    token = partner_center_token(sandbox)
    headers = {"Authorization": f"Bearer {token}"}
    base = sandbox.urls["partner_center"] + "/v1/invoices/"
    query = {"provider": "onetime", "invoicelineitemtype": "billinglineitems"}
    answer = requests.get(
        base + "G999912001/lineitems", headers=headers, verify=sandbox.ca_path, params=query
    )
    assert answer.status_code == 404
    listed, __ = _get_all(sandbox, "/v1/invoices", {"size": 50})
    answer = requests.get(base + listed[0]["id"] + "/lineitems", headers=headers,
                          verify=sandbox.ca_path, params={"provider": "azure"})  # fmt: skip
    assert answer.status_code == 400
