# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What the connection, tenant and contact pages offer: the SSO allow-list by tenant
name, the permissions per feature, a per-tenant user import, a contact's Azure user."""

from odoo.tests import tagged

from .common import CspSandboxCase

OUTSIDER = "0f0f0f0f-1111-2222-3333-444444444444"


@tagged("post_install", "-at_install")
class TestSetupPages(CspSandboxCase):
    sandbox_tenants = 4

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.authorize(cls)
        cls.discover(cls)
        cls.tenants = cls.connection.tenant_ids.filtered(lambda t: t.consent_state == "granted")

    def test_sso_allow_list_by_tenant_name_keeps_other_ids(self):
        first, second = self.tenants[:2]
        self.connection.sso_allowed_tenant_ids = f"{first.tenant_id}\n{OUTSIDER}"
        self.assertEqual(self.connection.sso_tenant_ids, first)
        self.assertEqual(self.connection.sso_other_tenant_ids, OUTSIDER)
        self.connection.sso_tenant_ids = first | second
        allowed = self.connection.sso_allowed_tenant_ids.split()
        self.assertEqual(set(allowed), {first.tenant_id, second.tenant_id, OUTSIDER})

    def test_permissions_per_installed_feature_on_the_connection(self):
        html = str(self.connection.permissions_html)
        for permission in ("DelegatedAdminRelationship.Read.All", "User.Read.All"):
            self.assertIn(permission, html)

    def test_import_users_now_of_one_tenant_and_the_contacts_azure_user(self):
        tenant, other = self.tenants[:2]
        for mapped in (tenant, other):
            mapped.action_create_customer()
            self.env["csp.site.mapping"].create(
                {"connection_id": self.connection.id, "kind": "site",
                 "customer_id": mapped.partner_id.id, "site_id": mapped.partner_id.id,
                 "tenant_ids": [(6, 0, mapped.ids)]}
            )  # fmt: skip
        action = tenant.with_user(self.manager).action_import_users_now()
        run = self.env["csp.sync.run"].browse(action["res_id"])
        self.assertEqual((run.steps, run.csp_tenant_id), ("users", tenant))
        self.env["csp.sync.run"]._csp_execute(self.connection, "cron", ["users"], commit=False)
        self.assertEqual(run.line_ids.csp_tenant_id, tenant, "that tenant only")
        binding = self.env["csp.user.binding"].search([("csp_tenant_id", "=", tenant.id)], limit=1)
        self.assertTrue(binding)
        self.assertFalse(self.env["csp.user.binding"].search([("csp_tenant_id", "=", other.id)]))
        contact = binding.partner_id.with_user(self.manager)
        self.assertEqual(contact.csp_user_binding_count, 1)
        opened = contact.action_csp_open_azure_users()
        self.assertEqual((opened["res_model"], opened["res_id"]), ("csp.user.binding", binding.id))
