# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The reconciliation with Microsoft's invoice, against the sandbox: the customer's
subscriptions on contracts from this month, invoiced and posted by OCA contract at the
cost + 15 %; once Microsoft has invoiced the month (the 9th of the next) its invoice's
line items and the customer's posted invoices show no difference, each subscription's
cost, sale and margin; a seat count invoiced differently and a subscription not invoiced
name their cause; a read not proven whole writes nothing; CSP users read and print the
report, only managers run it."""

import datetime as dt

from freezegun import freeze_time

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from ..billing import reconcile
from .common import ASHFORD, BillingSandboxCase

MARGIN = 1.15


@tagged("post_install", "-at_install")
class TestBilledReconciliation(BillingSandboxCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.ref("base.GBP").active = True
        cls.connection.write({
            "licence_import_type": "subscriptions", "billing_mode": "lines",
            "billing_currency_id": cls.env.ref("base.GBP").id,
            "licence_full_read_hours": 0,
        })  # fmt: skip
        cls.now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        cls.month = cls.now.date().replace(day=1)
        cls.setup_contracts(cls.month)
        cls.manager = new_test_user(
            cls.env, login="csp_billed_manager", groups="csp_connector.group_csp_manager"
        )
        cls.reader = new_test_user(
            cls.env, login="csp_billed_reader", groups="csp_connector.group_csp_user"
        )

    def setUp(self):
        super().setUp()
        self.sync()
        prices = self.sandbox.control("GET", f"billing?tenant={ASHFORD}")["prices"]
        subscriptions = self.env["csp.subscription"].search(
            [("csp_tenant_id", "=", self.tenant.id)]
        )
        for subscription in subscriptions:
            subscription.cost_price = float(prices[subscription.microsoft_id])
        lines = self.env["contract.line"].search(
            [("contract_id", "in", (self.contract | self.yearly).ids),
             ("csp_subscription_id", "!=", False)]
        )  # fmt: skip
        self.assertTrue(lines, "the billing step put the subscriptions on the contracts")
        for line in lines:
            line.price_unit = round(line.csp_subscription_id.cost_price * MARGIN, 2)
        with freeze_time(dt.datetime.combine(self.month, dt.time(9))):
            self.env["contract.contract"]._cron_recurring_create(date_ref=self.month)
        self.invoices = self.env["account.move"].search(
            [("invoice_line_ids.contract_line_id.contract_id", "in",
              (self.contract | self.yearly).ids)]
        )  # fmt: skip
        self.invoices.action_post()
        # the 9th of next month: Microsoft has invoiced this month
        self.billed_day = dt.datetime.combine(
            reconcile.next_month(self.month).replace(day=9), dt.time(10)
        )
        self.sandbox.control("POST", "clock", {"set": self.billed_day.isoformat() + "Z"})
        self.addCleanup(
            self.sandbox.control, "POST", "clock",
            {"set": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat() + "Z"},
        )  # fmt: skip

    def reconcile(self, user=None):
        with freeze_time(self.billed_day):
            action = self.tenant.with_user(user or self.manager).action_billing_reconcile_invoice()
        return self.env["csp.billing.reconciliation"].browse(action["res_id"])

    def again(self, report):
        with freeze_time(self.billed_day):
            report.with_user(self.manager).action_reconcile_again()

    def invoice_azure(self, amount):
        """The customer's Azure consumption of the month invoiced and posted, as an Azure
        add-on writes its lines (the seam: csp_reconcile_key and csp_period_start)."""
        product = self.env["product.product"].create(
            {"name": "Azure consumption", "type": "service"}
        )
        move = self.env["account.move"].create({
            "move_type": "out_invoice", "partner_id": self.customer.id,
            "journal_id": self.journal.id, "invoice_date": reconcile.next_month(self.month),
            "invoice_line_ids": [(0, 0, {
                "product_id": product.id, "name": "Azure consumption", "quantity": 1,
                "price_unit": amount, "tax_ids": [(6, 0, [])],
            })],
        })  # fmt: skip
        move.invoice_line_ids.write(
            {"csp_reconcile_key": reconcile.AZURE, "csp_period_start": self.month}
        )
        move.action_post()
        return move

    def invoice_line(self, subscription):
        return self.invoices.invoice_line_ids.filtered(
            lambda line: line.contract_line_id.csp_subscription_id == subscription
        )

    def test_a_month_invoiced_correctly_then_planted_differences(self):
        report, azure_invoice, billed = self.check_a_month_invoiced_correctly()
        line = billed.filtered(lambda line: line.subscription_id.billing_cycle == "monthly")[:1]
        invoice_line = self.plant_seats_and_price(report, line.subscription_id)
        self.plant_not_invoiced(report, invoice_line, azure_invoice)

        # the printable report, as a CSP user (read rights only)
        html = (
            self.env["ir.actions.report"]
            .with_user(self.reader)
            ._render_qweb_html("csp_connector_billing.report_csp_reconciliation", report.ids)[0]
            .decode()
        )
        self.assertIn("Not invoiced to the customer", html)
        self.assertIn("Margin", html)
        self.assertEqual(report.with_user(self.reader).action_print()["report_type"], "qweb-pdf")

    def check_a_month_invoiced_correctly(self):
        """(report, the Azure invoice, the lines both sides hold) of the correct month."""
        report = self.reconcile()
        self.assertEqual((report.kind, report.month), ("billed", self.month))
        self.assertTrue(report.invoice_numbers.startswith("G"), report.message)
        # the customer's Azure consumption is on Microsoft's invoice, not on Odoo's yet
        (azure,) = report.line_ids.filtered(lambda line: line.status != "matched")
        self.assertEqual((azure.line_kind, azure.cause), ("azure", "not_invoiced"))
        self.assertEqual(azure.product_label, "Azure consumption")
        self.assertGreater(azure.microsoft_amount, 0)
        self.assertAlmostEqual(azure.difference, azure.microsoft_amount, 2)
        azure_invoice = self.invoice_azure(round(azure.microsoft_amount * MARGIN, 2))
        self.again(report)
        different = report.line_ids.filtered(lambda line: line.status != "matched")
        self.assertFalse(different, different.mapped("explanation"))
        self.assertEqual((report.state, report.difference_count), ("matched", 0))
        self.assertGreater(report.microsoft_cost, 0)
        self.assertGreater(report.margin, 0)
        self.assertAlmostEqual(report.margin, report.odoo_sale - report.microsoft_cost, 2)
        self.assertAlmostEqual(sum(report.line_ids.mapped("microsoft_amount")),
                               report.microsoft_cost, 2)  # fmt: skip
        self.assertAlmostEqual(sum(report.line_ids.mapped("sale_amount")), report.odoo_sale, 2)
        # each monthly subscription billed by Microsoft this month: its seats both sides
        billed = report.line_ids.filtered(lambda line: line.microsoft_amount and line.sale_amount)
        self.assertTrue(billed)
        for line in billed.filtered(lambda line: line.subscription_id.billing_cycle == "monthly"):
            self.assertEqual(line.microsoft_quantity, line.odoo_quantity, line.product_label)
            self.assertEqual(line.microsoft_quantity, line.subscription_id.quantity)
        return report, azure_invoice, billed

    def plant_seats_and_price(self, report, subscription):
        """A seat fewer invoiced than Microsoft billed; then the seats right, the price
        under Microsoft's cost. Returns the subscription's invoice line."""
        invoice_line = self.invoice_line(subscription)
        move = invoice_line.move_id
        move.button_draft()
        invoice_line.quantity -= 1
        move.action_post()
        self.again(report)
        self.assertEqual((report.state, report.difference_count), ("different", 1))
        (planted,) = report.line_ids.filtered(lambda line: line.status == "different")
        self.assertEqual((planted.cause, planted.subscription_id), ("seats", subscription))
        self.assertIn(f"Microsoft billed {subscription.quantity} seats", planted.explanation)
        self.assertAlmostEqual(planted.difference, invoice_line.price_unit, 2)
        words = dict(planted._fields["cause"]._description_selection(self.env))
        self.assertEqual(words[planted.cause], "Seats invoiced differ")

        # planted: the seats right, the price under Microsoft's cost
        move.button_draft()
        invoice_line.write({"quantity": invoice_line.quantity + 1,
                            "price_unit": round(subscription.cost_price * 0.5, 2)})  # fmt: skip
        move.action_post()
        self.again(report)
        (planted,) = report.line_ids.filtered(lambda line: line.status == "different")
        self.assertEqual((planted.cause, planted.subscription_id), ("below_cost", subscription))
        self.assertLess(planted.margin, 0)
        self.assertAlmostEqual(planted.difference, -planted.margin, 2)
        self.assertIn("sold below cost", planted.explanation)
        return invoice_line

    def plant_not_invoiced(self, report, invoice_line, azure_invoice):
        """The subscription's line taken off its invoice; then every invoice cancelled."""
        subscription = invoice_line.contract_line_id.csp_subscription_id
        move = invoice_line.move_id
        move.button_draft()
        move.write({"invoice_line_ids": [(2, invoice_line.id)]})
        move.action_post()
        self.again(report)
        (planted,) = report.line_ids.filtered(lambda line: line.status == "different")
        self.assertEqual((planted.cause, planted.subscription_id), ("not_invoiced", subscription))
        self.assertAlmostEqual(planted.difference, planted.microsoft_amount, 2)
        self.assertEqual(planted.sale_amount, 0)

        # planted: the customer not invoiced at all (its invoices cancelled)
        (self.invoices | azure_invoice).button_draft()
        (self.invoices | azure_invoice).button_cancel()
        self.again(report)
        self.assertEqual(report.odoo_sale, 0)
        different = report.line_ids.filtered(lambda line: line.status == "different")
        self.assertEqual(set(different.mapped("cause")), {"not_invoiced"})
        self.assertEqual(len(different), len(report.line_ids.filtered("microsoft_amount")))
        self.assertAlmostEqual(report.total_difference, report.microsoft_cost, 2)
        self.assertAlmostEqual(report.margin, -report.microsoft_cost, 2)

    def test_a_seat_change_invoiced_with_the_next_invoice(self):
        """Seats added mid-month after the month was invoiced: the change's pro-rata line
        is on next month's invoice, and counts for the month of the change."""
        line = self.env["contract.line"].search(
            [("contract_id", "=", self.contract.id), ("csp_subscription_id", "!=", False),
             ("csp_subscription_id.billing_cycle", "=", "monthly")], limit=1,
        )  # fmt: skip
        subscription = line.csp_subscription_id
        before = subscription.quantity
        changed = self.now + dt.timedelta(minutes=1)
        self.sandbox.control("POST", "clock", {"set": changed.isoformat() + "Z"})
        self.sandbox.control(
            "PATCH", f"tenants/{ASHFORD}/subscriptions/{subscription.microsoft_id}",
            {"quantity": before + 2},
        )  # fmt: skip
        with freeze_time(changed + dt.timedelta(minutes=1)):
            self.sync()
        self.assertEqual(subscription.quantity, before + 2)
        following = reconcile.next_month(self.month)
        with freeze_time(dt.datetime.combine(following, dt.time(9))):
            self.env["contract.contract"]._cron_recurring_create(date_ref=following)
        drafts = self.env["account.move"].search(
            [("partner_id", "=", self.customer.id), ("state", "=", "draft")]
        )
        change_lines = drafts.invoice_line_ids.filtered(
            lambda item: (
                not item.contract_line_id.csp_subscription_id
                and item.contract_line_id.contract_id == self.contract
            )
        )
        self.assertTrue(change_lines, "the change is on next month's invoice")
        drafts.action_post()
        self.sandbox.control("POST", "clock", {"set": self.billed_day.isoformat() + "Z"})
        report = self.reconcile()
        (row,) = report.line_ids.filtered(lambda item: item.subscription_id == subscription)
        self.assertEqual((row.status, row.cause), ("matched", False), row.explanation)
        self.assertEqual((row.microsoft_quantity, row.odoo_quantity), (before + 2, before))
        self.assertGreater(row.margin, 0)
        # the month's only difference is still the Azure consumption Odoo did not invoice
        self.assertEqual(
            report.line_ids.filtered(lambda item: item.status != "matched").mapped("line_kind"),
            ["azure"],
        )

    def test_a_read_not_proven_whole_writes_no_difference(self):
        # the invoice's line items come back emptied: nothing compared, nothing missing
        self.sandbox.fault(service="partner_center", path="/v1/invoices/G", body="emptied")
        self.addCleanup(self.sandbox.control, "DELETE", "faults")
        report = self.reconcile()
        self.assertEqual(report.state, "failed")
        self.assertIn("cut short, so nothing was compared", report.message)
        self.assertFalse(report.line_ids)
        self.assertEqual(report.difference_count, 0)

    def test_rights_and_the_scheduled_job(self):
        # a CSP user reads, cannot run
        with self.assertRaises(AccessError), freeze_time(self.billed_day):
            self.tenant.with_user(self.reader).action_billing_reconcile_invoice()
        with self.assertRaises(AccessError), freeze_time(self.billed_day):
            self.connection.with_user(self.reader).action_billing_reconcile_invoice()
        # a CSP manager queues every customer; the job (the integrator) fills them
        with freeze_time(self.billed_day):
            action = self.connection.with_user(self.manager).action_billing_reconcile_invoice()
        report = self.env["csp.billing.reconciliation"].browse(action["domain"][0][2])
        self.assertEqual(
            (report.state, report.kind, report.month), ("queued", "billed", self.month)
        )
        cron = self.env.ref("csp_connector_billing.ir_cron_csp_billing_reconcile")
        with freeze_time(self.billed_day):
            cron.with_user(cron.user_id)._callback(cron.cron_name, cron.ir_actions_server_id.id)
        self.assertEqual(report.state, "different", report.message)
        # the one difference: the Azure consumption Odoo has not invoiced
        self.assertEqual(report.with_user(self.reader).difference_count, 1)
        self.assertEqual(
            report.line_ids.filtered(lambda line: line.status == "different").cause,
            "not_invoiced",
        )
        with self.assertRaises(AccessError), freeze_time(self.billed_day):
            report.with_user(self.reader).action_reconcile_again()
        # the month before the sandbox's first invoice of this customer: not billed yet
        report.sudo().month = reconcile.next_month(self.month)
        self.again(report)
        self.assertEqual((report.state, report.line_ids.ids), ("not_billed", []))
        self.assertIn("has not issued its invoice", report.message)
