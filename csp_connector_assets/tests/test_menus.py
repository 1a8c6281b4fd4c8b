# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.tests import new_test_user, tagged
from odoo.tests.common import TransactionCase


@tagged("post_install", "-at_install")
class TestAssetsMenus(TransactionCase):
    def test_csp_user_opens_devices(self):
        user = new_test_user(self.env, login="csp_tech", groups="csp_connector.group_csp_user")
        menu = self.env.ref("csp_connector_assets.menu_csp_assets_equipment")
        self.assertIn(menu.id, self.env["ir.ui.menu"].with_user(user)._visible_menu_ids())
        self.assertEqual(menu.parent_id.parent_id, self.env.ref("csp_connector.menu_csp_root"))

    def test_the_integrator_writes_equipment(self):
        """The device import runs as the integrator: it holds the Maintenance rights to
        create and update equipment (see csp_connector's test of the integrator's groups)."""
        integrator = self.env.ref("csp_connector.user_csp_integrator")
        self.assertTrue(integrator.has_group("maintenance.group_equipment_manager"))
