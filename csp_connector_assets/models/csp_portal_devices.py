# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The customer portal's devices: what a portal user may read of the imported equipment
(security/csp_assets_portal_security.xml says which), and the devices count of the
monthly licence statement."""

from odoo import api, models


class MaintenanceEquipment(models.Model):
    _name = "maintenance.equipment"
    _inherit = ["maintenance.equipment", "csp.portal.fields"]

    @api.model
    def _csp_portal_fields(self):
        return super()._csp_portal_fields() | {
            "name", "model", "csp_contact_id", "csp_customer_id", "csp_os", "csp_os_version",
            "csp_compliance", "csp_last_sync",
        }  # fmt: skip


class CspLicenceStatement(models.Model):
    _inherit = "csp.licence.statement"

    @api.model
    def _csp_statement_devices(self, tenants):
        return (
            self.env["maintenance.equipment"]
            .sudo()
            .search_count([("csp_tenant_id", "in", tenants.ids), ("active", "=", True),
                           ("csp_binding_ids.removed", "=", False)])
        )  # fmt: skip
