# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A run through the job queue, against the sandbox: the jobs are stored by queue_job
as in production and performed here one after another, as the job runner would hand
them to workers (waiting dependencies, retries postponed, a killed job requeued)."""

from unittest.mock import patch

from odoo import sql_db
from odoo.exceptions import AccessError
from odoo.sql_db import Savepoint
from odoo.tests import new_test_user

from odoo.addons.csp_connector.importers.users import UserImporter
from odoo.addons.csp_connector.models.csp_guard import code_env
from odoo.addons.csp_connector.sync.run_lock import step_namespace, try_lock
from odoo.addons.csp_connector.tests.common import CspSandboxCase
from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.job import Job

from ..models import csp_sync_run as queue_run

STEPS = ("tenants", "users")


class WorkerKilled(BaseException):
    """The worker process stopped mid-job (a time limit, an out-of-memory kill)."""


class JobRunner:
    """Performs the stored jobs the job runner would start, in the test's transaction:
    a retried job is postponed (its delay noted, then taken at once: time passes), a
    job whose worker was killed is requeued, a done job releases its dependents."""

    def __init__(self, env):
        self.env = env
        self.postponed = []  # (identity key, seconds, why)

    def ready(self):
        return self.env["queue.job"].search(
            [("state", "=", "pending"), ("identity_key", "=like", "csp-%")], order="id"
        )

    def perform(self, record):
        job = Job.load(self.env, record.uuid)
        job.set_started()
        job.store()
        try:
            job.perform()
        except RetryableJobError as exc:
            job.postpone(result=str(exc), seconds=exc.seconds)
            job.set_pending(reset_retry=False)
            job.store()
            self.env.flush_all()
            self.postponed.append((record.identity_key, exc.seconds, str(exc)))
            return "postponed"
        except WorkerKilled:
            # queue_job's runner finds the job dead (its lock gone) and requeues it
            job.set_pending(reset_retry=False)
            job.store()
            return "killed"
        job.set_done()
        job.store()
        self.env.flush_all()  # the dependents' release is one SQL query on the stored states
        job.enqueue_waiting()
        return "done"

    def run(self, rounds=50):
        for _ in range(rounds):
            ready = self.ready()
            if not ready:
                return
            for record in ready:
                self.perform(record)


class TestQueue(CspSandboxCase):
    sandbox_tenants = 6

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_customer_tenants()
        cls.t1.partner_id = cls.customer
        cls.env["csp.site.mapping"].create(
            {"connection_id": cls.connection.id, "kind": "site",
             "customer_id": cls.customer.id, "site_id": cls.customer.id}
        )  # fmt: skip
        cls.connection.sudo().write({"queue_jobs": True, "queue_capacity": 2})

    def setUp(self):
        super().setUp()
        self.addCleanup(self.sandbox.control, "DELETE", "faults")
        self.runner = JobRunner(self.env)

    # -- helpers ---------------------------------------------------------------------

    def start(self, steps=STEPS):
        """A scheduled run, as the integrator cron starts it: its jobs are stored."""
        return self.connection._csp_sync(trigger="cron", modules=list(steps))

    def jobs(self, run):
        return self.env["queue.job"].search([("identity_key", "=like", f"csp-run:{run.id}:%")])

    def job_of(self, run, tenant, code):
        return self.jobs(run).filtered(
            lambda job: job.identity_key == f"csp-run:{run.id}:{tenant.id}:{code}"
        )

    def written(self):
        """What a run wrote a user would see: each tenant's users, their contacts."""
        bindings = (
            self.env["csp.user.binding"]
            .with_context(active_test=False)
            .search([("connection_id", "=", self.connection.id)])
        )
        return sorted(
            (b.csp_tenant_id.tenant_id, b.microsoft_id, b.partner_id.name or "", b.removed)
            for b in bindings
        )

    def lines(self, run):
        return sorted(
            (line.csp_tenant_id.tenant_id or "", line.step, line.state, line.created,
             line.updated, line.error_count)
            for line in run.line_ids
        )  # fmt: skip

    def users_lines(self, run, tenant):
        return run.line_ids.filtered(
            lambda line: line.csp_tenant_id == tenant and line.step == "users"
        ).sorted("id")

    # -- the same records as a serial run --------------------------------------------------

    def test_a_run_through_jobs_writes_what_a_serial_run_writes(self):
        with self.env.cr.savepoint() as serial_point:
            self.connection.queue_jobs = False
            serial = self.start()
            # two tenants of the sandbox never gave consent: explained, as in any run
            self.assertEqual(serial.state, "partial", serial.message)
            self.assertFalse(serial.queued)
            serial_written, serial_lines = self.written(), self.lines(serial)
            serial_counts = (serial.created, serial.updated, serial.error_count)
            serial_state = serial.state
            serial_point.rollback()
        self.env.invalidate_all()
        self.connection.queue_jobs = True
        self.assertFalse(self.written(), "the serial run was rolled back")

        run = self.start()
        self.assertTrue(run.queued)
        self.assertEqual(run.state, "running")
        jobs = self.jobs(run)
        self.assertEqual(len(jobs), 1, "the connection's steps first, as one job")
        self.assertTrue(run._csp_dispatched(), "the cron leaves a queued run to its jobs")
        self.assertEqual(self.start(), run, "the cron's next call creates no job twice")
        self.assertEqual(len(self.jobs(run)), 1)

        self.runner.run()
        self.assertEqual(run.state, serial_state, run.message)
        tenants = self.connection.tenant_ids.filtered(lambda t: not t.do_not_import)
        jobs = self.jobs(run)
        self.assertEqual(len(jobs), 1 + 2 * len(tenants), "one job per tenant and step")
        self.assertEqual(set(jobs.mapped("state")), {"done"})
        self.assertEqual(set(jobs.mapped("channel")), {f"root.csp.connection_{self.connection.id}"})
        self.assertEqual(self.written(), serial_written)
        self.assertEqual(self.lines(run), serial_lines)
        self.assertEqual((run.created, run.updated, run.error_count), serial_counts)
        self.assertGreater(run.created, 0)

        # a second run through jobs: nothing changed, nothing written
        again = self.start()
        self.runner.run()
        self.assertEqual(again.state, serial_state, again.message)
        self.assertEqual((again.created, again.updated), (0, 0))
        self.assertEqual(self.written(), serial_written)

    def test_capacity_makes_lanes_and_a_tenant_keeps_its_order(self):
        run = self.start()
        self.runner.perform(self.jobs(run))  # the connection's job deals the lanes
        tenant_jobs = self.jobs(run) - self.jobs(run).filtered(
            lambda job: job.identity_key.endswith(":connection:tenants")
        )
        ready = tenant_jobs.filtered(lambda job: job.state == "pending")
        self.assertEqual(len(ready), 2, "at most the capacity at once: two lanes")
        self.assertEqual(
            set(ready.mapped(lambda job: job.identity_key.rsplit(":", 1)[1])), {"tenants"}
        )
        # a tenant's users wait for its access check
        users = self.job_of(run, self.t1, "users")
        self.assertEqual(users.state, "wait_dependencies")

    # -- failures -----------------------------------------------------------------------------

    def test_a_throttled_tenant_retries_then_explains_while_the_others_finish(self):
        self.sandbox.fault(service="graph", path="/users", tenant=self.t1.tenant_id, status=429,
                           retry_after=200)  # fmt: skip
        run = self.start(["users"])
        self.runner.run()
        self.assertEqual(run.state, "partial", run.message)
        job = self.job_of(run, self.t1, "users")
        tries = [entry for entry in self.runner.postponed if entry[0] == job.identity_key]
        self.assertEqual(len(tries), 4, "five tries in all, the last one records the error")
        self.assertEqual({seconds for _key, seconds, _why in tries}, {200}, "Retry-After")
        self.assertEqual(job.state, "done")
        line = self.users_lines(run, self.t1)
        self.assertEqual(line.mapped("state"), ["error"], "one line: the retries left none")
        self.assertIn("throttling", line.message)
        self.assertTrue(self.t1.last_error)
        others = run.line_ids.filtered(lambda line: line.csp_tenant_id != self.t1)
        self.assertTrue(others)
        self.assertLessEqual(set(others.mapped("state")), {"done", "skipped"})
        self.assertIn("done", others.mapped("state"))
        self.assertEqual(run.error_count, 1)
        self.assertIn("throttling", run.message)

    def test_a_refusal_is_explained_at_once_without_retry(self):
        self.sandbox.fault(service="graph", path="/users", tenant=self.t1.tenant_id, status=403)
        run = self.start()
        self.runner.run()
        self.assertEqual(run.state, "partial", run.message)
        self.assertFalse(
            [entry for entry in self.runner.postponed if entry[0].endswith(":users")],
            "a refusal is no transient fault",
        )
        self.assertEqual(self.users_lines(run, self.t1).state, "error")

    # -- the lock per tenant and step ---------------------------------------------------------

    def test_two_executions_of_one_tenant_step_never_run_at_once(self):
        run = self.start(["users"])
        db = sql_db.db_connect(self.env.cr.dbname)
        with db.cursor() as other:
            # another server runs t1's users step: it holds the step's lock
            self.assertTrue(try_lock(other, self.t1.id, step_namespace("tenant:users")))
            self.runner.run(rounds=4)
            job = self.job_of(run, self.t1, "users")
            self.assertEqual(job.state, "pending", "refused, to be tried again later")
            self.assertEqual(job.retry, 0, "a refusal by the lock is no failed try")
            self.assertIn("another worker", job.result)
            self.assertFalse(self.users_lines(run, self.t1), "it did not run")
            self.assertEqual(run.state, "running")
            other.rollback()  # the other server's step ended
        self.runner.run()
        self.assertEqual(run.state, "done", run.message)
        self.assertEqual(self.users_lines(run, self.t1).mapped("state"), ["done"])
        # a job performed again (a duplicate delivery) writes nothing twice
        before = self.lines(run)
        run._csp_job_step(self.t1.id, "users")
        self.assertEqual(self.lines(run), before)

    # -- cancel -------------------------------------------------------------------------------

    def test_a_manager_cancels_a_run_and_its_waiting_jobs_stop(self):
        run = self.start()
        self.runner.perform(self.jobs(run))  # the connection's job: the lanes are dealt
        waiting = self.jobs(run).filtered(lambda job: job.state != "done")
        self.assertTrue(waiting)
        viewer = new_test_user(self.env, login="csp_view", groups="csp_connector.group_csp_user")
        with self.assertRaises(AccessError):
            run.with_user(viewer).action_cancel_run()
        self.assertEqual(run.state, "running")

        self.assertTrue(run.with_user(self.manager).action_cancel_run())
        self.assertEqual(run.state, "cancelled")
        self.assertIn("Cancelled by", run.message)
        self.assertEqual(set(waiting.mapped("state")), {"cancelled"})
        self.runner.run()
        self.assertFalse(run.line_ids.filtered("csp_tenant_id"), "no tenant step ran")
        # a job already handed to a worker finds its run ended and does nothing
        self.assertIn("ended", run._csp_job_step(self.t1.id, "users"))
        self.assertFalse(self.users_lines(run, self.t1))

    def test_a_running_step_stops_at_its_next_page_once_cancelled(self):
        self.env["ir.config_parameter"].sudo().set_param("csp_connector.users_page_size", "3")
        run = self.start(["users"])

        def still_running(run_):
            return False  # cancelled as the job started

        with (
            patch.object(queue_run, "CANCEL_CHECK_SECONDS", 0),
            patch.object(type(run), "_csp_still_running", still_running),
        ):
            outcome = run._csp_job_step(self.t1.id, "users")
        self.assertIn("cancelled", outcome)
        lines = self.users_lines(run, self.t1)
        self.assertEqual(lines.mapped("state"), ["paused"], "stopped at a page boundary")
        self.assertEqual(lines.created, 3, "one page of three users")
        self.assertTrue(self.t1._csp_round_get("users"), "its round is kept to resume")

    # -- a killed job -----------------------------------------------------------------------

    def test_a_killed_job_resumes_from_its_round_without_duplicates(self):
        self.env["ir.config_parameter"].sudo().set_param("csp_connector.users_page_size", "3")
        with self.env.cr.savepoint() as serial_point:  # what a serial run writes
            self.connection.queue_jobs = False
            self.start(["users"])
            serial_written = self.written()
            serial_point.rollback()
        self.env.invalidate_all()
        self.connection.queue_jobs = True
        run = self.start(["users"])
        commits = []
        kept = []

        def checkpoint(run_, key, namespace):
            commits.append(key)
            if len(commits) == 1:  # the first slice is committed
                run_.env.flush_all()
                kept.append(Savepoint(run_.env.cr))
                return True
            # the worker dies before its second commit: that slice's work is lost
            kept[0].rollback()
            run_.env.invalidate_all()
            raise WorkerKilled()

        importer_time = patch.object(UserImporter, "out_of_time", return_value=True)
        with importer_time, patch.object(type(run), "_csp_job_checkpoint", checkpoint):
            outcomes = [self.runner.perform(job) for job in self.runner.ready()]
        self.assertEqual(outcomes.count("killed"), 1)
        killed_tenant = self.env["csp.tenant"].browse(commits[0])
        self.assertEqual(self.users_lines(run, killed_tenant).mapped("state"), ["paused"])
        round_state = killed_tenant._csp_round_get("users")
        self.assertTrue(round_state.get("next"), "the kept round says where to go on")

        # requeued: it goes on from the kept page, with the same proof of completeness
        self.runner.run()
        self.assertEqual(run.state, "done", run.message)
        lines = self.users_lines(run, killed_tenant)
        self.assertEqual(lines.mapped("state"), ["paused", "done"])
        bindings = self.env["csp.user.binding"].search([("csp_tenant_id", "=", killed_tenant.id)])
        self.assertEqual(len(bindings), len(set(bindings.mapped("microsoft_id"))), "no duplicate")
        self.assertEqual(sum(lines.mapped("created")), len(bindings))
        self.assertEqual(self.written(), serial_written, "nothing lost, nothing twice")
        self.assertFalse(killed_tenant._csp_round_get("users"))

    # -- webhooks -----------------------------------------------------------------------------

    def test_a_webhooks_re_read_is_a_job(self):
        self.connection.licence_import_type = "subscriptions"
        Event = self.env["csp.webhook.event"]
        event = code_env(Event).create(
            {"connection_id": self.connection.id, "name": "subscription-updated",
             "csp_tenant_id": self.t1.id, "customer_tenant": self.t1.tenant_id,
             "digest": "queue-test-1"}
        )  # fmt: skip
        Event._cron_apply_webhook_events()
        self.assertEqual(event.state, "queued", "handed to a job, not re-read in the cron")
        job = self.env["queue.job"].search(
            [("identity_key", "=", f"csp-events:{self.t1.id}:{event.id}")]
        )
        self.assertEqual(job.channel, f"root.csp.connection_{self.connection.id}")
        Event._cron_apply_webhook_events()
        self.assertEqual(
            len(self.env["queue.job"].search([("identity_key", "=like", "csp-events:%")])), 1
        )
        self.runner.run()
        self.assertEqual(event.state, "done", event.message)
