# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Partner Center webhooks through Odoo's real HTTP stack: the sandbox delivers signed
events to /csp/webhook/<key>; only a verified event is stored, once, and applied by
the cron to the named customer's subscriptions."""

import base64
import json
import logging
import pathlib
import tempfile
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import trustme
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from ..controllers.webhooks import HideWebhookKey
from ..microsoft.webhooks import MAX_BODY
from ..models import csp_webhook
from .common import CspSandboxHttpCase

ASHFORD = "7af027bc-08d6-4f57-9a71-144896c8da19"
REFUNDABLE = "3328ad08-8ded-4c96-91eb-79fa5d5f576c"
PLAIN = "fb695ffb-3a18-40c7-8092-b4d42b28fef0"


class Signer:
    """A signing certificate of our own, served by the sandbox under /certs."""

    def __init__(self, sandbox, name, ca, organisation="Microsoft Corporation"):
        leaf = ca.issue_cert(
            "pcnotifications.test", organization_name=organisation,
            key_type=trustme.KeyType.RSA,
        )  # fmt: skip
        self.key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
        pem = leaf.cert_chain_pems[0].bytes().decode()
        self.url = sandbox.control("POST", "webhooks/certificates", {"name": name, "pem": pem})[
            "url"
        ]

    def headers(self, body, url=None):
        signature = base64.b64encode(self.key.sign(body, padding.PKCS1v15(), hashes.SHA256()))
        return {
            "Content-Type": "application/json; charset=utf-8",
            "Authorization": f"Signature {signature.decode()}",
            "X-MS-Certificate-Url": url or self.url,
            "X-MS-Signature-Algorithm": "rsa-sha256",
        }


def event_body(subscription=REFUNDABLE, stamp=None):
    if stamp is None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps({
        "EventName": "subscription-updated",
        "ResourceUri": f"https://api.partnercenter.microsoft.com/v1/customers/{ASHFORD}"
                       f"/subscriptions/{subscription}",
        "ResourceName": "subscription",
        "AuditUri": None,
        "ResourceChangeUtcDate": stamp,
    }).encode()  # fmt: skip


@tagged("post_install", "-at_install")
class TestLicenceWebhooks(CspSandboxHttpCase):
    sandbox_tenants = 8

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_subscriptions_tenant(ASHFORD)
        cls.connection._csp_sync(trigger="manual", modules=["licences"])
        # trusted: the sandbox's CA (its own deliveries) and a test root of ours
        cls.test_root = trustme.CA(organization_name="Test Root")
        cls.workdir = tempfile.TemporaryDirectory(prefix="csp-webhook-")
        cls.addClassCleanup(cls.workdir.cleanup)
        roots = pathlib.Path(cls.workdir.name, "roots.pem")
        roots.write_bytes(
            pathlib.Path(cls.sandbox.ca_path).read_bytes() + cls.test_root.cert_pem.bytes()
        )
        cls.signer = Signer(cls.sandbox, "test-signer", cls.test_root)
        cls.connection.write(
            {
                "webhook_roots_path": str(roots),
                # the sandbox serves certificates on its own port, not 443
                "webhook_certificate_hosts": urlsplit(cls.signer.url).netloc,
                "webhook_certificate_names": "pcnotifications.test mscloud-sandbox.invalid",
            }
        )

    def setUp(self):
        super().setUp()
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", self.base_url())
        self.sub = self.env["csp.subscription"].search([("microsoft_id", "=", REFUNDABLE)])
        self.url = self.connection.webhook_url
        csp_webhook._refused.clear()  # the per-minute cap on refusal log lines starts anew

    def post(self, body, headers):
        return self.url_open(self.url, data=body, headers=headers)

    def events(self):
        return self.env["csp.webhook.event"].search([("connection_id", "=", self.connection.id)])

    def inbound(self):
        return self.env["csp.request.log"].search(
            [("connection_id", "=", self.connection.id), ("direction", "=", "inbound")]
        )

    def test_a_signed_partner_center_event_updates_the_subscription_through_the_cron(self):
        self.connection.action_webhook_register()
        self.assertIn(self.url, self.connection.webhook_registration)
        # a change in Partner Center that Odoo did not make (no audit record, no read)
        self.sandbox.control(
            "PATCH", f"tenants/{ASHFORD}/subscriptions/{REFUNDABLE}", {"quantity": 7}
        )
        result = self.sandbox.control(
            "POST", "webhooks/send",
            {"EventName": "subscription-updated", "customerId": ASHFORD,
             "subscriptionId": REFUNDABLE},
        )  # fmt: skip
        self.assertEqual((result["delivered"], result["status"]), (True, 200))
        event = self.events()
        self.assertEqual(len(event), 1)
        self.assertEqual((event.state, event.csp_tenant_id), ("pending", self.tenant))
        self.assertEqual(self.sub.quantity, 3, "answered at once: nothing read yet")
        since = self.env["csp.request.log"].search([], limit=1).id
        self.env["csp.webhook.event"]._cron_apply_webhook_events()
        self.assertEqual(self.sub.quantity, 7)
        self.assertEqual(event.state, "done")
        reads = self.env["csp.request.log"].search(
            [("id", ">", since), ("service", "=", "partnercenter")]
        )
        self.assertTrue(reads)
        self.assertTrue(all(ASHFORD in url for url in reads.mapped("url")), "that customer only")
        log = self.inbound()[:1]
        self.assertEqual(log.status, 200)
        self.assertNotIn("Signature ", log.request_body or "", "signature redacted")

    def test_a_test_event_shows_that_it_arrived(self):
        self.connection.action_webhook_register()
        self.connection.action_webhook_test()
        self.assertTrue(self.connection.webhook_test_id)

        def test_state(refresh=False):
            # between two of the server's requests: Partner Center's delivery is served
            # on this test's cursor, which a query of the test's own must not share
            with self.registry.test_lock:
                if refresh:
                    self.connection.action_webhook_refresh()
                self.connection.invalidate_recordset(["webhook_test_state"])
                return self.connection.webhook_test_state or ""

        deadline = time.monotonic() + 15
        while "Arrived" not in test_state() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertIn("Arrived", test_state())
        # what Partner Center has registered, and the delivery as it saw it (waiting
        # for its end: no delivery may still be in flight when the test ends)
        while "completed" not in test_state(refresh=True) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertIn("subscription-updated", self.connection.webhook_registration)
        self.assertIn("Partner Center: completed", self.connection.webhook_test_state)
        self.connection.action_webhook_unregister()
        self.connection.action_webhook_refresh()
        self.assertFalse(self.connection.webhook_registration)

    def cron_triggers(self):
        cron = self.env.ref("csp_connector.ir_cron_csp_webhook_events")
        return self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])

    def test_a_second_delivery_and_a_replay_change_nothing(self):
        body = event_body()
        ok = self.post(body, self.signer.headers(body))
        self.assertEqual(ok.status_code, 200, ok.text)
        event = self.events()
        self.assertEqual((len(event), event.state), (1, "pending"))
        self.env["csp.webhook.event"]._cron_apply_webhook_events()
        self.assertEqual(event.state, "done")
        self.connection.invalidate_recordset(["webhook_last_event"])
        seen, triggers = self.connection.webhook_last_event, self.cron_triggers()
        # the same delivery again (Partner Center's retry, or a captured body sent again
        # inside the replay window): refused, nothing stored, re-read or woken; answered
        # 200 so that Partner Center stops retrying
        again = self.post(body, self.signer.headers(body))
        self.assertEqual(again.status_code, 200)
        self.assertIn("nothing done", again.text)
        self.assertEqual(self.events(), event)
        self.assertEqual(event.state, "done", "not applied again")
        self.assertEqual(self.cron_triggers(), triggers, "the integrator is not woken")
        self.connection.invalidate_recordset(["webhook_last_event"])
        self.assertEqual(self.connection.webhook_last_event, seen)
        log = self.inbound()[:1]
        self.assertIn("already received", log.error)
        self.assertEqual(log.outcome, "error")
        # a captured body sent later, outside the replay window, and one dated ahead
        logs_before = len(self.inbound())
        now = datetime.now(UTC)
        for label, stamp, status, words in (
            ("captured 8 days ago", now - timedelta(days=8), 401, "a replay of an old delivery"),
            ("dated tomorrow", now + timedelta(days=1), 401, "in the future"),
            ("undated", None, 400, "ResourceChangeUtcDate"),
        ):
            with self.subTest(label):
                text = stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if stamp else ""
                old = event_body(subscription=PLAIN, stamp=text)
                answer = self.post(old, self.signer.headers(old))
                self.assertEqual(answer.status_code, status, answer.text)
                self.assertIn(words, answer.text)
                self.assertIn(words, self.inbound()[:1].error)
        self.assertEqual(len(self.inbound()) - logs_before, 3, "one log line each")
        self.assertEqual(self.events(), event, "nothing stored")
        self.assertEqual(self.cron_triggers(), triggers)

    def test_forged_and_broken_events_change_nothing(self):
        body = event_body()
        other = event_body(subscription=PLAIN)
        stranger = Signer(self.sandbox, "stranger", trustme.CA(organization_name="Elsewhere"))
        foreign_org = Signer(self.sandbox, "foreign-org", self.test_root, organisation="Contoso")
        cases = {
            "bad signature": (other, self.signer.headers(body), 401),
            "untrusted certificate": (other, stranger.headers(other), 401),
            "other organisation": (other, foreign_org.headers(other), 401),
            "foreign certificate host": (
                other, self.signer.headers(other, url="https://evil.example.com/c.cer"), 401,
            ),
            "oversized": (b"{" + b" " * MAX_BODY + b"}", self.signer.headers(b"{}"), 413),
            "malformed": (b"not json", self.signer.headers(b"not json"), 400),
        }  # fmt: skip
        logs_before = len(self.inbound())
        for label, (payload, headers, status) in cases.items():
            with self.subTest(label):
                answer = self.post(payload, headers)
                self.assertEqual(answer.status_code, status, answer.text)
        self.assertFalse(self.events(), "nothing stored")
        self.assertEqual(self.sub.quantity, 3)
        refused = self.inbound()[: len(cases)]
        self.assertEqual(len(self.inbound()) - logs_before, len(cases), "one log line each")
        self.assertEqual(sorted(refused.mapped("status")), sorted(c[2] for c in cases.values()))
        self.assertTrue(all(refused.mapped("error")))

    def test_an_unknown_webhook_key_is_not_found(self):
        body = event_body()
        answer = self.url_open("/csp/webhook/nope", data=body, headers=self.signer.headers(body))
        self.assertEqual(answer.status_code, 404)
        self.assertFalse(self.events())

    def test_the_bypass_certificate_url_is_refused_without_a_connection(self):
        """A URL whose host urllib and requests read differently: refused before any
        download (the certificate host list names the sandbox's port, so a download would
        reach it and be recorded there)."""
        place = urlsplit(self.signer.url).netloc
        body = event_body()
        before = self.sandbox.control("GET", "webhooks")["certificate_downloads"]
        for url in (
            f"https://{place}\\@evil.example.com/certs/test-signer",
            f"https://evil.example.com\\@{place}/certs/test-signer",
            f"https://user@{place}/certs/test-signer",
        ):
            with self.subTest(url):
                answer = self.post(body, self.signer.headers(body, url=url))
                self.assertEqual(answer.status_code, 401, answer.text)
                self.assertIn("not one allowed", answer.text)
        self.assertEqual(self.sandbox.control("GET", "webhooks")["certificate_downloads"], before)
        self.assertFalse(self.events())

    def test_receiving_never_writes_the_connection_and_shows_the_event(self):
        """A sync may be writing the connection row while events arrive: the delivery
        writes only its own records; the form reads the last event from them."""
        self.connection.action_webhook_register()
        self.connection.action_webhook_test()  # buttons: they write the connection, rightly
        self.connection.flush_recordset()
        self.env.cr.execute(
            "SELECT write_date FROM csp_connection WHERE id = %s", [self.connection.id]
        )
        written = self.env.cr.fetchone()[0]
        self.env.cr.execute(
            "UPDATE csp_connection SET write_date = %s WHERE id = %s",
            [written, self.connection.id],
        )
        body = event_body()
        self.assertEqual(self.post(body, self.signer.headers(body)).status_code, 200)
        test = self.sandbox.control("POST", "webhooks/send", {"EventName": "test-created"})
        self.assertEqual(test["status"], 200)
        self.env.cr.execute(
            "SELECT write_date FROM csp_connection WHERE id = %s", [self.connection.id]
        )
        self.assertEqual(self.env.cr.fetchone()[0], written, "the connection row is untouched")
        self.connection.invalidate_recordset()
        self.assertEqual(self.connection.webhook_last_event, self.events()[:1].create_date)
        self.assertIn("Arrived on", self.connection.webhook_test_state)

    def test_refused_deliveries_are_counted_past_a_few_log_lines_a_minute(self):
        body = event_body()
        wrong = self.signer.headers(event_body(subscription=PLAIN))  # signature of another body
        before = len(self.inbound())
        for _ in range(csp_webhook.REFUSED_LOG_PER_MINUTE + 5):
            self.assertEqual(self.post(body, wrong).status_code, 401)
        self.assertEqual(len(self.inbound()) - before, csp_webhook.REFUSED_LOG_PER_MINUTE)
        # the next minute's first line says how many were counted, not logged
        for slot in csp_webhook._refused.values():
            slot[0] -= 1
        self.post(body, wrong)
        self.assertIn("5 more refused deliveries", self.inbound()[:1].error)

    def test_webhook_events_are_the_connectors_to_write_and_delete(self):
        body = event_body()
        self.assertEqual(self.post(body, self.signer.headers(body)).status_code, 200)
        manager = new_test_user(
            self.env, "webhook-manager", groups="csp_connector.group_csp_manager"
        )
        event = self.events().with_user(manager)
        self.assertEqual(event.state, "pending")
        with self.assertRaises(AccessError):
            event.write({"state": "done", "digest": "forged"})
        with self.assertRaises(AccessError):
            event.unlink()  # deleting it would let the same delivery in again
        again = self.post(body, self.signer.headers(body))
        self.assertIn("nothing done", again.text)
        self.assertEqual(len(self.events()), 1)

    def test_the_webhook_key_is_a_managers_and_never_in_the_access_log(self):
        user = new_test_user(self.env, "webhook-reader", groups="csp_connector.group_csp_user")
        with self.assertRaises(AccessError):
            self.connection.with_user(user).read(["webhook_key"])
        with self.assertRaises(AccessError):
            self.connection.with_user(user).read(["webhook_url"])
        key = self.connection.sudo().webhook_key
        # werkzeug's request line, as the server's access log gets it
        record = logging.LogRecord(
            "werkzeug", logging.INFO, __file__, 0, '%s - - [04/Dec/2026 10:00:00] "%s" %s %s',
            ("127.0.0.1", f"POST /csp/webhook/{key} HTTP/1.1", 200, "-"), None,
        )  # fmt: skip
        access_log = logging.getLogger("werkzeug")
        self.assertTrue(any(isinstance(f, HideWebhookKey) for f in access_log.filters))
        self.assertTrue(access_log.filter(record))
        self.assertNotIn(key, record.getMessage())
        self.assertIn('"POST /csp/webhook/*** HTTP/1.1" 200', record.getMessage())

    def test_a_manager_creates_no_connection_with_trust_settings_of_his_own(self):
        manager = new_test_user(
            self.env, "webhook-creator", groups="csp_connector.group_csp_manager"
        )
        Connection = self.env["csp.connection"].with_user(manager)
        for values in (
            {"webhook_certificate_hosts": "attacker.example.com"},
            {"webhook_certificate_names": "example.com"},
            {"webhook_organisation": "Attacker Ltd"},
            {"webhook_roots_path": "/tmp/attacker-roots.pem"},
            {"webhook_key": "known-to-the-attacker"},
        ):
            with self.subTest(values), self.assertRaises(AccessError):
                Connection.create({"name": "Mine", **values})
        # the defaults are not a choice: a plain connection is fine
        self.assertTrue(Connection.create({"name": "Plain"}).sudo().webhook_key)

    def test_a_registration_for_another_url_is_flagged(self):
        self.connection.action_webhook_register()
        self.assertFalse(self.connection.webhook_registration_differs)
        self.connection._csp_show_registration(
            {"WebhookUrl": "https://copy.example.com/csp/webhook/x\nforged",
             "WebhookEvents": ["subscription-updated"]}
        )  # fmt: skip
        self.assertTrue(self.connection.webhook_registration_differs)
        self.assertIn("different URL", self.connection.webhook_registration)
        self.assertNotIn("x\nforged", self.connection.webhook_registration)
