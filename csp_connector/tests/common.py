# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Tests run against the repository's Microsoft cloud sandbox, started as a separate
process and driven through its control API, exactly as Microsoft would be reached:
through the endpoints configured on the connection. One process serves the whole test
run (pytest's or Odoo's own runner), reset through its control API before each test
class to the size the class asks (``sandbox_tenants``)."""

import atexit
import json
import pathlib
import subprocess
import sys
import tempfile
import time
from urllib.parse import parse_qs, urlsplit

import requests

from odoo.tests import new_test_user
from odoo.tests.common import HttpCase, TransactionCase

from sandbox_connection import connection_values

from ..microsoft import auth, sso
from ..models import csp_webhook

REPO = pathlib.Path(__file__).resolve().parents[2]


class SandboxProcess:
    """A `python -m mscloud_sandbox serve` process on a free port, with a CA of its own.

    The tests share one (:meth:`shared`), reset through its control API before each test
    class; a test that needs a second Microsoft cloud starts one and stops it."""

    _shared = None  # the test session's process

    def __init__(self, tenants=8, users=12, seed=1):
        self.workdir = tempfile.TemporaryDirectory(prefix="csp-sandbox-")
        state_file = pathlib.Path(self.workdir.name, "state.json")
        # its errors go to a file: a pipe nobody reads would block a long-lived sandbox
        self.log = open(pathlib.Path(self.workdir.name, "stderr.log"), "w+b")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "mscloud_sandbox", "serve", "--port", "0",
                "--seed", str(seed), "--tenants", str(tenants), "--users", str(users),
                "--ca-path", str(pathlib.Path(self.workdir.name, "ca.pem")),
                "--state-file", str(state_file),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not state_file.exists() or not state_file.stat().st_size:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                raise RuntimeError(f"sandbox did not start: {self.log.read()!r}")
            time.sleep(0.05)
        self.info = json.loads(state_file.read_text())
        self.ca_path = self.info["ca_path"]
        self.urls = self.info["urls"]

    @classmethod
    def shared(cls, tenants=8, users=12, seed=1):
        """The test session's sandbox as a new one of that size starts: started at first
        use (and stopped when the tests' process ends), else reset."""
        if cls._shared is None or cls._shared.process.poll() is not None:
            cls._shared = cls(tenants=tenants, users=users, seed=seed)
            atexit.register(cls._shared.stop)
        else:
            cls._shared.reset(tenants=tenants, users=users, seed=seed)
        return cls._shared

    def reset(self, tenants=8, users=12, seed=1):
        """The control API's reset: a world generated anew, the clock at real time, no
        fault, new signing keys, no webhook registration (same port and CA)."""
        state = self.control("POST", "reset", {"tenants": tenants, "users": users, "seed": seed})
        partner, apps = state["partner"], state["apps"]
        self.info |= {
            "partner_tenant_id": partner["tenant_id"],
            "partner_admin_upn": partner["admin_upn"],
            "partner_center_app": {
                key: apps["partner_center"][key] for key in ("client_id", "client_secret")
            },
            "gdap_app": {key: apps["gdap"][key] for key in ("client_id", "client_secret")},
        }

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        self.workdir.cleanup()

    def control(self, method, path, payload=None):
        response = requests.request(
            method, f"{self.urls['control']}/{path.lstrip('/')}", json=payload,
            verify=self.ca_path, timeout=30,
        )  # fmt: skip
        response.raise_for_status()
        return response.json() if response.content else None

    def state(self):
        return self.control("GET", "state")

    def tenants(self):
        return self.state()["tenants"]

    def fault(self, **rule):
        return self.control("POST", "faults", rule)

    def browse(self, url):
        """What a browser does at an auto-approving Microsoft page: the redirect URL."""
        response = requests.get(url, allow_redirects=False, verify=self.ca_path, timeout=30)
        assert response.status_code in (302, 303), response.text
        return response.headers["Location"]


def forget_sandbox_answers():
    """What this process keeps of the sandbox's answers, dropped as the sandbox is reset
    (a new sandbox process had new URLs: nothing kept applied to it): app tokens, the
    sign-in keys and the webhook signing certificates."""
    auth.forget_app_tokens()
    sso.forget_signing_keys()
    with csp_webhook._certificates_lock:
        csp_webhook._certificates.clear()


def query_of(url):
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


class SandboxMixin:
    """The session's sandbox, reset for each test class, and a connection to it."""

    sandbox_tenants = 8

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sandbox = SandboxProcess.shared(tenants=cls.sandbox_tenants)
        forget_sandbox_answers()
        info = cls.sandbox.info
        cls.partner = info["partner_tenant_id"]
        cls.manager = new_test_user(
            cls.env, login="csp_mgr", groups="csp_connector.group_csp_manager"
        )
        cls.connection = cls.env["csp.connection"].create(connection_values(info))

    def authorize(self, connection=None):
        """The whole sign-in without a browser: Microsoft's answer goes to the model."""
        connection = connection or self.connection
        action = connection.action_authorize()
        answer = query_of(self.sandbox.browse(action["url"]))
        connection.env["csp.connection"]._csp_finish_authorization(answer)
        return answer

    def discover(self, connection=None):
        """Tenant discovery run here and now ("Discover tenants" only queues it)."""
        connection = connection or self.connection
        return connection._csp_sync(trigger="manual", modules=["tenants"])

    def special(self, name):
        return self.sandbox.state()["special"][name]

    @classmethod
    def connect_as_admin(cls):
        """Signed in as the administrator and tenants discovered (sets cls.connection)."""
        cls.connection = cls.connection.with_user(cls.env.ref("base.user_admin"))
        cls.authorize(cls)
        cls.discover(cls)

    @classmethod
    def setup_customer_tenant(cls, tenant_id, name="Ashford & Pike"):
        """As `connect_as_admin`, then the tenant `tenant_id` given to a new customer and
        its users to the customer's main site: sets cls.customer and cls.tenant."""
        cls.connect_as_admin()
        cls.customer = cls.env["res.partner"].create({"name": name, "is_company": True})
        cls.tenant = cls.connection.tenant_ids.filtered(lambda t: t.tenant_id == tenant_id)
        cls.map_users_to(cls.tenant, cls.customer)

    @classmethod
    def setup_subscriptions_tenant(cls, tenant_id, name="Ashford & Pike"):
        """As `connect_as_admin`, then the tenant `tenant_id` given to a new customer, its
        licence import reading Partner Center subscriptions: sets cls.tenant."""
        cls.connect_as_admin()
        customer = cls.env["res.partner"].create({"name": name, "is_company": True})
        cls.tenant = cls.connection.tenant_ids.filtered(lambda t: t.tenant_id == tenant_id)
        cls.tenant.partner_id = customer
        cls.connection.licence_import_type = "subscriptions"

    @classmethod
    def setup_customer_tenants(cls, name="Ashford & Pike"):
        """Signed in as the administrator, tenants discovered, and the sandbox's two
        tenants of one company given to a new customer: sets cls.connection,
        cls.customer, cls.t1 and cls.t2."""
        cls.connect_as_admin()
        first, second = cls.sandbox.state()["special"]["two_tenant_company"]
        cls.customer = cls.env["res.partner"].create({"name": name, "is_company": True})
        tenants = cls.connection.tenant_ids
        cls.t1 = tenants.filtered(lambda t: t.tenant_id == first)
        cls.t2 = tenants.filtered(lambda t: t.tenant_id == second)

    @classmethod
    def map_users_to(cls, tenant, customer):
        """`tenant` mapped to `customer`, its users to the customer's main site."""
        tenant.partner_id = customer
        return cls.env["csp.site.mapping"].create(
            {"connection_id": tenant.connection_id.id, "kind": "site",
             "customer_id": customer.id, "site_id": customer.id,
             "tenant_ids": [(6, 0, tenant.ids)]}
        )  # fmt: skip


class CspSandboxCase(SandboxMixin, TransactionCase):
    pass


class CspSandboxHttpCase(SandboxMixin, HttpCase):
    pass
