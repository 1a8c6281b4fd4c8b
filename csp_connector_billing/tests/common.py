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
        cls.connection = cls.connection.with_user(cls.env.ref("base.user_admin"))
        cls.authorize(cls)
        cls.discover(cls)
        cls.customer = cls.env["res.partner"].create({"name": "Ashford & Pike", "is_company": True})
        cls.tenant = cls.connection.tenant_ids.filtered(lambda t: t.tenant_id == ASHFORD)
        cls.tenant.partner_id = cls.customer
        cls.env["csp.site.mapping"].create(
            {"connection_id": cls.connection.id, "sequence": 10, "kind": "site",
             "customer_id": cls.customer.id, "site_id": cls.customer.id,
             "tenant_ids": [(6, 0, cls.tenant.ids)]}
        )  # fmt: skip

    def sync(self, modules=("licences", "billing")):
        run = self.connection._csp_sync(trigger="manual", modules=list(modules))
        self.assertNotIn(run.state, ("failed", "partial"), run.message)
        return run
