# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tests.common import TransactionCase


@tagged("post_install", "-at_install")
class TestCspAccess(TransactionCase):
    """Who sees the Microsoft CSP menu and who may change connections."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.csp_user = new_test_user(
            cls.env, login="csp_user", groups="csp_connector.group_csp_user"
        )
        cls.csp_manager = new_test_user(
            cls.env, login="csp_manager", groups="csp_connector.group_csp_manager"
        )
        cls.employee = new_test_user(cls.env, login="plain_employee", groups="base.group_user")
        cls.root_menu = cls.env.ref("csp_connector.menu_csp_root")

    def _visible_menu_ids(self, user):
        return self.env["ir.ui.menu"].with_user(user)._visible_menu_ids()

    def test_menu_visible_to_csp_users_only(self):
        self.assertIn(self.root_menu.id, self._visible_menu_ids(self.csp_user))
        self.assertIn(self.root_menu.id, self._visible_menu_ids(self.csp_manager))
        self.assertNotIn(self.root_menu.id, self._visible_menu_ids(self.employee))

    def test_manager_implies_user(self):
        self.assertTrue(self.csp_manager.has_group("csp_connector.group_csp_user"))
        self.assertFalse(self.csp_user.has_group("csp_connector.group_csp_manager"))

    def test_user_reads_but_cannot_change_connections(self):
        connection = (
            self.env["csp.connection"]
            .with_user(self.csp_manager)
            .create({"name": "Contoso partner", "partner_tenant_id": "tenant-a"})
        )
        as_user = connection.with_user(self.csp_user)
        self.assertEqual(as_user.name, "Contoso partner")
        with self.assertRaises(AccessError):
            as_user.write({"name": "Renamed"})
        with self.assertRaises(AccessError):
            self.env["csp.connection"].with_user(self.csp_user).create({"name": "x"})

    def test_connection_hidden_from_other_companies(self):
        other = self.env["res.company"].create({"name": "Other MSP"})
        connection = self.env["csp.connection"].create(
            {"name": "Other MSP partner", "company_id": other.id}
        )
        visible = self.env["csp.connection"].with_user(self.csp_manager).search([])
        self.assertNotIn(connection, visible)
