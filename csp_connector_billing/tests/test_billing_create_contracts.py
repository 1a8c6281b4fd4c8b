# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
""" "Create contracts" as the CSP manager with invoicing rights who presses it: the sale
contracts the mapped customer's subscriptions need, from a template, with their next
invoice date, once; then the billing step finds a contract for every subscription. A
contract it still cannot use, and products without a price, are said in our words."""

import datetime as dt

from odoo.exceptions import AccessError
from odoo.tests import Form, new_test_user, tagged
from odoo.tools.safe_eval import safe_eval

from ..billing import contracts as contract_rules
from ..billing import lines as line_rules
from .common import BillingSandboxCase


@tagged("post_install", "-at_install")
class TestCreateContracts(BillingSandboxCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.connection.write({"licence_import_type": "subscriptions", "billing_mode": "lines"})
        cls.setup_invoicing()
        cls.accountant = new_test_user(
            cls.env, login="csp_mgr_acc",
            groups="csp_connector.group_csp_manager,account.group_account_invoice",
        )  # fmt: skip
        cls.template = cls.env["contract.template"].create(
            {"name": "CSP post-paid", "contract_type": "sale", "journal_id": cls.journal.id,
             "recurring_invoicing_type": "post-paid"}
        )  # fmt: skip
        run = cls.connection._csp_sync(trigger="manual", modules=["licences"])
        assert run.state == "done", run.message
        cls.next_month = contract_rules.first_of_next_month(dt.date.today())

    def billed(self):
        """The tenant's subscriptions the billing step puts on contracts."""
        return self.env["csp.subscription"].search(
            [("csp_tenant_id", "=", self.tenant.id), ("status", "=", "active"),
             ("removed", "=", False)]
        ).filtered(lambda s: line_rules.recurrence_for(s.billing_cycle))  # fmt: skip

    def contracts(self):
        return self.env["contract.contract"].search([("partner_id", "=", self.customer.id)])

    def run_messages(self, run):
        return " ".join(filter(None, [run.message, *run.line_ids.mapped("message")]))

    def test_create_contracts_then_every_subscription_finds_its_contract(self):
        billed = self.billed()
        needed = {line_rules.recurrence_for(s.billing_cycle) for s in billed}
        self.assertGreaterEqual(len(needed), 2, "the sandbox's customer needs two recurrences")
        self.connection.with_user(self.accountant).billing_contract_template_id = self.template
        # the tenant's button, as the user who presses it: the wizard, template and date
        action = self.tenant.with_user(self.accountant).action_create_contracts()
        form = Form(
            self.env[action["res_model"]]
            .with_user(self.accountant)
            .with_context(**action["context"])
        )
        self.assertEqual(form.partner_id, self.customer)
        self.assertEqual(form.template_id, self.template)  # the connection's default
        wizard = form.save()
        self.assertEqual(wizard.date_start, self.next_month)  # first day of next month
        result = wizard.action_create()
        created = self.env["contract.contract"].search(result["domain"])
        self.assertEqual(created, self.contracts())
        self.assertEqual({(c.recurring_rule_type, c.recurring_interval) for c in created}, needed)
        self.assertEqual(len(created), len(needed))  # one per recurrence
        for contract in created:
            self.assertEqual(contract.partner_id, self.customer)
            self.assertEqual(contract.contract_type, "sale")
            self.assertEqual(contract.company_id, self.connection.company_id)
            self.assertEqual(contract.date_start, self.next_month)
            self.assertTrue(contract.recurring_next_date)  # post-paid: after the period
            self.assertEqual(contract.journal_id, self.journal)
            self.assertEqual(contract.recurring_invoicing_type, "post-paid")  # the template's
            self.assertEqual(contract.contract_template_id, self.template)

        # idempotent: the connection's button then creates nothing more
        again = self.connection.with_user(self.accountant)._csp_create_contracts()
        self.assertFalse(again)
        self.assertEqual(self.contracts(), created)

        run = self.sync(("billing",))
        for subscription in billed:
            self.assertIn(
                subscription.contract_line_id.contract_id, created, self.run_messages(run)
            )
        self.assertNotIn("no matching contract", self.run_messages(run))
        self.assertFalse(self.connection.with_user(self.accountant)._csp_create_contracts())

    def test_default_pre_paid_from_next_month(self):
        created = self.connection.with_user(self.accountant)._csp_create_contracts()
        self.assertTrue(created)
        for contract in created:
            self.assertEqual(contract.recurring_invoicing_type, "pre-paid")
            self.assertEqual(
                (contract.date_start, contract.recurring_next_date),
                (self.next_month, self.next_month),
            )
        # another customer's partners: nothing for this one
        other = self.env["res.partner"].create({"name": "Another customer"})
        self.assertFalse(
            self.connection.with_user(self.accountant)._csp_create_contracts(partners=other)
        )

    def test_refused_without_invoicing_rights(self):
        manager = self.manager  # Microsoft CSP Manager only
        with self.assertRaisesRegex(AccessError, "invoicing rights"):
            self.connection.with_user(manager).action_create_contracts()
        with self.assertRaisesRegex(AccessError, "invoicing rights"):
            self.tenant.with_user(manager).action_create_contracts()
        with self.assertRaisesRegex(AccessError, "invoicing rights"):
            self.connection.with_user(manager)._csp_create_contracts()
        self.assertFalse(self.contracts())

    def test_missing_next_invoice_date_is_explained(self):
        monthly = self.new_contract("Monthly by hand", "monthly")
        yearly = self.new_contract("Yearly by hand", "yearly")
        monthly.recurring_next_date = False  # as a user may leave it
        integrator = self.env.ref("csp_connector.user_csp_integrator")  # the schedule's user
        run = self.connection.with_user(integrator)._csp_sync(trigger="cron", modules=["billing"])
        self.assertEqual(run.state, "done", run.message)  # the other subscriptions are billed
        messages = self.run_messages(run)
        self.assertIn("Monthly by hand", messages)
        self.assertIn("has no next invoice date", messages)
        self.assertIn("set its next invoice date", messages)
        self.assertIn("Create contracts", messages)
        self.assertNotIn("You must supply", messages)
        self.assertGreater(
            run.line_ids.filtered(
                lambda r: r.step == "billing" and r.csp_tenant_id == self.tenant
            ).error_count,
            0,
        )
        self.assertIn("Monthly by hand", self.tenant.last_error)
        self.assertIn("has no next invoice date", self.tenant.message_ids[0].body)
        # the other subscriptions go on: the yearly ones are on their contract
        billed = self.billed()
        yearly_ones = billed.filtered(lambda s: s.billing_cycle == "annual")
        self.assertTrue(yearly_ones)
        self.assertEqual(yearly_ones.contract_line_id.contract_id, yearly)
        self.assertFalse((billed - yearly_ones).contract_line_id)

        monthly.recurring_next_date = monthly.date_start  # fixed: the next run uses it
        self.sync(("billing",))
        self.assertEqual((billed - yearly_ones).contract_line_id.contract_id, monthly)
        self.assertFalse(self.tenant.last_error)

    def test_products_without_a_price_are_named(self):
        self.connection.with_user(self.accountant)._csp_create_contracts()
        run = self.sync(("billing",))
        products = self.billed().product_id
        self.assertTrue(products)
        messages = self.run_messages(run)
        self.assertIn(f"{len(products)} product(s) have no sales price", messages)
        self.assertIn("Products without a price", messages)
        for product in products:
            self.assertIn(product.display_name, messages)
        action = self.env.ref("csp_connector_billing.product_template_action_csp_no_price")
        listed = self.env["product.template"].search(safe_eval(action.domain))
        # every product of a subscription (of any tenant) without a price, and only those
        linked = self.env["csp.subscription"].search([]).product_tmpl_id
        self.assertEqual(listed, linked.filtered(lambda p: not p.list_price))
        self.assertLessEqual(products.product_tmpl_id, listed)

        priced = products[0]
        priced.lst_price = 12.5
        listed = self.env["product.template"].search(safe_eval(action.domain))
        self.assertNotIn(priced.product_tmpl_id, listed)
        self.assertLessEqual((products - priced).product_tmpl_id, listed)
        messages = self.run_messages(self.sync(("billing",)))
        self.assertNotIn(priced.display_name, messages)
        self.assertIn(f"{len(products) - 1} product(s) have no sales price", messages)

    def test_every_mapped_customer_and_only_those(self):
        """The connection's button: each mapped customer gets its own contracts; tenants
        without a customer get none."""
        second = self.env["res.partner"].create({"name": "Second customer", "is_company": True})
        others = self.connection.tenant_ids.filtered(
            lambda t: t != self.tenant and t.consent_state == "granted"
        )[:2]
        others.partner_id = second
        self.sync(("licences",))
        billable = (
            self.env["csp.subscription"]
            .search([("csp_tenant_id", "in", others.ids), ("status", "=", "active")])
            .filtered(lambda s: line_rules.recurrence_for(s.billing_cycle))
        )
        self.assertTrue(billable, "the second customer's tenants have billable subscriptions")
        unmapped = self.connection.tenant_ids.filtered(lambda t: not t.partner_id)
        self.assertTrue(unmapped)
        created = self.connection.with_user(self.accountant)._csp_create_contracts()
        self.assertEqual(created.partner_id, self.customer | second)
        self.assertEqual(
            {(c.recurring_rule_type, c.recurring_interval) for c in created - self.contracts()},
            {line_rules.recurrence_for(s.billing_cycle) for s in billable},
        )
        self.assertEqual(self.env["contract.contract"].search([]), created)
