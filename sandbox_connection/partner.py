"""The partner's own actions on a running sandbox, through Microsoft's APIs as the
partner's tools call them: the price sheet of Partner Center's pricing API, a
subscription's quantity changed in Partner Center (``make demo``)."""

import csv
import io

import requests

PRICE_SHEET = (
    "/v1.0/sales/pricesheets(Market='{market}',PricesheetView='updatedlicensebased')/$value"
)


def app_token(state, resource):
    """An app-only token of the Partner Center app in the partner tenant for ``resource``
    (``https://api.partnercenter.microsoft.com`` or ``https://api.partner.microsoft.com``)."""
    app = state["partner_center_app"]
    response = requests.post(
        f"{state['urls']['login']}/{state['partner_tenant_id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": f"{resource}/.default",
        },
        verify=state["ca_path"],
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["access_token"]


def price_sheet(state, market="US"):
    """The sandbox's licence-based price sheet of ``market`` as Partner Center's pricing
    API serves it: {(product id, SKU id, term, billing plan): unit price (text)}, e.g.
    ("CFQ7TTC0LH18", "0001", "P1Y", "Monthly"); "Annual" prices are per year."""
    token = app_token(state, "https://api.partner.microsoft.com")
    response = requests.get(
        state["urls"]["pricing"] + PRICE_SHEET.format(market=market),
        headers={"Authorization": f"Bearer {token}"},
        verify=state["ca_path"],
        timeout=60,
    )
    response.raise_for_status()
    return {
        (row["ProductId"], row["SkuId"], row["TermDuration"], row["BillingPlan"]): row["UnitPrice"]
        for row in csv.DictReader(io.StringIO(response.text))
    }


def set_quantity(state, customer_id, subscription_id, quantity):
    """A subscription's quantity changed in the sandbox's Partner Center, as the partner's
    own tools change it (PATCH of the whole subscription): Partner Center writes its audit
    record and sends the registered webhook its signed "subscription-updated" event.
    Returns the subscription as Partner Center answered it."""
    token = app_token(state, "https://api.partnercenter.microsoft.com")
    url = (
        f"{state['urls']['partner_center']}/v1/customers/{customer_id}"
        f"/subscriptions/{subscription_id}"
    )
    headers = {"Authorization": f"Bearer {token}"}
    current = requests.get(url, headers=headers, verify=state["ca_path"], timeout=30)
    current.raise_for_status()
    body = {**current.json(), "quantity": int(quantity)}
    answer = requests.patch(url, json=body, headers=headers, verify=state["ca_path"], timeout=30)
    answer.raise_for_status()
    return answer.json()
