# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import logging
import resource
import threading
import time
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import config

from ..microsoft import errors
from ..microsoft.safe_text import one_line

_logger = logging.getLogger(__name__)

COUNTERS = ("created", "updated", "deactivated", "skipped", "error_count", "held")
LOCK_NAMESPACE = 0x0C5B  # advisory locks: (namespace, connection id)
CACHE_TENANTS = 10  # tenants whose records may stay in the ORM cache at once
BUDGET_SHARE = 0.6  # of Odoo's cron time limits, when no budget is set
MAX_STEP_RESTARTS = 3  # a step that killed its worker this often is given up in the run


def _testing():
    return getattr(threading.current_thread(), "testing", False)


def cron_time_limit():
    """Seconds a cron job may run before Odoo kills it (limit_time_real_cron, which
    -1 or 0 sends back to limit_time_real; 120 when that is off too)."""
    limit = config.get("limit_time_real_cron") or -1
    if limit <= 0:
        limit = config.get("limit_time_real") or 0
    return float(limit) if limit > 0 else 120.0


def cron_budget(env):
    """(wall seconds, CPU seconds) one integrator cron job may use.

    A system parameter ``csp_connector.cron_budget`` (seconds) sets the wall budget;
    by default it is 60 % of the cron time limit. Odoo also stops a worker that used
    ``limit_time_cpu`` of CPU in one unit of work: 60 % of that is the CPU budget.
    """
    value = env["ir.config_parameter"].sudo().get_param("csp_connector.cron_budget")
    limit = cron_time_limit()
    try:
        wall = float(value) if value else limit * BUDGET_SHARE
    except ValueError:
        wall = limit * BUDGET_SHARE
    wall = max(1.0, min(wall, limit * 0.9))
    cpu_limit = config.get("limit_time_cpu") or 0
    cpu = cpu_limit * BUDGET_SHARE if cpu_limit > 0 else None
    return wall, cpu


def cpu_deadline(budget):
    """time.process_time() at which a cron job stops: `budget` seconds of CPU from now,
    and never closer than a margin to the CPU limit Odoo's prefork worker set on the
    process (RLIMIT_CPU, reset before each unit of work: other jobs may have used it)."""
    now = time.process_time()
    deadline = now + budget if budget else None
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_CPU)
    except (AttributeError, ValueError, OSError):
        return deadline
    if soft not in (resource.RLIM_INFINITY, -1) and soft > 0:
        margin = max(5.0, 0.2 * (config.get("limit_time_cpu") or 0))
        deadline = min(deadline, soft - margin) if deadline else soft - margin
    return deadline


def out_of_time(env):
    """Whether the time budget of the running cron job (context) is spent."""
    deadline = env.context.get("csp_deadline")
    cpu_deadline = env.context.get("csp_cpu_deadline")
    return bool(
        (deadline and time.monotonic() >= deadline)
        or (cpu_deadline and time.process_time() >= cpu_deadline)
    )


def try_lock(cr, connection_id):
    """The connection's sync lock, held until the transaction ends (commit, rollback
    or a dead connection): it cannot outlive its transaction, whatever fails."""
    cr.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, connection_id))
    return cr.fetchone()[0]


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
    modules = fields.Char(string="Steps", readonly=True)  # CspStep codes, comma-separated
    csp_tenant_id = fields.Many2one(
        "csp.tenant",
        string="Only Tenant",
        readonly=True,
        ondelete="cascade",
        help="A run started from one tenant ('Import users now') handles that tenant only.",
    )
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
    # sign of life of the worker running it, and the step it is in (False between steps)
    heartbeat = fields.Datetime(readonly=True)
    current_step = fields.Char(readonly=True)
    step_restarts = fields.Integer(readonly=True)
    resume_notes = fields.Text(readonly=True)  # why the run was taken over, kept to the end
    stale = fields.Boolean(compute="_compute_progress")
    progress = fields.Char(compute="_compute_progress")
    message = fields.Text(readonly=True)
    line_ids = fields.One2many("csp.sync.run.line", "run_id", readonly=True)
    # the sums of the lines' counters, added as each step ends (see _csp_step): a
    # computed sum would read every line of the run again after each tenant
    created = fields.Integer(readonly=True)
    updated = fields.Integer(readonly=True)
    deactivated = fields.Integer(readonly=True)
    skipped = fields.Integer(readonly=True)
    error_count = fields.Integer(string="Errors", readonly=True)
    held = fields.Integer(
        string="Archive Held",
        readonly=True,
        help="Contacts the safety valve kept from archiving: see the tenants' activities.",
    )

    @api.model
    def _csp_stale_after(self):
        """Seconds without heartbeat after which a step's worker is taken for dead."""
        value = self.env["ir.config_parameter"].sudo().get_param("csp_connector.stale_seconds")
        return float(value) if value and value.isdigit() else cron_time_limit() + 60

    @api.depends("state", "heartbeat", "current_step", "line_ids")
    def _compute_progress(self):
        now = fields.Datetime.now()
        stale_after = timedelta(seconds=self._csp_stale_after())
        for run in self:
            run.stale = bool(
                run.state == "running" and run.heartbeat and now - run.heartbeat > stale_after
            )
            if run.state != "running":
                run.progress = False
                continue
            lines = run.line_ids.filtered(lambda line: line.state != "paused")
            done = len(set(lines.mapped("csp_tenant_id").ids))
            total = self.env["csp.tenant"].search_count(
                [("connection_id", "=", run.connection_id.id), ("do_not_import", "=", False)]
            )
            run.progress = self.env._(
                "%(done)s of %(total)s tenants handled%(step)s",
                done=done,
                total=total,
                step=f"; now: {run.current_step}" if run.current_step else "",
            )

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
    def _csp_queue(self, connection, modules, tenant=None, values=None):
        """The open run of `connection` (a new one for `modules`, of `tenant` only when
        given, if none; ``values``: an add-on's own values of the new run) and a call of
        the integrator cron for it at once: a button never runs the sync itself."""
        run = self.search(
            [("connection_id", "=", connection.id), ("state", "=", "running")], limit=1
        )
        if not run:
            run = self.create(
                {"connection_id": connection.id, "trigger": "manual", "modules": ",".join(modules),
                 "csp_tenant_id": tenant.id if tenant else False, **(values or {})}
            )  # fmt: skip
        self.env.ref("csp_connector.ir_cron_csp_integrator").sudo()._trigger()
        return run

    @api.model
    def _csp_execute(self, connection, trigger, modules, batch=None, commit=None):
        """Run, or resume, the sync of `connection`. Returns the run.

        Only one worker syncs a connection at a time: a PostgreSQL advisory lock bound
        to the transaction (taken again after each commit of a scheduled run), so no
        error, kill or unlock failure can leave it behind.
        """
        commit = trigger == "cron" if commit is None else commit
        if not try_lock(self.env.cr, connection.id):
            if trigger == "manual":
                raise UserError(
                    self.env._(
                        "A sync of %s is already running; wait for it to finish.", connection.name
                    )
                )
            _logger.info("CSP: connection %s is being synced by another worker", connection.id)
            return self.browse()
        run = self.search(
            [("connection_id", "=", connection.id), ("state", "=", "running")], limit=1
        )
        if not run:
            run = self.create(
                {"connection_id": connection.id, "trigger": trigger, "modules": ",".join(modules)}
            )
        elif run.current_step and not run._csp_take_over():
            # its worker may still be alive: look again once its heartbeat is stale
            # (not at once: that would spin the cron)
            stale_at = run.heartbeat + timedelta(seconds=self._csp_stale_after() + 1)
            self.env.ref("csp_connector.ir_cron_csp_integrator").sudo()._trigger(stale_at)
            return self.browse()
        run._csp_run(commit=commit, batch=batch)
        return run

    @api.model
    def _csp_close_failed(self, connection, error):
        """Close the open run of `connection` after an error outside its steps."""
        run = self.sudo().search(
            [("connection_id", "=", connection.id), ("state", "=", "running")], limit=1
        )
        if run:
            run.write(
                {
                    "state": "failed",
                    "ended": fields.Datetime.now(),
                    "current_step": False,
                    "message": self.env._(
                        "The integrator stopped with an unexpected error (see the server "
                        "log): %s. The next scheduled run starts again; each tenant resumes "
                        "from its stored delta link.",
                        error,
                    ),
                }
            )
        if not _testing():
            self.env.cr.commit()  # pylint: disable=invalid-commit

    def _csp_take_over(self):
        """A run left inside a step (its worker was killed, or the server restarted).

        Taken over once no heartbeat came for the stale time; the interrupted step
        runs again (its work was rolled back), unless it stopped its worker
        MAX_STEP_RESTARTS times: then it is recorded as failed, with why, and the run
        goes on. Returns whether the run may go on now."""
        if self.heartbeat and fields.Datetime.now() - self.heartbeat < timedelta(
            seconds=self._csp_stale_after()
        ):
            return False
        _logger.warning(
            "CSP: run %s stopped during %s (last heartbeat %s): resuming",
            self.id, self.current_step, self.heartbeat,
        )  # fmt: skip
        self.step_restarts += 1
        note = self.env._(
            "The worker stopped during %(step)s (last sign of life %(when)s UTC: killed for "
            "a time or memory limit, or the server restarted); the step ran again.",
            step=self.current_step,
            when=self.heartbeat,
        )
        if self.step_restarts >= MAX_STEP_RESTARTS:
            tenant_id, _sep, code = self.current_step.partition(":")
            tenant = self.env["csp.tenant"].browse(int(tenant_id) if tenant_id.isdigit() else [])
            message = self.env._(
                "The worker stopped %(count)s times during this step (killed for a time or "
                "memory limit, or the server restarted): it is skipped in this run. Check "
                "the server log; if it is the time limit, lower csp_connector.cron_budget "
                "or raise limit_time_real_cron.",
                count=self.step_restarts,
            )
            self.env["csp.sync.run.line"].create(
                {"run_id": self.id, "step": code, "csp_tenant_id": tenant.id,
                 "state": "error", "error_count": 1, "message": message}
            )  # fmt: skip
            self.error_count += 1
            self.step_restarts = 0
            note = message
        notes = f"{self.resume_notes}\n{note}" if self.resume_notes else note
        self.write({"current_step": False, "message": notes, "resume_notes": notes})
        return True

    def _csp_run(self, commit=False, batch=None):
        self.ensure_one()
        self = self.with_context(csp_run_memo={})  # noqa: PLW0642 - what steps share in a run
        connection = self.connection_id
        steps = connection._csp_steps_to_run((self.modules or "").split(","))
        recorder = self.env["csp.request.log"]._csp_recorder(connection)
        http = connection._csp_http(recorder)
        # no retry starts after the deadline: one slow call is the most it can overrun
        http.deadline = self.env.context.get("csp_deadline")
        try:
            # connection steps first (tenant discovery): a failed one (Partner Center
            # down, sign-in expired) fails alone, the tenants already known still sync
            finished = {
                line.step for line in self.line_ids
                if not line.csp_tenant_id and line.state != "paused"
            }  # fmt: skip
            for step in steps:
                if step.scope != "connection" or step.code in finished:
                    continue
                if out_of_time(self.env) or not self._csp_step(step, None, http, commit):
                    return self
            # each commit empties the ORM cache: a tenant is read on its own (its own
            # prefetch set), not with every pending tenant again after each commit
            tenant_steps = [step for step in steps if step.scope == "tenant"]
            for count, (tenant_id, pending) in enumerate(self._csp_pending(tenant_steps)):
                if (batch and count >= batch) or out_of_time(self.env):
                    return self  # still running: the cron resumes it
                tenant = self.env["csp.tenant"].browse(tenant_id)
                for step in pending:
                    if out_of_time(self.env) or not self._csp_step(step, tenant, http, commit):
                        return self
                if count % CACHE_TENANTS == CACHE_TENANTS - 1:
                    # records of finished tenants leave the cache: memory stays flat
                    self.env.flush_all()
                    self.env.invalidate_all()
            return self._csp_finish()
        finally:
            recorder.flush()

    def _csp_pending(self, steps):
        """[(tenant id, [CspStep])] still to do in this run: a step is done once it has
        a line that is not 'paused' (resume point, exact per tenant and step)."""
        if not steps:
            return []
        finished = {
            (line.csp_tenant_id.id, line.step)
            for line in self.line_ids
            if line.csp_tenant_id and line.state != "paused"
        }
        domain = [("connection_id", "=", self.connection_id.id), ("do_not_import", "=", False)]
        if self.csp_tenant_id:
            domain.append(("id", "=", self.csp_tenant_id.id))
        tenants = self.env["csp.tenant"].search(domain)
        pending = []
        for tenant_id in tenants.ids:
            todo = [step for step in steps if (tenant_id, step.code) not in finished]
            if todo:
                pending.append((tenant_id, todo))
        return pending

    def _csp_step(self, step, tenant, http, commit):
        """One step (a CspStep) for one tenant, or for the connection, isolated from
        the others.

        Returns False when the run must stop here (out of time: a 'paused' line, the
        step resumes later; or its lock went to another worker), else True. A failure
        is rolled back to the savepoint, explained on the run line, the tenant (or
        connection) and its chatter, and never stops the other tenants.
        """
        line_values = {
            "run_id": self.id,
            "step": step.code,
            "csp_tenant_id": tenant.id if tenant else False,
        }
        target = tenant or self.connection_id
        if commit:
            self.write(
                {
                    "heartbeat": fields.Datetime.now(),
                    "current_step": f"{tenant.id if tenant else ''}:{step.code}",
                }
            )
            if not self._csp_commit():
                return False
        try:
            with self.env.cr.savepoint():
                counters = dict(getattr(target, step.handler)(http) or {})
                if tenant:
                    tenant._csp_step_succeeded(step.code)
            paused = counters.pop("paused", False)
            if "errors" in counters:  # a handler's counters name them so (CspStep)
                counters["error_count"] = counters.pop("errors")
            line_fields = self.env["csp.sync.run.line"]._fields
            line_values.update(
                {k: v for k, v in counters.items() if k in line_fields},
                state="paused" if paused else "done",
            )
            ok = not paused
        except Exception as exc:  # every failure is recorded, then the run goes on
            if isinstance(exc, errors.MicrosoftError):
                message = exc.user_message()
            elif isinstance(exc, UserError):
                message = str(exc)
            else:
                _logger.exception("CSP: %s failed for %s", step.code, one_line(target.display_name))
                message = self.env._("Unexpected error: %s", exc)
            line_values.update(state="error", error_count=1, message=message)
            try:  # keeping the explanation elsewhere must not stop the run
                # (no flush: the chatter's tracking is written when it always was)
                with self.env.cr.savepoint(flush=False):
                    target._csp_record_step_error(step.code, exc, message)
            except Exception:  # the run line still says what failed
                self.env.invalidate_all()
                _logger.exception("CSP: could not record the failure of %s", step.code)
            ok = True
        self.env["csp.sync.run.line"].create(line_values)
        values = {name: self[name] + (line_values.get(name) or 0) for name in COUNTERS}
        if commit:
            values.update(heartbeat=fields.Datetime.now(), current_step=False, step_restarts=0)
        self.write(values)
        if commit and not self._csp_commit():
            return False
        return ok

    def _csp_commit(self):
        """Commit the work so far; the lock ends with the transaction and is taken
        again (False: another worker got it in between and goes on)."""
        if _testing():
            return True
        self.env.cr.commit()  # pylint: disable=invalid-commit
        return try_lock(self.env.cr, self.connection_id.id)

    def _csp_finish(self, failed=False):
        error_lines = self.line_ids.filtered(lambda line: line.state == "error")
        state = "failed" if failed else ("partial" if error_lines else "done")
        messages = error_lines[:20].mapped("message")
        if self.resume_notes:
            messages.append(self.resume_notes)
        if self.held:
            messages.append(
                self.env._(
                    "%s contacts were not archived: the safety valve held them (see the "
                    "tenants' activities).",
                    self.held,
                )
            )
        self.write(
            {
                "state": state,
                "ended": fields.Datetime.now(),
                "current_step": False,
                "message": "\n\n".join(messages) or False,
            }
        )
        return self


class CspSyncRunLine(models.Model):
    _name = "csp.sync.run.line"
    _description = "Microsoft CSP Sync Run Line"
    _order = "id"

    run_id = fields.Many2one("csp.sync.run", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="run_id.company_id", store=True)
    # each add-on adds its steps' codes: selection_add=[(code, label)],
    # ondelete={code: "cascade"} (see csp_sync_step.CspStep)
    step = fields.Selection([("tenants", "Tenants"), ("users", "Users")], required=True)
    csp_tenant_id = fields.Many2one(
        "csp.tenant", string="Tenant", ondelete="set null", index="btree_not_null"
    )
    # paused: cut at a page boundary by the time budget; the step resumes
    state = fields.Selection(
        [("done", "Done"), ("paused", "Paused"), ("error", "Error")], required=True
    )
    created = fields.Integer()
    updated = fields.Integer()
    deactivated = fields.Integer()
    skipped = fields.Integer()
    error_count = fields.Integer(string="Errors")
    held = fields.Integer(string="Archive Held")
    message = fields.Text()
