# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import UserError


class CspDeviceImport(models.TransientModel):
    """'Import devices now': every tenant, one tenant or one site of it."""

    _name = "csp.device.import"
    _description = "Import Intune Devices Now"

    connection_id = fields.Many2one("csp.connection", required=True, ondelete="cascade")
    tenant_id = fields.Many2one(
        "csp.tenant",
        domain="[('connection_id', '=', connection_id), ('do_not_import', '=', False)]",
        help="Empty: every tenant not excluded from the device import.",
    )
    customer_id = fields.Many2one(related="tenant_id.partner_id")
    site_id = fields.Many2one(
        "res.partner",
        domain="['|', ('id', '=', customer_id), ('parent_id', '=', customer_id)]",
        help="Only the devices of this site (the tenant's customer or one of its sites).",
    )

    @api.depends("connection_id", "tenant_id", "site_id")
    def _compute_display_name(self):
        for wizard in self:
            where = wizard.site_id.name or wizard.tenant_id.name or wizard.connection_id.name
            wizard.display_name = self.env._("Import devices now: %s", where or "")

    @api.model
    def _csp_open(self, connection, tenant=None):
        connection._csp_check_can_sync()
        return self.env["ir.actions.act_window"]._csp_window(
            self._name,
            target="new",
            name=self.env._("Import devices now"),
            context={
                "default_connection_id": connection.id,
                "default_tenant_id": tenant.id if tenant else False,
            },
        )

    def action_import(self):
        self.ensure_one()
        connection = self.connection_id
        connection._csp_check_can_sync()
        if self.tenant_id and self.tenant_id.connection_id != connection:
            raise UserError(self.env._("This tenant belongs to another connection."))
        if self.site_id and not self.tenant_id:
            raise UserError(self.env._("Choose the tenant of the site first."))
        if self.tenant_id.exclude_devices:
            raise UserError(
                self.env._(
                    "%s is excluded from the device import (see its mapping).",
                    self.tenant_id.name,
                )
            )
        run = self.env["csp.sync.run"]._csp_queue_devices(connection, self.tenant_id, self.site_id)
        return run._csp_open()
