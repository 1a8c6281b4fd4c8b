# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""A subscription's life against the sandbox, through the licences sync, the billing step
and OCA contract's own invoicing (freezegun for Odoo's dates): bought in the middle of an
invoicing period, cancelled within 24 hours, within 7 days and later, renewed, changed
with a Partner Center audit record, billed every three years. Each adjustment is invoiced
once, a rerun adds nothing and invoices stay drafts.

Dates are last month's and the next ones, so the sandbox (on the real clock) already has
the changes made "now"; expected amounts follow the reconciliation-file rule by hand.
"""

import calendar
import datetime as dt
import json
import uuid
from decimal import ROUND_DOWN, Decimal

from dateutil.relativedelta import relativedelta
from lxml import etree

from odoo import Command
from odoo.tests import tagged
from odoo.tools.safe_eval import safe_eval

from odoo.addons.csp_connector.sync import subscriptions as quantity_rules
from odoo.addons.csp_connector_billing.billing import wording

from mscloud_sandbox.generate import catalogue

from .common import ASHFORD, BillingInvoicingCase

CENT = Decimal("0.01")
DASH = "\N{EN DASH}"
ACTIVITY = "Microsoft subscriptions without a contract"


def by_hand(price, seats, days, cycle_days):
    """The reconciliation-file rule: the effective unit price cut to cents, x seats."""
    return (Decimal(price) * days / cycle_days).quantize(CENT, ROUND_DOWN) * seats


def money(value):
    return Decimal(str(value)).quantize(CENT)


def day_month(day):
    return f"{day.day} {day:%b}"


@tagged("post_install", "-at_install")
class TestBillingLifecycle(BillingInvoicingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.month_days = calendar.monthrange(cls.month.year, cls.month.month)[1]
        cls.sku = next(s for s in catalogue().values() if not s.free)
        cls.bought = set()  # the sandbox keeps them from one test to the next

    def setUp(self):
        super().setUp()
        # every run reads all subscriptions (the control API's changes leave no audit
        # record); the contracts start last month, the subscriptions there go on them,
        # and last month is invoiced
        self.connection.licence_full_read_hours = 0
        self.contract.date_start = self.yearly.date_start = self.month
        self.sync_at(dt.datetime.combine(self.month, dt.time(8)))
        self.assertEqual(len(self.invoice(self.month)), 1)

    # -- helpers -----------------------------------------------------------------------

    def buy(self, start, quantity=2, cycle="monthly", term="P1M", seen=None):
        """A subscription bought in Partner Center at ``start``; its Odoo record after
        the licences sync an hour later (or at ``seen``), with Microsoft's cost per seat
        filled in (16.00) and the offer's product sold at 20.00 (the line's price)."""
        months = {"P1M": 1, "P1Y": 12, "P3Y": 36}[term]
        end = start + relativedelta(months=months) - dt.timedelta(days=1)
        sub_id = str(uuid.uuid4())
        self.bought.add(sub_id)
        self.sandbox.control(
            "POST",
            f"tenants/{ASHFORD}/subscriptions",
            {
                "id": sub_id, "offerId": self.sku.offer_id, "offerName": self.sku.product_name,
                "friendlyName": f"{self.sku.product_name} {sub_id[:4]}", "skuId": self.sku.sku_id,
                "quantity": quantity, "billingCycle": cycle, "termDuration": term,
                "effectiveStartDate": f"{start:%Y-%m-%dT%H:%M:%S}Z",
                "creationDate": f"{start:%Y-%m-%dT%H:%M:%S}Z",
                "commitmentEndDate": f"{end:%Y-%m-%d}T00:00:00Z",
            },
        )  # fmt: skip
        self.sync_at(seen or start + dt.timedelta(hours=1), ("licences",))
        subscription = self.subscription(sub_id)
        subscription.cost_price = 16.0
        Product = self.env["product.product"]
        product = Product.search([("default_code", "=", self.sku.offer_id)]) or Product.create(
            {"name": self.sku.product_name, "default_code": self.sku.offer_id, "type": "service"}
        )
        product.lst_price = 20.0
        return subscription

    def cancel(self, subscription):
        self.sandbox.control(
            "PATCH", f"tenants/{ASHFORD}/subscriptions/{subscription.microsoft_id}",
            {"status": "deleted"},
        )  # fmt: skip

    def carried(self, invoice, lines):
        return invoice.invoice_line_ids.filtered(lambda ml: ml.contract_line_id in lines)

    def running(self, at):
        """A subscription of the sandbox's own, billed monthly on the monthly contract,
        its term started more than 7 days before ``at``, its start day of month 28 or
        less, no change scheduled for its renewal."""
        subscriptions = self.contract.contract_line_ids.csp_subscription_id.filtered(
            lambda s: s.status == "active" and s.start_date.day <= 28
            and not s.next_term_instructions and s.microsoft_id not in self.bought
            and s.start_date < at - dt.timedelta(days=8)
        )  # fmt: skip
        self.assertTrue(subscriptions)
        return subscriptions[0]

    # -- a purchase in the middle of the period ------------------------------------------

    def test_bought_mid_period_pays_its_first_days_once(self):
        bought = dt.datetime.combine(self.month.replace(day=18), dt.time(9))
        subscription = self.buy(bought)
        self.sync_at(bought + dt.timedelta(hours=2))
        line = subscription.contract_line_id
        self.assertEqual(
            (line.contract_id, line.date_start, line.quantity, line.price_unit),
            (self.contract, self.next_month, 2, 20.0),
        )
        (first,) = subscription.billing_adjustment_ids
        last = self.next_month - dt.timedelta(days=1)
        days = self.month_days - 17  # the 18th to the month's end, both counted
        self.assertEqual(
            (first.charge_type, first.quantity, first.period_start, first.period_end),
            ("firstDays", 2, bought.date(), last),
        )
        self.assertEqual((first.billing_days, first.cycle_days), (days, self.month_days))
        self.assertEqual(money(first.amount), by_hand("20", 2, days, self.month_days))
        self.assertEqual(money(first.cost_amount), by_hand("16", 2, days, self.month_days))
        self.assertEqual(first.time_source, "subscription")
        self.assertIn(
            f"2 seats, {day_month(bought)} {DASH} {day_month(last)} {last.year} "
            f"({days}/{self.month_days} days)",
            first.name,
        )
        # its invoice line, in the customer's words: the first days, 2 seats at the
        # pro-rated seat price
        period = wording.period(bought.date(), last, self.customer.lang)
        self.assertEqual(
            first.contract_line_id.name.splitlines()[1],
            f"First days: {period} ({days} of {self.month_days} days), 2 seats",
        )
        self.assertEqual(first.contract_line_id.quantity, 2)
        self.assertEqual(money(first.contract_line_id.price_unit * 2), money(first.amount))
        self.sync_at(bought + dt.timedelta(hours=3))  # no change: nothing added
        self.assertEqual(subscription.billing_adjustment_ids, first)

        invoices = self.invoice(self.next_month)
        self.assertEqual(len(invoices), 2)
        current = invoices[-1]
        self.assertEqual(current.state, "draft")
        carried = self.carried(current, first.contract_line_id)
        self.assertEqual(money(carried.price_subtotal), money(first.amount))
        recurring = self.carried(current, line)
        self.assertEqual((recurring.quantity, recurring.price_unit), (2, 20.0))
        self.assertEqual(self.invoice(self.next_month), invoices)  # invoicing again: nothing
        following = self.invoice(self.next_month + relativedelta(months=1))
        self.assertEqual(len(following), 3)
        self.assertFalse(self.carried(following[-1], first.contract_line_id))
        self.assertTrue(self.carried(following[-1], line))

    def test_bought_before_the_contract_or_two_periods_ago_is_not_billed_again(self):
        before = dt.datetime.combine(self.month - relativedelta(months=1), dt.time(9))
        seen = dt.datetime.combine(self.month.replace(day=2), dt.time(8))
        subscription = self.buy(before, seen=seen)  # running before its line was made
        self.sync_at(dt.datetime.combine(self.month.replace(day=2), dt.time(9)))
        self.assertEqual(subscription.contract_line_id.date_start, self.next_month)
        self.assertFalse(subscription.billing_adjustment_ids)
        # a contract from next month on: this month's days were never the customer's
        later = self.new_contract("From next month", "monthly", start=self.next_month)
        bought = dt.datetime.combine(self.month.replace(day=20), dt.time(9))
        subscription = self.buy(bought)
        self.sync_at(bought + dt.timedelta(hours=2))
        line = subscription.contract_line_id
        self.assertEqual((line.contract_id, line.date_start), (later, self.next_month))
        self.assertFalse(subscription.billing_adjustment_ids)

    # -- cancellations ---------------------------------------------------------------------

    def test_cancelled_within_24_hours_gives_back_what_was_billed(self):
        bought = dt.datetime.combine(self.month.replace(day=18), dt.time(9))
        subscription = self.buy(bought)
        self.sync_at(bought + dt.timedelta(hours=2))
        (first,) = subscription.billing_adjustment_ids
        line = subscription.contract_line_id
        self.cancel(subscription)
        self.sync_at(bought + dt.timedelta(hours=20))
        self.assertEqual(subscription.status, "deleted")
        refund = subscription.billing_adjustment_ids - first
        self.assertEqual(len(refund), 1)
        self.assertEqual(refund.charge_type, "cancelImmediate")
        self.assertEqual(refund.amount, -first.amount)  # the customer paid those days only
        self.assertEqual(money(refund.cost_amount), Decimal("-32.00"))  # Microsoft's 1st cycle
        self.assertEqual(refund.time_source, "seen")
        self.assertIn("cancelled within 24 hours, full refund of 2 seats", refund.name)
        self.assertIn(
            f"Cancelled {wording.day((bought + dt.timedelta(hours=20)).date(), self.customer.lang)}"
            " within 24 hours: ", refund.contract_line_id.name,
        )  # fmt: skip
        self.assertNotIn("sync", refund.contract_line_id.name)
        self.assertTrue(line.is_canceled)  # never invoiced: never will be
        self.sync_at(bought + dt.timedelta(hours=21))
        self.assertEqual(len(subscription.billing_adjustment_ids), 2)

        current = self.invoice(self.next_month)[-1]
        self.assertEqual(current.state, "draft")
        both = self.carried(current, subscription.billing_adjustment_ids.contract_line_id)
        self.assertEqual(len(both), 2)
        self.assertEqual(sum(money(v) for v in both.mapped("price_subtotal")), 0)
        self.assertFalse(self.carried(current, line))

    def test_cancelled_within_7_days_refunds_the_unused_days(self):
        bought = dt.datetime.combine(self.month.replace(day=18), dt.time(9))
        subscription = self.buy(bought)
        self.sync_at(bought + dt.timedelta(hours=2))
        line = subscription.contract_line_id
        self.cancel(subscription)
        seen = bought + dt.timedelta(days=3, hours=1)  # 21st, 73 hours after the purchase
        self.sync_at(seen)
        refund = subscription.billing_adjustment_ids.filtered(
            lambda a: a.charge_type == "cancelImmediate"
        )
        # Microsoft's cycle 18th - 17th: the 21st to the 17th, of the 18th's month's days
        days = self.month_days - 21 + 1 + 17
        self.assertEqual((refund.period_start, refund.period_end), (
            seen.date(), self.next_month.replace(day=17)))  # fmt: skip
        self.assertEqual((refund.billing_days, refund.cycle_days), (days, self.month_days))
        self.assertEqual(money(refund.cost_amount), -by_hand("16", 2, days, self.month_days))
        # the customer paid the 18th to the month's end (their line starts next month):
        # the 21st to the month's end back
        paid = self.month_days - 21 + 1
        self.assertEqual(money(refund.amount), -by_hand("20", 2, paid, self.month_days))
        last = self.next_month - dt.timedelta(days=1)
        self.assertIn(
            f"cancelled, refund of 2 seats, {day_month(seen)} {DASH} {day_month(last)} "
            f"{last.year} ({paid}/{self.month_days} days)", refund.name,
        )  # fmt: skip
        self.assertTrue(line.is_canceled)
        current = self.invoice(self.next_month)[-1]
        self.assertEqual(
            len(self.carried(current, subscription.billing_adjustment_ids.contract_line_id)), 2
        )
        self.assertFalse(self.carried(current, line))

    def test_cancelled_later_refunds_nothing_and_its_line_ends(self):
        bought = dt.datetime.combine(self.month - relativedelta(months=1, day=10), dt.time(9))
        subscription = self.buy(bought, seen=dt.datetime.combine(self.month, dt.time(9)))
        self.sync_at(dt.datetime.combine(self.month, dt.time(10)))
        self.invoice(self.next_month)
        seen = dt.datetime.combine(self.next_month.replace(day=5), dt.time(10))
        line = subscription.contract_line_id
        self.assertEqual(
            line.last_date_invoiced, self.next_month + relativedelta(months=1, days=-1)
        )
        self.cancel(subscription)
        self.sync_at(seen)
        self.assertFalse(subscription.billing_adjustment_ids)  # after 7 days: no refund
        self.assertEqual(line.date_end, line.last_date_invoiced)  # ended after what was paid
        self.assertFalse(line.recurring_next_date)
        self.assertIn(
            "ended (", subscription.message_ids.filtered(lambda m: "is deleted" in m.body).body
        )
        self.sync_at(seen + dt.timedelta(hours=1))
        self.assertEqual(line.date_end, line.last_date_invoiced)
        following = self.invoice(self.next_month + relativedelta(months=1))[-1]
        self.assertFalse(self.carried(following, line))
        self.assertTrue(following.invoice_line_ids)  # the other subscriptions go on

    # -- seat changes: the customer's days end where the recurring line bills them -------

    def billed(self, invoices, subscription):
        """What ``invoices`` bill for ``subscription``: its recurring line and adjustments."""
        lines = subscription.contract_line_id | subscription.billing_adjustment_ids.contract_line_id
        return sum(money(v) for v in self.carried(invoices, lines).mapped("price_subtotal"))

    def test_an_increase_after_the_invoice_bills_each_seat_day_once(self):
        # started on the 18th of the month before (a year's term billed monthly): the
        # charge cycles run 18th - 17th; on a contract of its own, invoiced on the 1st
        started = dt.datetime.combine(self.month - relativedelta(months=1, day=18), dt.time(9))
        subscription = self.buy(started, 2, term="P1Y", seen=dt.datetime.combine(
            self.month, dt.time(9)))  # fmt: skip
        seats = self.new_contract("Seats", "monthly", start=self.month)
        self.sync_at(dt.datetime.combine(self.month, dt.time(10)))
        line = subscription.contract_line_id
        self.assertEqual((line.contract_id, line.date_start), (seats, self.month))
        first = self.invoice(self.month, seats)  # the month, pre-paid at 2 seats
        self.assertEqual(self.billed(first, subscription), 40)
        self.assertFalse(subscription.billing_adjustment_ids)

        # +2 seats on the 20th
        self.sandbox.control(
            "PATCH", f"tenants/{ASHFORD}/subscriptions/{subscription.microsoft_id}",
            {"quantity": 4},
        )  # fmt: skip
        changed = dt.datetime.combine(self.month.replace(day=20), dt.time(10))
        self.sync_at(changed)
        credit, charge = subscription.billing_adjustment_ids.sorted("amount")
        # Microsoft's side: its cycle, the 20th to the 17th of next month
        ms_days = self.month_days - 20 + 1 + 17
        for adjustment, seats_, sign in ((credit, 2, -1), (charge, 4, 1)):
            self.assertEqual(adjustment.charge_type, "addQuantity")
            self.assertEqual(
                (adjustment.period_start, adjustment.period_end), (
                    changed.date(), self.next_month.replace(day=17)))  # fmt: skip
            self.assertEqual(
                (adjustment.billing_days, adjustment.cycle_days), (ms_days, self.month_days)
            )
            self.assertEqual(
                money(adjustment.cost_amount), sign * by_hand("16", seats_, ms_days,
                                                              self.month_days)
            )  # fmt: skip
        # the customer's: the 20th to the month's end, at 20.00
        days = self.month_days - 20 + 1
        last = self.next_month - dt.timedelta(days=1)
        self.assertEqual(money(credit.amount), -by_hand("20", 2, days, self.month_days))
        self.assertEqual(money(charge.amount), by_hand("20", 4, days, self.month_days))
        self.assertIn(
            f": +2 seats, 20 {changed:%b} {DASH} {day_month(last)} {last.year} "
            f"({days}/{self.month_days} days)", charge.name,
        )  # fmt: skip
        self.sync_at(changed + dt.timedelta(hours=1))
        self.assertEqual(len(subscription.billing_adjustment_ids), 2)

        invoices = self.invoice(self.next_month, seats)
        self.assertEqual(len(invoices), 2)
        recurring = self.carried(invoices[-1], line)
        self.assertEqual((recurring.quantity, recurring.price_unit), (4, 20.0))
        # each seat-day once: 2 seats for the month, 2 more from the 20th, 4 next month
        extra = by_hand("20", 4, days, self.month_days) - by_hand("20", 2, days, self.month_days)
        self.assertEqual(self.billed(invoices[-1], subscription), extra + 80)
        self.assertEqual(self.billed(invoices, subscription), 40 + extra + 80)
        self.assertEqual(self.invoice(self.next_month, seats), invoices)

    def test_an_increase_past_microsofts_cycle_bills_the_invoiced_days_cycle_by_cycle(self):
        # started on the 14th of the month before: Microsoft's cycles run 14th - 13th
        # (the one of October's 14th: 31 days; of November's 14th: the month's days); the
        # month is invoiced on the 1st, pre-paid at 2 seats
        started = dt.datetime.combine(self.month - relativedelta(months=1, day=14), dt.time(9))
        before = calendar.monthrange(started.year, started.month)[1]
        subscription = self.buy(started, 2, term="P1Y", seen=dt.datetime.combine(
            self.month, dt.time(9)))  # fmt: skip
        seats = self.new_contract("Seats", "monthly", start=self.month)
        self.sync_at(dt.datetime.combine(self.month, dt.time(10)))
        line = subscription.contract_line_id
        first = self.invoice(self.month, seats)
        self.assertEqual(self.billed(first, subscription), 40)

        # +2 seats on the 5th: Microsoft charges the 5th - 13th and bills its next cycle
        # (from the 14th) at 4 seats itself; the customer paid the whole month at 2
        self.sandbox.control(
            "PATCH", f"tenants/{ASHFORD}/subscriptions/{subscription.microsoft_id}",
            {"quantity": 4},
        )  # fmt: skip
        changed = dt.datetime.combine(self.month.replace(day=5), dt.time(10))
        self.sync_at(changed)
        adjustments = subscription.billing_adjustment_ids
        self.assertEqual(len(adjustments), 4)
        microsoft = adjustments.filtered(lambda a: not a.customer_only)
        later = adjustments - microsoft
        credit, charge = microsoft.sorted("amount")
        later_credit, later_charge = later.sorted("amount")
        self.assertEqual(
            (later_credit.key, later_charge.key), (f"{credit.key}:2", f"{charge.key}:2")
        )
        # the cycle of the 14th before: the 5th - 13th, Microsoft's cost and the customer's
        for adjustment, seats_, sign in ((credit, 2, -1), (charge, 4, 1)):
            self.assertEqual((adjustment.period_start, adjustment.period_end), (
                changed.date(), self.month.replace(day=13)))  # fmt: skip
            self.assertEqual((adjustment.billing_days, adjustment.cycle_days), (9, before))
            self.assertEqual(money(adjustment.cost_amount), sign * by_hand("16", seats_, 9, before))
            self.assertEqual(money(adjustment.amount), sign * by_hand("20", seats_, 9, before))
        # the cycle of the 14th: the 14th to the month's end, over the month's days, the
        # customer's only (no cost: Microsoft's next cycle bills 4 seats)
        days = self.month_days - 14 + 1
        last = self.next_month - dt.timedelta(days=1)
        for adjustment, seats_, sign in ((later_credit, 2, -1), (later_charge, 4, 1)):
            self.assertEqual((adjustment.period_start, adjustment.period_end), (
                self.month.replace(day=14), last))  # fmt: skip
            self.assertEqual((adjustment.billing_days, adjustment.cycle_days), (
                days, self.month_days))  # fmt: skip
            self.assertEqual(adjustment.cost_amount, 0)
            self.assertEqual(money(adjustment.amount), sign * by_hand("20", seats_, days,
                                                                      self.month_days))  # fmt: skip
        self.assertIn(
            f": +2 seats, 14 {changed:%b} {DASH} {day_month(last)} {last.year} "
            f"({days}/{self.month_days} days)", later_charge.name,
        )  # fmt: skip
        # the reconciliation's cost lines: Microsoft's seat change and its next cycle at
        # 4 seats (its recurring charge), not the customer's later days
        ours, __ = self.env["csp.billing.reconciliation"]._csp_cost_lines(self.tenant, self.month)
        mine = [c for c in ours if c.subscription_id == subscription.microsoft_id.lower()
                and c.start >= changed.date()]  # fmt: skip
        self.assertEqual(sorted(c.amount for c in mine), sorted(
            [money(a.cost_amount) for a in microsoft] + [16 * 4]))  # fmt: skip
        self.sync_at(changed + dt.timedelta(hours=1))  # again: nothing new
        self.assertEqual(subscription.billing_adjustment_ids, adjustments)

        invoices = self.invoice(self.next_month, seats)
        self.assertEqual(len(invoices), 2)
        self.assertEqual(self.carried(invoices[-1], line).quantity, 4)
        # one line for the change (four adjustments): +2 seats at the pro-rated seat
        # price, its amount their total to the cent
        (change_line,) = self.carried(invoices[-1], adjustments.contract_line_id)
        self.assertEqual(
            money(change_line.price_subtotal), sum(money(a.amount) for a in adjustments)
        )
        self.assertEqual(change_line.quantity, 2)
        period = wording.period(changed.date(), last, self.customer.lang)
        self.assertIn(f"+2 seats, {period} (", change_line.name)
        # each seat-day once: 2 seats all month, 2 more from the 5th (two cycles), 4 next
        extra = sum(
            by_hand("20", 4, d, c) - by_hand("20", 2, d, c)
            for d, c in ((9, before), (days, self.month_days))
        )
        self.assertEqual(self.billed(invoices[-1], subscription), extra + 80)
        self.assertEqual(self.billed(invoices, subscription), 40 + extra + 80)
        self.assertEqual(self.invoice(self.next_month, seats), invoices)
        self.sync_at(dt.datetime.combine(self.next_month, dt.time(10)))
        self.assertEqual(subscription.billing_adjustment_ids, adjustments)

    def test_a_decrease_within_the_window_mirrors_it(self):
        bought = dt.datetime.combine(self.month.replace(day=18), dt.time(9))
        subscription = self.buy(bought, 4)
        self.sync_at(bought + dt.timedelta(hours=2))
        line = subscription.contract_line_id
        self.assertEqual(line.date_start, self.next_month)  # never invoiced yet
        (first,) = subscription.billing_adjustment_ids
        self.sandbox.control(
            "PATCH", f"tenants/{ASHFORD}/subscriptions/{subscription.microsoft_id}",
            {"quantity": 1},
        )  # fmt: skip
        changed = bought + dt.timedelta(days=2)  # the 20th, within 7 days of the purchase
        self.sync_at(changed)
        credit, charge = (subscription.billing_adjustment_ids - first).sorted("amount")
        self.assertEqual((credit.charge_type, credit.quantity, charge.quantity),
                         ("removeQuantity", 4, 1))  # fmt: skip
        ms_days = self.month_days - 20 + 1 + 17  # Microsoft: the 20th to the 17th
        self.assertEqual((charge.billing_days, charge.period_end),
                         (ms_days, self.next_month.replace(day=17)))  # fmt: skip
        self.assertEqual(money(credit.cost_amount), -by_hand("16", 4, ms_days, self.month_days))
        self.assertEqual(money(charge.cost_amount), by_hand("16", 1, ms_days, self.month_days))
        days = self.month_days - 20 + 1  # the customer: the 20th to the month's end
        self.assertEqual(money(credit.amount), -by_hand("20", 4, days, self.month_days))
        self.assertEqual(money(charge.amount), by_hand("20", 1, days, self.month_days))
        self.assertIn(f"-3 seats, 20 {changed:%b} {DASH} ", charge.name)
        self.assertIn(f"({days}/{self.month_days} days)", charge.name)

        invoices = self.invoice(self.next_month)
        self.assertEqual(self.carried(invoices[-1], line).quantity, 1)
        # 4 seats from the 18th, 1 from the 20th, 1 next month; nothing twice
        expected = (
            by_hand("20", 4, days + 2, self.month_days)
            - by_hand("20", 4, days, self.month_days)
            + by_hand("20", 1, days, self.month_days)
            + 20
        )
        self.assertEqual(self.billed(invoices, subscription), expected)

    def test_a_change_in_a_period_not_yet_invoiced_keeps_the_cost_only(self):
        subscription = self.running(dt.datetime.combine(self.next_month, dt.time(9)))
        line = subscription.contract_line_id
        line.price_unit, subscription.cost_price = 20.0, 16.0
        old = subscription.quantity
        self.sandbox.control(
            "PATCH", f"tenants/{ASHFORD}/subscriptions/{subscription.microsoft_id}",
            {"quantity": old + 2},
        )  # fmt: skip
        # next month's invoice is not made yet: it bills the new quantity for all its days
        changed = dt.datetime.combine(self.next_month.replace(day=3), dt.time(9))
        self.sync_at(changed)
        credit, charge = subscription.billing_adjustment_ids.sorted("cost_amount")
        self.assertEqual((credit.amount, charge.amount), (0, 0))
        self.assertFalse((credit | charge).contract_line_id)
        days, cycle = charge.billing_days, charge.cycle_days
        self.assertEqual(charge.period_start, changed.date())
        self.assertEqual(money(charge.cost_amount), by_hand("16", old + 2, days, cycle))
        self.assertIn("Microsoft's cost only", charge.name)
        self.sync_at(changed + dt.timedelta(hours=1))
        self.assertEqual(len(subscription.billing_adjustment_ids), 2)
        invoices = self.invoice(self.next_month)
        self.assertEqual(self.carried(invoices[-1], line).quantity, old + 2)
        self.assertEqual(self.billed(invoices[-1], subscription), 20 * (old + 2))

    # -- renewal ---------------------------------------------------------------------------

    def test_renewal_is_not_pro_rated_and_the_line_follows_the_new_term(self):
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        subscription = self.running(now)
        line = subscription.contract_line_id
        line.price_unit, subscription.cost_price = 20.0, 16.0
        quantity = subscription.quantity
        renewed = subscription.start_date + relativedelta(months=1)
        if subscription.billing_cycle == "annual" or subscription.term_duration != "P1M":
            renewed = subscription.start_date + relativedelta(years=1)
        # Partner Center renews it with 3 more seats at a new price (the new term's)
        self.sandbox.control(
            "PATCH", f"tenants/{ASHFORD}/subscriptions/{subscription.microsoft_id}",
            {"effectiveStartDate": f"{renewed:%Y-%m-%dT00:00:00}Z", "quantity": quantity + 3},
        )  # fmt: skip
        subscription.cost_price, line.price_unit = 17.5, 22.0
        self.sync_at(renewed + dt.timedelta(hours=2))
        self.assertEqual(subscription.start_date, renewed.replace(hour=0, minute=0, second=0))
        self.assertFalse(subscription.billing_adjustment_ids)  # a new term: no pro-rata
        self.assertEqual((line.quantity, line.price_unit), (quantity + 3, 22.0))
        self.assertEqual(line.csp_cost_price, 17.5)

        # a seat added in the new term is billed at the new term's prices; the contract
        # is invoiced up to the period of the change (its line at the old quantity)
        changed = renewed + dt.timedelta(days=3, hours=2)
        while line.next_period_date_start <= changed.date():
            self.invoice(line.next_period_date_start)
        self.sandbox.control(
            "PATCH", f"tenants/{ASHFORD}/subscriptions/{subscription.microsoft_id}",
            {"quantity": quantity + 4},
        )  # fmt: skip
        following = line.next_period_date_start
        self.sync_at(changed)
        credit, charge = subscription.billing_adjustment_ids.sorted("amount")
        self.assertEqual((credit.quantity, charge.quantity), (quantity + 3, quantity + 4))
        self.assertEqual(charge.period_start, changed.date())
        days, cycle = charge.billing_days, charge.cycle_days
        self.assertEqual(money(credit.cost_amount), -by_hand("17.5", quantity + 3, days, cycle))
        # the customer's days end with the period invoiced, or Microsoft's cycle if sooner
        last = min(charge.period_end, following - dt.timedelta(days=1))
        days = (last - charge.period_start).days + 1
        self.assertEqual(money(charge.amount), by_hand("22", quantity + 4, days, cycle))
        # the next invoice: the recurring line at the new term's quantity and price, the
        # seat change's pair once
        invoices = self.invoice(following)
        current = invoices[-1]
        self.assertEqual(current.state, "draft")
        recurring = self.carried(current, line)
        self.assertEqual((recurring.quantity, recurring.price_unit), (quantity + 4, 22.0))
        (change_line,) = self.carried(current, (credit | charge).contract_line_id)
        self.assertEqual(money(change_line.price_subtotal), money(credit.amount + charge.amount))
        self.assertIn("+1 seat, ", change_line.name)
        self.assertEqual(self.invoice(following), invoices)

    # -- audit-record time -------------------------------------------------------------------

    def test_audit_record_time_dates_the_change(self):
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        subscription = self.running(now)
        subscription.contract_line_id.price_unit = 20.0
        old = subscription.quantity
        self.invoice(self.next_month)  # this month paid: the change is the customer's to pay
        client = self.connection._csp_partner_center(self.connection._csp_http())
        current = client.subscription(ASHFORD, subscription.microsoft_id)
        client.patch_subscription(
            ASHFORD, subscription.microsoft_id, quantity_rules.patch_body(current, old + 2)
        )
        records = [
            r for r in client.audit_records(now - dt.timedelta(minutes=5))
            if subscription.microsoft_id in r["resourceNewValue"]
        ]  # fmt: skip
        stamp = records[-1]["operationDate"]
        audited = dt.datetime.fromisoformat(stamp.replace("Z", "")).replace(microsecond=0)
        seen = now + dt.timedelta(days=1, hours=2)  # the sync sees it the next day
        self.sync_at(seen)
        self.assertEqual(subscription.quantity, old + 2)
        self.assertEqual(subscription.changed_at, audited)
        # kept in the subscription's change history, dated by the record itself
        change = subscription.change_ids.filtered(lambda c: c.kind == "quantity")
        self.assertEqual(
            (change.old_quantity, change.new_quantity, change.source, change.changed_at),
            (old, old + 2, "audit_record", audited),
        )
        # the pair, and the customer's later days when Microsoft's cycle ends first
        adjustments = subscription.billing_adjustment_ids
        credit, charge = adjustments.filtered(lambda a: not a.customer_only).sorted("amount")
        for adjustment in adjustments:
            self.assertEqual(adjustment.time_source, "audit_record")
            self.assertEqual(adjustment.changed_at, audited)
            self.assertEqual(adjustment.change_id, change)
            self.assertNotIn("audit record", adjustment.contract_line_id.name)
        for adjustment in (credit, charge):
            self.assertEqual(adjustment.period_start, audited.date())  # not the day it was seen
        self.assertEqual(json.loads(self.tenant.licence_audit_times or "{}"), {})
        self.sync_at(seen + dt.timedelta(hours=1))
        self.assertEqual(subscription.billing_adjustment_ids, adjustments)

    # -- three-year billing ------------------------------------------------------------------

    def test_triennial_billing_goes_on_a_contract_invoiced_every_3_years(self):
        bought = dt.datetime.combine(self.month.replace(day=3), dt.time(9))
        subscription = self.buy(bought, 5, cycle="triennial", term="P3Y")
        self.sync_at(bought + dt.timedelta(hours=2))
        self.assertFalse(subscription.contract_line_id)  # the yearly contract is not used
        activity = self.customer.activity_ids.filtered(lambda a: a.summary == ACTIVITY)
        self.assertEqual(len(activity), 1)
        self.assertIn(
            f"{subscription.friendly_name} (triennial billing): needs an active sale contract "
            "invoiced every 3 years",
            activity.note,
        )
        self.assertNotIn("every 1 ", activity.note)
        every3 = self.new_contract("Three years", "yearly", 3, start=self.month)
        self.sync_at(bought + dt.timedelta(hours=3))
        self.assertEqual(subscription.contract_line_id.contract_id, every3)
        self.assertEqual(subscription.contract_line_id.quantity, 5)
        self.assertFalse(self.customer.activity_ids.filtered(lambda a: a.summary == ACTIVITY))
        self.assertFalse(subscription.billing_adjustment_ids)  # not pro-rated here

    # -- what the customer's invoice says --------------------------------------------------

    def at(self, when, modules=("licences", "billing")):
        """sync_at ``when`` with the database's clock there too (the change history's
        create_date): a change recorded when it was seen, not weeks later."""
        self.env.cr._now = when
        try:
            return self.sync_at(when, modules)
        finally:
            self.env.cr._now = None

    def assert_change_lines(self, changes, started):
        """The four change lines of test_an_invoice_says_each_change_in_the_customers_words:
        words, quantity and pro-rated seat price (the reconciliation-file rule)."""
        lang, days = self.customer.lang, self.month_days
        last = self.next_month - dt.timedelta(days=1)
        before = calendar.monthrange(started.year, started.month)[1]
        by_text = {line.name.splitlines()[1]: line for line in changes}

        def period(first):
            return wording.period(self.month.replace(day=first), last, lang)

        expected = [
            (f"First days: {period(3)} ({days - 2} of {days} days), 3 seats",
             3, by_hand("20", 1, days - 2, days)),
            # Microsoft's cycle of the 14th before (from the 5th to the 13th), then its
            # cycle of the 14th up to the month's end
            (f"+2 seats, {period(5)} ({days - 4} days)",
             2, by_hand("20", 1, 9, before) + by_hand("20", 1, days - 13, days)),
            (f"-1 seat, {period(8)} ({days - 7} days)",
             -1, by_hand("20", 1, 6, before) + by_hand("20", 1, days - 13, days)),
            (f"Cancelled {wording.day(self.month.replace(day=6), lang)}: {days - 5} of "
             f"{days} days refunded ({period(6)})", -3, by_hand("20", 1, days - 5, days)),
        ]  # fmt: skip
        self.assertEqual(sorted(by_text), sorted(text for text, __, __ in expected))
        for text, quantity, price in expected:
            line = by_text[text]
            self.assertEqual((line.quantity, money(line.price_unit)), (quantity, price), text)

    def test_an_invoice_says_each_change_in_the_customers_words(self):
        # two subscriptions running since the 14th of the month before (Microsoft's cycles
        # 14th - 13th), a year's and a month's term of the same offer, on a contract of
        # their own invoiced on the 1st, pre-paid: this month invoiced at the old seats
        started = dt.datetime.combine(self.month - relativedelta(months=1, day=14), dt.time(9))
        seen = dt.datetime.combine(self.month, dt.time(9))
        grown = self.buy(started, 2, term="P1Y", seen=seen)
        shrunk = self.buy(started, 5, term="P1M", seen=seen)
        seats = self.new_contract("Seats", "monthly", start=self.month)
        self.at(dt.datetime.combine(self.month, dt.time(10)))
        (first,) = self.invoice(self.month, seats)
        lang = self.customer.lang
        last = self.next_month - dt.timedelta(days=1)
        # the recurring lines: product, term and billing plan, the service period
        product = grown.product_id.name
        for subscription, term in ((grown, "annual"), (shrunk, "monthly")):
            (recurring,) = self.carried(first, subscription.contract_line_id)
            self.assertEqual(recurring.name, (
                f"{product} \N{EM DASH} {term} commitment, billed monthly\n"
                f"{wording.period(self.month, last, lang)}"))  # fmt: skip
            self.assertFalse(recurring.csp_check_reason)
            shown = f"{self.month} - {product} \N{EM DASH} {term} commitment, billed monthly"
            self.assertEqual(subscription.contract_line_id.display_name, shown)
        self.assertFalse(first.csp_to_check)

        # bought on the 3rd (its first days), +2 seats on the 5th, cancelled on the 6th
        # (within 7 days of its purchase), -1 seat on the 8th
        bought = dt.datetime.combine(self.month.replace(day=3), dt.time(9))
        cancelled = self.buy(bought, 3)
        self.at(bought + dt.timedelta(hours=2))
        for subscription, values, day in (
            (grown, {"quantity": 4}, 5), (cancelled, {"status": "deleted"}, 6),
            (shrunk, {"quantity": 4}, 8),
        ):  # fmt: skip
            self.sandbox.control(
                "PATCH", f"tenants/{ASHFORD}/subscriptions/{subscription.microsoft_id}", values
            )
            self.at(dt.datetime.combine(self.month.replace(day=day), dt.time(10)))
        adjustments = (grown | shrunk | cancelled).billing_adjustment_ids
        self.assertGreaterEqual(len(adjustments), 6)  # one per piece, with Microsoft's costs

        invoices = self.invoice(self.next_month, seats)
        self.assertEqual(len(invoices), 2)
        invoice = invoices[-1]
        self.assertEqual(invoice.state, "draft")
        changes = self.carried(invoice, adjustments.contract_line_id)
        # one line per change: first days, +2 seats, the cancellation, -1 seat
        self.assertEqual(len(changes), 4)
        self.assertEqual(
            money(sum(changes.mapped("price_subtotal"))), sum(money(a.amount) for a in adjustments)
        )
        self.assert_change_lines(changes, started)
        for line in changes:
            self.assertTrue(line.name.startswith(f"{product} \N{EM DASH} "), line.name)
            self.assertEqual(money(line.quantity * line.price_unit), money(line.price_subtotal))
            for internal in ("sync", "audit", "Quantity", "cancelImmediate", "firstDays"):
                self.assertNotIn(internal, line.name)
        self.assertFalse(invoice.csp_to_check)  # prices, costs and times known
        self.assertEqual(self.invoice(self.next_month, seats), invoices)  # once

    def test_lines_to_check_are_flagged_and_filtered(self):
        started = dt.datetime.combine(self.month - relativedelta(months=1, day=14), dt.time(9))
        subscription = self.buy(started, 2, term="P1Y", seen=dt.datetime.combine(
            self.month, dt.time(9)))  # fmt: skip
        product = self.env["product.product"].search([("default_code", "=", self.sku.offer_id)])
        product.lst_price = 0.0  # no sales price yet
        subscription.cost_price = 0.0  # nor Microsoft's cost
        seats = self.new_contract("Seats", "monthly", start=self.month)
        self.at(dt.datetime.combine(self.month, dt.time(10)))
        line = subscription.contract_line_id
        self.assertEqual(line.price_unit, 0)
        (first,) = self.invoice(self.month, seats)
        self.assertEqual(first.state, "draft")  # nothing posted
        (recurring,) = self.carried(first, line)
        self.assertTrue(recurring.csp_check_reason.startswith("No sales price"))
        self.assertTrue(first.csp_to_check)
        self.assertIn("No sales price", first.csp_check_summary)
        # a change seen by the sync 3 days after it took effect (a webhook's time, say):
        # recorded late without an audit record
        self.sandbox.control(
            "PATCH", f"tenants/{ASHFORD}/subscriptions/{subscription.microsoft_id}",
            {"quantity": 3},
        )  # fmt: skip
        changed = dt.datetime.combine(self.month.replace(day=5), dt.time(10))
        self.sync_at(changed)  # the database's clock: today, weeks later
        (change_line,) = subscription.billing_adjustment_ids.contract_line_id
        reasons = change_line.csp_check_reason.splitlines()
        self.assertEqual(len(reasons), 3, reasons)
        self.assertTrue(reasons[0].startswith("No sales price"))
        self.assertIn("Microsoft cost of 0", reasons[1])
        self.assertIn("after it took effect, without Partner Center's audit record", reasons[2])
        invoice = self.invoice(self.next_month, seats)[-1]
        (flagged,) = self.carried(invoice, change_line)
        self.assertEqual(flagged.csp_check_reason, change_line.csp_check_reason)
        # the invoices' "Microsoft lines to check" filter lists these drafts, not the
        # checked ones of the same contract (the customer's other contract bills the
        # sandbox's subscriptions, whose products the step created at 0: flagged too)
        view = self.env.ref("csp_connector_billing.view_account_invoice_filter_csp_to_check")
        (node,) = etree.fromstring(view.arch).xpath("//filter[@name='csp_to_check']")
        accountant = self.env["res.users"].create({
            "name": "Accountant", "login": "csp-accountant",
            "groups_id": [Command.set([self.env.ref("account.group_account_invoice").id])],
        })  # fmt: skip
        domain = [
            ("invoice_line_ids.contract_line_id.contract_id", "=", seats.id),
            *safe_eval(node.get("domain")),
        ]
        Move = self.env["account.move"].with_user(accountant)
        self.assertEqual(Move.search(domain), (first | invoice).with_user(accountant))
        line.price_unit, subscription.cost_price = 20.0, 16.0
        following = self.invoice(self.next_month + relativedelta(months=1), seats)[-1]
        self.assertFalse(following.csp_to_check)
        self.assertNotIn(following, Move.search(domain))
        first.action_post()  # checked and posted by the accountant: off the list
        self.assertEqual(Move.search(domain), invoice.with_user(accountant))
