# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from datetime import timedelta

from odoo import fields
from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import new_test_user, tagged
from odoo.tests.common import TransactionCase


@tagged("post_install", "-at_install")
class TestHousekeeping(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.connection = cls.env["csp.connection"].create(
            {
                "name": "Production partner",
                "pc_client_secret": "pc-secret",
                "gdap_client_secret": "gdap-secret",
                "token_cache": '{"RefreshToken": {}}',
                "integrator_enabled": True,
            }
        )
        cls.connection.sudo().state = "authorized"

    def test_whole_number_settings_are_clamped_to_their_range(self):
        """System parameters a CSP user's actions read (through sudo: they cannot)."""
        user = new_test_user(self.env, login="csp_reader", groups="csp_connector.group_csp_user")
        connection = self.connection.with_user(user)
        params = self.env["ir.config_parameter"].sudo()
        for value, page_size in (("5000", 999), ("0", 1), ("250", 250), ("-3", 500),
                                 ("many", 500), (False, 500)):  # fmt: skip
            with self.subTest(page_size=value):
                params.set_param("csp_connector.page_size", value)
                self.assertEqual(connection._csp_page_size(), page_size)
        for value, timeout in (("0", 1), ("600", 600), ("1.5", 30)):  # no upper bound
            with self.subTest(http_timeout=value):
                params.set_param("csp_connector.http_timeout", value)
                self.assertEqual(connection._csp_http_timeout(), timeout)

    def test_neutralised_copies_hold_no_secret_and_never_sync(self):
        self.connection.sudo().webhook_registration = "https://odoo.example.com/csp/webhook/k"
        key = self.connection.sudo().webhook_key
        self.env.flush_all()
        for query in get_neutralization_queries(["csp_connector"]):
            self.env.cr.execute(query)
        self.env.invalidate_all()
        stored = self.connection.sudo()
        self.assertFalse(stored.pc_client_secret or stored.gdap_client_secret)
        self.assertFalse(stored.token_cache)
        self.assertFalse(stored.integrator_enabled)
        self.assertEqual(stored.state, "not_authorized")
        # the copy does not answer at production's webhook URL, nor claim its registration
        self.assertTrue(stored.webhook_key)
        self.assertNotEqual(stored.webhook_key, key)
        self.assertFalse(stored.webhook_registration)

    def test_old_request_logs_are_purged_per_connection(self):
        keep_forever = self.env["csp.connection"].create(
            {"name": "Audit partner", "log_retention_days": 0}
        )
        logs = self.env["csp.request.log"]
        old = fields.Datetime.now() - timedelta(days=45)
        for connection in (self.connection, keep_forever):
            for when in (old, fields.Datetime.now()):
                log = logs.create({"connection_id": connection.id, "url": "https://x"})
                self.env.cr.execute(
                    "UPDATE csp_request_log SET create_date = %s WHERE id = %s", (when, log.id)
                )
        self.env.invalidate_all()
        self.env["csp.connection"]._cron_purge_request_logs()
        remaining = logs.search([("connection_id", "in", (self.connection | keep_forever).ids)])
        self.assertEqual(len(remaining.filtered(lambda r: r.connection_id == self.connection)), 1)
        self.assertEqual(len(remaining.filtered(lambda r: r.connection_id == keep_forever)), 2)

    def test_integrator_runs_only_due_connections(self):
        self.assertLessEqual(self.connection.next_sync, fields.Datetime.now())
        run = self.env["csp.sync.run"].create(
            {
                "connection_id": self.connection.id,
                "trigger": "cron",
                "state": "done",
                "ended": fields.Datetime.now(),
            }
        )
        self.connection.invalidate_recordset()
        self.assertEqual(self.connection.last_sync, run.ended)
        self.assertEqual(self.connection.next_sync, run.started + timedelta(hours=4))

    def test_relationships_in_expiring_status_are_flagged(self):
        Tenant = self.env["csp.tenant"]
        soon = fields.Datetime.now() + timedelta(days=10)
        values = {"connection_id": self.connection.id, "gdap_end": soon}
        expiring = Tenant.create({**values, "tenant_id": "t-exp", "name": "A",
                                  "gdap_status": "expiring"})  # fmt: skip
        extends = Tenant.create({**values, "tenant_id": "t-ext", "name": "B",
                                 "gdap_status": "active", "gdap_auto_extend": True})  # fmt: skip
        expired = Tenant.create({**values, "tenant_id": "t-old", "name": "C",
                                 "gdap_status": "expired"})  # fmt: skip
        no_gdap = Tenant.create({"connection_id": self.connection.id, "tenant_id": "t-none",
                                 "name": "D"})  # fmt: skip
        self.assertEqual(
            (expiring | extends | expired | no_gdap).mapped("gdap_expiring"),
            [True, False, False, False],
        )
        found = Tenant.search([("connection_id", "=", self.connection.id),
                               ("gdap_expiring", "=", True)])  # fmt: skip
        self.assertEqual(found, expiring)
