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

    def sync(self, modules=("licences", "billing")):
        run = self.connection._csp_sync(trigger="manual", modules=list(modules))
        self.assertNotIn(run.state, ("failed", "partial"), run.message)
        return run
