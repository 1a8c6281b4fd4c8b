# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What a customer is invoiced is decided by users with invoicing rights, on the server:
over RPC, a CSP manager without them cannot turn invoice lines on, change the line
quantity or rounding, or give a tenant billed on contracts to another customer; with
them, they can."""

from odoo.tests import new_test_user, tagged
from odoo.tests.common import JsonRpcException

from odoo.addons.csp_connector.tests.common import CspSandboxHttpCase

from .common import ASHFORD

ACCESS_ERROR = "odoo.exceptions.AccessError"


@tagged("post_install", "-at_install")
class TestBillingRights(CspSandboxHttpCase):
    sandbox_tenants = 4

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_customer_tenant(ASHFORD)
        cls.accountant = new_test_user(
            cls.env, login="csp_mgr_acc",
            groups="csp_connector.group_csp_manager,account.group_account_invoice",
        )  # fmt: skip
        cls.other = cls.env["res.partner"].create({"name": "Other Customer", "is_company": True})

    def rpc(self, model, method, *args):
        return self.make_jsonrpc_request(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": list(args), "kwargs": {}},
        )

    def assertRefused(self, model, method, *args):
        with self.assertRaises(JsonRpcException) as caught:
            self.rpc(model, method, *args)
        self.assertEqual(caught.exception.args[0], ACCESS_ERROR, f"{model}.{method}{args}")

    def test_the_integrator_holds_the_billing_steps_group_only(self):
        """The scheduled billing step's technical user gets this add-on's group (what the
        step writes, see csp_connector's test of the integrator's groups), no invoicing
        or accounting group."""
        held = set(self.env.ref("csp_connector.user_csp_integrator").groups_id.get_external_id()
                   .values())  # fmt: skip
        self.assertIn("csp_connector_billing.group_csp_billing_step", held)
        accounting = {xmlid for xmlid in held if xmlid.split(".")[0] in ("account", "contract")}
        self.assertEqual(accounting, set())

    def test_invoice_lines_need_invoicing_rights(self):
        connection = self.connection.id
        self.authenticate("csp_mgr", "csp_mgr")  # CSP manager, no invoicing rights
        self.assertRefused("csp.connection", "write", [connection], {"billing_mode": "lines"})
        self.assertRefused("csp.connection", "write", [connection], {"billing_rounding": "half_up"})
        self.assertRefused(
            "csp.connection", "write", [connection], {"billing_quantity_basis": "assigned"}
        )
        self.assertRefused(
            "csp.connection", "create",
            {"name": "Another", "partner_tenant_id": "x", "billing_mode": "lines"},
        )  # fmt: skip
        # products only: a CSP manager's choice
        self.rpc("csp.connection", "write", [connection], {"billing_mode": "products"})
        # ... and the tenant's customer while no invoice line is added
        self.rpc("csp.tenant", "write", [self.tenant.id], {"partner_id": self.other.id})
        self.rpc("csp.tenant", "write", [self.tenant.id], {"partner_id": self.customer.id})
        self.env.invalidate_all()
        self.assertEqual(
            (self.connection.billing_mode, self.connection.billing_rounding),
            ("products", "reconciliation_file"),
        )

        self.authenticate("csp_mgr_acc", "csp_mgr_acc")  # with invoicing rights
        self.rpc("csp.connection", "write", [connection],
                 {"billing_mode": "lines", "billing_rounding": "half_up"})  # fmt: skip
        self.env.invalidate_all()
        self.assertEqual(
            (self.connection.billing_mode, self.connection.billing_rounding), ("lines", "half_up")
        )

        # invoice lines on: only invoicing rights give the tenant to another customer
        self.authenticate("csp_mgr", "csp_mgr")
        self.assertRefused("csp.tenant", "write", [self.tenant.id], {"partner_id": self.other.id})
        self.assertRefused("csp.tenant", "write", [self.tenant.id], {"partner_id": False})
        self.authenticate("csp_mgr_acc", "csp_mgr_acc")
        self.rpc("csp.tenant", "write", [self.tenant.id], {"partner_id": self.other.id})
        self.env.invalidate_all()
        self.assertEqual(self.tenant.partner_id, self.other)
