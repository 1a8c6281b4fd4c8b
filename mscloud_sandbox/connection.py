"""What an Odoo connection needs to reach a running sandbox, from its state file.

The one place that turns a state file (``serve --state-file``) into the values of a
``csp.connection`` and that plays the browser at the sandbox's auto-approving sign-in
pages: used by the add-ons' tests, ``make demo``, ``make bench-users`` and the
production-server test. Plain Python (requests only); it imports nothing of Odoo.

It also reads the sandbox's price sheet and changes a quantity in its Partner Center as
the partner would (``make demo``). From a shell, with the sandbox running::

    python -m mscloud_sandbox.connection STATE_FILE set-quantity CUSTOMER SUBSCRIPTION N
"""

import argparse
import csv
import io
import json
from urllib.parse import parse_qs, urlsplit

import requests

PRICE_SHEET = (
    "/v1.0/sales/pricesheets(Market='{market}',PricesheetView='updatedlicensebased')/$value"
)


def load_state(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def connection_values(state, **extra):
    """Values for ``csp.connection.create``/``write``: the partner tenant, both apps
    (secrets through their write-only inputs), the endpoints and the sandbox's CA."""
    values = {
        "name": "Sandbox partner",
        "partner_tenant_id": state["partner_tenant_id"],
        "pc_client_id": state["partner_center_app"]["client_id"],
        "pc_client_secret_input": state["partner_center_app"]["client_secret"],
        "gdap_client_id": state["gdap_app"]["client_id"],
        "gdap_client_secret_input": state["gdap_app"]["client_secret"],
        "login_endpoint": state["urls"]["login"],
        "partner_center_endpoint": state["urls"]["partner_center"],
        "graph_endpoint": state["urls"]["graph"],
        "ca_bundle_path": state["ca_path"],
    }
    values.update(extra)
    return values


# the name the sandbox issues its webhook signing certificate to ends with this
SANDBOX_CERTIFICATE_NAME = "mscloud-sandbox.invalid"


def webhook_trust_values(state):
    """Values that make a connection trust the sandbox's signed webhook deliveries: its
    CA as the roots, its host and port as the certificate host, its signer's name."""
    return {
        "webhook_roots_path": state["ca_path"],
        "webhook_certificate_hosts": urlsplit(state["urls"]["partner_center"]).netloc,
        "webhook_certificate_names": SANDBOX_CERTIFICATE_NAME,
    }


def browse(url, ca_path):
    """A browser's visit to an auto-approving Microsoft page: the query of the URL it
    is sent back to (a dict)."""
    response = requests.get(url, allow_redirects=False, verify=ca_path, timeout=30)
    location = response.headers.get("Location", "")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def authorize(connection, state):
    """A connection's Partner Center sign-in, without a browser (the sandbox approves)."""
    answer = browse(connection.action_authorize()["url"], state["ca_path"])
    connection.env["csp.connection"]._csp_finish_authorization(answer)
    return answer


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


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m mscloud_sandbox.connection",
        description="Act on a running sandbox as the partner would.",
    )
    parser.add_argument("state_file", help="the sandbox's --state-file")
    commands = parser.add_subparsers(dest="command", required=True)
    change = commands.add_parser(
        "set-quantity", help="change a subscription's quantity in Partner Center"
    )
    change.add_argument("customer_id")
    change.add_argument("subscription_id")
    change.add_argument("quantity", type=int)
    args = parser.parse_args(argv)
    state = load_state(args.state_file)
    answer = set_quantity(state, args.customer_id, args.subscription_id, args.quantity)
    print(
        f"{answer.get('friendlyName') or answer.get('offerName')}: {answer['quantity']} seats "
        "in Partner Center (its webhook event is on its way)."
    )


if __name__ == "__main__":
    main()
