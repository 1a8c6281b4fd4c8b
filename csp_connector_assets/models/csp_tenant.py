# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import json

from odoo import api, fields, models

from odoo.addons.csp_connector.models.csp_guard import code_env


class CspTenant(models.Model):
    _inherit = "csp.tenant"

    @api.model
    def _csp_code_only_fields(self):
        return super()._csp_code_only_fields() | {
            "devices_held",
            "devices_held_count",
        }

    exclude_devices = fields.Boolean(
        string="Exclude from Device Import",
        tracking=True,
        help="The device import leaves this tenant out (its equipment stays as it is).",
    )
    device_binding_ids = fields.One2many(
        "csp.device.binding", "csp_tenant_id", string="Intune Devices"
    )
    device_count = fields.Integer(compute="_compute_device_count")
    # the safety valve: devices a complete read no longer listed, more than the
    # connection allows to mark gone in one run; a person decides (JSON binding ids)
    devices_held = fields.Text(string="Held Devices (bindings)", readonly=True, copy=False)
    devices_held_count = fields.Integer(string="Devices Held", readonly=True, copy=False)

    def _compute_device_count(self):
        groups = self.env["maintenance.equipment"]._read_group(
            [("csp_tenant_id", "in", self.ids)], ["csp_tenant_id"], ["__count"]
        )
        counts = {tenant.id: count for tenant, count in groups}
        for tenant in self:
            tenant.device_count = counts.get(tenant.id, 0)

    def action_import_devices(self):
        self.ensure_one()
        return self.env["csp.device.import"]._csp_open(self.connection_id, self)

    def action_open_devices(self):
        self.ensure_one()
        return self.env["ir.actions.act_window"]._csp_action(
            "maintenance.hr_equipment_action", domain=[("csp_tenant_id", "=", self.id)], context={}
        )

    @api.model
    def _csp_assets_run_site(self):
        """The site an "Import devices now" run is limited to (empty: all). The run's
        tenant, when it has one, is the only tenant it calls (the core sees to it)."""
        memo = self.env.context.get("csp_run_memo")
        if memo is not None and "assets_site" in memo:
            return memo["assets_site"]
        run = self.env["csp.sync.run"].search(
            [("connection_id", "in", self.connection_id.ids), ("state", "=", "running")],
            limit=1,
        )
        site = run.assets_site_id
        if memo is not None:
            memo["assets_site"] = site
        return site

    def _csp_sync_assets(self, http):
        """The integrator's assets step (CspStep "assets") for this tenant: counters
        for the run. A failure is recorded by the integrator on the run line and the
        tenant; the other tenants go on."""
        site = self._csp_assets_run_site()
        return self.env["csp.device.binding"]._csp_import_devices(self, http, site=site)

    # -- the devices' safety valve ----------------------------------------------------

    def _csp_hold_devices(self, bindings):
        """Keep `bindings` (devices gone from Intune's list) waiting for a person."""
        values = {
            "devices_held": json.dumps(sorted(bindings.ids)) if bindings else False,
            "devices_held_count": len(bindings),
        }
        if any(self[k] != v for k, v in values.items()):
            code_env(self).write(values)

    def _csp_held_devices(self):
        ids = json.loads(self.devices_held) if self.devices_held else []
        return self.env["csp.device.binding"].browse(ids).exists().filtered(lambda b: not b.removed)

    def action_release_devices(self):
        """A person confirms the held devices left: they get the 'gone' status now."""
        self._check_csp_manager()
        for tenant in self.filtered("devices_held"):
            held = tenant._csp_held_devices()
            counters = {"deactivated": 0}
            # the manager's decision, carried out as the device import would (it writes
            # equipment with the Maintenance rights the integrator holds)
            self.env["csp.device.binding"].sudo()._csp_mark_gone(tenant, held.sudo(), counters)
            tenant._csp_hold_devices(self.env["csp.device.binding"])
            tenant.message_post(
                body=self.env._("%s held devices marked gone from Intune.", counters["deactivated"])
            )
        return True

    def action_keep_devices(self):
        """A person refuses: the devices stay; a later complete read that still misses
        them holds them again."""
        self._check_csp_manager()
        for tenant in self.filtered("devices_held"):
            tenant._csp_hold_devices(self.env["csp.device.binding"])
            tenant.message_post(body=self.env._("The held devices were kept."))
        return True
