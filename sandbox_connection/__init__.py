"""An Odoo ``csp.connection`` to a running Microsoft sandbox (``mscloud_sandbox``).

The one place that turns the sandbox's state file (``python -m mscloud_sandbox serve
--state-file``) into the values of a ``csp.connection`` and that plays the browser at
the sandbox's auto-approving sign-in pages: used by the add-ons' tests, ``make demo``,
the benchmarks and the production-server test. Plain Python (requests only); it imports
nothing of Odoo, and the sandbox imports nothing of it.

``partner`` acts on the sandbox as the partner would (its price sheet, a quantity
changed in its Partner Center); from a shell, with the sandbox running::

    python -m sandbox_connection STATE_FILE set-quantity CUSTOMER SUBSCRIPTION N
"""

import json
from urllib.parse import parse_qs, urlsplit

import requests


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
        "pricing_endpoint": state["urls"]["pricing"],
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
