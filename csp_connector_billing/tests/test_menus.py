# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo.tests import new_test_user, tagged
from odoo.tests.common import TransactionCase
from odoo.tools.safe_eval import safe_eval


@tagged("post_install", "-at_install")
class TestBillingMenus(TransactionCase):
    def test_csp_invoicing_user_opens_recurring_contracts(self):
        """(A CSP user without invoicing rights does not: test_billing_access.)"""
        user = new_test_user(
            self.env, login="csp_biller",
            groups="csp_connector.group_csp_user,account.group_account_invoice",
        )  # fmt: skip
        menu = self.env.ref("csp_connector_billing.menu_csp_billing_contracts")
        self.assertIn(menu.id, self.env["ir.ui.menu"].with_user(user)._visible_menu_ids())
        self.assertEqual(menu.parent_id.parent_id, self.env.ref("csp_connector.menu_csp_root"))
        # the action behind the menu works for that user
        contracts = self.env["contract.contract"].with_user(user).search([])
        self.assertEqual(contracts, self.env["contract.contract"].search([]))

    def test_csp_user_lists_products_without_a_price(self):
        """Microsoft CSP → Billing → Products without a price, as a CSP user: the action's
        domain (CSP products at 0.00) searches for them."""
        user = new_test_user(self.env, login="csp_reader", groups="csp_connector.group_csp_user")
        menu = self.env.ref("csp_connector_billing.menu_csp_billing_products_no_price")
        self.assertIn(menu.id, self.env["ir.ui.menu"].with_user(user)._visible_menu_ids())
        action = menu.action
        self.assertEqual(action.res_model, "product.template")
        Product = self.env["product.template"]
        plain = Product.create({"name": "Not a Microsoft product", "list_price": 0})
        self.assertNotIn(plain, Product.with_user(user).search(safe_eval(action.domain)))
        self.assertFalse(plain.csp_product)
