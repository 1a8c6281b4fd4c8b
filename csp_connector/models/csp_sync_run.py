# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import logging
import time
from datetime import timedelta

from psycopg2 import errors as pg_errors

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..microsoft import errors, words
from ..microsoft.safe_text import one_line
from ..sync.budget import cron_time_limit, out_of_time
from ..sync.run_lock import CONCURRENCY_ERRORS, is_concurrency_error, try_lock
from .testing import under_test

_logger = logging.getLogger(__name__)

COUNTERS = ("created", "updated", "deactivated", "skipped", "error_count", "held")
CACHE_TENANTS = 10  # tenants whose records may stay in the ORM cache at once
MAX_STEP_RESTARTS = 3  # a step that killed its worker this often is given up in the run
MAX_CONCURRENCY_TRIES = 3  # a step refused by PostgreSQL for a concurrent change is re-run
STEP_CODES_KEY = "csp_connector.step_codes"  # the installed steps, as the run lines last saw
# the GDAP relationship is over: Graph refuses every step (Partner Center's too: no customer)
ENDED_RELATIONSHIP = ("terminating", "terminated", "expired")


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
    steps = fields.Char(string="Step Codes", readonly=True)  # CspStep codes, comma-separated
    steps_words = fields.Char(string="Steps", compute="_compute_steps_words")
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
    # tenants whose step took the rest of a call's time: their steps come last (ids)
    deferred_tenants = fields.Char(readonly=True)
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

    @api.depends("state", "heartbeat", "current_step", "line_ids", "error_count")
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
            # the same words as the bus tells the open forms (csp_sync_run_live)
            run.progress = run._csp_progress_text()

    @api.depends("steps")
    def _compute_steps_words(self):
        """The run's steps by their labels ("Users, Licences"), not their codes."""
        labels = dict(self.env["csp.sync.run.line"]._csp_step_selection())
        for run in self:
            codes = [code for code in (run.steps or "").split(",") if code]
            run.steps_words = ", ".join(labels.get(code, code) for code in codes) or False

    @api.depends("connection_id", "started")
    def _compute_display_name(self):
        for run in self:
            run.display_name = f"{run.connection_id.name} - {run.started or ''}"

    def action_open_lines(self):
        """The run's lines in a list of their own, with the filter "Errors only" on
        (search, group, filter by step or tenant)."""
        self.ensure_one()
        self.check_access("read")
        return self.env["ir.actions.act_window"]._csp_action(
            "csp_connector.csp_sync_run_line_action",
            domain=[("run_id", "=", self.id)],
            context={"search_default_errors": 1 if self.error_count else 0},
            name=self.env._("Lines of %s", self.display_name),
        )

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
    def _csp_queue(self, connection, steps, tenant=None, values=None):
        """The open run of `connection` (a new one for `steps`, of `tenant` only when
        given, if none; ``values``: an add-on's own values of the new run) and a call of
        the integrator cron for it at once: a button never runs the sync itself."""
        run = self.search(
            [("connection_id", "=", connection.id), ("state", "=", "running")], limit=1
        )
        if not run:
            run = self.create(
                {"connection_id": connection.id, "trigger": "manual", "steps": ",".join(steps),
                 "csp_tenant_id": tenant.id if tenant else False, **(values or {})}
            )  # fmt: skip
        run._csp_tell_starter()  # told when it ends, wherever they are in Odoo
        self.env.ref("csp_connector.ir_cron_csp_integrator").sudo()._trigger()
        return run

    @api.model
    def _csp_execute(self, connection, trigger, steps, batch=None, commit=None):
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
                {"connection_id": connection.id, "trigger": trigger, "steps": ",".join(steps)}
            )
        elif run.current_step and not run._csp_take_over():
            # its worker may still be alive: look again once its heartbeat is stale
            # (not at once: that would spin the cron)
            stale_at = run.heartbeat + timedelta(seconds=self._csp_stale_after() + 1)
            self.env.ref("csp_connector.ir_cron_csp_integrator").sudo()._trigger(stale_at)
            return self.browse()
        if not run._csp_dispatch_steps(connection._csp_steps_to_run((run.steps or "").split(","))):
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
            run._csp_push_ended()
        if not under_test():
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
            installed = dict(self.env["csp.sync.run.line"]._csp_step_selection())
            message = self.env._(
                "The worker stopped %(count)s times during this step (killed for a time or "
                "memory limit, or the server restarted): it is skipped in this run. Check "
                "the server log; if it is the time limit, lower csp_connector.cron_budget "
                "or raise limit_time_real_cron.",
                count=self.step_restarts,
            )
            if code in installed:  # else its add-on was uninstalled meanwhile: no line
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
        steps = connection._csp_steps_to_run((self.steps or "").split(","))
        recorder = self.env["csp.request.log"]._csp_recorder(connection)
        http = connection._csp_http(recorder)
        # no retry starts after the deadline; every call ends before the clock's hard
        # deadline (the worker's limit less a reserve)
        http.deadline = self.env.context.get("csp_deadline")
        http.clock = self.env.context.get("csp_clock")
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
                    if out_of_time(self.env):
                        return self
                    reason = self._csp_skip_reason(tenant, step)
                    if reason:
                        if not self._csp_skip(step, tenant, reason, commit):
                            return self
                    elif not self._csp_step(step, tenant, http, commit):
                        return self
                if count % CACHE_TENANTS == CACHE_TENANTS - 1:
                    # records of finished tenants leave the cache: memory stays flat
                    self.env.flush_all()
                    self.env.invalidate_all()
            return self._csp_finish()
        finally:
            recorder.flush()

    def _csp_dispatch_steps(self, steps):
        """How this run's steps (CspStep, ordered) are carried out: True when they were
        handed elsewhere (an add-on's job queue: one job per tenant and step), which
        then runs each through ``_csp_step(step, tenant, http, commit=False)`` and ends
        the run with ``_csp_finish``; False (the core) runs them here, one tenant after
        another, within the cron's budget. Called at each call of the run by the cron:
        dispatching again must not run a step twice."""
        return False

    def _csp_dispatched(self):
        """Whether this open run's steps are carried out elsewhere (see
        _csp_dispatch_steps): the integrator cron then does not call itself again
        for it. The core: False."""
        return False

    def _csp_count(self, values):
        """Add a finished step's values to the run (`values`: the run's counters
        plus the step's and the line's own, as _csp_step_once computes them). An
        add-on whose steps run in parallel may sum the lines instead at the end."""
        self.write(values)

    def _csp_pending(self, steps):
        """[(tenant id, [CspStep])] still to do in this run: a step is done once it has
        a line that is not 'paused' (resume point, exact per tenant and step). Tenants
        deferred for slowness come last, in the order they were deferred."""
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
        deferred = self._csp_deferred()
        order = [tid for tid in tenants.ids if tid not in deferred]
        order += [tid for tid in deferred if tid in tenants.ids]
        pending = []
        for tenant_id in order:
            todo = [step for step in steps if (tenant_id, step.code) not in finished]
            if todo:
                pending.append((tenant_id, todo))
        return pending

    def _csp_deferred(self):
        return [int(tid) for tid in (self.deferred_tenants or "").split() if tid.isdigit()]

    def _csp_skip_reason(self, tenant, step):
        """Why `step` is not run for `tenant` in this run (False: it runs). The tenants
        step (the access check) always runs; the others need a GDAP relationship that
        has not ended and an access check that was not refused."""
        if step.code == "tenants":
            return False
        if tenant.gdap_status in ENDED_RELATIONSHIP:
            status = dict(tenant._fields["gdap_status"]._description_selection(self.env))
            return self.env._(
                "Skipped: the GDAP relationship with %(name)s is %(status)s, so Microsoft "
                "refuses Odoo's requests for this customer. Ask the customer to approve a new "
                "relationship, or set the tenant to 'Do not import'.",
                name=tenant.name,
                status=status.get(tenant.gdap_status, tenant.gdap_status).lower(),
            )
        # an outage or throttling of the check says nothing of access (the consent
        # state stays): the steps try; a refusal (consent missing or an error) skips them
        failed = tenant.consent_state == "error" and self.env["csp.sync.run.line"].search_count(
            [("run_id", "=", self.id), ("csp_tenant_id", "=", tenant.id),
             ("step", "=", "tenants"), ("state", "=", "error")]
        )  # fmt: skip
        if failed or tenant.consent_state == "missing":
            return self.env._(
                "Skipped: the access check of %(name)s failed (see the tenant's error and "
                "its Tenants line); the steps run again once it passes.",
                name=tenant.name,
            )
        return False

    def _csp_skip(self, step, tenant, reason, commit):
        self.env["csp.sync.run.line"].create(
            {"run_id": self.id, "step": step.code, "csp_tenant_id": tenant.id,
             "state": "skipped", "skipped": 1, "message": reason}
        )  # fmt: skip
        self._csp_count({"skipped": self.skipped + 1})
        return not commit or self._csp_commit()

    def _csp_step(self, step, tenant, http, commit):
        """One step (a CspStep) for one tenant, or for the connection, isolated from
        the others.

        Returns False when the run must stop here (out of time: a 'paused' line, the
        step resumes later; or its lock went to another worker), else True. A failure
        is rolled back to the savepoint, explained on the run line, the tenant (or
        connection) and its chatter, and never stops the other tenants. PostgreSQL
        refusing the step for a concurrent change (serialization failure, deadlock, lock
        not available) runs it again, from a new transaction when the run commits.
        """
        for attempt in range(1, MAX_CONCURRENCY_TRIES + 1):
            try:
                return self._csp_step_once(step, tenant, http, commit, attempt)
            except CONCURRENCY_ERRORS as exc:
                if not commit or under_test():
                    raise
                _logger.info("CSP: %s refused by PostgreSQL (%s): again", step.code, exc.pgcode)
                if not self._csp_restart_transaction(attempt):
                    return False
        # refused each time while recording it: said on the run line alone
        line = self.env["csp.sync.run.line"].create(
            {"run_id": self.id, "step": step.code, "csp_tenant_id": tenant.id if tenant else False,
             "state": "error", "error_count": 1,
             "message": self._csp_error_message(step, tenant or self.connection_id,
                                                pg_errors.SerializationFailure())}
        )  # fmt: skip
        self.write({"error_count": self.error_count + line.error_count, "current_step": False})
        return self._csp_commit()

    def _csp_restart_transaction(self, attempt):
        """After a concurrency error: roll the transaction back (all before the step
        was committed), wait a moment and take the lock again."""
        self.env.cr.rollback()
        self.env.invalidate_all()
        time.sleep(0.2 * attempt)
        return try_lock(self.env.cr, self.connection_id.id)

    def _csp_step_once(self, step, tenant, http, commit, attempt):
        line_values = {
            "run_id": self.id,
            "step": step.code,
            "csp_tenant_id": tenant.id if tenant else False,
        }
        target = tenant or self.connection_id
        clock = self.env.context.get("csp_clock")
        if clock is not None:
            clock.new_step()
        started = time.monotonic()
        if commit:
            self.write(
                {
                    "heartbeat": fields.Datetime.now(),
                    "current_step": f"{tenant.id if tenant else ''}:{step.code}",
                }
            )
            self._csp_push_progress()  # the open forms say which step is under way
            if not self._csp_commit():
                return False
        try:
            counters = self._csp_call_handler(step, tenant, target, http, commit, attempt)
            ok = self._csp_line_values(line_values, counters, step, target)
        except errors.OutOfTime as exc:
            # rolled back to the savepoint: the step starts again in the next call
            message = self._csp_out_of_time(step, tenant, exc)
            line_values.update(state="paused", out_of_time=True, message=message)
            ok = self._csp_give_up_if_stuck(line_values, step, tenant)
        except Exception as exc:  # every failure is recorded, then the run goes on
            retry = is_concurrency_error(exc) and commit and not under_test()
            if retry and attempt < MAX_CONCURRENCY_TRIES:
                raise  # _csp_step runs it again in a new transaction
            message = self._csp_error_message(step, target, exc)
            line_values.update(state="error", error_count=1, message=message)
            # never write the row whose write PostgreSQL just refused: the run line
            # says it all
            if not is_concurrency_error(exc):
                self._csp_record_error(target, step, exc, message)
            ok = True
        self.env["csp.sync.run.line"].create(line_values)
        values = {name: self[name] + (line_values.get(name) or 0) for name in COUNTERS}
        paused = line_values["state"] == "paused"
        if tenant and (paused or (out_of_time(self.env) and time.monotonic() - started > 1)):
            # this tenant took the rest of the call's time: its other steps wait for
            # the other tenants (a slow tenant holds them for one budget at most)
            deferred = [tid for tid in self._csp_deferred() if tid != tenant.id]
            values["deferred_tenants"] = " ".join(map(str, [*deferred, tenant.id]))
        if commit:
            values.update(heartbeat=fields.Datetime.now(), current_step=False, step_restarts=0)
            if not line_values.get("out_of_time"):
                self._csp_progress_made()
        self._csp_count(values)
        self._csp_push_progress()
        if commit and not self._csp_commit():
            return False
        return ok

    def _csp_line_values(self, line_values, counters, step, target):
        """The run line of a step that returned `counters`; whether the run goes on."""
        paused = counters.pop("paused", False)
        failed = counters.pop("failed", None) or []
        if "errors" in counters:  # a handler's counters name them so (CspStep)
            counters["error_count"] = counters.pop("errors")
        line_fields = self.env["csp.sync.run.line"]._fields
        line_values.update(
            {k: v for k, v in counters.items() if k in line_fields},
            state="paused" if paused else "done",
        )
        if failed:  # part of the step failed, the rest is kept (see _csp_sync_licences)
            messages = [self._csp_error_message(step, target, exc) for exc in failed]
            explained = "\n\n".join(messages)
            if counters.get("message"):
                messages.insert(0, counters["message"])
            line_values.update(
                state="error",
                error_count=max(line_values.get("error_count") or 0, len(failed)),
                message="\n\n".join(messages),
            )
            self._csp_record_error(target, step, failed[0], explained)
        return not paused

    def _csp_give_up_if_stuck(self, line_values, step, tenant):
        """A step stopped before a call it could not finish, MAX_STEP_RESTARTS times in
        this run (rolled back each time): recorded as an error, the run goes on.
        Returns whether the run goes on in this call."""
        if self._csp_out_of_time_count(step, tenant) + 1 < MAX_STEP_RESTARTS:
            return False
        line_values.update(
            state="error", error_count=1, out_of_time=False,
            message=self.env._(
                "Microsoft answered too slowly for this step to finish within a cron call "
                "(%(count)s tries); it is skipped in this run. Raise limit_time_real_cron "
                "or lower csp_connector.http_timeout if Microsoft is slow for this "
                "customer.\n\n%(detail)s",
                count=MAX_STEP_RESTARTS, detail=line_values["message"],
            ),
        )  # fmt: skip
        return True

    def _csp_call_handler(self, step, tenant, target, http, commit, attempt):
        """The handler in a savepoint; a concurrency error is tried again in the same
        transaction when the run does not commit (a test, a manual call), else raised
        to _csp_step, which starts a new transaction."""
        while True:
            try:
                with self.env.cr.savepoint():
                    counters = dict(getattr(target, step.handler)(http) or {})
                    if tenant and not counters.get("failed"):
                        tenant._csp_step_succeeded(step.code)
                return counters
            except CONCURRENCY_ERRORS:
                self.env.invalidate_all()
                if attempt >= MAX_CONCURRENCY_TRIES:
                    raise
                if commit and not under_test():
                    raise  # _csp_step: a new transaction, a new snapshot
                attempt += 1

    def _csp_error_message(self, step, target, exc):
        if isinstance(exc, errors.MicrosoftError):
            return exc.user_message()
        if isinstance(exc, UserError):
            return str(exc)
        if is_concurrency_error(exc):
            return self.env._(
                "PostgreSQL refused this step %(count)s times because another process "
                "changed the same records at the same moment (a webhook, a person, another "
                "worker); nothing of it was kept. It runs again in the next sync.",
                count=MAX_CONCURRENCY_TRIES,
            )
        _logger.exception("CSP: %s failed for %s", step.code, one_line(target.display_name))
        return self.env._("Unexpected error: %s", exc)

    def _csp_record_error(self, target, step, exc, message):
        try:  # keeping the explanation elsewhere must not stop the run
            # (no flush: the chatter's tracking is written when it always was)
            with self.env.cr.savepoint(flush=False):
                target._csp_record_step_error(step.code, exc, message)
        except Exception:  # the run line still says what failed
            self.env.invalidate_all()
            _logger.exception("CSP: could not record the failure of %s", step.code)

    def _csp_out_of_time(self, step, tenant, exc):
        return self.env._(
            "Paused: Microsoft's answer could not arrive within the time this cron call "
            "had left (%(detail)s); the step starts again in the next call%(after)s.",
            detail=str(exc),
            after=self.env._(", after the other tenants") if tenant else "",
        )

    def _csp_out_of_time_count(self, step, tenant):
        return self.env["csp.sync.run.line"].search_count(
            [("run_id", "=", self.id), ("step", "=", step.code), ("out_of_time", "=", True),
             ("csp_tenant_id", "=", tenant.id if tenant else False)]
        )  # fmt: skip

    def _csp_progress_made(self):
        """A step was committed: Odoo's cron must not take this job for one that timed
        out. Odoo counts consecutive interrupted calls of a job (ir.cron.progress
        timed_out_counter, set before the call, reset after it) and, once it reaches 3
        on a call that notified no progress, skips the next pickup as "timed out" and
        counts it toward deactivating the job. Progress notified and the counter reset
        with the step's commit: an interrupted call that made progress is not one."""
        progress_id = self.env.context.get("ir_cron_progress_id")
        if not progress_id:
            return
        progress = self.env["ir.cron.progress"].sudo().browse(progress_id)
        if progress.timed_out_counter or not progress.done:
            self.env["ir.cron"]._notify_progress(
                done=max(progress.done, 1), remaining=max(progress.remaining, 1)
            )
            progress.timed_out_counter = 0

    def _csp_commit(self):
        """Commit the work so far; the lock ends with the transaction and is taken
        again (False: another worker got it in between and goes on)."""
        if under_test():
            return True
        self.env.cr.commit()  # pylint: disable=invalid-commit
        return try_lock(self.env.cr, self.connection_id.id)

    def _csp_finish(self, failed=False):
        error_lines = self.line_ids.filtered(lambda line: line.state == "error")
        state = "failed" if failed else ("partial" if error_lines else "done")
        # each distinct error once, with the tenants it happened to
        messages = words.distinct_messages(
            (line.message, line.csp_tenant_id.name or "") for line in error_lines
        )
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
    # the installed steps, as csp.connection._csp_sync_steps() declares them: an add-on
    # adds nothing here (see _csp_step_selection and csp_sync_step.CspStep)
    step = fields.Selection(selection="_csp_step_selection", required=True)
    csp_tenant_id = fields.Many2one(
        "csp.tenant", string="Tenant", ondelete="set null", index="btree_not_null"
    )
    # paused: cut at a page boundary by the time budget, or stopped before a call it
    # could not finish (out_of_time); the step resumes. skipped: not run, see message
    state = fields.Selection(
        [("done", "Done"), ("paused", "Paused"), ("error", "Error"), ("skipped", "Skipped")],
        required=True,
    )
    out_of_time = fields.Boolean(readonly=True)
    created = fields.Integer()
    updated = fields.Integer()
    deactivated = fields.Integer()
    skipped = fields.Integer()
    error_count = fields.Integer(string="Errors")
    held = fields.Integer(string="Archive Held")
    message = fields.Text()

    @api.depends("step", "csp_tenant_id", "state", "run_id")
    def _compute_display_name(self):
        steps = dict(self._csp_step_selection())
        states = dict(self._fields["state"]._description_selection(self.env))
        for line in self:
            where = line.csp_tenant_id.name or line.run_id.connection_id.name or ""
            step = steps.get(line.step, line.step or "")
            line.display_name = f"{step}: {where} ({states.get(line.state, '')})"

    @api.model
    def _csp_step_selection(self):
        """[(code, label)] of the installed steps, in the order they run: derived from
        ``csp.connection._csp_sync_steps()``, so an add-on's step is listed (grouped,
        filtered, labelled) once its add-on is installed, with nothing declared here."""
        steps = sorted(self.env["csp.connection"]._csp_sync_steps(), key=lambda s: s.sequence)
        return list({step.code: step.label for step in steps}.items())

    def _register_hook(self):
        super()._register_hook()
        self._csp_drop_uninstalled_steps()

    @api.model
    def _csp_drop_uninstalled_steps(self):
        """The lines of a step whose add-on was uninstalled go with it, as they would
        with a ``selection_add``'s ``ondelete="cascade"``: no line is left whose step
        the selection no longer lists. Called each time the registry is loaded (after
        an install, an upgrade or an uninstall): the installed steps' codes are kept in
        a system parameter, and the lines of a code that left it since are deleted.
        Nothing is deleted while an installed module is not loaded (its code missing
        from the addons path): its steps come back with it."""
        codes = [code for code, _label in self._csp_step_selection()]
        Param = self.env["ir.config_parameter"].sudo()
        known = (Param.get_param(STEP_CODES_KEY) or "").split()
        if known == codes:
            return
        loaded = list(self.pool._init_modules)
        Module = self.env["ir.module.module"].sudo()
        if Module.search_count([("state", "=", "installed"), ("name", "not in", loaded)]):
            return
        gone = tuple(code for code in known if code not in codes)
        if gone:
            self.flush_model()
            self.env.cr.execute("DELETE FROM csp_sync_run_line WHERE step IN %s", [gone])
            self.env.invalidate_all()
            _logger.info("CSP: run lines of uninstalled steps deleted: %s", ", ".join(gone))
        Param.set_param(STEP_CODES_KEY, " ".join(codes))
