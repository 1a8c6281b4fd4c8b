# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A run's progress told through Odoo's bus while it goes: the forms watching its
connection get each step's progress in words (tenants handled of all, the step under
way, errors so far), and its end, with its result, goes to them and to whoever pressed
'Sync now'. The browser tour presses 'Sync now' and sees it all without a reload."""

import json
import re
import threading
import time
from unittest.mock import patch

from odoo import api
from odoo.tests import new_test_user, tagged

from odoo.addons.bus.models.bus import channel_with_db, dispatch, hashable, json_dump
from odoo.addons.bus.websocket import WebsocketConnectionHandler, _websocket_instances

from ..models.csp_guard import code_env
from ..models.csp_sync_run_live import ENDED, PROGRESS
from .common import CspSandboxHttpCase

INTERNAL_KEY = re.compile(r"\b\d*:[a-z_]+\b")  # "8:assets", ":tenants"


class LiveProgressCase(CspSandboxHttpCase):
    sandbox_tenants = 3

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.connect_as_admin()
        # the tenants step alone: short runs, one Graph call per tenant
        code_env(cls.connection).write(
            {
                name: name == "sync_tenants"
                for name, field in cls.connection._fields.items()
                if name.startswith("sync_") and field.type == "boolean"
            }
        )
        cls.tenant_count = len(cls.connection.tenant_ids.filtered(lambda t: not t.do_not_import))

    def bus_payloads(self, target, kind, run):
        """The payloads of `kind` about `run` sent to `target` (a record), in order."""
        self.env.cr.precommit.run()  # the bus rows are written when the step commits
        channel = json_dump(channel_with_db(self.env.cr.dbname, target))
        rows = self.env["bus.bus"].sudo().search([("channel", "=", channel)], order="id")
        messages = [json.loads(row.message) for row in rows]
        return [m["payload"] for m in messages
                if m["type"] == kind and m["payload"]["run_id"] == run.id]  # fmt: skip


@tagged("post_install", "-at_install")
class TestLiveProgress(LiveProgressCase):
    def test_each_step_is_told_in_words_and_the_end_to_the_starter(self):
        connection = self.connection.with_user(self.manager)
        action = connection.action_sync_now()
        run = self.env["csp.sync.run"].browse(action["res_id"])
        self.assertEqual(run.notify_user_ids, self.manager, "who pressed 'Sync now'")
        self.assertEqual(run.progress, f"0 of {self.tenant_count} tenants handled")
        # the integrator runs it, a tenant per call, as the cron does
        integrator = self.env.ref("csp_connector.user_csp_integrator")
        Run = self.env["csp.sync.run"].with_user(integrator)
        for _call in range(self.tenant_count + 1):
            if run.state != "running":
                break
            Run._csp_execute(connection.with_user(integrator), "cron", ["tenants"], batch=1)
        self.assertEqual(run.state, "done", run.message)
        told = self.bus_payloads(self.connection, PROGRESS, run)
        texts = [payload["text"] for payload in told]
        for done in range(1, self.tenant_count + 1):
            self.assertIn(f"{done} of {self.tenant_count} tenants handled", texts)
        self.assertFalse([text for text in texts if INTERNAL_KEY.search(text)], texts)
        # the end: to the connection's watchers and to the user who started it
        for target in (self.connection, self.manager.partner_id):
            (ended,) = self.bus_payloads(target, ENDED, run)
            self.assertEqual((ended["run_id"], ended["state"], ended["type"]),
                             (run.id, "done", "success"))  # fmt: skip
            self.assertIn(self.connection.name, ended["title"])
            self.assertIn("finished", ended["title"])
            self.assertIn(
                f"{self.tenant_count} of {self.tenant_count} tenants handled", ended["message"]
            )
        admin = self.env.ref("base.user_admin").partner_id
        self.assertFalse(self.bus_payloads(admin, ENDED, run), "only the one who started it")

    def test_the_step_under_way_and_the_errors_in_words(self):
        tenant = self.connection.tenant_ids[:1]
        run = self.env["csp.sync.run"].create(
            {"connection_id": self.connection.id, "trigger": "manual", "steps": "tenants"}
        )
        code_env(run).write({"current_step": f"{tenant.id}:tenants", "error_count": 2})
        self.assertEqual(
            run.progress,
            f"0 of {self.tenant_count} tenants handled; now: Tenants of {tenant.name}; "
            "2 errors so far",
        )
        code_env(run).write({"current_step": ":tenants"})
        self.assertIn("now: Tenants of the connection", run.progress)
        # the connection form's banner says the same
        self.assertEqual(self.connection.run_progress, run.progress)

    def test_a_failed_run_is_told_as_failed(self):
        run = self.env["csp.sync.run"].create(
            {"connection_id": self.connection.id, "trigger": "manual", "steps": "tenants"}
        )
        self.env["csp.sync.run"]._csp_close_failed(self.connection, ValueError("boom"))
        (ended,) = self.bus_payloads(self.connection, ENDED, run)
        self.assertEqual((ended["run_id"], ended["state"], ended["type"]),
                         (run.id, "failed", "danger"))  # fmt: skip
        self.assertIn("failed", ended["title"])

    def test_only_who_may_read_the_connection_watches_it(self):
        Websocket = self.env["ir.websocket"]
        name = f"csp.connection_{self.connection.id}"
        self.assertEqual(
            Websocket.with_user(self.manager)._csp_watched_connections([name]), self.connection
        )
        reader = new_test_user(self.env, login="csp_reader", groups="csp_connector.group_csp_user")
        self.assertEqual(Websocket.with_user(reader)._csp_watched_connections([name]),
                         self.connection)  # fmt: skip
        other_company = self.env["res.company"].create({"name": "Elsewhere Ltd"})
        stranger = new_test_user(
            self.env, login="csp_stranger", groups="csp_connector.group_csp_manager",
            company_id=other_company.id, company_ids=[(6, 0, other_company.ids)],
        )  # fmt: skip
        portal = new_test_user(self.env, login="csp_portal", groups="base.group_portal")
        clerk = new_test_user(self.env, login="csp_clerk", groups="base.group_user")
        for user in (stranger, portal, clerk):
            with self.subTest(user=user.login):
                self.assertFalse(Websocket.with_user(user)._csp_watched_connections([name]))


@tagged("post_install", "-at_install")
class TestLiveProgressTour(LiveProgressCase):
    """The browser tour: 'Sync now', the run form following the run, the end told."""

    def test_sync_progress_tour(self):
        self.assertEqual(self.tenant_count, 3, "the tour counts on 3 tenants")
        # Odoo closes the bus's websocket in tests; the tour's browser needs it
        self.startPatcher(
            patch.object(WebsocketConnectionHandler, "websocket_allowed", return_value=True)
        )
        worker = SyncWorker(self, self.connection.id)
        worker.start()
        try:
            self.start_tour(
                f"/odoo/action-csp_connector.csp_connection_action/{self.connection.id}",
                "csp_connector_sync_progress",
                login=self.manager.login,
                timeout=240,
            )
        finally:
            worker.stop.set()
            worker.join(60)
        self.assertFalse(worker.errors, worker.errors)
        self.assertTrue(worker.calls, "the run was synced while the browser watched")


class SyncWorker(threading.Thread):
    """The integrator cron during the tour: once the browser watches the run's
    connection, one tenant per call, a moment apart, each call's bus notifications
    handed to the websockets (the bus's NOTIFY does not fire in tests)."""

    def __init__(self, case, connection_id):
        super().__init__(daemon=True)
        self.case, self.connection_id = case, connection_id
        self.stop = threading.Event()
        self.errors, self.calls = [], 0

    def run(self):
        self.testing = True  # what models.testing.under_test() reads: nothing commits
        try:
            self._run()
        except Exception as exc:  # reported by the test
            self.errors.append(repr(exc))

    def env(self, cr):
        integrator = self.case.env.ref("csp_connector.user_csp_integrator").id
        return api.Environment(cr, integrator, {})

    def _run(self):
        registry = self.case.registry
        channel = hashable((registry.db_name, "csp.connection", self.connection_id))
        # the first tour of a database waits for its assets to be built
        deadline = time.monotonic() + 180
        while not self.stop.is_set():  # 'Sync now' pressed and the run form watching
            with registry.cursor() as cr:
                running = self.env(cr)["csp.sync.run"].search_count(
                    [("connection_id", "=", self.connection_id), ("state", "=", "running")]
                )
            if running and dispatch._channels_to_ws.get(channel):
                break
            if time.monotonic() > deadline:
                raise AssertionError("no sync started and watched within 180 s")
            time.sleep(0.2)
        deadline = time.monotonic() + 60
        while not self.stop.is_set() and time.monotonic() < deadline:
            time.sleep(2.5)  # the browser sees each tenant's progress
            with registry.cursor() as cr:
                env = self.env(cr)
                connection = env["csp.connection"].browse(self.connection_id)
                run = env["csp.sync.run"]._csp_execute(
                    connection, "cron", connection._csp_step_codes(), batch=1, commit=True
                )
                state = run.state
            self.calls += 1
            for websocket in list(_websocket_instances):
                websocket.trigger_notification_dispatching()
            if state != "running":
                return
