# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Microsoft's price sheet against the sandbox: the prices step reads a market's sheet
(streamed) into the price table, the subscriptions take their Microsoft Cost and list
price from it, a re-import without change writes nothing, a row Microsoft removed is
marked, a row that does not parse is explained on the run; next month's prices give the
upcoming changes per customer, and when they take effect each contract line follows the
price policy (keep, margin, list), said on the contract's chatter, never for a period
already invoiced."""

import datetime as dt
from decimal import Decimal

from odoo.tests import tagged

from odoo.addons.csp_connector.models.csp_guard import code_env
from odoo.addons.csp_connector_billing.billing import prices as price_rules

from .common import BillingInvoicingCase

E5 = "CFQ7TTC0KQQ8"  # Microsoft 365 E5 (no Teams): two of Ashford's subscriptions
F3 = "CFQ7TTC0ZGGL"  # Microsoft 365 F3
BC = "CFQ7TTC03ZXT"  # Business Central Essentials (annual)


@tagged("post_install", "-at_install")
class TestPrices(BillingInvoicingCase):
    sandbox_tenants = 8

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.connection.write({"price_market": "GB", "sync_prices": True})
        cls.integrator = cls.env.ref("csp_connector.user_csp_integrator")
        # subscriptions, products and contract lines (each offer sold at 20.00 a seat)
        run = cls.connection.with_user(cls.integrator)._csp_sync(
            trigger="cron", modules=["licences", "billing"]
        )
        assert run.state == "done", run.message
        subscriptions = cls.env["csp.subscription"].search(
            [("csp_tenant_id", "=", cls.tenant.id), ("contract_line_id", "!=", False)]
        )
        subscriptions.product_id.write({"list_price": 20.0})
        subscriptions.contract_line_id.write({"price_unit": 20.0})
        cls.subscriptions = subscriptions

    def setUp(self):
        super().setUp()
        self.pricing_options({"omit": None, "removed": None, "bad": None, "future_change": None})

    def pricing_options(self, values):
        return self.sandbox.control("PATCH", "/pricing", values)

    def import_prices(self, future=False):
        """'Import prices now' (or next month's) as a CSP manager, then the run the
        button queued, as the integrator's scheduled call does it."""
        connection = self.connection.with_user(self.manager)
        if future:
            connection.action_import_future_prices()
        else:
            connection.action_import_prices()
        run = self.connection.with_user(self.integrator)._csp_sync(
            trigger="manual", modules=["prices"]
        )
        return run.line_ids.filtered(lambda line: line.step == "prices")

    def prices(self, market="GB", **domain):
        return self.env["csp.price"].search(
            [("connection_id", "=", self.connection.id), ("market", "=", market)]
            + [(k, "=", v) for k, v in domain.items()]
        )

    def of(self, product):
        return self.subscriptions.filtered(lambda s: s.offer_id.startswith(product))

    def row_price(self, subscription, market="GB", start=None):
        product, sku, term, plan = subscription._csp_price_key()
        rows = self.prices(
            market, product_code=product, sku_code=sku, term=term, billing_plan=plan,
            removed=False,
        )  # fmt: skip
        if start:
            rows = rows.filtered(lambda r: r.date_start == start)
        return rows.sorted("date_start")[:1]

    # -- the sheet ---------------------------------------------------------------------

    def test_two_markets_price_the_subscriptions_in_their_currency(self):
        line = self.import_prices()
        self.assertEqual(line.state, "done", line.message)
        gb = self.prices("GB")
        self.assertGreater(len(gb), 100)
        self.assertEqual(set(gb.mapped("currency_code")), {"GBP"})
        self.assertEqual(self.connection.price_currency_id.name, "GBP")
        e5 = self.of(E5)[0]
        gb_cost = self.row_price(e5).unit_price
        self.assertTrue(gb_cost)
        self.assertAlmostEqual(e5.cost_price, gb_cost)
        self.assertAlmostEqual(e5.csp_list_price, self.row_price(e5).erp_price)
        # the change is recorded: old (typed by nobody: 0) and new, its date
        change = e5.price_change_ids
        self.assertEqual(len(change), 1)
        self.assertEqual((change.old_cost, change.new_cost), (0.0, gb_cost))
        self.assertEqual(change.effective_date, self.row_price(e5).date_start)
        # the annual plan is priced by the year
        bc = self.of(BC)
        self.assertAlmostEqual(bc.cost_price, self.row_price(bc).unit_price)
        self.assertEqual(self.row_price(bc).billing_plan, "Annual")

        books = self.connection.company_id.currency_id.name
        self.assertEqual("not converted" in line.message, books != "GBP", line.message)
        self.connection.write({"price_market": "us"})
        self.assertEqual(self.connection.price_market, "US")
        self.assertEqual(self.connection.price_currency_id.name, "USD")
        line = self.import_prices()
        self.assertEqual(line.state, "done", line.message)
        self.assertEqual("not converted" in line.message, books != "USD", line.message)
        us_cost = self.row_price(e5, "US").unit_price
        self.assertEqual(set(self.prices("US").mapped("currency_code")), {"USD"})
        self.assertNotEqual(us_cost, gb_cost)
        self.assertAlmostEqual(e5.cost_price, us_cost)
        self.assertEqual(len(e5.price_change_ids), 2)
        # the GB rows stay as they were: another market's sheet does not remove them
        self.assertFalse(self.prices("GB", removed=True))

    def test_a_reimport_without_change_writes_nothing(self):
        self.import_prices()
        stamps = dict(self.prices().mapped(lambda p: (p.id, p.write_date)))
        changes = self.env["csp.price.change"].search_count([])
        line = self.import_prices()
        self.assertEqual((line.created, line.updated, line.deactivated), (0, 0, 0), line.message)
        self.assertIn("0 new, 0 changed", line.message)
        self.assertEqual(dict(self.prices().mapped(lambda p: (p.id, p.write_date))), stamps)
        self.assertEqual(self.env["csp.price.change"].search_count([]), changes)

    def test_a_row_microsoft_removed_is_marked_never_deleted(self):
        self.import_prices()
        f3 = self.prices(product_code=F3)
        self.assertTrue(f3)
        self.pricing_options({"omit": [F3], "removed": [BC]})
        line = self.import_prices()
        self.assertEqual(line.state, "done", line.message)
        self.assertTrue(f3.exists())
        self.assertTrue(all(f3.mapped("removed")), "left off the sheet: marked removed")
        self.assertTrue(all(self.prices(product_code=BC).mapped("removed")), "indicator Removed")
        self.assertEqual(line.deactivated, len(f3))
        # back on the sheet: listed again, the same rows
        self.pricing_options({"omit": None})
        self.import_prices()
        self.assertFalse(any(f3.mapped("removed")))

    def test_a_row_that_does_not_parse_is_explained_on_the_run(self):
        self.import_prices()
        self.pricing_options({"bad": [E5]})
        line = self.import_prices()
        # the rest is imported: the step is done, its line counts and explains them
        self.assertEqual(line.state, "done")
        self.assertEqual(line.error_count, len(self.prices(product_code=E5)))
        self.assertIn("did not parse and were skipped", line.message)
        self.assertIn(f"({E5}): UnitPrice 'n/a' is not a number", line.message)
        self.assertIn("report them to Microsoft support", line.message)
        # the other rows imported; the bad product's rows kept as they were, not removed
        self.assertFalse(any(self.prices(product_code=E5).mapped("removed")))
        self.assertTrue(self.prices(product_code=F3))

    def test_a_refused_price_sheet_is_explained_and_changes_nothing(self):
        self.import_prices()
        costs = self.subscriptions.mapped("cost_price")
        self.sandbox.fault(service="pricing", status=403, times=1)
        try:
            line = self.import_prices()
        finally:
            self.sandbox.control("DELETE", "/faults")
        self.assertEqual(line.state, "error")
        self.assertIn("refused to show the price sheet", line.message)
        self.assertIn("Admin agent, Sales agent or Billing admin", line.message)
        self.assertEqual(self.subscriptions.mapped("cost_price"), costs)
        self.assertTrue(self.connection.price_import_requested, "asked again at the next run")
        # the next run imports it
        self.assertEqual(self.import_prices().state, "done")
        self.assertFalse(self.connection.price_import_requested)

    # -- next month ----------------------------------------------------------------------

    def test_upcoming_changes_and_the_three_policies(self):
        self.import_prices()
        e5_monthly, e5_term = self.of(E5).sorted("term_duration")  # P1M, P1Y
        f3, bc = self.of(F3), self.of(BC)
        # the connection keeps the margin, one product follows the list price, one keeps
        self.connection.price_policy = "margin"
        f3.product_id.product_tmpl_id.csp_price_policy = "list"
        bc.product_id.product_tmpl_id.csp_price_policy = "keep"
        self.pricing_options({"future_change": {E5: 10, F3: -10, BC: 5}})
        line = self.import_prices(future=True)
        self.assertEqual(line.state, "done", line.message)
        self.assertIn("change price next month", line.message)
        start = price_rules.next_month(dt.date.today())
        upcoming = self.env["csp.price.change"].search(
            [("connection_id", "=", self.connection.id), ("state", "=", "upcoming")]
        )
        self.assertEqual(upcoming.subscription_id, e5_monthly | e5_term | f3 | bc)
        self.assertEqual(set(upcoming.mapped("effective_date")), {start})
        self.assertEqual(upcoming.partner_id, self.customer)
        by_sub = {c.subscription_id: c for c in upcoming}
        # margin: the price moves with the cost (+10%); list: the list price; keep: 20.00
        margin = by_sub[e5_term]
        self.assertAlmostEqual(
            margin.new_cost, float(self.row_price(e5_term, start=start).unit_price)
        )
        expected = price_rules.to_cents(
            Decimal("20") * price_rules.to_cents(margin.new_cost)
            / price_rules.to_cents(margin.old_cost)
        )  # fmt: skip
        self.assertAlmostEqual(margin.new_line_price, float(expected))
        self.assertGreater(margin.sale_effect, 0)
        self.assertAlmostEqual(margin.sale_effect, (margin.new_line_price - 20) * margin.quantity)
        self.assertAlmostEqual(by_sub[f3].new_line_price, by_sub[f3].new_list)
        self.assertLess(by_sub[f3].cost_effect, 0)
        self.assertEqual(by_sub[bc].new_line_price, 20.0)
        # the action lists them (the menu's list)
        action = self.connection.with_user(self.manager).action_view_upcoming_prices()
        self.assertEqual(self.env["csp.price.change"].search(action["domain"]), upcoming)

        # nothing moved yet: the costs and lines are this month's
        self.assertEqual(e5_term.contract_line_id.price_unit, 20.0)
        # next month the prices take effect: the lines follow their policy
        priced, changed = self.subscriptions._csp_apply_prices(start)
        self.assertEqual(priced, 4)
        done = upcoming.filtered(lambda c: c.state == "done")
        waiting = upcoming - done
        for change in waiting:  # a period before the date is not invoiced yet
            self.assertLess(change.contract_line_id.next_period_date_start, start)
        for change in done:
            line = change.subscription_id.contract_line_id
            self.assertAlmostEqual(line.price_unit, change.new_line_price)
        self.assertAlmostEqual(e5_term.cost_price, margin.new_cost)
        self.assertEqual(changed, len(done.filtered(lambda c: c.new_line_price != 20.0)))

    def test_a_price_never_changes_an_invoiced_period_and_is_said_on_the_chatter(self):
        self.import_prices()
        self.connection.price_policy = "list"
        start = price_rules.next_month(dt.date.today())
        self.pricing_options({"future_change": {E5: 10}})
        self.import_prices(future=True)
        e5 = self.of(E5).filtered(lambda s: s.term_duration == "P1Y")
        line = e5.contract_line_id
        # the line's next period to invoice starts before the new price: it waits
        self.assertLess(line.next_period_date_start, start)
        self.subscriptions._csp_apply_prices(start)
        change = e5.price_change_ids.filtered(lambda c: c.effective_date == start)
        self.assertEqual(change.state, "waiting")
        self.assertEqual(line.price_unit, 20.0)
        # once the periods before it are invoiced (at the old price), the line takes
        # this month's list price, then next month's, each said on the contract
        self.invoice(line.next_period_date_start)
        while line.next_period_date_start < start:
            self.invoice(line.next_period_date_start)
        invoiced = self.env["account.move.line"].search([("contract_line_id", "=", line.id)])
        self.assertTrue(invoiced)
        self.assertEqual(set(invoiced.mapped("price_unit")), {20.0})
        # Microsoft's names are text: escaped on the chatter
        code_env(e5).write({"friendly_name": "E5 <img src=x onerror=alert(1)>"})
        self.subscriptions._csp_apply_prices(start)
        self.assertEqual(change.state, "done")
        self.assertAlmostEqual(line.price_unit, change.new_list)
        name = line.name.split("\n")[0]
        notes = line.contract_id.message_ids.filtered(
            lambda m: f"Price of {name} (" in (m.body or "")
        ).sorted("id")
        self.assertIn(f"20.00 → {change.old_cost:.2f}", notes[0].body)
        self.assertIn(f"{change.old_cost:.2f} → {change.new_list:.2f}", notes[-1].body)
        self.assertIn("follows Microsoft's list price", notes[-1].body)
        self.assertIn("E5 &lt;img", notes[-1].body)
        self.assertNotIn("<img", notes[-1].body)
