# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Partner Center webhooks: registration from the connection, signed events received.

An event is accepted only when its signature verifies (microsoft/webhooks.py); it is
stored once, answered at once, and a cron re-reads only the named customer's
subscriptions. Every POST, accepted or not, leaves an inbound request-log line.
"""

import json
import logging
import secrets
import threading
import time
from datetime import UTC
from urllib.parse import urlsplit

import psycopg2
import requests

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..microsoft import errors, redact
from ..microsoft import webhooks as webhook_rules
from .csp_guard import code_env, is_code
from .csp_subscription_change import SOURCE_KEY, Sources

_logger = logging.getLogger(__name__)

DEFAULT_EVENTS = "subscription-updated test-created"
TRUST_FIELDS = ("webhook_certificate_hosts", "webhook_organisation", "webhook_roots_path")
CERTIFICATE_TTL = 3600.0
_certificates = {}  # url -> (expires, bytes): one download per hour, not per event
_certificates_lock = threading.Lock()


def _new_key():
    return secrets.token_urlsafe(24)


class CspConnection(models.Model):
    _inherit = "csp.connection"

    webhook_key = fields.Char(
        readonly=True, copy=False, default=lambda self: _new_key(),
        help="The unguessable part of this connection's webhook URL.",
    )  # fmt: skip
    webhook_url = fields.Char(string="Webhook URL", compute="_compute_webhook_url")
    webhook_events = fields.Char(
        default=DEFAULT_EVENTS,
        help="Partner Center events to register, separated by spaces.",
    )  # fmt: skip
    webhook_certificate_hosts = fields.Char(
        string="Signing Certificate Hosts",
        default=" ".join(webhook_rules.DEFAULT_CERTIFICATE_HOSTS),
        help="Hosts Partner Center's signing certificate may be downloaded from. Only "
        "system administrators can change it.",
    )
    webhook_organisation = fields.Char(
        string="Signing Organisation", default=webhook_rules.DEFAULT_ORGANISATION,
        help="The organisation the signing certificate must belong to.",
    )  # fmt: skip
    webhook_roots_path = fields.Char(
        string="Trusted Root Certificates",
        help="A PEM file of the root certificates a signing certificate must chain to "
        "(empty: the system's trusted roots). Only system administrators can change it.",
    )
    webhook_registration = fields.Text(readonly=True, copy=False)
    webhook_test_id = fields.Char(string="Test Event", readonly=True, copy=False)
    webhook_test_state = fields.Char(string="Test Event Status", readonly=True, copy=False)
    webhook_last_event = fields.Datetime(readonly=True, copy=False)
    webhook_event_count = fields.Integer(compute="_compute_webhook_event_count")

    _sql_constraints = [
        ("webhook_key_unique", "unique(webhook_key)", "Each connection has its own webhook URL."),
    ]

    def init(self):
        # connections that existed before this field got one default value: a key of
        # their own each (strong random, from PostgreSQL)
        self.env.cr.execute(
            "UPDATE csp_connection SET webhook_key = replace(gen_random_uuid()::text, '-', '')"
            " WHERE webhook_key IS NULL OR webhook_key IN (SELECT webhook_key FROM"
            " csp_connection GROUP BY webhook_key HAVING count(*) > 1)"
        )

    def _compute_webhook_url(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for connection in self:
            key = connection.sudo().webhook_key
            connection.webhook_url = f"{base.rstrip('/')}/csp/webhook/{key}" if key else False

    def _compute_webhook_event_count(self):
        counts = dict(
            self.env["csp.webhook.event"]._read_group(
                [("connection_id", "in", self.ids)], ["connection_id"], ["__count"]
            )
        )
        for connection in self:
            connection.webhook_event_count = counts.get(connection, 0)

    def write(self, vals):
        if set(TRUST_FIELDS) & set(vals) and not self.env.user._is_system():
            raise AccessError(
                self.env._(
                    "Only system administrators can change what a webhook event is trusted by."
                )
            )
        code_only = {"webhook_key", "webhook_registration", "webhook_test_id",
                     "webhook_test_state", "webhook_last_event"}  # fmt: skip
        if code_only & set(vals) and not is_code(self.env):
            raise AccessError(self.env._("These webhook fields are set by the connector itself."))
        return super().write(vals)

    # -- registration (buttons) ------------------------------------------------------------

    def _csp_webhook_client(self):
        self.ensure_one()
        if not self.env.user.has_group("csp_connector.group_csp_manager"):
            raise AccessError(self.env._("Only a Microsoft CSP manager may manage webhooks."))
        recorder = self.env["csp.request.log"]._csp_recorder(self, immediate=True)
        return self._csp_partner_center(self._csp_http(recorder))

    def _csp_webhook_call(self, call):
        try:
            return call(self._csp_webhook_client())
        except errors.MicrosoftError as exc:
            raise UserError(exc.user_message()) from None

    def action_webhook_register(self):
        """Register (or update) this connection's URL and events with Partner Center."""
        self.ensure_one()
        events = (self.webhook_events or "").split()
        if not events:
            raise UserError(self.env._("Choose at least one webhook event."))
        parts = urlsplit(self.webhook_url or "")
        local = parts.hostname in ("127.0.0.1", "localhost")  # a test or demo set-up
        if parts.scheme != "https" and not local:
            raise UserError(
                self.env._(
                    "Partner Center delivers events to https URLs only, and this Odoo's base "
                    "URL (%s) is not one. Set web.base.url to the public https address.",
                    self.webhook_url,
                )
            )
        answer = self._csp_webhook_call(
            lambda client: client.register_webhook(self.webhook_url, events)
        )
        self._csp_show_registration(answer)
        return True

    def action_webhook_refresh(self):
        """Show what Partner Center has registered (and the test event's progress)."""
        self.ensure_one()

        def read(client):
            registration = client.webhook_registration()
            test = client.webhook_test_event(self.webhook_test_id) if self.webhook_test_id else None
            return registration, test

        registration, test = self._csp_webhook_call(read)
        self._csp_show_registration(registration)
        if test is not None:
            code_env(self).write({"webhook_test_state": _test_state(test)})
        return True

    def action_webhook_unregister(self):
        self.ensure_one()
        self._csp_webhook_call(lambda client: client.delete_webhook())
        code_env(self).write({"webhook_registration": False})
        return True

    def action_webhook_test(self):
        """Ask Partner Center to send a test event; its arrival shows on the form."""
        self.ensure_one()
        answer = self._csp_webhook_call(lambda client: client.send_webhook_test())
        code_env(self).write(
            {
                "webhook_test_id": answer.get("correlationId") or False,
                "webhook_test_state": self.env._("Requested; not arrived yet"),
            }
        )
        return True

    def _csp_show_registration(self, answer):
        text = False
        if answer:
            url = answer.get("WebhookUrl") or answer.get("webhookUrl") or ""
            events = answer.get("WebhookEvents") or answer.get("webhookEvents") or []
            text = f"{url}\n{', '.join(events)}"
        code_env(self).write({"webhook_registration": text})

    def action_open_webhook_events(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "csp_connector.csp_webhook_event_action"
        )
        action["domain"] = [("connection_id", "=", self.id)]
        return action

    # -- receiving ----------------------------------------------------------------------------

    def _csp_webhook_roots(self):
        path = self.sudo().webhook_roots_path or requests.certs.where()
        try:
            with open(path, "rb") as handle:
                return webhook_rules.load_certificates(handle.read())
        except OSError:
            _logger.warning("CSP: cannot read the webhook root certificates at %s", path)
            return []

    def _csp_fetch_certificate(self, url):
        now = time.monotonic()
        with _certificates_lock:
            cached = _certificates.get(url)
            if cached and cached[0] > now:
                return cached[1]
        try:
            response = requests.get(
                url, timeout=10, stream=True, allow_redirects=False,
                verify=self.sudo().ca_bundle_path or True,
            )  # fmt: skip
            data = response.raw.read(webhook_rules.MAX_CERTIFICATE + 1, decode_content=True)
            response.close()
        except requests.RequestException as exc:
            raise webhook_rules.WebhookRefused(
                f"The signing certificate could not be downloaded: {type(exc).__name__}."
            ) from None
        if response.status_code != 200:
            raise webhook_rules.WebhookRefused(
                f"The certificate URL answered HTTP {response.status_code}."
            )
        with _certificates_lock:
            _certificates[url] = (now + CERTIFICATE_TTL, data)
        return data


def _test_state(test):
    status = test.get("status") or "unknown"
    events = test.get("events") or test.get("results") or []
    attempts = next((e.get("attempts") for e in events if isinstance(e, dict)), None)
    return f"Partner Center: {status}" + (f" ({attempts} attempt(s))" if attempts else "")


class CspWebhookEvent(models.Model):
    _name = "csp.webhook.event"
    _description = "Microsoft CSP Webhook Event"
    _order = "id desc"

    connection_id = fields.Many2one(
        "csp.connection", required=True, ondelete="cascade", index=True, readonly=True
    )
    company_id = fields.Many2one(related="connection_id.company_id", store=True)
    name = fields.Char(string="Event", required=True, readonly=True)
    resource_uri = fields.Char(string="Resource", readonly=True)
    customer_tenant = fields.Char(string="Customer Tenant ID", readonly=True, index=True)
    subscription_ref = fields.Char(string="Subscription Id", readonly=True)
    csp_tenant_id = fields.Many2one("csp.tenant", string="Tenant", readonly=True)
    changed_at = fields.Datetime(string="Changed On", readonly=True)
    digest = fields.Char(readonly=True, required=True)
    state = fields.Selection(
        [("pending", "To apply"), ("done", "Applied"), ("ignored", "Nothing to do"),
         ("error", "Failed")],
        default="pending", required=True, readonly=True, index=True,
    )  # fmt: skip
    message = fields.Text(readonly=True)

    _sql_constraints = [
        (
            "digest_unique",
            "unique(connection_id, digest)",
            "The same Partner Center event is stored once.",
        ),
    ]

    @api.model
    def _csp_receive(self, key, body, headers):
        """(HTTP status, answer text) for one POST to /csp/webhook/<key>."""
        connection = self.env["csp.connection"].sudo().search([("webhook_key", "=", key)], limit=1)
        if not key or not connection:
            return 404, "Unknown webhook."
        try:
            event = webhook_rules.verify(
                body,
                headers,
                allowed_hosts=(connection.webhook_certificate_hosts or "").split(),
                roots=connection._csp_webhook_roots(),
                fetch_certificate=connection._csp_fetch_certificate,
                organisation=connection.webhook_organisation,
            )
        except webhook_rules.WebhookRefused as exc:
            _logger.warning("CSP: webhook event refused for connection %s: %s",
                            connection.id, exc.reason)  # fmt: skip
            self._csp_log_inbound(connection, body, headers, exc.status, exc.reason)
            return exc.status, exc.reason
        known = self._csp_known(connection, event.digest)
        if not known:
            try:
                return self._csp_accept(connection, event, body, headers)
            except psycopg2.IntegrityError:  # the same event, stored meanwhile by a parallel POST
                known = self._csp_known(connection, event.digest)
        # A second delivery of a stored event (Partner Center retrying after a lost
        # answer, or someone replaying a captured body inside the replay window): refused,
        # nothing stored, re-read or triggered; the log line says so. It is answered 200
        # on purpose: Partner Center retries every non-2xx answer (10 attempts), so a 4xx
        # would turn its retry of an event Odoo already holds into a run of failed
        # deliveries on the partner's registration, and tell a replayer nothing more.
        reason = self.env._(
            "Refused: this event was already received on %s (UTC); nothing done.",
            fields.Datetime.to_string(known.create_date) if known else "?",
        )
        _logger.info("CSP: webhook event delivered again for connection %s: %s",
                     connection.id, reason)  # fmt: skip
        self._csp_log_inbound(connection, body, headers, 200, reason)
        return 200, "Already received; nothing done."

    @api.model
    def _csp_known(self, connection, digest):
        return self.sudo().search(
            [("connection_id", "=", connection.id), ("digest", "=", digest)], limit=1
        )

    @api.model
    def _csp_accept(self, connection, event, body, headers):
        status, text = self._csp_store(connection, event)
        self._csp_log_inbound(connection, body, headers, status, None, text)
        return status, text

    @api.model
    def _csp_refuse_unread(self, key, headers, length):
        """A POST without a length, or longer than any event: refused unread."""
        if length is None:
            status, reason = 411, "A Content-Length is required."
        else:
            status, reason = 413, f"The event body ({length} bytes) is larger than accepted."
        connection = self.env["csp.connection"].sudo().search([("webhook_key", "=", key)], limit=1)
        if not key or not connection:
            return 404, "Unknown webhook."
        self._csp_log_inbound(connection, b"(not read)", headers, status, reason)
        return status, reason

    @api.model
    def _csp_store(self, connection, event):
        Event = self.sudo()
        tenant = self.env["csp.tenant"].sudo().search(
            [("connection_id", "=", connection.id), ("tenant_id", "=ilike", event.customer_id)],
            limit=1,
        ) if event.customer_id else self.env["csp.tenant"]  # fmt: skip
        useful = event.name == "subscription-updated" and bool(tenant)
        changed = event.changed_at.astimezone(UTC).replace(tzinfo=None)
        with self.env.cr.savepoint():
            Event.create(
                {
                    "connection_id": connection.id,
                    "name": event.name[:100],
                    "resource_uri": event.resource_uri[:500] or False,
                    "customer_tenant": event.customer_id or False,
                    "subscription_ref": event.subscription_id or False,
                    "csp_tenant_id": tenant.id or False,
                    "changed_at": changed,
                    "digest": event.digest,
                    "state": "pending" if useful else "ignored",
                }
            )
        values = {"webhook_last_event": fields.Datetime.now()}
        if event.name == "test-created":
            values["webhook_test_state"] = self.env._(
                "Arrived on %s (UTC)", fields.Datetime.to_string(fields.Datetime.now())
            )
        code_env(connection).write(values)
        if useful:
            self.env.ref("csp_connector.ir_cron_csp_webhook_events").sudo()._trigger()
        return 200, "Received."

    @api.model
    def _csp_log_inbound(self, connection, body, headers, status, error, answer=None):
        shown = {
            k: v
            for k, v in dict(headers).items()
            if k.lower().startswith(("x-ms-", "authorization", "content-type"))
        }
        request_text = (
            json.dumps(shown, sort_keys=True) + "\n\n" + body[:4096].decode("utf-8", "replace")
        )
        self.env["csp.request.log"].sudo().create(
            {
                "connection_id": connection.id,
                "direction": "inbound",
                "service": "webhook",
                "method": "POST",
                "url": "/csp/webhook/***",
                "status": status,
                "request_body": redact.redact_text(request_text),
                "response_body": answer or error or "",
                "outcome": "error" if error or status >= 400 else "success",
                "error": error or False,
            }
        )

    # -- applying (cron) ------------------------------------------------------------------------

    @api.model
    def _cron_apply_webhook_events(self):
        """Re-read the subscriptions named by pending events, one customer at a time."""
        pending = self.search([("state", "=", "pending")], order="id")
        testing = getattr(threading.current_thread(), "testing", False)
        for tenant in pending.csp_tenant_id:
            events = pending.filtered(lambda e, t=tenant: e.csp_tenant_id == t)
            connection = tenant.connection_id
            recorder = self.env["csp.request.log"]._csp_recorder(connection)
            try:
                with self.env.cr.savepoint():
                    ids = {e.subscription_ref or "*" for e in events}
                    tenant._csp_note_changed_subscriptions(ids)
                    # the re-read's changes are the events': dated and named by them
                    sources = Sources({
                        e.subscription_ref.lower(): (e.changed_at or fields.Datetime.now(),
                                                     str(e.id))
                        for e in events.sorted("id") if e.subscription_ref
                    })  # fmt: skip
                    tenant.with_context(**{SOURCE_KEY: sources})._csp_sync_subscriptions(
                        connection._csp_http(recorder)
                    )
                    events.write({"state": "done", "message": False})
            except Exception as exc:  # one customer's failure never stops the others
                _logger.warning(
                    "CSP: applying webhook events of tenant %s failed: %s", tenant.id, exc
                )
                message = exc.user_message() if isinstance(exc, errors.MicrosoftError) else str(exc)
                events.write({"state": "error", "message": message})
            finally:
                recorder.flush()
            if not testing:
                self.env.cr.commit()  # pylint: disable=invalid-commit
        self.search([("state", "=", "pending"), ("csp_tenant_id", "=", False)]).write(
            {"state": "ignored"}
        )
        self._csp_purge()

    @api.model
    def _csp_purge(self, days=30):
        """Events are kept a month: longer than the replay window (MAX_AGE of
        microsoft/webhooks), so a body sent again inside the window is still known."""
        limit = fields.Datetime.subtract(fields.Datetime.now(), days=days)
        self.search([("create_date", "<", limit)]).unlink()
