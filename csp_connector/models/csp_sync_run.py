# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import logging
import threading

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..microsoft import errors
from ..microsoft.safe_text import one_line

_logger = logging.getLogger(__name__)

COUNTERS = ("created", "updated", "deactivated", "skipped", "errors")
LOCK_NAMESPACE = 0x0C5B  # advisory locks: (namespace, connection id)
CACHE_TENANTS = 10  # tenants whose records may stay in the ORM cache at once


class CspSyncRun(models.Model):
    """One run of the integrator for one connection, with its counters."""

    _name = "csp.sync.run"
    _description = "Microsoft CSP Sync Run"
    _order = "id desc"

    connection_id = fields.Many2one(
        "csp.connection", required=True, ondelete="cascade", index=True, readonly=True
    )
    company_id = fields.Many2one(related="connection_id.company_id", store=True)
    trigger = fields.Selection(
        [("cron", "Scheduled"), ("manual", "Sync now")], required=True, readonly=True
    )
    modules = fields.Char(readonly=True)
    state = fields.Selection(
        [
            ("running", "Running"),
            ("done", "Done"),
            ("partial", "Done with errors"),
            ("failed", "Failed"),
        ],
        default="running",
        required=True,
        readonly=True,
        index=True,
    )
    started = fields.Datetime(default=fields.Datetime.now, readonly=True)
    ended = fields.Datetime(readonly=True)
    message = fields.Text(readonly=True)
    line_ids = fields.One2many("csp.sync.run.line", "run_id", readonly=True)
    # the sums of the lines' counters, added as each step ends (see _csp_step): a
    # computed sum would read every line of the run again after each tenant
    created = fields.Integer(readonly=True)
    updated = fields.Integer(readonly=True)
    deactivated = fields.Integer(readonly=True)
    skipped = fields.Integer(readonly=True)
    errors = fields.Integer(readonly=True)

    @api.depends("connection_id", "started")
    def _compute_display_name(self):
        for run in self:
            run.display_name = f"{run.connection_id.name} - {run.started or ''}"

    def _csp_open(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "current",
        }

    # -- execution --------------------------------------------------------------

    @api.model
    def _csp_execute(self, connection, trigger, modules, batch=None):
        """Run, or resume, the sync of `connection`. Returns the run.

        Only one worker syncs a connection at a time (a PostgreSQL advisory lock held
        for the whole run, across the per-tenant commits of scheduled runs).
        """
        cr = self.env.cr
        cr.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, connection.id))
        if not cr.fetchone()[0]:
            if trigger == "manual":
                raise UserError(
                    self.env._(
                        "A sync of %s is already running; wait for it to finish.", connection.name
                    )
                )
            _logger.info("CSP: connection %s is being synced by another worker", connection.id)
            return self.browse()
        try:
            run = self.search(
                [("connection_id", "=", connection.id), ("state", "=", "running")], limit=1
            )
            if not run:
                run = self.create(
                    {
                        "connection_id": connection.id,
                        "trigger": trigger,
                        "modules": ",".join(modules),
                    }
                )
            run._csp_run(commit=trigger == "cron", batch=batch)
            return run
        finally:
            cr.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, connection.id))

    def _csp_run(self, commit=False, batch=None):
        self.ensure_one()
        self = self.with_context(csp_run_memo={})  # noqa: PLW0642 - what steps share in a run
        connection = self.connection_id
        modules = (self.modules or "").split(",")
        recorder = self.env["csp.request.log"]._csp_recorder(connection)
        http = connection._csp_http(recorder)
        try:
            discovered = self.line_ids.filtered(
                lambda line: line.module == "tenants" and not line.tenant_ref_id
            )
            needs_discovery = "tenants" in modules and not discovered
            if needs_discovery and not self._csp_step(None, "tenants", http, commit):
                return self._csp_finish(failed=True)
            todo = self._csp_pending_tenants(modules)
            # each commit empties the ORM cache: a tenant is read on its own (its own
            # prefetch set), not with every pending tenant again after each commit
            for count, tenant_id in enumerate(todo.ids):
                if batch and count >= batch:
                    return self  # still running: the cron resumes it
                tenant = todo.browse(tenant_id)
                for module in modules:
                    self._csp_step(tenant, module, http, commit)
                if count % CACHE_TENANTS == CACHE_TENANTS - 1:
                    # records of finished tenants leave the cache: memory stays flat
                    self.env.flush_all()
                    self.env.invalidate_all()
            return self._csp_finish()
        finally:
            recorder.flush()

    def _csp_pending_tenants(self, modules):
        """Tenants of the connection this run has not handled yet (resume point)."""
        per_tenant = [m for m in modules if m in self.env["csp.tenant"]._CSP_TENANT_STEPS]
        if not per_tenant:
            return self.env["csp.tenant"]
        done = self.line_ids.tenant_ref_id
        tenants = self.env["csp.tenant"].search(
            [("connection_id", "=", self.connection_id.id), ("do_not_import", "=", False)]
        )
        return tenants - done

    def _csp_step(self, tenant, module, http, commit):
        """One module for one tenant (or for the connection), isolated from the others.

        Returns True on success. A failure is rolled back to the savepoint, explained
        on the run line, the tenant and its chatter, and never stops the other tenants.
        """
        line_values = {
            "run_id": self.id,
            "module": module,
            "tenant_ref_id": tenant.id if tenant else False,
        }
        target = tenant or self.connection_id
        try:
            with self.env.cr.savepoint():
                counters = target._csp_sync_step(module, http)
            line_values.update(counters or {}, state="done")
            ok = True
        except Exception as exc:  # every failure is recorded, then the run goes on
            if isinstance(exc, errors.MicrosoftError):
                message = exc.user_message()
            elif isinstance(exc, UserError):
                message = str(exc)
            else:
                _logger.exception("CSP: %s failed for %s", module, one_line(target.display_name))
                message = self.env._("Unexpected error: %s", exc)
            line_values.update(state="error", errors=1, message=message)
            target._csp_record_step_error(module, exc, message)
            ok = False
        self.env["csp.sync.run.line"].create(line_values)
        self.write({name: self[name] + (line_values.get(name) or 0) for name in COUNTERS})
        if commit and not getattr(threading.current_thread(), "testing", False):
            self.env.cr.commit()  # pylint: disable=invalid-commit
        return ok

    def _csp_finish(self, failed=False):
        error_lines = self.line_ids.filtered(lambda line: line.state == "error")
        state = "failed" if failed else ("partial" if error_lines else "done")
        self.write(
            {
                "state": state,
                "ended": fields.Datetime.now(),
                "message": "\n\n".join(error_lines[:20].mapped("message")) or False,
            }
        )
        return self


class CspSyncRunLine(models.Model):
    _name = "csp.sync.run.line"
    _description = "Microsoft CSP Sync Run Line"
    _order = "id"

    run_id = fields.Many2one("csp.sync.run", required=True, ondelete="cascade", index=True)
    module = fields.Selection(
        [
            ("tenants", "Tenants"),
            ("licences", "Licences"),
            ("users", "Users"),
            ("assets", "Assets"),
            ("consumption", "Consumption"),
            ("pricing", "Pricing"),
        ],
        required=True,
    )
    tenant_ref_id = fields.Many2one(
        "csp.tenant", string="Tenant", ondelete="set null", index="btree_not_null"
    )
    state = fields.Selection([("done", "Done"), ("error", "Error")], required=True)
    created = fields.Integer()
    updated = fields.Integer()
    deactivated = fields.Integer()
    skipped = fields.Integer()
    errors = fields.Integer()
    message = fields.Text()
