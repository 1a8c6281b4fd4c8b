# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A run through the job queue: one job per tenant and step, in lanes.

The core calls ``_csp_dispatch_steps`` when a run starts or is resumed by the cron;
here it creates the jobs instead of running the steps: the connection's steps as one
job, which, once done, deals the tenants' steps to the connection's lanes (see
sync/jobs.py). Each job runs its step through the core's ``_csp_step`` (the same
handler, savepoint, run line and explained error as a serial run), under a lock of
its tenant and step; the last job to end closes the run.
"""

import logging
import time

from psycopg2 import errors as pg_errors

from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.csp_connector.microsoft.http import Clock
from odoo.addons.csp_connector.models.csp_guard import code_env
from odoo.addons.csp_connector.models.testing import under_test
from odoo.addons.csp_connector.sync.run_lock import step_namespace, try_lock
from odoo.addons.queue_job.delay import chain
from odoo.addons.queue_job.exception import RetryableJobError

from ..sync import jobs as rules

_logger = logging.getLogger(__name__)

ACTIVE_JOB_STATES = ("wait_dependencies", "pending", "enqueued", "started")
WAITING_JOB_STATES = ("wait_dependencies", "pending", "enqueued")
SLICE_KEY = "csp_connector_queue.slice_seconds"
CANCEL_CHECK_SECONDS = 2.0  # how often a running job asks whether its run was cancelled


class JobClock(Clock):
    """A job's slice of work: spent after its seconds (the step pauses at a page
    boundary, its round kept, and the job goes on in a new transaction), or as soon
    as the run no longer runs (cancelled: the step stops at its next page)."""

    def __init__(self, seconds, still_running):
        super().__init__(soft=time.monotonic() + seconds)
        self._still_running = still_running
        self._checked = time.monotonic()
        self.cancelled = False

    def spent(self):
        if super().spent():
            return True
        now = time.monotonic()
        if not self.cancelled and now - self._checked >= CANCEL_CHECK_SECONDS:
            self._checked = now
            self.cancelled = not self._still_running()
        return self.cancelled


class CspSyncRun(models.Model):
    _inherit = "csp.sync.run"

    state = fields.Selection(
        selection_add=[("cancelled", "Cancelled")],
        ondelete={"cancelled": lambda runs: code_env(runs).write({"state": "failed"})},
    )
    queued = fields.Boolean(
        string="Through the Job Queue",
        readonly=True,
        help="The run's steps run as jobs (one per tenant and step), in parallel.",
    )

    @api.model
    def _csp_code_only_fields(self):
        return super()._csp_code_only_fields() | {"queued"}

    # -- the core's seams ------------------------------------------------------------

    def _csp_dispatch_steps(self, steps):
        if self.env.context.get("csp_job"):
            return super()._csp_dispatch_steps(steps)
        if not (self.queued or self.connection_id.queue_jobs):
            return super()._csp_dispatch_steps(steps)
        if self._csp_jobs(ACTIVE_JOB_STATES):
            return True  # its jobs carry it
        # first call, or every job ended without closing the run (a job failed for
        # good, or was cancelled by hand in the job queue): what is left is dealt again
        if not self.queued:
            code_env(self).queued = True
        connection_codes = self._csp_pending_connection_codes(steps)
        if connection_codes:
            delayable = self._csp_delayable(False, "connection", connection_codes)
            delayable._csp_job_connection().delay()
        else:
            self._csp_dispatch_tenants()
        return True

    def _csp_dispatched(self):
        return bool(self.queued and self._csp_jobs(ACTIVE_JOB_STATES)) or super()._csp_dispatched()

    def _csp_count(self, values):
        if self.env.context.get("csp_job"):
            # jobs of one run end side by side: the run's sums are the lines', added
            # up by _csp_job_close under the run's row lock
            values = {k: v for k, v in values.items() if k not in self._csp_counter_names()}
            values.pop("deferred_tenants", None)  # a job does one step: nothing to defer
            if not values:
                return
        super()._csp_count(values)

    # -- dispatch ----------------------------------------------------------------------

    def _csp_counter_names(self):
        """The counters a run sums from its lines (the integer fields both have)."""
        lines = self.env["csp.sync.run.line"]._fields
        return [
            name
            for name, field in self._fields.items()
            if field.type == "integer" and field.store and name in lines
            and lines[name].type == "integer" and lines[name].store
        ]  # fmt: skip

    def _csp_steps(self):
        return self.connection_id._csp_steps_to_run((self.steps or "").split(","))

    def _csp_pending_connection_codes(self, steps=None):
        steps = self._csp_steps() if steps is None else steps
        finished = {
            line.step for line in self.line_ids if not line.csp_tenant_id and line.state != "paused"
        }
        return [s.code for s in steps if s.scope == "connection" and s.code not in finished]

    def _csp_identity(self, tenant_id, code):
        return f"csp-run:{self.id}:{tenant_id or 'connection'}:{code}"

    def _csp_jobs(self, states):
        """This run's jobs in `states` (sudo: a CSP manager has no rights on the queue)."""
        return (
            self.env["queue.job"]
            .sudo()
            .search([("identity_key", "=like", f"csp-run:{self.id}:%"), ("state", "in", states)])
        )

    def _csp_delayable(self, tenant_id, code, label=None):
        tenant = self.env["csp.tenant"].browse(tenant_id) if tenant_id else None
        what = label if isinstance(label, list) else [code]
        return self.delayable(
            channel=rules.channel_name(self.connection_id.id),
            description=self.env._(
                "Microsoft CSP sync of %(target)s: %(steps)s",
                target=tenant.display_name if tenant else self.connection_id.display_name,
                steps=", ".join(what),
            ),
            identity_key=self._csp_identity(tenant_id, code),
            max_retries=rules.MAX_TRIES,
        )

    def _csp_dispatch_tenants(self):
        """The tenants' pending steps as jobs, dealt to the connection's lanes (one
        chain each: at most its capacity at once); the run ends at once when there is
        none."""
        tenant_steps = [step for step in self._csp_steps() if step.scope == "tenant"]
        pending = [
            (tenant_id, [step.code for step in todo])
            for tenant_id, todo in self._csp_pending(tenant_steps)
        ]
        if not pending:
            self._csp_job_close()
            return 0
        count = 0
        for lane in rules.lanes(pending, self.connection_id.queue_capacity):
            jobs = [self._csp_delayable(tid, code)._csp_job_step(tid, code) for tid, code in lane]
            chain(*jobs).delay()
            count += len(lane)
        return count

    # -- the jobs ----------------------------------------------------------------------

    def _csp_job_connection(self):
        """Job: the connection's steps of this run (tenant discovery), then the
        tenants' steps dealt to the lanes."""
        return self._csp_in_job_cursor("_csp_job_connection_do")

    def _csp_job_step(self, tenant_id, code):
        """Job: one tenant's step of this run."""
        return self._csp_in_job_cursor("_csp_job_step_do", tenant_id, code)

    def _csp_in_job_cursor(self, method, *args):
        """Run `method` in a cursor of its own, which it may commit (between the slices
        of a long step; the job's own cursor is queue_job's, never committed by a job);
        in tests, in the test's."""
        if under_test():
            return getattr(self._csp_job_self(), method)(*args)
        with self.env.registry.cursor() as cr:
            return getattr(self.with_env(self.env(cr=cr))._csp_job_self(), method)(*args)

    def _csp_job_self(self):
        return code_env(self).with_context(csp_job=True, csp_run_memo={})

    def _csp_job_connection_do(self):
        run = self.exists()
        if not run or run.state != "running":
            return "The run had ended: nothing to do."
        run.connection_id._csp_check_can_sync()
        steps = [s for s in run._csp_steps() if s.scope == "connection"]
        for step in steps:
            if step.code in run._csp_pending_connection_codes():
                outcome = run._csp_job_run_step(step, None)
                if outcome:
                    return outcome
        count = run._csp_dispatch_tenants()
        return f"Connection steps done; {count} tenant steps queued."

    def _csp_job_step_do(self, tenant_id, code):
        run = self.exists()
        if not run or run.state != "running":
            return "The run had ended: nothing to do."
        run.connection_id._csp_check_can_sync()
        tenant = self.env["csp.tenant"].browse(tenant_id).exists()
        step = next((s for s in run._csp_steps() if s.code == code and s.scope == "tenant"), None)
        if tenant and step:
            outcome = run._csp_job_run_step(step, tenant)
            if outcome:
                return outcome
        run._csp_job_close()
        return f"{code} of tenant {tenant_id} done."

    def _csp_job_run_step(self, step, tenant):
        """Run `step` (of `tenant`, or of the connection) under its lock, in slices,
        unless a line says it is done already (a job run twice writes nothing twice).
        Returns why it stopped early (cancelled), else None. Raises RetryableJobError
        when another worker holds the step, or for a transient failure with tries left.
        """
        key = tenant.id if tenant else self.connection_id.id
        namespace = step_namespace(f"{step.scope}:{step.code}")
        if not try_lock(self.env.cr, key, namespace):
            raise RetryableJobError(
                self.env._(
                    "%(step)s of %(target)s is being run by another worker: tried again later.",
                    step=step.label,
                    target=(tenant or self.connection_id).display_name,
                ),
                seconds=rules.LOCKED_RETRY,
                ignore_retry=True,
            )
        while True:
            if self._csp_step_finished(step, tenant):
                return None
            reason = tenant and self._csp_skip_reason(tenant, step)
            if reason:
                self._csp_skip(step, tenant, reason, commit=False)
                return None
            clock = JobClock(self._csp_slice_seconds(), self._csp_still_running)
            self._csp_job_slice(step, tenant, clock)
            if clock.cancelled:
                return self.env._("The run was cancelled: the step stopped at a page boundary.")
            if self._csp_step_finished(step, tenant):
                return None
            # paused at a page boundary (its round kept): commit it, go on
            if not self._csp_job_checkpoint(key, namespace):
                raise RetryableJobError(
                    "The step's lock went to another worker between two slices.",
                    seconds=rules.LOCKED_RETRY,
                    ignore_retry=True,
                )

    def _csp_job_slice(self, step, tenant, clock):
        """One slice of a step through the core's _csp_step; a transient failure with
        tries left is rolled back and retried later (Retry-After, else a backoff)."""
        connection = self.connection_id
        failures = []
        run = self.with_context(csp_clock=clock, csp_job_failures=failures)
        recorder = self.env["csp.request.log"]._csp_recorder(connection)
        http = connection._csp_http(recorder)
        http.clock = clock
        tenant = tenant and tenant.with_env(run.env)
        try:
            with self.env.cr.savepoint():
                run._csp_step(step, tenant, http, commit=False)
                transient = [error for error in failures if rules.is_transient(error)]
                tries, max_tries = self._csp_job_tries()
                if transient and tries < max_tries:
                    seconds = rules.retry_seconds(transient[0], tries)
                    _logger.info(
                        "CSP: %s of %s failed (%s): try %s of %s in %s s",
                        step.code, tenant.id if tenant else "connection",
                        type(transient[0]).__name__, tries + 1, max_tries, seconds,
                    )  # fmt: skip
                    raise RetryableJobError(str(transient[0]), seconds=seconds)
        finally:
            recorder.flush()

    def _csp_job_tries(self):
        """(this try, the most tries) of the job running now; (1, 1) outside a job."""
        uuid = self.env.context.get("job_uuid")
        job = uuid and self.env["queue.job"].sudo().search([("uuid", "=", uuid)], limit=1)
        if not job:
            return 1, 1
        return job.retry + 1, job.max_retries or rules.MAX_TRIES

    def _csp_step_finished(self, step, tenant):
        return bool(
            self.env["csp.sync.run.line"].search_count(
                [("run_id", "=", self.id), ("step", "=", step.code),
                 ("csp_tenant_id", "=", tenant.id if tenant else False),
                 ("state", "!=", "paused")], limit=1,
            )
        )  # fmt: skip

    def _csp_slice_seconds(self):
        return self.env["ir.config_parameter"]._csp_int(SLICE_KEY, 60, low=5)

    def _csp_still_running(self):
        if under_test():
            self.invalidate_recordset(["state"])
            return self.state == "running"
        with self.env.registry.cursor() as cr:
            cr.execute("SELECT state FROM csp_sync_run WHERE id = %s", [self.id])
            row = cr.fetchone()
        return bool(row) and row[0] == "running"

    def _csp_job_checkpoint(self, key, namespace):
        """Commit a slice's work (its paused line, the tenant's round) and take the
        step's lock again; in tests, nothing to commit."""
        if under_test():
            return True
        self.env.cr.commit()  # pylint: disable=invalid-commit
        return try_lock(self.env.cr, key, namespace)

    def _csp_job_close(self):
        """After a job's step: when no step of the run is left, the run's sums (from
        its lines) and its end (done or partial). In a transaction of its own that sees
        every job committed before, under the run's row lock (FOR NO KEY UPDATE: the
        finishers wait for each other, never for a job writing its line): of two jobs
        ending at once, the later one sees the other's line. The run row is written only
        at the end: a write while other jobs add lines would make PostgreSQL refuse
        their lines (their snapshot's run row changed)."""
        if not under_test():
            self.env.cr.commit()  # pylint: disable=invalid-commit
            self.env.cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            try:
                self.env.cr.execute(
                    "SELECT state FROM csp_sync_run WHERE id = %s FOR NO KEY UPDATE", [self.id]
                )
            except pg_errors.SerializationFailure:
                self.env.cr.rollback()
                return
            self.env.invalidate_all()
        if self.state != "running":
            return
        tenant_steps = [step for step in self._csp_steps() if step.scope == "tenant"]
        if self._csp_pending_connection_codes() or self._csp_pending(tenant_steps):
            return
        names = self._csp_counter_names()
        groups = self.env["csp.sync.run.line"]._read_group(
            [("run_id", "=", self.id)], aggregates=[f"{name}:sum" for name in names]
        )
        values = dict(zip(names, groups[0], strict=True)) if groups else {}
        code_env(self).write({name: value or 0 for name, value in values.items()})
        self._csp_finish()

    # -- cancel ----------------------------------------------------------------------

    def action_cancel_run(self):
        """Cancel a run through the job queue: its waiting jobs are cancelled, the
        running ones stop at their next page boundary (the step resumes in the next
        run from where it stopped); the run ends at once, as cancelled."""
        for run in self:
            run.connection_id._csp_check_can_sync()
            if run.state != "running":
                raise UserError(self.env._("This run has already ended: nothing to cancel."))
            waiting = run._csp_jobs(WAITING_JOB_STATES)
            running = run._csp_jobs(("started",))
            waiting.button_cancelled()
            closing = code_env(run)
            closing._csp_finish()
            note = self.env._(
                "Cancelled by %(user)s: %(waiting)s waiting jobs cancelled, %(running)s "
                "running ones stop at their next page boundary. The next run goes on "
                "from where each step stopped.",
                user=self.env.user.name,
                waiting=len(waiting),
                running=len(running),
            )
            closing.write(
                {
                    "state": "cancelled",
                    "message": "\n\n".join(filter(None, [note, closing.message])),
                }
            )
        return True
