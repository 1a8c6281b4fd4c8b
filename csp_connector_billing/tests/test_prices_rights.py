# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Who may do what with prices, on the server (over JSON-RPC, as the user who presses
the button): a CSP manager imports the price sheets, a CSP user only reads the prices and
the upcoming changes; nobody writes the price table or the changes by hand; the price
policy, which decides what customers pay, needs invoicing rights; another company's
prices stay out of sight."""

from odoo.tests import new_test_user, tagged
from odoo.tests.common import JsonRpcException

from odoo.addons.csp_connector.tests.code_only import assert_code_only_fields_refused
from odoo.addons.csp_connector.tests.common import CspSandboxHttpCase

ACCESS_ERROR = "odoo.exceptions.AccessError"
ROW = {
    "key": "GB|CFQ7TTC0KQQ8|0001|P1Y|Monthly|2026-12-01", "market": "GB",
    "product_code": "CFQ7TTC0KQQ8", "sku_code": "0001", "term": "P1Y",
    "billing_plan": "Monthly", "unit_price": 47.15, "erp_price": 51.86,
    "date_start": "2026-12-01",
}  # fmt: skip


@tagged("post_install", "-at_install")
class TestPricesRights(CspSandboxHttpCase):
    sandbox_tenants = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.connect_as_admin()
        cls.user = new_test_user(cls.env, login="csp_usr", groups="csp_connector.group_csp_user")
        cls.accountant = new_test_user(
            cls.env, login="csp_mgr_acc",
            groups="csp_connector.group_csp_manager,account.group_account_invoice",
        )  # fmt: skip
        cls.price = cls.env["csp.price"].create({"connection_id": cls.connection.id, **ROW})
        other_company = cls.env["res.company"].create({"name": "Other MSP"})
        other = cls.env["csp.connection"].create(
            {"name": "Other MSP's", "company_id": other_company.id}
        )
        cls.other_price = cls.env["csp.price"].create({"connection_id": other.id, **ROW})

    def rpc(self, model, method, *args, **kwargs):
        return self.make_jsonrpc_request(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": list(args), "kwargs": kwargs},
        )

    def assertRefused(self, model, method, *args):
        with self.assertRaises(JsonRpcException) as caught:
            self.rpc(model, method, *args)
        self.assertEqual(caught.exception.args[0], ACCESS_ERROR, f"{model}.{method}{args}")

    def test_a_csp_user_reads_prices_but_cannot_import_them(self):
        self.authenticate("csp_usr", "csp_usr")
        connection = self.connection.id
        self.assertRefused("csp.connection", "action_import_prices", [connection])
        self.assertRefused("csp.connection", "action_import_future_prices", [connection])
        self.env.invalidate_all()
        self.assertFalse(self.connection.price_import_requested)
        # reading: the price sheet and the upcoming changes (the menu's list)
        found = self.rpc("csp.price", "search_read", [], fields=["unit_price", "market"])
        self.assertEqual([row["id"] for row in found], self.price.ids)  # not the other's
        action = self.rpc("csp.connection", "action_view_upcoming_prices", [connection])
        self.assertEqual(action["res_model"], "csp.price.change")
        self.rpc("csp.price.change", "search_read", action["domain"], fields=["new_cost"])
        # nobody writes the price table by hand
        self.assertRefused("csp.price", "write", [self.price.id], {"unit_price": 1.0})
        self.assertRefused("csp.price", "unlink", [self.price.id])
        self.assertRefused("csp.price", "create", {**ROW, "connection_id": connection})

    def test_a_csp_manager_imports_the_price_sheets(self):
        self.authenticate("csp_mgr", "csp_mgr")
        connection = self.connection.id
        action = self.rpc("csp.connection", "action_import_prices", [connection])
        self.assertEqual(action["res_model"], "csp.sync.run")
        self.rpc("csp.connection", "action_import_future_prices", [connection])
        self.env.invalidate_all()
        self.assertTrue(self.connection.price_import_requested)
        self.assertTrue(self.connection.price_future_requested)
        run = self.env["csp.sync.run"].browse(action["res_id"])
        self.assertIn("prices", run.steps)
        # ... but neither writes the price table nor decides the policy
        self.assertRefused("csp.price", "write", [self.price.id], {"unit_price": 1.0})
        self.assertRefused("csp.price.change", "create", {"subscription_id": 1})
        self.assertRefused("csp.connection", "write", [connection], {"price_policy": "list"})
        # the market is a CSP manager's setting
        self.rpc("csp.connection", "write", [connection], {"price_market": "au"})
        self.env.invalidate_all()
        self.assertEqual(self.connection.price_market, "AU")
        self.assertEqual(self.connection.price_currency_id.name, "AUD")

    def test_the_price_policy_needs_invoicing_rights(self):
        self.authenticate("csp_mgr_acc", "csp_mgr_acc")
        self.rpc("csp.connection", "write", [self.connection.id], {"price_policy": "margin"})
        self.env.invalidate_all()
        self.assertEqual(self.connection.price_policy, "margin")

    def test_the_step_s_own_fields_are_code_only(self):
        self.authenticate("csp_mgr", "csp_mgr")
        refused = assert_code_only_fields_refused(
            self, {"csp.connection": self.connection}, self.manager
        )
        self.assertGreaterEqual(refused, 3)
