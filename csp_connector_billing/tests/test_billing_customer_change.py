# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""A tenant given to another customer after its subscriptions were put on contract lines:
the lines leave the former customer's contracts (after what they invoiced) for the new
customer's, both contracts say so, and only users with invoicing rights may do it."""

import datetime as dt

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import BillingInvoicingCase


@tagged("post_install", "-at_install")
class TestBillingCustomerChange(BillingInvoicingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.accountant = new_test_user(
            cls.env, login="csp_mgr_invoicing",
            groups="csp_connector.group_csp_manager,account.group_account_invoice",
        )  # fmt: skip

    def setUp(self):
        super().setUp()
        # the contracts start last month, the subscriptions go on them, last month is
        # invoiced
        self.contract.date_start = self.yearly.date_start = self.month
        self.sync_at(dt.datetime.combine(self.month, dt.time(8)))
        self.assertTrue(self.invoice(self.month))

    def test_a_new_customer_takes_the_lines_and_both_contracts_say_so(self):
        lines = self.contract.contract_line_ids.filtered("csp_subscription_id")
        subscriptions = lines.csp_subscription_id
        annual_lines = self.yearly.contract_line_ids.filtered("csp_subscription_id")
        self.assertTrue(lines and annual_lines)
        self.assertEqual(
            set(lines.mapped("last_date_invoiced")), {self.next_month - dt.timedelta(1)}
        )
        quantities = {line.csp_subscription_id: line.quantity for line in lines}
        annual = annual_lines.csp_subscription_id
        # the new customer has a monthly contract only; its name is text, not HTML
        newcomer = self.env["res.partner"].create(
            {"name": "Bramble <b>&</b> Co", "is_company": True}
        )
        new_contract = self.env["contract.contract"].create({
            "name": "Bramble monthly", "partner_id": newcomer.id, "contract_type": "sale",
            "recurring_rule_type": "monthly", "recurring_interval": 1,
            "date_start": self.next_month, "journal_id": self.journal.id,
        })  # fmt: skip
        # a CSP manager without invoicing rights may not give the tenant to another customer
        manager = new_test_user(
            self.env, login="csp_mgr_only", groups="csp_connector.group_csp_manager"
        )
        with self.assertRaisesRegex(AccessError, "invoicing rights"):
            self.tenant.with_user(manager).write({"partner_id": newcomer.id})
        self.assertEqual(lines.contract_id, self.contract)
        # with invoicing rights: the lines move
        self.tenant.with_user(self.accountant).write({"partner_id": newcomer.id})
        # the former customer's lines end after the month they invoiced
        self.assertFalse(lines.csp_subscription_id)
        self.assertEqual(set(lines.mapped("date_end")), {self.next_month - dt.timedelta(1)})
        self.assertFalse(any(lines.mapped("recurring_next_date")))
        # the new customer's contract continues them, at the same quantities
        moved = new_contract.contract_line_ids
        self.assertEqual(moved.csp_subscription_id, subscriptions)
        for line in moved:
            self.assertEqual(line.quantity, quantities[line.csp_subscription_id])
            self.assertEqual(line.csp_subscription_id.contract_line_id, line)
        # the annual ones find no yearly contract of the new customer: ended, waiting
        self.assertFalse(annual_lines.csp_subscription_id)
        self.assertFalse(annual.contract_line_id)
        self.assertTrue(all(annual_lines.mapped("date_end")))
        # both contracts say so, the names escaped
        said = " ".join(self.contract.message_ids.mapped("body"))
        self.assertIn("now belongs to Bramble &lt;b&gt;&amp;&lt;/b&gt; Co", said)
        self.assertIn("moves to Bramble monthly", said)
        self.assertNotIn("<b>&amp;</b>", said)
        heard = " ".join(new_contract.message_ids.mapped("body"))
        self.assertIn("moved here from Microsoft 365 of Ashford &amp; Pike", heard)
        self.assertEqual(heard.count("moved here"), len(subscriptions))
        waiting = " ".join(self.yearly.message_ids.mapped("body"))
        self.assertIn("no contract yet", waiting)
        # next month: the former customer is not invoiced for them, the new one is
        old_invoices = self.invoice(self.next_month).filtered(
            lambda move: move.invoice_date >= self.next_month
        )
        self.assertFalse(old_invoices.invoice_line_ids.filtered(
            lambda ml: ml.contract_line_id in lines))  # fmt: skip
        new_invoice = self.invoice(self.next_month, new_contract)
        self.assertEqual(len(new_invoice), 1)
        self.assertEqual(new_invoice.partner_id, newcomer)
        self.assertEqual(new_invoice.invoice_line_ids.contract_line_id, moved)
        # the next scheduled run changes nothing more, and asks for the yearly contract
        run = self.sync()
        billing = run.line_ids.filtered(
            lambda x: x.step == "billing" and x.csp_tenant_id == self.tenant
        )
        self.assertEqual((billing.created, billing.skipped), (0, len(annual)), billing.message)
        self.assertEqual(new_contract.contract_line_ids, moved)

    def test_the_billing_step_moves_lines_left_on_another_customers_contract(self):
        lines = self.contract.contract_line_ids.filtered("csp_subscription_id")
        subscriptions = lines.csp_subscription_id
        newcomer = self.env["res.partner"].create({"name": "Quill Ltd", "is_company": True})
        new_contract = self.new_contract("Quill monthly", "monthly", start=self.next_month)
        new_contract.partner_id = newcomer
        # a mapping changed by code (no move there): the scheduled run moves the lines
        self.env.cr.execute(
            "UPDATE csp_tenant SET partner_id = %s WHERE id = %s", [newcomer.id, self.tenant.id]
        )
        self.env.invalidate_all()
        self.env["csp.subscription"].search([("csp_tenant_id", "=", self.tenant.id)]).modified(
            ["csp_tenant_id"]
        )
        self.env.flush_all()
        self.sync()
        self.assertFalse(lines.csp_subscription_id)
        self.assertEqual(new_contract.contract_line_ids.csp_subscription_id, subscriptions)
        integrator = self.env.ref("csp_connector.user_csp_integrator")
        note = self.contract.message_ids.filtered(lambda m: "now belongs to Quill Ltd" in m.body)
        self.assertEqual(len(note), len(lines))
        self.assertEqual(note.author_id, integrator.partner_id)
