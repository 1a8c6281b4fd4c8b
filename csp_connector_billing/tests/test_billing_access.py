# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Contracts stay the accountants' (OCA contract's own groups): a CSP user without
accounting rights reads none; the billing step, run by the integrator, still bills."""

import datetime as dt

from odoo import Command
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

    def test_another_companys_manager_sees_no_cost_price_or_report(self):
        self.connection.write({"licence_import_type": "subscriptions"})
        self.connection._csp_sync(trigger="manual", modules=["licences"])
        subscription = self.env["csp.subscription"].search(
            [("csp_tenant_id", "=", self.tenant.id)], limit=1
        )
        self.assertTrue(subscription)
        adjustment = self.env["csp.billing.adjustment"].create({
            "key": "company-a-1", "subscription_id": subscription.id, "name": "+2 seats",
            "charge_type": "addQuantity", "quantity": 2, "period_start": "2026-11-20",
            "period_end": "2026-12-17", "changed_at": "2026-11-20 10:00:00",
            "currency_id": self.env.company.currency_id.id, "cost_amount": 18.4, "amount": 24.0,
        })  # fmt: skip
        Report = self.env["csp.billing.reconciliation"]
        report = Report._csp_for(self.tenant, dt.date(2026, 11, 1))
        report.write({"state": "different", "line_ids": [Command.create({
            "status": "different", "subscription_id": subscription.id, "odoo_amount": 18.4,
        })]})  # fmt: skip
        records = [adjustment, report, report.line_ids]
        company_b = self.env["res.company"].create({"name": "Other MSP Ltd"})
        manager_b = new_test_user(
            self.env, login="csp_manager_b", company_id=company_b.id,
            company_ids=[Command.set(company_b.ids)],
            groups="csp_connector.group_csp_manager,account.group_account_manager",
        )  # fmt: skip
        manager_a = new_test_user(
            self.env, login="csp_manager_a",
            groups="csp_connector.group_csp_manager,account.group_account_manager",
        )  # fmt: skip
        for record in records:
            model = self.env[record._name]
            # company A's own manager sees them
            self.assertEqual(model.with_user(manager_a).search([("id", "=", record.id)]), record)
            # company B's: neither found, nor read, nor deleted
            self.assertFalse(model.with_user(manager_b).search([]), record._name)
            with self.assertRaises(AccessError, msg=record._name):
                record.with_user(manager_b).read(["display_name"])
            if record._name != "csp.billing.adjustment":  # nobody deletes adjustments
                with self.assertRaises(AccessError, msg=record._name):
                    record.with_user(manager_b).unlink()
        self.assertTrue(report.exists() and report.line_ids.exists())
