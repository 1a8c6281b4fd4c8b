# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import UserError


class CspSyncRun(models.Model):
    _inherit = "csp.sync.run"

    # "Import devices now" for one site of a tenant (the run's csp_tenant_id)
    assets_site_id = fields.Many2one(
        "res.partner", string="Devices of Site", readonly=True, ondelete="cascade"
    )

    @api.model
    def _csp_code_only_fields(self):
        return super()._csp_code_only_fields() | {"assets_site_id"}

    @api.model
    def _csp_queue_devices(self, connection, tenant=None, site=None):
        """A run of the assets step alone (for one tenant or site when given), carried
        out by the integrator cron, called at once: the button never runs it."""
        if self.search_count(
            [("connection_id", "=", connection.id), ("state", "=", "running")], limit=1
        ):
            raise UserError(
                self.env._(
                    "A sync of %s is running: import the devices once it has finished.",
                    connection.name,
                )
            )
        # the core's queue checks the rights and marks the run as the connector's own
        return self._csp_queue(
            connection, ["assets"], tenant=tenant or None,
            values={"assets_site_id": site.id if site else False},
        )  # fmt: skip
