# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Pro-rata adjustments from a seat change seen by the licences sync, invoiced once through
OCA contract's own invoicing (freezegun for the dates), with Microsoft's cost equal to the
sandbox's reconciliation line items."""

import datetime as dt
from decimal import ROUND_DOWN, Decimal

from dateutil.relativedelta import relativedelta
from freezegun import freeze_time

from odoo.tests import tagged

from ..microsoft import line_items
from .common import ASHFORD, BillingInvoicingCase

PLAIN = "fb695ffb-3a18-40c7-8092-b4d42b28fef0"  # monthly, started on the 14th, 2 seats
CENT = Decimal("0.01")


def charge_ends_after(adjustments, next_month):
    """Whether Microsoft's cycle of these adjustments reaches this month's end (invoiced
    at the old quantity): then the customer's days are all in it, no later piece."""
    return all(a.period_end >= next_month - dt.timedelta(days=1) for a in adjustments)


@tagged("post_install", "-at_install")
class TestBillingAdjustments(BillingInvoicingCase):
    def subscription(self, microsoft_id=PLAIN):
        return super().subscription(microsoft_id)

    def sandbox_items(self, subscription_id=PLAIN):
        """The sandbox's unbilled line items of a subscription (its own implementation of
        the rule)."""
        client = self.connection._csp_partner_center(self.connection._csp_http())
        items = line_items.unbilled_line_items(client, "GBP")
        return [i for i in items if i["subscriptionId"] == subscription_id]

    def test_seat_change_billed_once_at_microsofts_cost(self):
        today = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        this_month = today.date().replace(day=1)
        last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
        next_month = (this_month + dt.timedelta(days=32)).replace(day=1)
        self.contract.date_start = last_month
        with freeze_time(dt.datetime.combine(last_month, dt.time(8))):
            self.sync()
        subscription = self.subscription()
        line = subscription.contract_line_id
        self.assertEqual((line.contract_id, line.quantity), (self.contract, 2))
        line.price_unit = 20.0  # the MSP's price
        # last month's and this month's, at 2 seats, as usual
        self.assertEqual([len(self.invoice(m)) for m in (last_month, this_month)], [1, 2])

        # 2 -> 5 seats in Microsoft now; Microsoft's cost per seat from the line items
        self.sandbox.control("PATCH", f"tenants/{ASHFORD}/subscriptions/{PLAIN}", {"quantity": 5})
        items = [i for i in self.sandbox_items() if i["chargeType"] == "addQuantity"]
        self.assertEqual(len(items), 2)
        subscription.cost_price = items[0]["unitPrice"]
        with freeze_time(today + dt.timedelta(minutes=1)):  # the sync sees it a minute later
            self.sync()
        adjustments = self.env["csp.billing.adjustment"].search(
            [("subscription_id", "=", subscription.id)]
        )
        # the pair; and the customer's days of Microsoft's next cycle up to this month's
        # end, when that cycle starts this month (customer_only, cost 0)
        credit, charge = adjustments.filtered(lambda a: not a.customer_only).sorted("cost_amount")
        self.assertEqual(len(adjustments), 2 if charge_ends_after((charge,), next_month) else 4)
        # Microsoft's own figures (the sandbox's implementation of the rule) to the cent
        self.assertEqual(
            sorted(Decimal(str(i["subtotal"])) for i in items),
            [Decimal(str(credit.cost_amount)).quantize(CENT),
             Decimal(str(charge.cost_amount)).quantize(CENT)],
        )  # fmt: skip
        item = next(i for i in items if i["subtotal"] > 0)
        self.assertEqual(str(charge.period_start), item["chargeStartDate"][:10])
        self.assertEqual(str(charge.period_end), item["chargeEndDate"][:10])
        # the customer's lines: the same rule at 20.00 over Microsoft's days, up to the end
        # of this month (invoiced at 2 seats; next month's invoice bills 5)
        cycle = charge.cycle_days
        days = (min(charge.period_end, next_month - dt.timedelta(days=1))
                - charge.period_start).days + 1  # fmt: skip
        per_seat = (Decimal(20) * days / cycle).quantize(CENT, ROUND_DOWN)
        amounts = [Decimal(str(a.amount)).quantize(CENT) for a in (credit, charge)]
        self.assertEqual(amounts, [-per_seat * 2, per_seat * 5])
        self.assertEqual(charge.time_source, "seen")
        self.assertIn(f"+3 seats, {charge.period_start.day} ", charge.name)
        self.assertIn(f"({days}/{cycle} days)", charge.name)
        # one invoice line for the change, in the customer's words; where its time came
        # from stays on the adjustments (time_source), for the MSP
        self.assertEqual(
            [(line.quantity, line.name.splitlines()[1][:10],
              Decimal(str(line.price_subtotal)).quantize(CENT))
             for line in adjustments.contract_line_id],
            [(3, "+3 seats, ", sum(Decimal(str(a.amount)).quantize(CENT) for a in adjustments))],
        )  # fmt: skip

        with freeze_time(today + dt.timedelta(minutes=2)):
            self.sync()  # nothing changed: no new adjustment
        self.assertEqual(
            self.env["csp.billing.adjustment"].search_count(
                [("subscription_id", "=", subscription.id)]
            ),
            len(adjustments),
        )

        invoices = self.invoice(next_month)  # the next invoice carries them
        self.assertEqual(len(invoices), 3)
        current = invoices[-1]
        self.assertEqual(current.state, "draft")
        carried = current.invoice_line_ids.filtered(
            lambda ml: ml.contract_line_id in adjustments.contract_line_id
        )
        self.assertEqual(  # one line for the change, the adjustments' total
            [Decimal(str(v)).quantize(CENT) for v in carried.mapped("price_subtotal")],
            [sum(Decimal(str(v)).quantize(CENT) for v in adjustments.mapped("amount"))],
        )
        recurring = current.invoice_line_ids.filtered(lambda ml: ml.contract_line_id == line)
        self.assertEqual(recurring.quantity, 5)  # the quantity followed

        self.assertEqual(len(self.invoice(next_month)), 3)  # invoicing again: nothing new
        following = self.invoice(next_month + relativedelta(months=1))
        self.assertEqual(len(following), 4)
        self.assertFalse(
            following[-1].invoice_line_ids.filtered(
                lambda ml: ml.contract_line_id in adjustments.contract_line_id
            ),
            "an adjustment is invoiced once",
        )
        self.assertTrue(following[-1].invoice_line_ids.filtered(
            lambda ml: ml.contract_line_id == line))  # fmt: skip

    def test_the_connections_rounding_rule_is_used(self):
        other = "b410d93c-4efb-48d6-8b21-fbac78255d68"  # monthly, started on the 8th, 9 seats
        today = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self.connection.billing_rounding = "truncate_line"
        self.sandbox.control("PUT", "billing", {"rounding": "truncate_line"})
        this_month = today.date().replace(day=1)
        self.contract.date_start = this_month
        with freeze_time(today - dt.timedelta(days=40)):
            self.sync()
        self.invoice(this_month)  # paid at 9 seats: the change's days are the customer's
        subscription = self.env["csp.subscription"].search(
            [("csp_tenant_id", "=", self.tenant.id), ("microsoft_id", "=", other)]
        )
        subscription.contract_line_id.price_unit = 20.0
        self.sandbox.control("PATCH", f"tenants/{ASHFORD}/subscriptions/{other}", {"quantity": 10})
        items = [i for i in self.sandbox_items(other) if i["chargeType"] == "addQuantity"]
        subscription.cost_price = items[0]["unitPrice"]
        with freeze_time(today + dt.timedelta(minutes=1)):
            self.sync()
        adjustments = subscription.billing_adjustment_ids
        credit, charge = adjustments.filtered(lambda a: not a.customer_only).sorted("cost_amount")
        self.assertEqual(set(adjustments.mapped("rounding")), {"truncate_line"})
        self.assertEqual(
            sorted(Decimal(str(i["subtotal"])) for i in items),
            [Decimal(str(a.cost_amount)).quantize(CENT) for a in (credit, charge)],
        )
        cycle = charge.cycle_days
        next_month = (this_month + dt.timedelta(days=32)).replace(day=1)
        last = min(charge.period_end, next_month - dt.timedelta(days=1))
        days = (last - charge.period_start).days + 1
        # the customer's days past Microsoft's cycle: pieces of their own, each over its cycle
        later = adjustments.filtered("customer_only")
        self.assertEqual(len(later), 0 if charge_ends_after((charge,), next_month) else 2)
        self.assertEqual(set(later.mapped("cost_amount")), set() if not later else {0})
        self.assertEqual(set(later.mapped("period_end")), set() if not later else {
            next_month - dt.timedelta(days=1)})  # fmt: skip
        # the line amount cut to cents (not the unit price first)
        pieces = [(credit, 9, -1, days, cycle), (charge, 10, 1, days, cycle)] + [
            (a, a.quantity, 1 if a.amount > 0 else -1, a.billing_days, a.cycle_days) for a in later
        ]
        for adjustment, seats, sign, billing_days, cycle_days in pieces:
            exact = Decimal(20) * seats * billing_days / cycle_days
            self.assertEqual(
                Decimal(str(adjustment.amount)).quantize(CENT),
                sign * exact.quantize(CENT, ROUND_DOWN),
            )
