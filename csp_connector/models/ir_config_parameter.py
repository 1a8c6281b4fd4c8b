# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, models


class IrConfigParameter(models.Model):
    _inherit = "ir.config_parameter"

    @api.model
    def _csp_int(self, key, default, low=1, high=None):
        """The system parameter `key` as a whole number, clamped to [low, high] (no
        upper bound without `high`); `default` when it is unset or not digits."""
        value = self.sudo().get_param(key)
        if not (value and value.isdigit()):
            return default
        number = max(low, int(value))
        return number if high is None else min(number, high)
