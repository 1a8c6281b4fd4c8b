# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Every button that changes something at Microsoft says what it did, pressed by a CSP
manager: a quantity changed (or accepted and pending at Microsoft), a licence assigned
or removed, a webhook registered, its test asked and its arrival told; the deliveries
Odoo refused are listed on the connection's webhooks page, with why."""

import json
import pathlib
import tempfile
import time
from urllib.parse import urlsplit

from odoo.tests import tagged

from odoo.addons.bus.models.bus import channel_with_db, json_dump

from ..models import csp_webhook
from .common import CspSandboxCase, CspSandboxHttpCase

ASHFORD = "7af027bc-08d6-4f57-9a71-144896c8da19"  # seed 1: reseller, consent, subscriptions
REFUNDABLE = "3328ad08-8ded-4c96-91eb-79fa5d5f576c"  # 3 seats inside their 168 h window
PLAIN = "fb695ffb-3a18-40c7-8092-b4d42b28fef0"  # 2 seats, every window closed

ANNUAL = "d8f33418-f3d4-4711-9804-f92283868a29"  # 1 seat, no window


def notification(action):
    """The notification a button's answer shows (a display_notification client action)."""
    assert action["type"] == "ir.actions.client", action
    assert action["tag"] == "display_notification", action
    return action["params"]


@tagged("post_install", "-at_install")
class TestLicenceFeedback(CspSandboxCase):
    sandbox_tenants = 8

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_customer_tenant(ASHFORD)
        cls.connection._csp_sync(trigger="manual", modules=["users"])
        cls.connection.write(
            {"licence_import_type": "both", "adjust_quantities": True, "manage_licences": True}
        )
        run = cls.connection._csp_sync(trigger="manual", modules=["licences"])
        assert run.state == "done", run.message

    def subscription(self, microsoft_id):
        return self.env["csp.subscription"].search(
            [("csp_tenant_id", "=", self.tenant.id), ("microsoft_id", "=", microsoft_id)]
        )

    def adjust(self, subscription, quantity):
        wizard = (
            self.env["csp.subscription.quantity"]
            .with_user(self.manager)
            .create({"subscription_id": subscription.id, "new_quantity": quantity})
        )
        return notification(wizard.action_apply())

    def test_a_quantity_change_says_it_is_done(self):
        sub = self.subscription(ANNUAL)
        start = sub.quantity
        told = self.adjust(sub, start + 2)
        self.assertEqual(sub.quantity, start + 2)
        self.assertEqual((told["type"], told["title"]), ("success", "Quantity changed"))
        self.assertIn(f"now has {start + 2} seats in Partner Center (it had {start})",
                      told["message"])  # fmt: skip
        self.assertIn(sub.display_name, told["message"])
        self.assertEqual(told["next"], {"type": "ir.actions.act_window_close"}, "dialog closed")

    def test_a_quantity_change_microsoft_only_accepted_says_it_is_pending(self):
        sub = self.subscription(PLAIN)
        start = sub.quantity
        self.sandbox.fault(service="partnercenter", method="PATCH", body="accepted", times=1)
        self.addCleanup(self.sandbox.control, "DELETE", "faults")
        told = self.adjust(sub, start + 1)
        self.assertEqual((sub.quantity, sub.pending_quantity), (start, start + 1))
        self.assertEqual(told["type"], "info")
        self.assertIn("pending", told["title"])
        self.assertIn(f"from {start} to {start + 1} seats", told["message"])
        self.assertIn("still applying it", told["message"])

    def test_assigning_and_removing_a_licence_say_so(self):
        sku = self.env["csp.subscribed.sku"].search(
            [("csp_tenant_id", "=", self.tenant.id), ("unassigned_units", ">", 0)], limit=1
        )
        user = self.env["csp.user.binding"].search(
            [("csp_tenant_id", "=", self.tenant.id), ("partner_id", "!=", False),
             ("id", "not in", sku.assignment_ids.user_binding_id.ids)], limit=1,
        )  # fmt: skip
        self.assertTrue(sku and user, "the sandbox world has a free seat and a user without it")
        wizard = (
            self.env["csp.licence.assign"]
            .with_user(self.manager)
            .create({"subscribed_sku_id": sku.id, "user_binding_id": user.id})
        )
        told = notification(wizard.action_assign())
        self.assertEqual((told["type"], told["title"]), ("success", "Licence assigned"))
        self.assertEqual(
            told["message"], f"{sku.display_name} assigned to {user.display_name} in Microsoft."
        )
        assignment = sku.assignment_ids.filtered(lambda a: a.user_binding_id == user)
        told = notification(assignment.with_user(self.manager).action_remove_licence())
        self.assertFalse(assignment.exists())
        self.assertEqual(told["title"], "Licence removed")
        self.assertEqual(
            told["message"], f"{sku.display_name} removed from {user.display_name} in Microsoft."
        )
        self.assertEqual(told["next"]["tag"], "soft_reload", "the list shows it gone")


@tagged("post_install", "-at_install")
class TestWebhookFeedback(CspSandboxHttpCase):
    """The webhook buttons, as a manager, against the sandbox's real deliveries (set up
    as the webhook tests are: the sandbox's signer trusted, the webhook URL this
    server's)."""

    sandbox_tenants = 8

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_subscriptions_tenant(ASHFORD)
        cls.workdir = tempfile.TemporaryDirectory(prefix="csp-webhook-")
        cls.addClassCleanup(cls.workdir.cleanup)
        roots = pathlib.Path(cls.workdir.name, "roots.pem")
        roots.write_bytes(pathlib.Path(cls.sandbox.ca_path).read_bytes())
        cls.connection.write(
            {
                "webhook_roots_path": str(roots),
                # the sandbox serves its signing certificate on its own port, not 443
                "webhook_certificate_hosts": urlsplit(cls.sandbox.urls["control"]).netloc,
                "webhook_certificate_names": "mscloud-sandbox.invalid",
            }
        )

    def setUp(self):
        super().setUp()
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", self.base_url())
        self.url = self.connection.webhook_url
        csp_webhook._refused.clear()  # the per-minute cap on refusal log lines starts anew

    def post(self, body, headers):
        return self.url_open(self.url, data=body, headers=headers)

    def bus_payloads(self, partner, kind):
        self.env.cr.precommit.run()
        channel = json_dump(channel_with_db(self.env.cr.dbname, partner))
        rows = self.env["bus.bus"].sudo().search([("channel", "=", channel)], order="id")
        return [
            json.loads(row.message)["payload"]
            for row in rows
            if json.loads(row.message)["type"] == kind
        ]

    def test_registering_and_testing_the_webhook_say_so_and_the_test_event_is_told(self):
        connection = self.connection.with_user(self.manager)
        told = notification(connection.action_webhook_register())
        self.assertEqual((told["type"], told["title"]), ("success", "Webhook registered"))
        self.assertIn(self.url, told["message"])
        self.assertIn("subscription-updated", told["message"])
        self.assertEqual(told["next"]["tag"], "soft_reload", "the form shows the registration")
        told = notification(connection.action_webhook_test())
        self.assertEqual(told["title"], "Test event asked")
        self.assertIn("You are told here when it arrives", told["message"])
        self.assertEqual(self.connection.webhook_test_user_id, self.manager)
        # Partner Center delivers it to this server: the manager is told it arrived
        deadline = time.monotonic() + 30
        arrived = []
        while not arrived and time.monotonic() < deadline:
            with self.registry.test_lock:
                arrived = [
                    payload
                    for payload in self.bus_payloads(self.manager.partner_id, "simple_notification")
                    if payload["title"] == "Test event arrived"
                ]
            time.sleep(0.2)
        inbound = self.env["csp.request.log"].search([("direction", "=", "inbound")])
        self.assertTrue(arrived, f"not told; deliveries: {inbound.mapped('error')}")
        self.assertIn(self.connection.name, arrived[0]["message"])
        self.assertIn("its webhook works", arrived[0]["message"])
        # 'Show registration' says what Partner Center has, and where the test is
        with self.registry.test_lock:
            told = notification(connection.action_webhook_refresh())
        self.assertIn(self.url, told["message"])
        self.assertIn("Test event: Arrived", told["message"])
        with self.registry.test_lock:
            told = notification(connection.action_webhook_unregister())
        self.assertEqual(told["title"], "Webhook unregistered")

    def test_refused_deliveries_are_listed_on_the_webhooks_page_with_why(self):
        body = json.dumps({"EventName": "subscription-updated", "customerId": ASHFORD,
                           "subscriptionId": REFUNDABLE}).encode()  # fmt: skip
        answer = self.post(body, {"Content-Type": "application/json"})  # not signed
        self.assertEqual(answer.status_code, 401)
        connection = self.connection.with_user(self.manager)
        connection.invalidate_recordset(["webhook_refused_ids", "webhook_refused_count"])
        self.assertEqual(connection.webhook_refused_count, 1)
        refused = connection.webhook_refused_ids
        self.assertEqual(refused.status, 401)
        self.assertTrue(refused.error, "why it was refused")
        action = connection.action_open_webhook_refused()
        self.assertEqual(self.env["csp.request.log"].search(action["domain"]), refused)
