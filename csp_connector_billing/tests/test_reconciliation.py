# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The reconciliation report against the sandbox's unbilled line items (its own
implementation of Microsoft's rule): this month's seat increases, a decrease, a
cancellation within 24 hours, a renewal and every cycle of the customer's subscriptions
reconcile with no difference, "Not billed yet" while Microsoft has not invoiced the month
and "Matches" once it has (after the 8th of the next month); a charge Microsoft has not
listed is expected in the first case and a difference in the second, never at 0.00; a
changed price shows with its cause; a Partner Center refusal is explained; CSP users read
the report and cannot run it."""

import datetime as dt
import uuid

from freezegun import freeze_time

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from mscloud_sandbox.generate import add_months, catalogue

from ..billing import reconcile
from .common import ASHFORD, BillingSandboxCase

PLAIN = "fb695ffb-3a18-40c7-8092-b4d42b28fef0"  # monthly, started on the 14th, 2 seats
OTHER = "b410d93c-4efb-48d6-8b21-fbac78255d68"  # monthly, started on the 8th, 9 seats


class ReconciliationCase(BillingSandboxCase):
    """The customer's subscriptions in GBP, billed on contract lines from this month."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.ref("base.GBP").active = True
        cls.connection.write({
            "licence_import_type": "subscriptions", "billing_mode": "lines",
            "billing_currency_id": cls.env.ref("base.GBP").id,
            "licence_full_read_hours": 0,  # every run reads all subscriptions
        })  # fmt: skip
        cls.now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        cls.month = cls.now.date().replace(day=1)
        cls.setup_contracts(cls.month)

    def buy(self, start, quantity, term):
        """A subscription bought in Partner Center (the sandbox) at ``start``."""
        sku = next(s for s in catalogue().values() if not s.free)
        body = {
            "id": str(uuid.uuid4()), "offerId": f"{sku.nce_product_id}:{sku.nce_sku_id}",
            "offerName": sku.product_name, "skuId": sku.sku_id, "quantity": quantity,
            "billingCycle": "monthly", "termDuration": term,
            "effectiveStartDate": start.isoformat() + "Z",
            "creationDate": start.isoformat() + "Z", "commitmentEndDate": start.isoformat() + "Z",
        }  # fmt: skip
        return self.sandbox.control("POST", f"tenants/{ASHFORD}/subscriptions", body)["id"]

    def change(self, subscription_id, **values):
        self.sandbox.control("PATCH", f"tenants/{ASHFORD}/subscriptions/{subscription_id}", values)

    def sync_at(self, minutes):
        with freeze_time(self.now + dt.timedelta(minutes=minutes)):
            self.sync()

    def reconcile(self, minutes=30):
        with freeze_time(self.now + dt.timedelta(minutes=minutes)):
            action = self.tenant.action_billing_reconcile()
        return self.env["csp.billing.reconciliation"].browse(action["res_id"])

    def subscription(self, microsoft_id):
        return self.env["csp.subscription"].search(
            [("csp_tenant_id", "=", self.tenant.id), ("microsoft_id", "=", microsoft_id)]
        )

    def play_month(self):
        """This month in Partner Center: a one-month term renewed on the 1st, a
        subscription bought now, two increases, a decrease, a cancellation (24 h)."""
        renewed = self.buy(add_months(dt.datetime.combine(self.month, dt.time()), -1), 2, "P1M")
        fresh = self.buy(self.now - dt.timedelta(minutes=5), 3, "P1Y")
        self.sync_at(1)
        self.set_costs()
        self.change(PLAIN, quantity=5)
        self.change(OTHER, quantity=12)
        self.sync_at(2)
        self.change(OTHER, quantity=10)
        self.change(fresh, status="deleted")
        self.sync_at(3)
        return renewed, fresh

    def words(self, field_name, model="csp.billing.reconciliation.line"):
        field = self.env[model]._fields[field_name]
        return dict(field._description_selection(self.env))

    def set_costs(self):
        """Each subscription's Microsoft cost: the sandbox's price."""
        prices = self.sandbox.control("GET", f"billing?tenant={ASHFORD}")["prices"]
        for subscription in self.env["csp.subscription"].search(
            [("csp_tenant_id", "=", self.tenant.id)]
        ):
            subscription.cost_price = float(prices[subscription.microsoft_id])


@tagged("post_install", "-at_install")
class TestReconciliation(ReconciliationCase):
    def test_a_month_reconciles_then_a_changed_price_shows(self):
        renewed, __ = self.play_month()

        # mid-month: Microsoft has not invoiced the month, its listed charges all match
        report = self.reconcile()
        self.assertEqual(report.state, "not_billed", report.message)
        self.assertEqual(self.words("state", report._name)[report.state], "Not billed yet")
        self.assertIn(
            "Not billed yet \N{EM DASH} Microsoft invoices this month between the 6th and 8th "
            "of next month", report.billing_note,
        )  # fmt: skip
        different = report.line_ids.filtered(lambda line: line.status != "matched")
        self.assertFalse(different, different.mapped("explanation"))
        self.assertEqual(report.difference_count, 0)
        self.assertEqual(report.total_difference, 0)
        kinds = set(report.line_ids.mapped("charge_type"))
        self.assertLessEqual(
            {"new", "renew", "addQuantity", "removeQuantity", "cancelImmediate"}, kinds
        )
        words = self.words("charge_type")
        self.assertLessEqual(
            {"New subscription", "Renewal", "Seats added", "Seats removed", "Cancelled"},
            {words[kind] for kind in kinds},
        )
        self.assertEqual(set(report.line_ids.mapped("charge_code")) - kinds, set())
        self.assertEqual(report.matched_count, len(report.line_ids))
        # the seat changes: a credit and a charge each, Microsoft's figures on both sides
        plain = report.line_ids.filtered(
            lambda line: (
                line.subscription_id == self.subscription(PLAIN)
                and line.charge_type == "addQuantity"
            )
        )
        self.assertEqual(sorted(plain.mapped("microsoft_quantity")), [2, 5])
        self.assertEqual(plain.mapped("odoo_amount"), plain.mapped("microsoft_amount"))
        # the contract's first period (this month) is not invoiced yet and bills the new
        # quantity: no customer adjustment, Microsoft's cost kept for the report
        adjustments = self.subscription(PLAIN).billing_adjustment_ids
        self.assertEqual(len(adjustments), 2)
        self.assertEqual(adjustments.mapped("amount"), [0.0, 0.0])
        self.assertFalse(adjustments.contract_line_id)
        self.assertTrue(all(adjustments.mapped("cost_amount")))

        # the renewed subscription's cost in Odoo is not Microsoft's price any more
        # (a charge Microsoft lists already differs, also before its invoice)
        self.subscription(renewed).cost_price += 1.0
        with freeze_time(self.now + dt.timedelta(minutes=35)):
            report.action_reconcile_again()
        self.assertEqual((report.state, report.difference_count), ("different", 1))
        (line,) = report.line_ids.filtered(lambda line: line.status == "different")
        self.assertEqual((line.charge_type, line.cause), ("renew", "price"))
        self.assertEqual(self.words("cause")[line.cause], "Price changed")
        self.assertIn("per seat and Odoo's cost is", line.explanation)
        self.assertAlmostEqual(report.total_difference, -2.0)  # 2 seats, 1.00 each

        # all customers: queued, then filled by the job (the integrator's), same outcome
        action = self.connection.action_billing_reconcile_all()
        self.assertEqual(report.state, "queued")
        self.assertIn(report.id, action["domain"][0][2])
        with freeze_time(self.now + dt.timedelta(minutes=40)):
            self.env["csp.billing.reconciliation"].with_user(
                self.env.ref("csp_connector.user_csp_integrator")
            )._cron_reconcile()
        self.assertEqual((report.state, report.difference_count), ("different", 1))

        # CSP users read the report, cannot run it
        user = new_test_user(self.env, login="csp_reader", groups="csp_connector.group_csp_user")
        self.assertEqual(report.with_user(user).difference_count, 1)
        with self.assertRaises(AccessError):
            report.with_user(user).action_reconcile_again()
        with self.assertRaises(AccessError):
            self.tenant.with_user(user).action_billing_reconcile()

    def test_a_refusal_is_explained_on_the_report(self):
        self.sync_at(1)
        self.sandbox.fault(
            service="partner_center", path="/v1/invoices/unbilled/lineitems", status=403
        )
        self.addCleanup(self.sandbox.control, "DELETE", "faults")
        report = self.reconcile()
        self.assertEqual(report.state, "failed")
        self.assertIn("Billing admin", report.message)
        self.assertFalse(report.line_ids)

    def test_the_scheduled_job_fills_queued_reports_as_the_integrator(self):
        fresh = self.buy(self.now - dt.timedelta(minutes=5), 3, "P1Y")
        self.sync_at(1)
        self.set_costs()
        subscription = self.subscription(fresh)
        # an accountant's adjustment made by hand, without its period or date of change
        accountant = new_test_user(
            self.env, login="csp_accountant_rec",
            groups="csp_connector.group_csp_user,account.group_account_invoice",
        )  # fmt: skip
        self.env["csp.billing.adjustment"].with_user(accountant).create({
            "key": "by-hand-1", "subscription_id": subscription.id,
            "name": "Goodwill credit agreed by phone", "quantity": 1,
            "currency_id": self.env.ref("base.GBP").id, "cost_amount": -4.5, "amount": -4.5,
        })  # fmt: skip
        action = self.connection.action_billing_reconcile_all()
        reports = self.env["csp.billing.reconciliation"].browse(action["domain"][0][2])
        # this month and last month (Partner Center lists both)
        last_month = reconcile.first_of_month(self.month - dt.timedelta(days=1))
        self.assertEqual(sorted(reports.mapped("month")), [last_month, self.month])
        self.assertEqual(reports.mapped("state"), ["queued", "queued"])
        report = reports.filtered(lambda r: r.month == self.month)
        # the scheduled action, run as Odoo's cron worker runs it: as its user
        cron = self.env.ref("csp_connector_billing.ir_cron_csp_billing_reconcile")
        self.assertEqual(cron.user_id, self.env.ref("csp_connector.user_csp_integrator"))
        with freeze_time(self.now + dt.timedelta(minutes=40)):
            cron.with_user(cron.user_id)._callback(cron.cron_name, cron.ir_actions_server_id.id)
        self.assertEqual(report.state, "different", report.message)
        self.assertTrue(report.line_ids.filtered(lambda line: line.charge_type == "new"))
        last = reports - report
        self.assertNotIn(last.state, ("queued", "failed"), last.message)
        self.assertEqual(last.billed, self.now.day > 8)  # Microsoft's invoice: 6th to 8th
        # the adjustment without dates is named on the report, not a crash
        (line,) = report.line_ids.filtered(lambda line: line.cause == "incomplete")
        self.assertEqual((line.status, line.subscription_id), ("not_compared", subscription))
        self.assertIn('"Goodwill credit agreed by phone" has no period start, period end, '
                      "date of change", line.explanation)  # fmt: skip
        self.assertEqual(line.difference, 4.5)  # Microsoft's nothing minus Odoo's -4.50
        different = report.line_ids.filtered(
            lambda line: line.status in ("different", "not_compared")
        )
        self.assertEqual(report.difference_count, len(different))
        self.assertAlmostEqual(report.total_difference, sum(different.mapped("difference")))


@tagged("post_install", "-at_install")
class TestMicrosoftBillingCalendar(ReconciliationCase):
    """A sandbox of its own: the month's changes are made once in Partner Center."""

    def adjust_by_hand(self, microsoft_id, key, cost):
        """A seat added by hand in Odoo, dated now, that Partner Center does not list."""
        subscription = self.subscription(microsoft_id)
        return self.env["csp.billing.adjustment"].create({
            "key": key, "subscription_id": subscription.id, "name": "Seat added by hand",
            "charge_type": "addQuantity", "quantity": 1, "changed_at": self.now,
            "period_start": self.now.date(), "period_end": self.now.date(),
            "currency_id": self.env.ref("base.GBP").id, "cost_amount": cost, "amount": cost,
        })  # fmt: skip

    def test_microsoft_billing_calendar(self):
        """Before Microsoft's invoice (the 6th to 8th of the next month) a charge it has not
        listed is expected; after it, the month has no difference but that charge, and a
        0.00 one never differs."""
        self.play_month()
        self.adjust_by_hand(PLAIN, "by-hand-seat", 4.5)
        self.adjust_by_hand(OTHER, "by-hand-free", 0.0)
        report = self.reconcile()
        self.assertEqual((report.state, report.billed), ("not_billed", False), report.message)
        self.assertFalse(report.line_ids.filtered(lambda line: line.status == "different"))
        expected = report.line_ids.filtered(lambda line: line.status == "expected")
        self.assertEqual(sorted(expected.mapped("odoo_amount")), [0.0, 4.5])
        self.assertEqual(set(expected.mapped("cause")), {"not_billed_yet"})
        self.assertEqual(set(expected.mapped("difference")), {0.0})
        self.assertIn("Microsoft has not billed this charge yet", expected[0].explanation)
        self.assertEqual((report.expected_count, report.difference_count), (2, 0))
        self.assertEqual(report.total_difference, 0)

        # the 9th of next month: Microsoft has invoiced the month, Partner Center lists
        # its charges as the previous period's
        billed_day = dt.datetime.combine(reconcile.next_month(self.month).replace(day=9),
                                         dt.time(10))  # fmt: skip
        self.sandbox.control("POST", "clock", {"set": billed_day.isoformat() + "Z"})
        self.addCleanup(
            self.sandbox.control, "POST", "clock",
            {"set": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat() + "Z"},
        )  # fmt: skip
        with freeze_time(billed_day):
            report.action_reconcile_again()
        self.assertEqual((report.state, report.billed), ("different", True), report.message)
        self.assertFalse(report.billing_note)
        (line,) = report.line_ids.filtered(lambda line: line.status == "different")
        self.assertEqual((line.cause, line.odoo_amount, line.difference), ("odoo_only", 4.5, -4.5))
        self.assertEqual(self.words("status")[line.status], "Differs")
        self.assertEqual(report.difference_count, 1)
        self.assertAlmostEqual(report.total_difference, -4.5)
        (free,) = report.line_ids.filtered(lambda line: line.odoo_amount == 0 and
                                           line.charge_code == "addQuantity" and
                                           line.cause)  # fmt: skip
        self.assertEqual((free.status, free.difference), ("matched", 0.0))
        self.assertFalse(report.line_ids.filtered(lambda line: line.status == "expected"))

        # without the charge made by hand, the month reconciles with no difference
        self.env["csp.billing.adjustment"].search([("key", "=", "by-hand-seat")]).unlink()
        with freeze_time(billed_day):
            report.action_reconcile_again()
        self.assertEqual(report.state, "matched", report.message)
        self.assertEqual(self.words("state", report._name)[report.state], "Matches")
        self.assertEqual((report.difference_count, report.total_difference), (0, 0))
        self.assertEqual(report.matched_count, len(report.line_ids))
        self.assertLessEqual(
            {"new", "renew", "addQuantity", "removeQuantity", "cancelImmediate"},
            set(report.line_ids.mapped("charge_type")),
        )
