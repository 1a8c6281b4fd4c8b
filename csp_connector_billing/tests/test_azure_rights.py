# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Azure consumption's rights, over RPC as the users who press the buttons: CSP users
read the usage and the meter rules; what decides a customer's Azure invoice (meter
rules, markup, fallback product) needs invoicing rights; the usage rows and the
exports' state are the step's own."""

from odoo.tests import new_test_user, tagged
from odoo.tests.common import JsonRpcException

from odoo.addons.csp_connector.tests.code_only import (
    assert_code_only_fields_refused,
    models_guarded_by,
)
from odoo.addons.csp_connector.tests.common import CspSandboxHttpCase

from .common import ASHFORD

ACCESS_ERROR = "odoo.exceptions.AccessError"


@tagged("post_install", "-at_install")
class TestAzureRights(CspSandboxHttpCase):
    sandbox_tenants = 4

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_customer_tenant(ASHFORD)
        new_test_user(cls.env, login="csp_user", groups="csp_connector.group_csp_user")
        new_test_user(
            cls.env, login="csp_mgr_acc",
            groups="csp_connector.group_csp_manager,account.group_account_invoice",
        )  # fmt: skip
        cls.product = cls.env["product.product"].create({"name": "Azure", "type": "service"})
        cls.rule = cls.env["csp.meter.rule"].create(
            {"meter_category": "Storage", "product_id": cls.product.id}
        )
        cls.usage = cls.env["csp.azure.usage"]._csp_code().create(
            {"connection_id": cls.connection.id, "key": "k", "partner_id": cls.customer.id,
             "csp_tenant_id": cls.tenant.id, "period_start": "2026-11-01", "sale_amount": 12.5,
             "meter_category": "Storage"}
        )  # fmt: skip

    def rpc(self, model, method, *args):
        return self.make_jsonrpc_request(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": list(args), "kwargs": {}},
        )

    def assertRefused(self, model, method, *args):
        with self.assertRaises(JsonRpcException) as caught:
            self.rpc(model, method, *args)
        self.assertEqual(caught.exception.args[0], ACCESS_ERROR, f"{model}.{method}{args}")

    def rule_values(self):
        return {"meter_category": "Virtual Machines", "product_id": self.product.id}

    def test_a_csp_user_reads_and_opens_the_usage_but_changes_nothing(self):
        self.authenticate("csp_user", "csp_user")
        action = self.rpc("res.partner", "action_csp_azure_usage", [self.customer.id])
        self.assertEqual(action["res_model"], "csp.azure.usage")
        rows = self.rpc("csp.azure.usage", "search_read", action["domain"], ["sale_amount"])
        self.assertEqual([r["sale_amount"] for r in rows], [12.5])
        self.assertEqual(len(self.rpc("csp.meter.rule", "search_read", [], ["product_id"])), 1)
        self.assertRefused("csp.meter.rule", "create", [self.rule_values()])
        self.assertRefused("csp.meter.rule", "write", [self.rule.id], {"markup": 50})
        self.assertRefused("csp.azure.usage", "write", [self.usage.id], {"sale_amount": 0})

    def test_what_decides_the_invoice_needs_invoicing_rights(self):
        self.authenticate("csp_mgr", "csp_mgr")  # CSP manager, no invoicing rights
        self.assertRefused("csp.meter.rule", "create", [self.rule_values()])
        self.assertRefused("csp.meter.rule", "write", [self.rule.id], {"markup_mode": "rule"})
        self.assertRefused("csp.meter.rule", "unlink", [self.rule.id])
        self.assertRefused(
            "csp.connection", "write", [self.connection.id],
            {"azure_fallback_product_id": self.product.id},
        )  # fmt: skip
        self.assertRefused("res.partner", "write", [self.customer.id], {"csp_azure_markup": 30})
        self.assertRefused("csp.azure.usage", "write", [self.usage.id], {"sale_amount": 0})
        self.assertRefused("csp.connection", "write", [self.connection.id], {"azure_exports": "{}"})
        self.authenticate("csp_mgr_acc", "csp_mgr_acc")
        rule = self.rpc("csp.meter.rule", "create", [self.rule_values()])
        self.rpc("csp.meter.rule", "write", rule, {"markup_mode": "rule", "markup": 15})
        self.assertEqual(self.env["csp.meter.rule"].browse(rule).markup, 15)
        self.assertRefused("csp.azure.usage", "write", [self.usage.id], {"sale_amount": 0})

    def test_the_usage_rows_are_the_steps_own(self):
        """Every code-only field of the usage rows is refused over RPC, even to a user
        holding the billing step's group (who may otherwise write them)."""
        self.assertEqual(models_guarded_by(self.env, "csp_connector_billing"), {"csp.azure.usage"})
        user = new_test_user(
            self.env, login="csp_step",
            groups="csp_connector.group_csp_manager,"
            "csp_connector_billing.group_csp_billing_step",
        )  # fmt: skip
        self.authenticate("csp_step", "csp_step")
        refused = assert_code_only_fields_refused(self, {"csp.azure.usage": self.usage}, user)
        self.assertGreater(refused, 20)
