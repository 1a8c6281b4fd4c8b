# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Intune devices on the customer portal, against the sandbox: the licence administrator
sees the customer's devices, another portal user only theirs, nobody another customer's;
the monthly statement counts them."""

import uuid

from markupsafe import escape

from odoo.tests import tagged

from odoo.addons.csp_connector.tests.common import CspSandboxHttpCase
from odoo.addons.csp_connector.tests.test_portal import portal_user


@tagged("post_install", "-at_install")
class TestPortalDevices(CspSandboxHttpCase):
    sandbox_tenants = 4

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.connect_as_admin()
        first, second = cls.sandbox.state()["special"]["two_tenant_company"]
        tenants = cls.connection.tenant_ids
        cls.t1 = tenants.filtered(lambda t: t.tenant_id == first)
        cls.t2 = tenants.filtered(lambda t: t.tenant_id == second)
        (tenants - cls.t1 - cls.t2).do_not_import = True
        Partner = cls.env["res.partner"]
        cls.customer = Partner.create({"name": "Ashford & Pike", "is_company": True})
        cls.customer2 = Partner.create({"name": "Pike Australia", "is_company": True})
        cls.map_users_to(cls.t1, cls.customer)
        cls.map_users_to(cls.t2, cls.customer2)
        domain = cls.t1.verified_domains.split()[0]
        users = [
            cls.sandbox.control(
                "POST", f"tenants/{cls.t1.tenant_id}/users",
                {"userPrincipalName": f"{name}.{uuid.uuid4().hex[:4]}@{domain}",
                 "displayName": name.title(), "accountEnabled": True},
            )
            for name in ("ann", "bob")
        ]  # fmt: skip
        cls.devices = {
            user["displayName"]: cls.sandbox.control(
                "POST", f"tenants/{cls.t1.tenant_id}/devices",
                {"deviceName": f"PORTAL-{user['displayName']}-{uuid.uuid4().hex[:4]}",
                 "userPrincipalName": user["userPrincipalName"], "userId": user["id"]},
            )
            for user in users
        }  # fmt: skip
        run = cls.connection._csp_sync(trigger="manual", modules=["users", "assets"])
        assert run.state == "done", run.message
        Binding = cls.env["csp.user.binding"]
        ann, bob = (Binding.search([("microsoft_id", "=", u["id"])]).partner_id for u in users)
        cls.admin = portal_user(cls.env, ann, "portal_devices_admin", admin=True)
        cls.plain = portal_user(cls.env, bob, "portal_devices_plain")
        cls.Equipment = cls.env["maintenance.equipment"]

    def page(self, user):
        self.authenticate(user.login, user.login * 2)
        response = self.url_open("/my/microsoft/devices")
        self.assertEqual(response.status_code, 200)
        return response.text

    def test_each_portal_user_sees_the_devices_they_may(self):
        ours = self.Equipment.search([("csp_tenant_id", "=", self.t1.id)])
        theirs = self.Equipment.search([("csp_tenant_id", "=", self.t2.id)])
        self.assertTrue(ours and theirs, "both customers have devices")
        text = self.page(self.admin)
        for device in ours[:20]:
            self.assertIn(str(escape(device.name)), text)
        self.assertLessEqual(len(ours), 20, "one page")
        self.assertEqual(text.count('class="csp_device_row"'), len(ours), "ours only")
        for name in set(theirs.mapped("name")) - set(ours.mapped("name")):
            self.assertNotIn(str(escape(name)), text)
        for device in ours | theirs:
            self.assertNotIn(device.csp_intune_id, text, "no Microsoft id")
        text = self.page(self.plain)
        self.assertIn(self.devices["Bob"]["deviceName"], text)
        self.assertNotIn(self.devices["Ann"]["deviceName"], text)
        rows = self.make_jsonrpc_request(
            "/web/dataset/call_kw",
            {"model": "maintenance.equipment", "method": "search_read", "args": [[]],
             "kwargs": {"fields": ["name", "csp_intune_id", "csp_serial_number"]}},
        )  # fmt: skip
        self.assertEqual([row["name"] for row in rows], [self.devices["Bob"]["deviceName"]])
        self.assertNotIn("csp_intune_id", rows[0], "no Microsoft id over RPC")

    def test_the_statement_counts_the_customers_devices(self):
        statement = self.env["csp.licence.statement"]._csp_generate(
            self.customer, self.env.cr.now().date()
        )
        count = self.Equipment.search_count([("csp_tenant_id", "=", self.t1.id)])
        self.assertEqual(statement._csp_content()["devices"], count)
        html = (
            self.env["ir.actions.report"]
            ._render_qweb_html("csp_connector.action_report_csp_licence_statement", statement.ids)[
                0
            ]
            .decode()
        )
        self.assertIn(f"Managed devices: <span>{count}</span>", html)
