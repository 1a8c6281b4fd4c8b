# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What the device records are called wherever they show: the device, never its
Intune id or "model,id"."""

from odoo import api, models


class CspDeviceBinding(models.Model):
    _inherit = "csp.device.binding"

    @api.depends("equipment_id", "csp_tenant_id")
    def _compute_display_name(self):
        for binding in self:
            device = binding.equipment_id.sudo().name or self.env._("Intune device")
            tenant = binding.csp_tenant_id.name
            binding.display_name = f"{device} ({tenant})" if tenant else device
