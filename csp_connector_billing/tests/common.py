# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The billing tests' set-up: the sandbox's Ashford & Pike tenant given to one customer;
for invoicing, accounts, a sales journal and the customer's monthly and yearly contracts."""

import datetime as dt

from freezegun import freeze_time

from odoo.addons.csp_connector.tests.common import CspSandboxCase

ASHFORD = "7af027bc-08d6-4f57-9a71-144896c8da19"  # seed 1: reseller with subscriptions, GB


class BillingSandboxCase(CspSandboxCase):
    sandbox_tenants = 8

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_customer_tenant(ASHFORD)

    @classmethod
    def setup_contracts(cls, date_start):
        """Invoicing accounts and a sale journal, and the customer's monthly and yearly
        contracts from ``date_start`` (cls.contract, cls.yearly)."""
        cls.setup_invoicing()
        cls.contract = cls.new_contract("Microsoft 365", "monthly", start=date_start)
        cls.yearly = cls.new_contract("Annual", "yearly", start=date_start)

    @classmethod
    def setup_invoicing(cls):
        """Invoicing accounts and a sale journal (cls.journal)."""
        Account = cls.env["account.account"]
        income = Account.create({"name": "Sales", "code": "700100", "account_type": "income"})
        receivable = Account.create(
            {"name": "Customers", "code": "411100", "account_type": "asset_receivable",
             "reconcile": True}
        )  # fmt: skip
        cls.customer.property_account_receivable_id = receivable
        cls.journal = cls.env["account.journal"].create(
            {"name": "Sales", "code": "SAL", "type": "sale", "default_account_id": income.id}
        )

    @classmethod
    def new_contract(cls, name, rule, interval=1, start="2026-11-01"):
        """A sale contract of the customer on the sale journal (setup_contracts first)."""
        return cls.env["contract.contract"].create(
            {"name": name, "partner_id": cls.customer.id, "contract_type": "sale",
             "recurring_rule_type": rule, "recurring_interval": interval,
             "date_start": start, "journal_id": cls.journal.id}
        )  # fmt: skip

    def sync(self, modules=("licences", "billing")):
        run = self.connection._csp_sync(trigger="manual", modules=list(modules))
        self.assertNotIn(run.state, ("failed", "partial"), run.message)
        return run


class BillingInvoicingCase(BillingSandboxCase):
    """Subscriptions from Partner Center on contract lines, invoiced by OCA contract."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.connection.write({"licence_import_type": "subscriptions", "billing_mode": "lines"})
        cls.setup_contracts("2026-11-01")
        today = dt.datetime.now(dt.UTC).date()
        cls.month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)  # last month
        cls.next_month = today.replace(day=1)

    def subscription(self, microsoft_id):
        return self.env["csp.subscription"].search(
            [("csp_tenant_id", "=", self.tenant.id), ("microsoft_id", "=", microsoft_id.lower())]
        )

    def invoice(self, day, contract=None):
        """OCA contract's own invoicing run on ``day``; the contract's invoices."""
        with freeze_time(dt.datetime.combine(day, dt.time(9))):
            self.env["contract.contract"]._cron_recurring_create(date_ref=day)
        contract = contract or self.contract
        return self.env["account.move"].search(
            [("invoice_line_ids.contract_line_id.contract_id", "=", contract.id)],
            order="invoice_date, id",
        )

    def sync(self, modules=("licences", "billing")):
        """The scheduled run, as the integrator (no accounting rights of its own)."""
        integrator = self.env.ref("csp_connector.user_csp_integrator")
        run = self.connection.with_user(integrator)._csp_sync(trigger="cron", modules=list(modules))
        self.assertEqual(run.state, "done", run.message)
        return run

    def sync_at(self, when, modules=("licences", "billing")):
        with freeze_time(when):
            return self.sync(modules)
