# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The server-side rules (csp_guard) applied to connections, runs and bindings."""

from odoo import api, fields, models
from odoo.exceptions import AccessError, ValidationError

from .csp_guard import code_env


class CspConnection(models.Model):
    _name = "csp.connection"
    _inherit = ["csp.connection", "csp.code.guard"]

    @api.model
    def _csp_code_only_fields(self):
        return super()._csp_code_only_fields() | {
            "state", "last_error", "authorized_upn", "authorized_date", "token_cache",
            "auth_flow",
        }  # fmt: skip

    @api.model_create_multi
    def create(self, vals_list):
        connections = super().create(vals_list)
        connections._csp_integrator_join_companies()
        return connections

    def write(self, vals):
        result = super().write(vals)
        if "company_id" in vals:
            self._csp_integrator_join_companies()
        return result

    @api.model
    def _csp_integrator_join_companies(self):
        """The integrator's technical user works in every company that has a connection
        (only then do the company rules let it see that company's connections)."""
        user = self.env.ref("csp_connector.user_csp_integrator", raise_if_not_found=False)
        if not user:
            return
        connections = self or self.sudo().with_context(active_test=False).search(
            [("company_id", "!=", False)]
        )
        missing = connections.sudo().company_id - user.sudo().company_ids
        if missing:
            user.sudo().write({"company_ids": [(4, company.id) for company in missing]})

    def _csp_check_can_sync(self):
        """Calling Microsoft, or starting a sync, needs write access to the connection
        (CSP managers, the integrator): checked before the first request."""
        if self.env.su or self.env.user._is_system():
            return
        if not self.env.user.has_group("csp_connector.group_csp_manager"):
            raise AccessError(
                self.env._(
                    "Only Microsoft CSP managers can contact Microsoft or start a sync "
                    "(you have read-only access)."
                )
            )
        self.check_access("write")


class CspSyncRun(models.Model):
    _name = "csp.sync.run"
    _inherit = ["csp.sync.run", "csp.code.guard"]

    @api.model
    def _csp_code_only_fields(self):
        return super()._csp_code_only_fields() | {
            "connection_id", "trigger", "steps", "csp_tenant_id", "state", "started",
            "ended", "message", "line_ids", "created", "updated", "deactivated", "skipped",
            "error_count", "held", "heartbeat", "current_step", "step_restarts",
            "resume_notes",
        }  # fmt: skip

    skipped_protected = fields.Integer(
        string="Skipped: Odoo Users", compute="_compute_skipped_protected"
    )

    def _compute_skipped_protected(self):
        for run in self:
            run.skipped_protected = sum(run.line_ids.mapped("skipped_protected"))

    @api.model
    def _csp_execute(self, connection, trigger, steps, batch=None, commit=None):
        connection._csp_check_can_sync()
        return super(CspSyncRun, self._csp_code())._csp_execute(
            code_env(connection), trigger, steps, batch=batch, commit=commit
        )

    @api.model
    def _csp_queue(self, connection, steps, tenant=None, values=None):
        connection._csp_check_can_sync()
        return super(CspSyncRun, self._csp_code())._csp_queue(
            code_env(connection), steps, tenant=tenant, values=values
        )


class CspSyncRunLine(models.Model):
    _name = "csp.sync.run.line"
    _inherit = ["csp.sync.run.line", "csp.code.guard"]

    @api.model
    def _csp_code_only_fields(self):
        return super()._csp_code_only_fields() | {
            "run_id", "step", "csp_tenant_id", "state", "created", "updated", "deactivated",
            "skipped", "error_count", "message", "skipped_protected", "held",
        }  # fmt: skip

    skipped_protected = fields.Integer(
        string="Skipped: Odoo Users",
        help="Users left alone because their contact belongs to an Odoo user or is one "
        "of this database's companies (also counted in Skipped).",
    )


class CspUserBinding(models.Model):
    _name = "csp.user.binding"
    _inherit = ["csp.user.binding", "csp.code.guard"]

    @api.model
    def _csp_code_only_fields(self):
        # who an Azure user is: only the sync decides (a forged binding would let a sync
        # write an Azure user's data onto any contact, or give it portal access)
        return super()._csp_code_only_fields() | {
            "connection_id", "csp_tenant_id", "microsoft_id", "partner_id", "portal_user_id",
            "portal_revoked",
        }  # fmt: skip

    @api.constrains("partner_id")
    def _check_partner_not_protected(self):
        if self.env["res.partner"]._csp_protected_ids(self.partner_id.ids):
            raise ValidationError(
                self.env._(
                    "A Microsoft user cannot be bound to the contact of an Odoo user or of "
                    "one of this database's companies."
                )
            )
