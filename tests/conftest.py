"""Fixtures for the pure pytest tests: a running sandbox and real MSAL clients against it.

Import the token helpers with ``from conftest import graph_token, partner_center_token``.
The add-ons' plain Python parts (``microsoft/``, ``sync/``, ``billing/``) are imported as
``odoo.addons.<addon>....``: under ``make test`` pytest-odoo puts the repository on the
addons path; below, a plain ``pytest tests`` run gets the same. No database is needed.
"""

import pathlib
import threading
import uuid
import warnings
from urllib.parse import parse_qs, urlparse

import msal
import pytest
import requests

import odoo.addons

from mscloud_sandbox.app import Sandbox
from mscloud_sandbox.generate import build_world, catalogue

ROOT = str(pathlib.Path(__file__).resolve().parents[1])
if ROOT not in odoo.addons.__path__:
    odoo.addons.__path__.append(ROOT)

PARTNER_CENTER_SCOPE = "https://api.partnercenter.microsoft.com/user_impersonation"
PRICING_SCOPE = "https://api.partner.microsoft.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
REDIRECT_URI = "http://localhost:8069/csp/oauth/callback"


@pytest.fixture(scope="session", autouse=True)
def load_registry(request):
    """Override pytest-odoo's fixture: open an Odoo registry only if a database is set.

    The sandbox tests need no Odoo; `make test` passes --odoo-database and still gets
    the registry loaded exactly as pytest-odoo does it.
    """
    if not request.config.pluginmanager.hasplugin("odoo"):
        yield
        return
    import pytest_odoo  # noqa: PLC0415

    import odoo  # noqa: PLC0415 - only with pytest-odoo

    if not odoo.tools.config.get("db_name"):
        yield
        return
    threading.current_thread().testing = True
    with pytest_odoo._worker_db_name() as db_name:
        odoo.modules.registry.Registry(db_name)
        yield


def _world():
    return build_world(seed=1, tenants=6, users=30)


@pytest.fixture
def sandbox():
    """A fresh started sandbox over seed 1, 6 tenants, 30 users; stopped afterwards."""
    with Sandbox(_world()) as sb:
        yield sb


@pytest.fixture(scope="session")
def sandbox_session():
    """The same world, shared by the whole session: for read-only tests only."""
    with Sandbox(_world()) as sb:
        yield sb


class CASession(requests.Session):
    """A requests session that trusts the sandbox CA on every request.

    REQUESTS_CA_BUNDLE makes requests ignore ``Session.verify``, so pass it each time.
    """

    def __init__(self, ca_path):
        super().__init__()
        self.ca_path = ca_path

    def request(self, method, url, **kwargs):
        kwargs["verify"] = self.ca_path
        return super().request(method, url, **kwargs)


def msal_app(sb, app, tenant_id=None):
    """An msal.ConfidentialClientApplication for `app` against the sandbox."""
    return msal.ConfidentialClientApplication(
        app.client_id,
        client_credential=app.client_secret,
        authority=f"{sb.base_url}/{tenant_id or sb.world.partner_tenant_id}",
        instance_discovery=False,
        http_client=CASession(sb.ca_path),
    )


def sign_in(sb, client, scopes, login_hint=None, redirect_uri=REDIRECT_URI):
    """Drive the auth-code flow with PKCE through the (auto-approving) authorize page.

    Returns MSAL's result dict (access_token, refresh_token, id_token_claims, ...).
    """
    with warnings.catch_warnings():  # MSAL recommends form_post; the query mode is tested
        warnings.simplefilter("ignore", UserWarning)
        flow = client.initiate_auth_code_flow(
            scopes, redirect_uri=redirect_uri, login_hint=login_hint
        )
    response = requests.get(flow["auth_uri"], allow_redirects=False, verify=sb.ca_path)
    assert response.status_code == 302, response.text
    query = parse_qs(urlparse(response.headers["Location"]).query)
    return client.acquire_token_by_auth_code_flow(flow, {k: v[0] for k, v in query.items()})


def _token(result):
    assert "access_token" in result, result
    return result["access_token"]


def graph_token(sb, tenant_id):
    """App-only Graph token (client credentials, the GDAP app) for a tenant."""
    client = msal_app(sb, sb.world.gdap_app, tenant_id)
    return _token(client.acquire_token_for_client([GRAPH_SCOPE]))


def partner_center_token(sb):
    """Partner Center token of the partner admin (auth-code flow, the Partner Center app)."""
    client = msal_app(sb, sb.world.partner_center_app)
    return _token(sign_in(sb, client, [PARTNER_CENTER_SCOPE]))


def pricing_token(sb):
    """Price-sheet token of the partner admin (auth-code flow, the Partner Center app)."""
    client = msal_app(sb, sb.world.partner_center_app)
    return _token(sign_in(sb, client, [PRICING_SCOPE]))


# -- the sandbox's control API and Partner Center, as the billing tests drive them --------


def sandbox_control(sb, method, path, body=None):
    """A call of the sandbox's control API (``path`` from its root, e.g. "/clock")."""
    answer = requests.request(method, sb.urls["control"] + path, json=body, verify=sb.ca_path)
    assert answer.status_code < 400, answer.text
    return answer.json() if answer.content else None


def buy_subscription(sb, tenant, start, quantity, cycle="monthly", term="P1Y"):
    """A new-commerce subscription of a paid SKU bought by `tenant` on `start` (a date
    or its ISO text): (subscription id, the SKU)."""
    sku = next(s for s in catalogue().values() if not s.free)
    start = start if isinstance(start, str) else start.isoformat()
    body = {
        "id": str(uuid.uuid4()),  # Partner Center's ids are lower case
        "offerId": f"{sku.nce_product_id}:{sku.nce_sku_id}",
        "offerName": sku.product_name,
        "skuId": sku.sku_id,
        "quantity": quantity,
        "billingCycle": cycle,
        "termDuration": term,
        "effectiveStartDate": start,
        "creationDate": start,
        "commitmentEndDate": start,
    }
    return sandbox_control(sb, "POST", f"/tenants/{tenant.id}/subscriptions", body)["id"], sku


def patch_subscription(sb, tenant, sub_id, body):
    """A subscription changed through Partner Center's API, as the partner admin."""
    answer = requests.patch(
        f"{sb.urls['partner_center']}/v1/customers/{tenant.id}/subscriptions/{sub_id}",
        json=body,
        headers={"Authorization": f"Bearer {partner_center_token(sb)}"},
        verify=sb.ca_path,
    )
    assert answer.status_code == 200, answer.text
