# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The Azure consumption step against the sandbox: Graph's usage exports (unbilled and
billed, through every operation state) become the customers' Azure lines by meter
rules, with markup; re-imports replace, never double; an invoiced period is left as it
is and its difference is a line of its own; failures write nothing; the budget."""

import datetime as dt
import re

from freezegun import freeze_time

from odoo import fields
from odoo.tests import tagged

from .common import BillingSandboxCase

ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")


@tagged("post_install", "-at_install")
class AzureCase(BillingSandboxCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_invoicing()
        azure = cls.sandbox.control("GET", "usage-exports")["customers"]
        tenants = cls.connection.tenant_ids
        cls.azure_tenants = tenants.filtered(lambda t: t.tenant_id in azure)
        assert len(cls.azure_tenants) >= 2, "the sandbox world has two Azure customers"
        # the first Azure customer has a monthly contract, the second none
        cls.tenant = cls.azure_tenants[0]
        cls.customer = cls.env["res.partner"].create({"name": "Azure Customer", "is_company": True})
        cls.tenant.partner_id = cls.customer
        cls.other = cls.env["res.partner"].create({"name": "No Contract Ltd", "is_company": True})
        cls.azure_tenants[1].partner_id = cls.other
        for tenant in cls.azure_tenants[2:]:
            tenant.partner_id = cls.env["res.partner"].create(
                {"name": tenant.name, "is_company": True}
            )
        start = fields.Date.today().replace(day=1) - dt.timedelta(days=70)
        cls.contract = cls.new_contract("Cloud services", "monthly", start=start.replace(day=1))
        Product = cls.env["product.product"]
        cls.vm = Product.create({"name": "Azure Virtual Machines", "type": "service"})
        cls.fallback = Product.create({"name": "Azure services", "type": "service"})
        cls.connection.write({"sync_azure": True, "azure_fallback_product_id": cls.fallback.id})
        cls.rule = cls.env["csp.meter.rule"].create(
            {"meter_category": "Virtual Machines", "product_id": cls.vm.id,
             "markup_mode": "rule", "markup": 20.0}
        )  # fmt: skip
        cls.env["ir.config_parameter"].sudo().set_param("csp_connector_billing.azure_max_wait", "5")

    def setUp(self):
        super().setUp()
        self.behave(reset=True, running_polls=0)
        self.month = fields.Date.today().replace(day=1)
        self.at_day(2)

    # -- helpers --------------------------------------------------------------------

    def behave(self, **values):
        return self.sandbox.control("PUT", "usage-exports", values)

    def at_day(self, day):
        """The sandbox's clock on ``day`` of this month (the unbilled usage so far)."""
        moment = dt.datetime.combine(self.month.replace(day=day), dt.time(12))
        self.sandbox.control("POST", "clock", {"set": moment.strftime("%Y-%m-%dT%H:%M:%SZ")})

    def run_azure(self, expect=("done",)):
        integrator = self.env.ref("csp_connector.user_csp_integrator")
        run = self.connection.with_user(integrator)._csp_sync(trigger="cron", modules=["azure"])
        line = run.line_ids.filtered(lambda line: line.step == "azure")
        self.assertIn(run.state, expect, line.message or run.message)
        return line

    def lines(self, partner=None, period=None):
        return self.env["contract.line"].search(
            [("csp_azure_partner_id", "=", (partner or self.customer).id),
             ("csp_azure_period", "=", period or self.month), ("is_canceled", "=", False)]
        )  # fmt: skip

    def usage(self, partner=None, period=None):
        return self.env["csp.azure.usage"].search(
            [("partner_id", "=", (partner or self.customer).id),
             ("period_start", "=", period or self.month), ("removed", "=", False)]
        )  # fmt: skip

    # -- the unbilled usage of this month ------------------------------------------------

    def test_unbilled_usage_becomes_one_line_per_product_and_is_reimported_idempotently(self):
        self.run_azure()
        usage = self.usage()
        self.assertTrue(usage, "the customer's meters of this month")
        lines = self.lines()
        self.assertEqual(sorted(lines.product_id.ids), sorted(set(usage.product_id.ids)))
        self.assertEqual(lines.contract_id, self.contract)
        for line in lines:
            rows = usage.filtered(lambda u, line=line: u.product_id == line.product_id)
            self.assertAlmostEqual(
                line.quantity * line.price_unit, sum(rows.mapped("sale_amount")), places=2
            )
            self.assertNotRegex(line.name, ID)  # the customer's words, no ids
            self.assertIn("usage", line.name)
            self.assertEqual(line.csp_azure_kind, "usage")
            self.assertEqual(line.csp_azure_period_end.month, self.month.month)
        # the rule's 20 % on virtual machines, list price on the fallback product
        vm = usage.filtered(lambda u: u.meter_category == "Virtual Machines")
        if vm:
            self.assertAlmostEqual(vm[0].sale_amount, round(vm[0].list_amount * 1.2, 2), 1)
        others = usage - vm
        if others:
            self.assertEqual(others[0].product_id, self.fallback)
            self.assertAlmostEqual(others[0].sale_amount, others[0].list_amount, places=2)
        # the customer without a contract: a draft invoice with its marked lines
        invoice_lines = self.env["account.move.line"]._csp_azure_sales(self.other, self.month)
        self.assertTrue(invoice_lines)
        self.assertEqual(invoice_lines.move_id.state, "draft")
        self.assertEqual(invoice_lines.move_id.partner_id, self.other)
        # the same export again: nothing written
        stamps = [r.write_date for r in (*lines, *usage)]
        line = self.run_azure()
        self.assertEqual((line.created, line.updated), (0, 0), line.message)
        self.assertEqual(self.lines(), lines)
        self.assertEqual([r.write_date for r in (*lines, *usage)], stamps)

    def test_a_later_day_replaces_the_period_lines_not_yet_invoiced(self):
        self.run_azure()
        before = {line.product_id: line.quantity * line.price_unit for line in self.lines()}
        self.at_day(4)  # two more days of usage
        self.run_azure()
        after = self.lines()
        self.assertEqual(set(after.product_id), set(before))  # replaced, never doubled
        self.assertGreater(
            sum(line.quantity * line.price_unit for line in after), sum(before.values())
        )

    def test_customer_markup_and_rule_without_markup(self):
        self.customer.csp_azure_markup = 10.0
        self.rule.markup_mode = "none"
        self.run_azure()
        for row in self.usage():
            expected = 1.0 if row.product_id == self.vm else 1.1
            self.assertAlmostEqual(row.sale_amount, round(row.list_amount * expected, 2), 1)

    # -- invoiced periods ----------------------------------------------------------------

    def test_an_invoiced_period_is_left_as_it_was_and_its_difference_is_its_own_line(self):
        self.run_azure()
        lines = self.lines()
        invoiced = {line.id: (line.quantity, line.price_unit, line.name) for line in lines}
        due = lines[0].recurring_next_date
        with freeze_time(dt.datetime.combine(due, dt.time(9))):
            self.contract._recurring_create_invoice(date_ref=due)
        self.assertTrue(all(line.last_date_invoiced for line in lines))
        sales = self.env["account.move.line"]._csp_azure_sales(self.customer, self.month)
        self.assertEqual(len(sales), len(lines))  # marked on the invoice too
        self.assertEqual(set(sales.mapped("csp_reconcile_key")), {"azure"})
        self.assertEqual(set(sales.mapped("csp_period_start")), {self.month})
        self.at_day(5)  # Microsoft's usage of the period grew after it was invoiced
        self.run_azure()
        self.assertEqual(
            {line.id: (line.quantity, line.price_unit, line.name) for line in lines}, invoiced
        )
        adjustments = self.lines() - lines
        self.assertTrue(adjustments)
        for adjustment in adjustments:
            self.assertEqual(adjustment.csp_azure_kind, "adjustment")
            self.assertIn("correction after invoicing", adjustment.name)
            self.assertIn("already invoiced", adjustment.csp_azure_cause)
            self.assertGreater(adjustment.price_unit, 0)
        # the same export again: the adjustment is not repeated
        self.run_azure()
        self.assertEqual(self.lines() - lines, adjustments)

    # -- operation states ----------------------------------------------------------------

    def test_an_operation_still_running_is_kept_and_polled_at_the_next_run(self):
        self.behave(running_polls=2, retry_after=30)  # more than this run may wait
        run = self.run_azure()
        self.assertIn("still preparing", run.message)
        self.assertFalse(self.lines())
        kept = self.connection._csp_azure_state()["pending"]["unbilled"]["location"]
        run = self.run_azure()  # polls the same operation: still running
        self.assertEqual(
            self.connection._csp_azure_state()["pending"]["unbilled"]["location"], kept
        )
        run = self.run_azure()
        self.assertNotIn("unbilled", self.connection._csp_azure_state()["pending"])
        self.assertTrue(self.lines(), run.message)

    def test_retry_after_is_honoured(self):
        self.behave(running_polls=1, retry_after=1)
        run = self.run_azure()
        self.assertIn("after waiting 1 s as Microsoft asked", run.message)
        self.assertTrue(self.lines())

    def test_a_failed_export_writes_nothing_and_is_explained(self):
        self.run_azure()
        lines = self.lines()
        stamps = {line: line.write_date for line in lines}
        self.at_day(4)
        self.behave(fail="Internal error while generating the report")
        run = self.run_azure(expect=("partial", "failed"))
        self.assertIn("failed", run.message.lower())
        self.assertEqual({line: line.write_date for line in self.lines()}, stamps)
        self.assertIn("no Azure line was written", self.tenant.last_error)
        self.behave(fail="")
        self.run_azure()
        self.assertFalse(self.tenant.last_error)  # the next import clears it

    def test_an_expired_sas_or_a_cut_blob_writes_nothing(self):
        for failure, words in (({"sas_expired": True}, "expired"), ({"cut_blob": 0}, "cut")):
            self.behave(reset=True, running_polls=0, **failure)
            run = self.run_azure(expect=("partial", "failed"))
            self.assertIn(words, run.message)
            self.assertFalse(self.lines())
            self.assertFalse(self.usage())
        self.behave(reset=True, running_polls=0)
        self.run_azure()
        self.assertTrue(self.lines())

    def test_an_unmapped_meter_stops_only_its_customer(self):
        self.connection.azure_fallback_product_id = False
        self.env["csp.meter.rule"].create(
            {"meter_category": "*", "product_id": self.fallback.id, "sequence": 99}
        )
        # no rule for the other customer's meters: a narrower catch-all
        self.env["csp.meter.rule"].search([("meter_category", "=", "*")]).meter_region = "Nowhere"
        run = self.run_azure(expect=("done", "partial"))
        self.assertIn("no meter rule maps", run.message)
        self.assertIn("no meter rule maps", self.tenant.last_error or "")
        if not self.usage().filtered(lambda u: u.product_id != self.vm):
            return  # this customer has only virtual machines
        self.assertFalse(self.lines())  # its period is all or nothing

    # -- billed usage --------------------------------------------------------------------

    def test_billed_usage_per_invoice_once(self):
        self.run_azure()
        state = self.connection._csp_azure_state()
        self.assertTrue(state["billed"], "the invoices Partner Center lists are read")
        rows = self.env["csp.azure.usage"].search(
            [("partner_id", "=", self.customer.id), ("billed", "=", True)]
        )
        self.assertTrue(rows)
        self.assertLessEqual(set(rows.mapped("invoice_number")), set(state["billed"]))
        for period in set(rows.mapped("period_start")):
            self.assertTrue(self.lines(period=period))
            sales = self.env["account.move.line"].search(
                [("csp_azure_partner_id", "=", self.customer.id)]
            )
            self.assertFalse(sales)  # nothing invoiced yet
        line = self.run_azure()  # each invoice once: no billed export again
        self.assertEqual(self.connection._csp_azure_state()["billed"], state["billed"])
        self.assertNotIn("invoice", line.message)

    # -- budget --------------------------------------------------------------------------

    def test_budget_activity_once(self):
        self.customer.csp_azure_budget = 0.01
        self.run_azure()
        self.assertGreater(self.customer.csp_azure_usage_month, 0.01)
        activities = self.customer.activity_ids.filtered(
            lambda a: a.summary == "Azure budget passed"
        )
        self.assertEqual(len(activities), 1)
        self.at_day(4)
        self.run_azure()
        activities.action_done()
        self.run_azure()
        self.assertFalse(
            self.customer.activity_ids.filtered(lambda a: a.summary == "Azure budget passed")
        )
