# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The billing step against the sandbox: products from subscriptions, contract lines on the
contract whose recurrence matches, one activity when none does, quantities that follow."""

from psycopg2 import IntegrityError

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import ASHFORD, BillingSandboxCase


@tagged("post_install", "-at_install")
class TestBillingLines(BillingSandboxCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.connection.licence_import_type = "both"
        run = cls.connection._csp_sync(trigger="manual", modules=["users", "licences"])
        assert run.state not in ("failed", "partial"), run.message

    # -- helpers ----------------------------------------------------------------------

    def subscriptions(self, billed=True):
        """The tenant's active subscriptions billed monthly or annually (billed=False:
        those Microsoft does not bill, billing cycle 'none')."""
        cycles = ("monthly", "annual") if billed else ("none",)
        return self.env["csp.subscription"].search(
            [("csp_tenant_id", "=", self.tenant.id), ("status", "=", "active"),
             ("billing_cycle", "in", cycles)]
        )  # fmt: skip

    def contract(self, rule, start="2026-01-01", partner=None, **extra):
        return self.env["contract.contract"].create(
            {
                "name": f"{rule} contract",
                "partner_id": (partner or self.customer).id,
                "contract_type": "sale",
                "recurring_rule_type": rule,
                "recurring_interval": 1,
                "date_start": start,
                **extra,
            }
        )

    def activities(self):
        return self.customer.activity_ids.filtered(
            lambda a: a.summary == "Microsoft subscriptions without a contract"
        )

    # -- products -----------------------------------------------------------------------

    def test_off_by_default_imports_nothing(self):
        self.assertEqual(self.connection.billing_mode, "none")
        self.assertNotIn("billing", self.connection._csp_step_codes())
        products = self.env["product.product"].search_count([])
        self.sync()
        self.assertEqual(self.env["product.product"].search_count([]), products)
        self.assertFalse(self.subscriptions().product_id)

    def test_one_product_per_offer_linked_both_ways(self):
        self.connection.billing_mode = "products"
        self.assertIn("billing", self.connection._csp_step_codes())  # on with the mode
        self.sync()
        subscriptions = self.subscriptions()
        self.assertTrue(subscriptions)
        self.env.invalidate_all()
        for subscription in subscriptions:
            product = subscription.product_id
            self.assertEqual(product.default_code, subscription.offer_id)
            self.assertEqual(product.type, "service")
            self.assertEqual(product.uom_id, self.env.ref("uom.product_uom_unit"))
            self.assertIn(subscription, product.product_tmpl_id.csp_subscription_ids)
        offers = set(subscriptions.mapped("offer_id"))
        products = self.env["product.product"].search([("default_code", "in", list(offers))])
        self.assertEqual(len(products), len(offers))
        stamps = {p.id: p.write_date for p in products}
        self.sync()  # nothing new, nothing written
        again = self.env["product.product"].search([("default_code", "in", list(offers))])
        self.assertEqual(again, products)
        self.assertEqual({p.id: p.write_date for p in again}, stamps)
        self.assertFalse(self.env["contract.line"].search([("csp_subscription_id", "!=", False)]))

    # -- contract lines ---------------------------------------------------------------------

    def test_lines_on_the_newest_contract_of_the_matching_recurrence(self):
        self.connection.billing_mode = "lines"
        old_monthly = self.contract("monthly", "2025-01-01")
        monthly = self.contract("monthly", "2026-02-01")
        yearly = self.contract("yearly", "2026-01-01")
        quarterly = self.contract("quarterly", "2026-03-01")  # wrong recurrence: never used
        other = self.env["res.partner"].create({"name": "Someone else", "is_company": True})
        others = self.contract("monthly", "2026-03-01", partner=other)
        self.sync()
        subscriptions = self.subscriptions()
        by_cycle = {"monthly": monthly, "annual": yearly}
        for subscription in subscriptions:
            line = subscription.contract_line_id
            self.assertEqual(line.csp_subscription_id, subscription)
            self.assertEqual(line.contract_id, by_cycle[subscription.billing_cycle])
            self.assertEqual(line.quantity, subscription.quantity)
            self.assertEqual(line.product_id, subscription.product_id)
        self.assertFalse((old_monthly | quarterly | others).contract_line_ids)
        subscriptions[0].cost_price = 12.5  # until the price sheet fills it
        self.assertEqual(subscriptions[0].contract_line_id.csp_cost_price, 12.5)
        self.assertTrue(self.subscriptions(billed=False))
        self.assertFalse(self.subscriptions(billed=False).contract_line_id)  # nothing to bill
        lines = self.env["contract.line"].search([("csp_subscription_id", "in", subscriptions.ids)])
        self.assertEqual(len(lines), len(subscriptions))
        stamps = {line.id: line.write_date for line in lines}
        self.sync()  # no change: no new line, nothing written
        again = self.env["contract.line"].search([("csp_subscription_id", "in", subscriptions.ids)])
        self.assertEqual(again, lines)
        self.assertEqual({line.id: line.write_date for line in again}, stamps)
        self.assertFalse(self.activities())

    def test_quantity_follows_the_subscription(self):
        self.connection.billing_mode = "lines"
        self.contract("monthly")
        self.contract("yearly")
        self.sync()
        subscription = self.subscriptions()[0]
        self.sandbox.control(
            "PATCH",
            f"tenants/{ASHFORD}/subscriptions/{subscription.microsoft_id}",
            {"quantity": subscription.quantity + 3},
        )
        self.sync(("licences", "billing"))
        subscription.invalidate_recordset()
        self.assertEqual(subscription.contract_line_id.quantity, subscription.quantity)
        self.assertEqual(len(self.env["contract.line"].search(
            [("csp_subscription_id", "=", subscription.id)])), 1)  # fmt: skip

    def test_missing_contract_raises_one_activity(self):
        self.connection.billing_mode = "lines"
        self.contract("quarterly")  # matches nothing
        run = self.sync()
        messages = " ".join(filter(None, [run.message, *run.line_ids.mapped("message")]))
        self.assertIn("no matching contract", messages)
        activity = self.activities()
        self.assertEqual(len(activity), 1)
        self.assertIn("needs an active sale contract", activity.note)
        for subscription in self.subscriptions():
            self.assertIn(subscription.friendly_name, activity.note)
        for subscription in self.subscriptions(billed=False):
            self.assertNotIn(subscription.friendly_name, activity.note)
        self.assertEqual(activity.user_id, self.connection.billing_user_id)
        self.sync()
        self.sync()
        self.assertEqual(self.activities(), activity)  # not one per run
        self.assertFalse(self.subscriptions().contract_line_id)
        self.contract("monthly")
        self.contract("yearly")
        self.sync()
        self.assertTrue(all(self.subscriptions().mapped("contract_line_id")))
        self.assertFalse(self.activities())  # done once every subscription is on one

    def test_the_activity_shows_names_as_text(self):
        self.customer.name = "Ashford <img src=x onerror=alert(1)> & Pike"
        self.connection.billing_mode = "lines"
        self.sync()  # no contract at all
        activity = self.activities()
        self.assertNotIn("<img", activity.note)
        self.assertIn("Ashford &lt;img src=x onerror=alert(1)&gt; &amp; Pike", activity.note)
        # one item per subscription
        self.assertEqual(str(activity.note).count("<li>"), len(self.subscriptions()))

    def test_assigned_seats_basis(self):
        self.connection.write({"billing_mode": "lines", "billing_quantity_basis": "assigned"})
        self.contract("monthly")
        self.contract("yearly")
        self.sync()
        for subscription in self.subscriptions():
            sku = subscription.subscribed_sku_id
            if not sku:
                self.assertEqual(subscription.contract_line_id.quantity, subscription.quantity)
                continue
            siblings = sku.subscription_ids.filtered(lambda s: not s.removed)
            self.assertEqual(
                sum(siblings.contract_line_id.mapped("quantity")),
                min(sku.consumed_units, sum(siblings.mapped("quantity"))),
            )
            self.assertLessEqual(subscription.contract_line_id.quantity, subscription.quantity)

    def test_a_subscription_is_on_one_line_only(self):
        self.connection.billing_mode = "lines"
        contract = self.contract("monthly")
        self.contract("yearly")
        self.sync()
        line = self.subscriptions()[0].contract_line_id
        values = {
            "contract_id": contract.id, "name": "copy", "quantity": 1,
            "product_id": line.product_id.id, "csp_subscription_id": line.csp_subscription_id.id,
        }  # fmt: skip
        with self.assertRaises(IntegrityError), mute_logger("odoo.sql_db"), self.cr.savepoint():
            self.env["contract.line"].create(values)
