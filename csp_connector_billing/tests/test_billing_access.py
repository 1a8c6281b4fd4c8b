# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Contracts stay the accountants' (OCA contract's own groups): a CSP user without
accounting rights reads none; the billing step, run by the integrator, still bills."""

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import BillingSandboxCase


@tagged("post_install", "-at_install")
class TestBillingAccess(BillingSandboxCase):
    def test_csp_users_read_no_contract_and_the_integrator_bills(self):
        integrator = self.env.ref("csp_connector.user_csp_integrator")
        manager = new_test_user(
            self.env, login="csp_no_accounts", groups="csp_connector.group_csp_manager"
        )
        accountant = new_test_user(
            self.env, login="csp_accountant",
            groups="csp_connector.group_csp_user,account.group_account_invoice",
        )  # fmt: skip
        contracts = self.env["contract.contract"]
        for rule in ("monthly", "yearly"):
            contracts |= contracts.create(
                {"name": f"{rule} contract", "partner_id": self.customer.id,
                 "contract_type": "sale", "recurring_rule_type": rule,
                 "recurring_interval": 1, "date_start": "2026-01-01"}
            )  # fmt: skip
        self.connection.write({"licence_import_type": "both", "billing_mode": "lines"})
        # the scheduled run: as the integrator, who has no accounting rights either
        run = self.connection.with_user(integrator)._csp_sync(
            trigger="cron", modules=["users", "licences", "billing"]
        )
        self.assertEqual(run.state, "done", run.message)
        lines = contracts.contract_line_ids.filtered("csp_subscription_id")
        self.assertTrue(lines)
        billing = run.line_ids.filtered(
            lambda x: x.step == "billing" and x.csp_tenant_id == self.tenant
        )
        self.assertEqual((billing.state, billing.created), ("done", len(lines)), billing.message)
        # a CSP manager without accounting rights: no contract, no contract line
        for records in (contracts, lines):
            with self.assertRaises(AccessError):
                records.with_user(manager).read(["display_name"])
            with self.assertRaises(AccessError):
                records.with_user(manager).search([])
        menu = self.env.ref("csp_connector_billing.menu_csp_billing_contracts")
        self.assertNotIn(menu.id, self.env["ir.ui.menu"].with_user(manager)._visible_menu_ids())
        # ... still sees which line bills a subscription (its name, as on the form)
        subscription = lines[0].csp_subscription_id.with_user(manager)
        shown = subscription.web_read({"contract_line_id": {"fields": {"display_name": {}}}})
        self.assertEqual(shown[0]["contract_line_id"]["display_name"], lines[0].display_name)
        # an accountant reads them as OCA contract allows
        self.assertEqual(contracts.with_user(accountant).search([]), contracts.search([]))
        self.assertIn(menu.id, self.env["ir.ui.menu"].with_user(accountant)._visible_menu_ids())
