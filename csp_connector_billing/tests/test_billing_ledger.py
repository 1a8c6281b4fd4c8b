# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Billing reads the subscription change ledger only: the same adjustments to the cent
without chatter tracking and after every chatter message is deleted; two changes between
two syncs, each with its Partner Center audit record, are billed as Microsoft bills them
(the sandbox's unbilled line items) and reconcile with no difference; adjustments keep
the unit cost they used and the change they bill. The billing step runs as the
integrator, as scheduled."""

import datetime as dt
import time
import uuid
from decimal import Decimal

from freezegun import freeze_time

from odoo.tests import tagged

from odoo.addons.csp_connector.sync import subscriptions as quantity_rules

from mscloud_sandbox.generate import catalogue

from ..microsoft import line_items
from .common import ASHFORD, BillingInvoicingCase

PLAIN = "fb695ffb-3a18-40c7-8092-b4d42b28fef0"  # monthly, started on the 14th, 2 seats
CENT = Decimal("0.01")


def money(value):
    return Decimal(str(value)).quantize(CENT)


def figures(adjustments):
    """What an adjustment bills, without what names its subscription."""
    return sorted(
        (a.charge_type, a.quantity, a.period_start, a.period_end, a.billing_days, a.cycle_days,
         money(a.cost_amount), money(a.amount), a.customer_only, a.time_source)
        for a in adjustments
    )  # fmt: skip


@tagged("post_install", "-at_install")
class TestBillingLedger(BillingInvoicingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.ref("base.GBP").active = True
        cls.connection.write({
            "billing_currency_id": cls.env.ref("base.GBP").id,
            "licence_full_read_hours": 0,  # every run reads all subscriptions
        })  # fmt: skip
        cls.sku = next(s for s in catalogue().values() if not s.free)
        cls.bought = set()  # the sandbox keeps them from one test to the next

    def setUp(self):
        super().setUp()
        self.now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        self.month = self.now.date().replace(day=1)
        self.contract.date_start = self.month
        self.sync_at(self.now)  # the opening rows: before the changes made next

    def buy(self, start, quantity=2):
        sub_id = str(uuid.uuid4())
        self.bought.add(sub_id)
        self.sandbox.control(
            "POST", f"tenants/{ASHFORD}/subscriptions",
            {"id": sub_id, "offerId": self.sku.offer_id, "offerName": self.sku.product_name,
             "skuId": self.sku.sku_id, "quantity": quantity, "billingCycle": "monthly",
             "termDuration": "P1Y", "effectiveStartDate": f"{start:%Y-%m-%dT%H:%M:%S}Z",
             "creationDate": f"{start:%Y-%m-%dT%H:%M:%S}Z",
             "commitmentEndDate": f"{start:%Y-%m-%d}T00:00:00Z"},
        )  # fmt: skip
        return sub_id

    def sandbox_items(self, subscription_id):
        client = self.connection._csp_partner_center(self.connection._csp_http())
        return [i for i in line_items.unbilled_line_items(client, "GBP")
                if i["subscriptionId"] == subscription_id]  # fmt: skip

    def priced(self, subscription):
        prices = self.sandbox.control("GET", f"billing?tenant={ASHFORD}")["prices"]
        subscription.cost_price = float(prices[subscription.microsoft_id])
        subscription.contract_line_id.price_unit = 20.0

    # -- the chatter is not the source -----------------------------------------------------

    def test_the_same_adjustments_without_tracking_and_without_the_chatter(self):
        # two identical subscriptions bought 10 days ago, on the monthly contract
        start = dt.datetime.combine(self.now.date() - dt.timedelta(days=10), dt.time())
        ids = [self.buy(start), self.buy(start)]
        self.sync_at(self.now + dt.timedelta(minutes=2))
        first, second = (self.subscription(i) for i in ids)
        for subscription in (first, second):
            self.assertTrue(subscription.contract_line_id)
            self.priced(subscription)
        seen = self.now + dt.timedelta(minutes=3)
        # 2 -> 5 seats for the first, the usual way
        self.sandbox.control("PATCH", f"tenants/{ASHFORD}/subscriptions/{ids[0]}", {"quantity": 5})
        self.sync_at(seen)
        expected = first.billing_adjustment_ids
        self.assertTrue(expected.filtered(lambda a: a.charge_type == "addQuantity"))
        # the same change of the second: the licences step under tracking_disable, every
        # message of the subscription deleted before the billing step runs
        self.sandbox.control("PATCH", f"tenants/{ASHFORD}/subscriptions/{ids[1]}", {"quantity": 5})
        integrator = self.env.ref("csp_connector.user_csp_integrator")
        connection = self.connection.with_user(integrator).with_context(tracking_disable=True)
        with freeze_time(seen):
            run = connection._csp_sync(trigger="cron", modules=["licences"])
        self.assertEqual(run.state, "done", run.message)
        self.assertEqual(second.quantity, 5)
        self.assertFalse(second.message_ids.tracking_value_ids, "no tracking was written")
        second.message_ids.sudo().unlink()
        self.assertFalse(second.message_ids)
        self.sync_at(seen, ("billing",))
        self.assertEqual(figures(second.billing_adjustment_ids), figures(expected))
        # and Microsoft's cost of the change is the sandbox's, to the cent
        items = [i for i in self.sandbox_items(ids[1]) if i["chargeType"] == "addQuantity"]
        costs = second.billing_adjustment_ids.filtered(
            lambda a: a.charge_type == "addQuantity" and not a.customer_only
        )
        self.assertEqual(sorted(money(i["subtotal"]) for i in items),
                         sorted(money(a.cost_amount) for a in costs))  # fmt: skip

    # -- two changes between two syncs --------------------------------------------------------

    def patch(self, quantity):
        time.sleep(1)  # each change a second of its own (Odoo keeps times to the second)
        client = self.connection._csp_partner_center(self.connection._csp_http())
        current = client.subscription(ASHFORD, PLAIN)
        client.patch_subscription(ASHFORD, PLAIN, quantity_rules.patch_body(current, quantity))

    def test_two_changes_between_two_syncs_are_billed_as_microsoft_bills_them(self):
        for subscription in self.tenant.subscription_ids:
            if subscription.contract_line_id:
                self.priced(subscription)
        subscription = self.subscription(PLAIN)
        self.assertEqual(subscription.quantity, 2)
        self.patch(5)
        self.patch(3)
        later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=5)
        self.sync_at(later)
        changes = subscription.change_ids.filtered(lambda c: c.kind == "quantity").sorted("id")
        self.assertEqual(
            [(c.old_quantity, c.new_quantity, c.source) for c in changes],
            [(2, 5, "audit_record"), (5, 3, "audit_record")],
        )
        adjustments = subscription.billing_adjustment_ids.filtered(lambda a: not a.customer_only)
        self.assertEqual(len(adjustments), 4, "a credit and a charge per change")
        self.assertEqual(adjustments.change_id, changes)
        for adjustment in adjustments:
            self.assertEqual(adjustment.time_source, "audit_record")
            self.assertEqual(adjustment.changed_at, adjustment.change_id.changed_at)
            self.assertEqual(adjustment.unit_cost, subscription.cost_price)
            self.assertEqual(adjustment.unit_price, 20.0)
        # Microsoft's own lines: two seat changes, each a credit and a charge
        items = [i for i in self.sandbox_items(PLAIN)
                 if i["chargeType"] in ("addQuantity", "removeQuantity")]  # fmt: skip
        self.assertEqual(
            sorted((i["chargeType"], i["quantity"], money(i["subtotal"])) for i in items),
            sorted((a.charge_type, a.quantity, money(a.cost_amount)) for a in adjustments),
        )
        # the subscription form shows the change history with what each change billed
        self.assertEqual(changes[0].adjustment_tag_ids, adjustments.filtered(
            lambda a: a.change_id == changes[0]))  # fmt: skip
        self.sync_at(later + dt.timedelta(minutes=1))  # again: nothing new
        self.assertEqual(len(subscription.change_ids), 3)

        with freeze_time(later + dt.timedelta(minutes=2)):
            action = self.tenant.action_billing_reconcile()
        report = self.env["csp.billing.reconciliation"].browse(action["res_id"])
        # this month: not invoiced by Microsoft yet (differences: another test's, below)
        self.assertEqual(
            report.state, "different" if report.difference_count else "not_billed", report.message
        )
        # (another test's subscriptions are in the sandbox, not in this test's database)
        different = report.line_ids.filtered(
            lambda line: line.status == "different"
            and line.microsoft_subscription_id not in self.bought
        )  # fmt: skip
        self.assertFalse(different, different.mapped("explanation"))
        self.assertEqual(report.difference_count, len(report.line_ids.filtered(
            lambda line: line.microsoft_subscription_id in self.bought)))  # fmt: skip
        mine = report.line_ids.filtered(lambda line: line.subscription_id == subscription)
        self.assertEqual(len(mine.filtered(lambda line: line.charge_type in (
            "addQuantity", "removeQuantity"))), 4)  # fmt: skip

        # a cost changed afterwards: the adjustments keep theirs, the report still matches
        subscription.cost_price += 1.0
        report.action_reconcile_again()
        seat_lines = report.line_ids.filtered(lambda line: line.subscription_id == subscription
                                              and line.charge_type != "cycleCharge")  # fmt: skip
        self.assertTrue(all(line.status == "matched" for line in seat_lines
                            if line.charge_type in ("addQuantity", "removeQuantity")))  # fmt: skip
