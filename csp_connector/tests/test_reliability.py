# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Reliability: no archive on an unproven read, the archive safety valve, exact resume,
failures that stay where they belong, the sync lock."""

import json
import time
from datetime import timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, fields, sql_db
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from ..importers.groups import GroupsRead
from ..importers.users import UserImporter
from ..microsoft import auth
from ..sync import budget, run_lock
from .common import CspSandboxCase

HELD = "Archive of contacts held"


@tagged("post_install", "-at_install")
class TestReliability(CspSandboxCase):
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

    def setUp(self):
        super().setUp()
        self.addCleanup(self.sandbox.control, "DELETE", "faults")

    # -- helpers ---------------------------------------------------------------

    def sync(self, modules=("users",)):
        return self.connection._csp_sync(trigger="manual", modules=list(modules))

    def users_line(self, run, tenant=None):
        tenant = tenant or self.t1
        return run.line_ids.filtered(
            lambda line: line.csp_tenant_id == tenant and line.step == "users"
        )

    def contacts(self):
        bindings = self.env["csp.user.binding"].search([("csp_tenant_id", "=", self.t1.id)])
        return bindings.partner_id.with_context(active_test=False)

    def delete_users(self, count):
        bindings = self.env["csp.user.binding"].search(
            [("csp_tenant_id", "=", self.t1.id), ("removed", "=", False)], limit=count
        )
        for binding in bindings:
            self.sandbox.control(
                "DELETE", f"tenants/{self.t1.tenant_id}/users/{binding.microsoft_id}"
            )
        return bindings

    def broken_page(self, kind, delta):
        """The next users page of t1 answers a broken 200 of `kind`."""
        tenant = self.t1.tenant_id
        if not delta:  # the full read first takes a delta link: let that one through
            self.sandbox.fault(service="graph", path="/v1.0/users/delta", tenant=tenant, times=1)
            self.sandbox.fault(
                service="graph", path="/v1.0/users", body=kind, tenant=tenant, times=1
            )
        else:
            self.sandbox.fault(
                service="graph", path="/v1.0/users/delta", body=kind, tenant=tenant, times=1
            )

    # -- proof of a complete read -------------------------------------------------

    def test_a_broken_page_archives_nothing_and_the_next_run_repairs(self):
        first = self.sync()
        self.assertEqual(first.state, "done", first.message)
        everyone = self.contacts()
        self.assertGreaterEqual(len(everyone), 10)
        # drop:2: the last users left out with a count lowered to agree (Graph's count is
        # eventually consistent): under the safety valve, it was archived in a run "done"
        for kind in ("empty", "no_value", "cut", "drop:2"):
            with self.subTest(kind=kind, read="full"):
                self.t1.action_reset_users()
                self.broken_page(kind, delta=False)
                run = self.sync()
                line = self.users_line(run)
                self.assertEqual((run.state, line.state), ("partial", "error"))
                self.assertIn("incomplete, so nothing was archived", line.message)
                self.assertEqual(run.deactivated, 0)
                self.assertTrue(all(everyone.mapped("active")), "nothing archived")
                self.assertFalse(self.t1.users_delta_link, "no link from a broken read")
                self.assertIn("nothing was archived", self.t1.last_error)
                repaired = self.sync()
                self.assertEqual(repaired.state, "done", repaired.message)
                self.assertTrue(self.t1.users_delta_link)
                self.assertFalse(self.t1.last_error, "the users step worked: error cleared")
                self.assertTrue(all(everyone.mapped("active")))
        # delta rounds: a leaver is archived only by a read that ends with its final page
        link = self.t1.users_delta_link
        (leaver,) = self.delete_users(1)
        for kind in ("empty", "no_value", "cut"):
            with self.subTest(kind=kind, read="delta"):
                self.broken_page(kind, delta=True)
                run = self.sync()
                self.assertEqual(self.users_line(run).state, "error")
                self.assertTrue(leaver.partner_id.active)
                self.assertEqual(self.t1.users_delta_link, link, "the old delta link is kept")
        repaired = self.sync()
        self.assertEqual(repaired.state, "done", repaired.message)
        self.assertEqual(repaired.deactivated, 1)
        self.assertFalse(leaver.partner_id.active)
        self.assertEqual(everyone.filtered("active"), everyone - leaver.partner_id)

    def test_a_full_read_archives_a_user_read_again_by_id_and_gone(self):
        """The second read that proves a full read: the users it did not list are read
        by id; a real leaver is not found there, and is archived."""
        self.sync()
        (leaver,) = self.delete_users(1)
        self.t1.action_reset_users()
        run = self.sync()
        self.assertEqual(run.state, "done", run.message)
        self.assertEqual(run.deactivated, 1)
        self.assertFalse(leaver.partner_id.active)
        self.assertTrue(self.t1.users_delta_link)

    def test_contacts_archived_by_mistake_come_back_with_a_complete_read(self):
        self.sync()
        everyone = self.contacts()
        bindings = self.env["csp.user.binding"].search([("csp_tenant_id", "=", self.t1.id)])
        # as a bad run of an older version left them
        everyone.write({"active": False})
        bindings.write({"removed": True, "fingerprint": False})
        self.t1.action_reset_users()
        self.sync()
        self.assertTrue(all(everyone.mapped("active")))
        self.assertFalse(bindings.filtered("removed"))

    # -- the safety valve --------------------------------------------------------------

    def test_the_safety_valve_holds_a_large_archive_until_a_person_releases_it(self):
        self.sync()
        everyone = self.contacts()
        leavers = self.delete_users(round(len(everyone) * 0.3))
        run = self.sync()
        line = self.users_line(run)
        self.assertEqual((line.held, run.held, run.deactivated), (len(leavers), len(leavers), 0))
        self.assertTrue(all(everyone.mapped("active")), "nothing archived")
        self.assertIn("safety valve", run.message)
        activity = self.t1.activity_ids.filtered(lambda a: a.summary == HELD)
        self.assertEqual(len(activity), 1)
        self.assertEqual(self.t1.archive_held_count, len(leavers))
        # the next run holds the same contacts again, without a second activity
        self.sync()
        self.assertEqual(len(self.t1.activity_ids.filtered(lambda a: a.summary == HELD)), 1)
        self.assertTrue(all(everyone.mapped("active")))
        # a person confirms
        self.t1.action_release_archive()
        self.assertFalse(any(leavers.partner_id.mapped("active")))
        self.assertTrue(all((everyone - leavers.partner_id).mapped("active")))
        self.assertTrue(all(leavers.mapped("removed")))
        self.assertFalse(self.t1.archive_held_count)
        self.assertFalse(self.t1.activity_ids.filtered(lambda a: a.summary == HELD))
        # below the share, leavers are archived at once
        (one,) = self.delete_users(1)
        run = self.sync()
        self.assertEqual((run.deactivated, run.held), (1, 0))
        self.assertFalse(one.partner_id.active)

    def test_the_safety_valve_never_passes_more_than_its_absolute_number(self):
        self.connection.archive_max_count = 1
        self.sync()
        leavers = self.delete_users(2)  # under 20 % of the tenant, over the number
        run = self.sync()
        self.assertEqual((run.held, run.deactivated), (2, 0))
        self.assertTrue(all(leavers.partner_id.mapped("active")))
        clerk = new_test_user(self.env, login="clerk-i10", groups="base.group_user")
        with self.assertRaises(AccessError):
            self.t1.with_user(clerk).sudo(False).action_release_archive()
        self.t1.action_keep_held()
        self.assertFalse(self.t1.archive_held_count)
        self.assertTrue(all(leavers.partner_id.mapped("active")))

    # -- a round cut by the time budget resumes exactly ----------------------------

    def test_a_round_out_of_time_stops_at_a_page_boundary_and_resumes(self):
        self.env["ir.config_parameter"].sudo().set_param("csp_connector.users_page_size", "3")
        with patch.object(UserImporter, "out_of_time", return_value=True):
            run = self.connection._csp_sync(trigger="cron", modules=["users"])
        self.assertEqual(run.state, "running")
        self.assertEqual(self.users_line(run).state, "paused")
        state = self.t1._csp_round_get("users")
        self.assertTrue(state["next"] and state["full"])
        self.assertEqual(len(self.contacts()), 3, "one page of three users")
        self.assertFalse(self.t1.users_delta_link, "no link before the round is complete")
        # the next call goes on from the stored page, with the same proof of completeness
        run = self.connection._csp_sync(trigger="cron", modules=["users"])
        self.assertEqual(run.state, "done", run.message)
        lines = self.users_line(run)
        self.assertEqual(lines.mapped("state"), ["paused", "done"])
        bindings = self.env["csp.user.binding"].search([("csp_tenant_id", "=", self.t1.id)])
        self.assertEqual(len(bindings), len(set(bindings.mapped("microsoft_id"))))
        self.assertGreater(len(bindings), 6)
        self.assertEqual(sum(lines.mapped("created")), len(bindings))
        self.assertFalse(self.t1._csp_round_get("users"))
        self.assertTrue(self.t1.users_delta_link)

    def test_a_groups_round_out_of_time_resumes_where_it_stopped(self):
        for number in range(101):  # Graph's delta pages hold 100 entries by default
            self.sandbox.control(
                "POST", f"tenants/{self.t1.tenant_id}/groups", {"displayName": f"Team {number}"}
            )
        with patch.object(GroupsRead, "out_of_time", return_value=True):
            run = self.connection._csp_sync(trigger="cron", modules=["users"])
        self.assertEqual(self.users_line(run).state, "paused")
        self.assertTrue(self.t1._csp_round_get("groups"))
        self.assertFalse(self.t1.groups_delta_link, "no link before the round is complete")
        self.assertFalse(self.contacts(), "users wait for the groups")
        Group = self.env["csp.azure.group"]
        first = Group.search_count([("csp_tenant_id", "=", self.t1.id)])
        self.assertEqual(first, 100)
        run = self.connection._csp_sync(trigger="cron", modules=["users"])
        self.assertEqual(run.state, "done", run.message)
        groups = Group.search([("csp_tenant_id", "=", self.t1.id)])
        self.assertGreater(len(groups), first)
        self.assertEqual(len(groups), len(set(groups.mapped("microsoft_id"))))
        self.assertFalse(self.t1._csp_round_get("groups"))
        self.assertTrue(self.t1.groups_delta_link)
        self.assertTrue(self.contacts())

    def test_resume_reruns_the_interrupted_step_of_a_tenant(self):
        run = self.connection._csp_sync(trigger="cron", modules=["tenants", "users"])
        self.assertIn(run.state, ("done", "partial"))
        # as if the worker was killed during t1's users step: its line (and work) was
        # rolled back, the run stayed open
        self.users_line(run).unlink()
        run.write({"state": "running", "ended": False})
        before = len(run.line_ids)
        self.connection._csp_sync(trigger="cron", modules=["tenants", "users"])
        self.assertIn(run.state, ("done", "partial"))
        self.assertEqual(len(run.line_ids), before + 1)
        self.assertEqual(self.users_line(run).state, "done")
        steps = [(line.csp_tenant_id.id, line.step) for line in run.line_ids]
        self.assertEqual(len(steps), len(set(steps)), "each step of each tenant once")

    def test_a_worker_that_died_mid_step_is_detected_and_its_step_resumed(self):
        run = self.connection._csp_sync(trigger="cron", modules=["users"])
        self.users_line(run).unlink()
        # a heartbeat still fresh: its worker may be alive, the run is looked at later
        now = fields.Datetime.now()
        run.write({"state": "running", "ended": False, "current_step": f"{self.t1.id}:users",
                   "heartbeat": now})  # fmt: skip
        self.assertFalse(run.stale)
        cron = self.env.ref("csp_connector.ir_cron_csp_integrator")
        self.assertFalse(self.connection._csp_sync(trigger="cron", modules=["users"]))
        self.assertFalse(self.users_line(run))
        later = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)], order="id desc")[:1]
        self.assertGreater(later.call_at, now + timedelta(seconds=60), "not a busy loop")
        run.write(
            {"state": "running", "ended": False, "current_step": f"{self.t1.id}:users",
             "heartbeat": "2000-01-01 00:00:00"}
        )  # fmt: skip
        self.assertTrue(run.stale)
        self.connection._csp_sync(trigger="cron", modules=["users"])
        self.assertEqual(run.state, "done", run.message)
        self.assertIn("The worker stopped during", run.message)
        self.assertEqual(self.users_line(run).state, "done")
        # a step that kills its worker again and again is given up, explained
        self.users_line(run).unlink()
        run.write(
            {"state": "running", "ended": False, "current_step": f"{self.t1.id}:users",
             "heartbeat": "2000-01-01 00:00:00", "step_restarts": 2}
        )  # fmt: skip
        self.connection._csp_sync(trigger="cron", modules=["users"])
        self.assertEqual(run.state, "partial")
        self.assertIn("stopped 3 times", self.users_line(run).message)

    def test_a_cron_job_near_odoos_cpu_limit_stops_before_it(self):
        action = self.connection.action_sync_now()
        run = self.env["csp.sync.run"].browse(action["res_id"])
        # what Odoo's prefork worker set: the CPU this process may still use is short
        soft = time.process_time() + 3
        with patch.object(budget.resource, "getrlimit", return_value=(soft, -1)):
            window = self.env["csp.connection"]._csp_cron_window()
            self.assertLessEqual(window["cpu"], soft - 5)
            self.env["csp.connection"]._cron_run_integrator()
        self.assertEqual(run.state, "running", "nothing started this close to the limit")
        self.assertFalse(run.line_ids)
        self.env["csp.connection"]._cron_run_integrator()
        self.assertIn(run.state, ("done", "partial"))

    # -- Sync now ----------------------------------------------------------------------

    def test_sync_now_queues_the_run_and_returns_at_once(self):
        cron = self.env.ref("csp_connector.ir_cron_csp_integrator")
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        logs = self.env["csp.request.log"].search_count([])
        action = self.connection.action_sync_now()
        run = self.env["csp.sync.run"].browse(action["res_id"])
        self.assertEqual((run.state, run.trigger), ("running", "manual"))
        self.assertFalse(run.line_ids)
        self.assertEqual(self.env["csp.request.log"].search_count([]), logs, "no call made")
        self.assertGreater(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), len(triggers)
        )
        self.assertEqual(self.connection.run_state, "running")
        self.assertIn("tenants handled", self.connection.run_progress)
        # a second click shows the same run
        self.assertEqual(self.connection.action_sync_now()["res_id"], run.id)
        # the cron runs it, although the integrator is not enabled on the connection
        self.assertFalse(self.connection.integrator_enabled)
        self.env["csp.connection"]._cron_run_integrator()
        self.assertIn(run.state, ("done", "partial"))
        self.assertTrue(self.users_line(run) or "users" not in run.steps)

    # -- failures stay where they belong ---------------------------------------------

    def test_a_partner_center_failure_fails_discovery_alone(self):
        for code in (700082, 9002313):
            with self.subTest(aadsts=code):
                self.sandbox.fault(
                    service="login", path="/oauth2/v2.0/token", tenant=self.partner, aadsts=code
                )
                cache = json.loads(self.connection.sudo().token_cache)
                for item in cache["AccessToken"].values():
                    item["expires_on"] = item["extended_expires_on"] = "1"
                self.connection.sudo().token_cache = json.dumps(cache)
                auth.forget_app_tokens()
                self.sync()
                contacts = len(self.contacts())
                self.add_user_to_t1(f"new{code}")
                run = self.sync(["tenants", "users"])
                discovery = run.line_ids.filtered(lambda line: not line.csp_tenant_id)
                self.assertEqual(discovery.state, "error")
                self.assertIn("Authorize", discovery.message)
                self.assertEqual(self.users_line(run).state, "done", self.users_line(run).message)
                self.assertEqual(len(self.contacts()), contacts + 1, "users still synced")
                self.sandbox.control("DELETE", "faults")
                self.authorize()

    def add_user_to_t1(self, name):
        domain = self.t1.verified_domains.split()[0]
        return self.sandbox.control(
            "POST",
            f"tenants/{self.t1.tenant_id}/users",
            {"userPrincipalName": f"{name}@{domain}", "displayName": name.title(),
             "mail": f"{name}@{domain}", "accountEnabled": True},
        )  # fmt: skip

    def test_outages_do_not_mark_consent_and_a_step_that_works_clears_its_error(self):
        self.sync(["tenants"])
        self.assertEqual(self.t1.consent_state, "granted")
        self.sandbox.fault(
            service="graph", path="/organization", tenant=self.t1.tenant_id, status=503
        )
        self.sandbox.fault(service="graph", path="/users", tenant=self.t1.tenant_id, status=429,
                           retry_after=200)  # fmt: skip
        run = self.sync(["tenants", "users"])
        t1_lines = run.line_ids.filtered(lambda line: line.csp_tenant_id == self.t1)
        self.assertEqual(t1_lines.mapped("state"), ["error", "error"])
        self.assertIn("internal error", t1_lines[0].message)
        self.assertIn("throttling", t1_lines[1].message)
        self.assertEqual(self.t1.consent_state, "granted", "an outage says nothing of consent")
        self.assertTrue(self.t1.last_error)
        self.sandbox.control("DELETE", "faults")
        run = self.sync(["tenants", "users"])
        t1_lines = run.line_ids.filtered(lambda line: line.csp_tenant_id == self.t1)
        self.assertEqual(t1_lines.mapped("state"), ["done", "done"])
        self.assertFalse(self.t1.last_error)

    def test_users_error_cleared_by_users_step_not_by_access_check(self):
        self.sandbox.fault(service="graph", path="/v1.0/users", tenant=self.t1.tenant_id,
                           status=400)  # fmt: skip
        self.sync(["users"])
        self.assertEqual(self.t1.last_error_step, "users")
        self.sandbox.control("DELETE", "faults")
        self.sync(["tenants"])
        self.assertTrue(self.t1.last_error, "the access check does not hide a users error")
        self.sync(["users"])
        self.assertFalse(self.t1.last_error)

    def test_after_a_410_the_new_delta_link_is_kept_even_without_change(self):
        self.sync()
        self.sandbox.control("POST", "clock", {"advance_seconds": 8 * 86400})
        self.addCleanup(self.sandbox.control, "POST", "clock", {"advance_seconds": -8 * 86400})
        # the app tokens were issued before the clock's jump
        auth.forget_app_tokens()
        logs = self.env["csp.request.log"]
        before = logs.search([], limit=1).id
        self.sync()
        calls = logs.search([("id", ">", before), ("tenant_id", "=", self.t1.tenant_id)])
        self.assertIn(410, calls.mapped("status"))
        for _again in range(2):
            before = logs.search([], limit=1).id
            run = self.sync()
            self.assertEqual(run.state, "done", run.message)
            calls = logs.search([("id", ">", before), ("tenant_id", "=", self.t1.tenant_id)])
            self.assertNotIn(410, calls.mapped("status"))

    # -- where contacts belong, and who they are --------------------------------------

    def test_a_new_site_and_a_reset_move_the_existing_contacts(self):
        self.sync()
        mapping = self.connection.site_mapping_ids
        site = self.env["res.partner"].create(
            {"name": "Head office", "parent_id": self.customer.id, "type": "other"}
        )
        mapping.site_id = site
        self.t1.action_reset_users()
        self.sync()
        self.assertEqual(set(self.contacts().mapped("parent_id")), {site})
        other = self.env["res.partner"].create({"name": "Other customer", "is_company": True})
        mapping.write({"customer_id": other.id, "site_id": other.id})
        self.t1.partner_id = other
        self.t1.action_reset_users()
        self.sync()
        self.assertEqual(set(self.contacts().mapped("parent_id")), {other})

    def test_first_import_binds_an_unbound_contact_with_the_same_email(self):
        user = self.add_user_to_t1("same.mail")
        existing = self.env["res.partner"].create(
            {"name": "Existing", "parent_id": self.customer.id, "email": user["mail"].upper()}
        )
        odoo_user = self.env["res.users"].create(
            {"name": "Staff", "login": "staff-i10", "email": "staff.i10@example.com"}
        )
        staff = self.add_user_to_t1("staff.i10")
        odoo_user.partner_id.write({"parent_id": self.customer.id, "email": staff["mail"]})
        self.sync()
        binding = self.env["csp.user.binding"].search(
            [("csp_tenant_id", "=", self.t1.id), ("microsoft_id", "=", user["id"])]
        )
        self.assertEqual(binding.partner_id, existing)
        self.assertEqual(
            self.env["res.partner"].search_count([("email", "=ilike", user["mail"])]), 1
        )
        staff_binding = self.env["csp.user.binding"].search(
            [("csp_tenant_id", "=", self.t1.id), ("microsoft_id", "=", staff["id"])]
        )
        self.assertNotEqual(
            staff_binding.partner_id, odoo_user.partner_id, "never a user's contact"
        )

    # -- the lock ------------------------------------------------------------------------

    def test_the_lock_ends_with_its_transaction_whatever_fails(self):
        db = sql_db.db_connect(self.env.cr.dbname)
        Run = type(self.env["csp.sync.run"])

        held = []

        def fails(run, commit=False, batch=None):
            held.append(not run_lock.try_lock(other, connection.id))
            other.rollback()
            # a concurrency error aborts the transaction: nothing more can run in it
            run.env.cr.execute("SELECT 1 / 0")

        with db.cursor() as cr, db.cursor() as other:
            env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})
            connection = env["csp.connection"].create(
                {"name": "Lock test", "partner_tenant_id": "x"}
            )
            with (
                patch.object(Run, "_csp_run", fails),
                self.assertRaisesRegex(Exception, "division by zero"),
            ):  # the original error, not one from an unlock
                connection._csp_sync(trigger="cron")
            self.assertEqual(held, [True], "the run held the lock")
            # PostgreSQL drops a transaction's locks as soon as it fails
            self.assertTrue(run_lock.try_lock(other, connection.id), "released with it")
            other.rollback()
            cr.rollback()

    # -- failures while recording failures -------------------------------------------

    def test_scheduled_runs_can_explain_failures_as_the_integrator_user(self):
        integrator = self.env.ref("csp_connector.user_csp_integrator")
        self.sandbox.fault(service="graph", path="/users", tenant=self.t1.tenant_id, status=400)
        connection = self.connection.with_user(integrator)
        run = connection._csp_sync(trigger="cron", modules=["users"])
        self.assertEqual(self.users_line(run).state, "error")
        self.assertTrue(self.t1.last_error)
        post = self.t1.message_ids[:1]
        self.assertEqual(post.author_id, integrator.partner_id, "the chatter says who")

    def test_a_failure_to_record_a_failure_does_not_stop_the_run(self):
        self.sandbox.fault(service="graph", path="/users", tenant=self.t1.tenant_id, status=400)
        Tenant = type(self.env["csp.tenant"])
        with patch.object(Tenant, "_csp_record_step_error", side_effect=RuntimeError("chatter")):
            run = self.sync(["tenants", "users"])
        self.assertEqual(self.users_line(run).state, "error")
        others = run.line_ids.filtered(lambda line: line.csp_tenant_id != self.t1)
        self.assertTrue(others, "the other tenants were handled")
