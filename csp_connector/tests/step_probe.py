# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A sync step declared the way an add-on declares one, outside the core's models:
loaded into the registry by test_sync_steps only (odoo_test_helper.FakeModelLoader)."""

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..importers.binding import BindingImporter, Planned
from ..models.csp_sync_step import CspStep


class CspConnectionProbe(models.Model):
    _inherit = "csp.connection"

    sync_probe = fields.Boolean(string="Probe Domains", default=True)

    @api.model
    def _csp_sync_steps(self):
        return [
            *super()._csp_sync_steps(),
            CspStep("probe", "Probe", "tenant", 35, "_csp_sync_probe"),
        ]


class CspTenantProbe(models.Model):
    _inherit = "csp.tenant"

    probe_domains = fields.Integer()

    def _csp_sync_probe(self, http):
        """Counts the tenant's verified domains, read from Graph; refuses one tenant."""
        if self.name == self.env.context.get("probe_refuse"):
            raise UserError(self.env._("The probe refuses %s.", self.name))
        organization = self.connection_id._csp_graph(http, self.tenant_id).organization()
        domains = [d["name"] for d in organization.get("verifiedDomains") or []]
        if self.env.context.get("probe_bind"):
            return self._csp_bind_domains(domains)
        count = len(domains)
        if self.probe_domains == count:
            return {"skipped": 1}
        self.probe_domains = count
        return {"updated": 1, "message": f"{count} domains"}

    def _csp_bind_domains(self, domains):
        """Each verified domain bound to a contact through the binding base's importer;
        the context changes what Microsoft "answered" (rename, drop, cut read)."""
        suffix = self.env.context.get("probe_suffix", "")
        dropped = self.env.context.get("probe_drop", 0)
        importer = BindingImporter(self.env["csp.probe.domain"], self)
        page = domains[dropped:]
        importer.apply(
            Planned(name, {"name": name}, {"name": f"{name}{suffix}", "is_company": True})
            for name in page
        )
        importer.archive_missing(complete=not self.env.context.get("probe_cut"))
        return importer.counters


class CspProbeDomain(models.Model):
    _name = "csp.probe.domain"
    _inherit = "csp.binding.mixin"
    _description = "Probe: a verified domain bound to a contact"
    _csp_target_field = "partner_id"

    name = fields.Char()
    partner_id = fields.Many2one("res.partner")
