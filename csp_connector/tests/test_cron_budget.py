# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The integrator's cron calls: a budget measured from what the worker has left, calls
that stop before the worker's limit, Odoo's timed-out counter, slow tenants deferred,
concurrent changes retried, the licences step's two halves, tenants whose relationship
ended or whose access was refused."""

import time
from contextlib import closing, contextmanager
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, sql_db
from odoo.service import server as odoo_server
from odoo.tests import tagged

from ..models import csp_sync_run
from ..sync import budget
from .common import CspSandboxCase

ASHFORD = "7af027bc-08d6-4f57-9a71-144896c8da19"  # seed 1: reseller, consent, subscriptions


@contextmanager
def worker(limit, pinged_ago):
    """Odoo's prefork server as a cron worker sees it: its last watchdog ping
    `pinged_ago` seconds ago, killed `limit` seconds after it."""
    prefork = odoo_server.PreforkServer.__new__(odoo_server.PreforkServer)
    prefork.pid = -1  # the parent: not this process
    cron_worker = type("WorkerCron", (), {"watchdog_timeout": limit})()
    clock = {"worker": cron_worker, "at": time.monotonic() - pinged_ago}
    with (
        patch.object(odoo_server, "server", prefork),
        patch.dict(budget._WORKER_CLOCK, clock),
    ):
        yield


@tagged("post_install", "-at_install")
class TestCronBudget(CspSandboxCase):
    sandbox_tenants = 6

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_customer_tenants()
        cls.map_users_to(cls.t1, cls.customer)

    def setUp(self):
        super().setUp()
        self.addCleanup(self.sandbox.control, "DELETE", "faults")
        self.cron = self.env.ref("csp_connector.ir_cron_csp_integrator")

    def queue(self, modules=("tenants", "users")):
        action = self.connection.action_sync_now()
        run = self.env["csp.sync.run"].browse(action["res_id"])
        run.steps = ",".join(modules)
        return run

    def integrator(self, **context):
        return self.env["csp.connection"].with_context(**context)._cron_run_integrator()

    def early_tenant(self):
        """A tenant Graph answers for, with other tenants after it in a run."""
        tenants = self.env["csp.tenant"].search(
            [("connection_id", "=", self.connection.id), ("do_not_import", "=", False)]
        )
        return tenants[:-1].filtered(lambda t: t.consent_state == "granted")[:1]

    # -- the budget: from the worker's last watchdog ping ---------------------------

    def test_the_budget_is_what_the_worker_has_left_not_the_jobs_start(self):
        Connection = self.env["csp.connection"]
        with worker(120, 0):  # woken at once ("Sync now"): the whole limit
            clock = Connection._csp_cron_window()["clock"]
        now = time.monotonic()
        self.assertAlmostEqual(clock.hard - now, 120 - 12, delta=1)
        self.assertAlmostEqual(clock.soft - now, 0.6 * 108, delta=1)
        # picked up at the worker's idle poll: it pinged 69 s before the job started
        with worker(120, 69):
            clock = Connection._csp_cron_window()["clock"]
        now = time.monotonic()
        self.assertLessEqual(clock.hard - now, 120 - 69 - 12 + 0.5, "killed at ping + 120 s")
        self.assertLessEqual(clock.soft - now, 0.6 * (120 - 69 - 12) + 0.5)
        # a worker whose ping is unknown (the registry loaded after it): nothing starts
        with worker(120, 0), patch.dict(budget._WORKER_CLOCK, {"worker": None}):
            run = self.queue(["tenants"])
            self.integrator()
        self.assertEqual(run.state, "running")
        self.assertFalse(run.line_ids, "waits for the next call, after the next ping")
        self.integrator()
        self.assertIn(run.state, ("done", "partial"))

    def test_a_call_that_cannot_end_before_the_workers_limit_pauses_its_step(self):
        run = self.queue(["users"])
        self.sandbox.fault(service="graph", tenant=self.t1.tenant_id, delay=4)
        Tenant = type(self.env["csp.tenant"])
        users = Tenant._csp_sync_users
        seen = []

        def only_t1(tenant, http):
            seen.append(tenant)
            return users(tenant, http) if tenant == self.t1 else {"skipped": 1}

        started = time.monotonic()
        # 15.5 s left, 12 s kept in reserve: every call must end within 3.5 s
        with worker(120, 120 - 15.5), patch.object(Tenant, "_csp_sync_users", only_t1):
            self.integrator()
        took = time.monotonic() - started
        self.assertLess(took, 3.5 + 1, "no call waited past the worker's time")
        line = run.line_ids.filtered(lambda ln: ln.csp_tenant_id == self.t1)
        self.assertEqual((line.state, line.out_of_time), ("paused", True), line.message)
        self.assertIn("could not arrive within the time", line.message)
        self.assertFalse(self.t1.last_error, "a pause is not an error")
        self.assertEqual(run.state, "running")
        self.assertIn(str(self.t1.id), run.deferred_tenants or "", "its turn comes last")
        # a call with time enough finishes it
        self.sandbox.control("DELETE", "faults")
        for _call in range(5):
            if run.state != "running":
                break
            self.integrator()
        self.assertIn(run.state, ("done", "partial"), run.message)
        done = run.line_ids.filtered(lambda ln: ln.csp_tenant_id == self.t1 and ln.state == "done")
        self.assertEqual(len(done), 1)

    # -- Odoo's consecutive time-out rule -------------------------------------------------

    def test_a_call_that_made_progress_is_not_counted_as_timed_out_by_odoo(self):
        run = self.queue(["tenants"])
        # the fourth call after three interrupted ones: Odoo wrote timed_out_counter 3
        # before calling it; were it interrupted now, the next pickup would be skipped
        # as "timed out" and count toward deactivating the job
        _cron, progress = self.cron._add_progress(timed_out_counter=2)
        self.assertEqual(progress.timed_out_counter, 3)
        Connection = type(self.env["csp.connection"])
        Tenant = type(self.env["csp.tenant"])
        discover, access = Connection._csp_sync_tenants, Tenant._csp_sync_access
        seen = []

        def snapshot():
            # what Odoo would read if the worker were killed here (same transaction)
            self.env.cr.execute(
                "SELECT timed_out_counter, done FROM ir_cron_progress WHERE id = %s",
                [progress.id],
            )
            seen.append(self.env.cr.fetchone())

        def probe_discover(connection, http):
            snapshot()
            return discover(connection, http)

        def probe_access(tenant, http):
            snapshot()
            return access(tenant, http)

        with (
            patch.object(Connection, "_csp_sync_tenants", probe_discover),
            patch.object(Tenant, "_csp_sync_access", probe_access),
        ):
            self.integrator(ir_cron_progress_id=progress.id)
        self.assertIn(run.state, ("done", "partial"))
        self.assertEqual(seen[0], (3, 0), "before any progress: as Odoo set it")
        counter, done = seen[1]
        # Odoo's rule (ir.cron._process_job): timed_out_counter >= 3 and not done
        self.assertFalse(counter >= 3 and not done, "after progress: never taken for timed out")
        self.assertEqual(counter, 0)
        self.assertGreaterEqual(done, 1)

    # -- a slow tenant waits for the others ----------------------------------------------

    def test_a_slow_tenant_goes_to_the_end_of_the_run_after_one_budget(self):
        slow = self.early_tenant()
        self.assertTrue(slow)
        self.env["ir.config_parameter"].sudo().set_param("csp_connector.cron_budget", "2")
        self.sandbox.fault(service="graph", tenant=slow.tenant_id, delay=3)
        run = self.queue()
        for _call in range(60):
            if run.state != "running":
                break
            self.integrator()
        self.assertIn(run.state, ("done", "partial"), run.message)
        order = [line.csp_tenant_id for line in run.line_ids if line.csp_tenant_id]
        first = order.index(slow)
        self.assertLess(first, len(order) - 2, "other tenants came after its first step")
        # its first step took the budget: every other tenant went before its next step
        self.assertEqual(order[first + 1 :].count(slow), 1, order)
        self.assertEqual(order[-1], slow, "its other step at the end of the run")
        self.assertIn(str(slow.id), run.deferred_tenants)

    # -- concurrency: two real transactions ------------------------------------------------

    def concurrent_run(self, refusals):
        """A scheduled run, committing, whose tenant's step writes the tenant row while
        another transaction changed it first (`refusals` times): [state of the run,
        line, tenant values, calls]."""
        db = sql_db.db_connect(self.env.cr.dbname)
        Tenant = type(self.env["csp.tenant"])
        calls = []
        with closing(db.cursor()) as cr, closing(db.cursor()) as other:
            env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})
            connection = env["csp.connection"].create(
                {"name": "Concurrency test", "partner_tenant_id": "x"}
            )
            tenant = env["csp.tenant"].create(
                {"connection_id": connection.id, "tenant_id": "t-1", "name": "Contoso"}
            )
            cr.commit()  # pylint: disable=invalid-commit
            self.addCleanup(self.drop_committed, db, connection.id)

            def step(this, http):
                calls.append(this.id)
                this.env.cr.execute("SELECT name FROM csp_tenant WHERE id = %s", [this.id])
                if len(calls) <= refusals:  # a webhook, a person: committed first
                    other.execute(
                        "UPDATE csp_tenant SET verified_domains = %s WHERE id = %s",
                        [f"other-{len(calls)}", this.id],
                    )
                    other.commit()
                this.sudo().write({"default_domain": "contoso.example"})
                this.env.flush_all()
                return {"updated": 1}

            with (
                patch.object(csp_sync_run, "under_test", return_value=False),
                patch.object(Tenant, "_csp_sync_access", step),
                patch.object(type(connection), "_csp_sync_tenants", return_value={}),
            ):
                run = connection._csp_sync(trigger="cron", modules=["tenants"])
            cr.commit()  # pylint: disable=invalid-commit
            line = run.line_ids.filtered("csp_tenant_id")
            tenant.invalidate_recordset()
            return (run.state, line.state, line.message or "",
                    tenant.read(["default_domain", "verified_domains", "last_error"])[0],
                    len(calls))  # fmt: skip

    @staticmethod
    def drop_committed(db, connection_id):
        with closing(db.cursor()) as cr:
            cr.execute("DELETE FROM csp_sync_run WHERE connection_id = %s", [connection_id])
            cr.execute("DELETE FROM csp_tenant WHERE connection_id = %s", [connection_id])
            cr.execute("DELETE FROM csp_request_log WHERE connection_id = %s", [connection_id])
            cr.execute("DELETE FROM csp_connection WHERE id = %s", [connection_id])
            cr.commit()  # pylint: disable=invalid-commit

    def test_a_step_refused_for_a_concurrent_change_runs_again(self):
        run_state, line_state, _message, tenant, calls = self.concurrent_run(refusals=1)
        self.assertEqual((run_state, line_state), ("done", "done"))
        self.assertEqual(calls, 2, "the step ran again, in a new transaction")
        self.assertEqual(tenant["default_domain"], "contoso.example")
        self.assertEqual(tenant["verified_domains"], "other-1", "the other change kept")

    def test_a_step_refused_again_and_again_fails_alone_and_the_handler_writes_nothing(self):
        run_state, line_state, message, tenant, calls = self.concurrent_run(refusals=10)
        self.assertEqual(calls, 3)
        self.assertEqual(line_state, "error")
        self.assertIn("another process changed the same records", message)
        self.assertEqual(run_state, "partial", "one step's failure never fails the run")
        self.assertFalse(tenant["last_error"], "the refused row is not written again")
        self.assertEqual(tenant["verified_domains"], "other-3")

    # -- the licences step: Graph and Partner Center halves -------------------------------

    def test_partner_center_down_keeps_the_graph_half_of_the_licences_step(self):
        tenant = self.connection.tenant_ids.filtered(lambda t: t.tenant_id == ASHFORD)
        if not tenant.partner_id:
            self.map_users_to(tenant, self.env["res.partner"].create({"name": "Ashford"}))
        tenant.licence_import_type = "both"
        self.connection._csp_sync(trigger="manual", modules=["users"])
        self.sandbox.fault(service="partnercenter", path="/subscriptions", status=503)
        run = self.connection._csp_sync(trigger="manual", modules=["licences"])
        line = run.line_ids.filtered(lambda ln: ln.csp_tenant_id == tenant)
        self.assertEqual(line.state, "error")
        self.assertIn("Partner Center", line.message)
        skus = self.env["csp.subscribed.sku"].search([("csp_tenant_id", "=", tenant.id)])
        self.assertTrue(skus, "the subscribed SKUs were imported all the same")
        self.assertTrue(skus.assignment_ids, "and who holds them")
        self.assertFalse(self.env["csp.subscription"].search([("csp_tenant_id", "=", tenant.id)]))
        self.assertEqual(tenant.last_error_step, "licences")
        self.assertTrue(tenant.last_error)
        self.assertNotEqual(run.state, "failed")
        # Partner Center back: the step works whole and clears its error
        self.sandbox.control("DELETE", "faults")
        run = self.connection._csp_sync(trigger="manual", modules=["licences"])
        line = run.line_ids.filtered(lambda ln: ln.csp_tenant_id == tenant)
        self.assertEqual(line.state, "done", line.message)
        self.assertTrue(self.env["csp.subscription"].search([("csp_tenant_id", "=", tenant.id)]))
        self.assertFalse(tenant.last_error)

    # -- tenants the steps cannot reach ---------------------------------------------------

    def test_steps_are_skipped_on_ended_relationships_and_refused_access(self):
        # Microsoft says so: discovery reads it in the same run
        path = f"tenants/{self.t2.tenant_id}"
        self.sandbox.control("PATCH", path, {"gdap": {"status": "terminated"}})
        self.addCleanup(self.sandbox.control, "PATCH", path, {"gdap": {"status": "active"}})
        self.sandbox.fault(
            service="graph", path="/organization", tenant=self.t1.tenant_id, status=403
        )
        calls = self.env["csp.request.log"].search([], order="id desc", limit=1).id
        run = self.connection._csp_sync(trigger="manual", modules=["tenants", "users"])
        lines = {(ln.csp_tenant_id, ln.step): ln for ln in run.line_ids}
        self.assertEqual(self.t2.gdap_status, "terminated")
        ended = lines[self.t2, "users"]
        self.assertEqual(ended.state, "skipped")
        self.assertIn("is terminated", ended.message)
        refused = lines[self.t1, "users"]
        self.assertEqual(lines[self.t1, "tenants"].state, "error")
        self.assertEqual(refused.state, "skipped")
        self.assertIn("access check", refused.message)
        users_calls = self.env["csp.request.log"].search(
            [("id", ">", calls), ("url", "like", "/users")]
        )
        tenants = {self.t1.tenant_id, self.t2.tenant_id}
        self.assertFalse(users_calls.filtered(lambda log: log.tenant_id in tenants))
        self.assertGreaterEqual(run.skipped, 2)
