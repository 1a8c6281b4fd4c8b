# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo.tests import new_test_user, tagged
from odoo.tests.common import TransactionCase


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
