# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models
from odoo.osv import expression

LINKS = ("csp_contact_id", "csp_site_id", "csp_customer_id")


class ResPartner(models.Model):
    _inherit = "res.partner"

    csp_device_count = fields.Integer(
        string="Devices", compute="_compute_csp_device_count", groups="base.group_user"
    )

    def _csp_device_domain(self):
        return expression.OR([[(name, "in", self.ids)] for name in LINKS])

    def _compute_csp_device_count(self):
        Equipment = self.env["maintenance.equipment"]
        for partner in self:
            partner.csp_device_count = (
                Equipment.search_count(partner._csp_device_domain()) if partner.id else 0
            )

    def action_csp_open_devices(self):
        self.ensure_one()
        return self.env["ir.actions.act_window"]._csp_action(
            "maintenance.hr_equipment_action", domain=self._csp_device_domain(), context={}
        )
