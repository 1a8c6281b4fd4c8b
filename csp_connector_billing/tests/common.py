# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The billing tests' set-up: the sandbox's Ashford & Pike tenant given to one customer."""

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
        contracts = cls.env["contract.contract"].create([
            {"name": name, "partner_id": cls.customer.id, "contract_type": "sale",
             "recurring_rule_type": rule, "recurring_interval": 1,
             "date_start": date_start, "journal_id": cls.journal.id}
            for name, rule in (("Microsoft 365", "monthly"), ("Annual", "yearly"))
        ])  # fmt: skip
        cls.contract, cls.yearly = contracts

    def sync(self, modules=("licences", "billing")):
        run = self.connection._csp_sync(trigger="manual", modules=list(modules))
        self.assertNotIn(run.state, ("failed", "partial"), run.message)
        return run
