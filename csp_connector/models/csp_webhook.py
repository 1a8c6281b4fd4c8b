# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Partner Center webhooks: registration from the connection, signed events received.

An event is accepted only when its signature verifies (microsoft/webhooks.py); it is
stored once, answered at once, and a cron re-reads only the named customer's
subscriptions. Receiving writes only its own records (the event, its request-log line),
never the connection row, which a sync may be writing at the same moment. Every accepted
POST leaves an inbound request-log line; refused ones too, up to
REFUSED_LOG_PER_MINUTE a minute per connection, the rest counted on the next line.
"""

import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from datetime import UTC
from urllib.parse import urlsplit

import psycopg2
import requests

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..microsoft import errors, redact
from ..microsoft import webhooks as webhook_rules
from ..microsoft.safe_text import one_line
from . import feedback
from .csp_guard import code_env, is_code
from .csp_subscription_change import SOURCE_KEY, Sources
from .testing import under_test

_logger = logging.getLogger(__name__)

DEFAULT_EVENTS = "subscription-updated test-created"
TRUST_FIELDS = (
    "webhook_certificate_hosts", "webhook_certificate_names", "webhook_organisation",
    "webhook_roots_path",
)  # fmt: skip
CERTIFICATE_TTL = 3600.0
MAX_CACHED_CERTIFICATES = 16
# url -> (expires, bytes): one download per hour, not per event; the oldest goes first
_certificates = OrderedDict()
_certificates_lock = threading.Lock()
EVENT_DAYS = 30  # kept longer than the replay window (webhook_rules.MAX_AGE)
REFUSED_LOG_PER_MINUTE = 10
_refused = {}  # (database, connection id) -> [minute, logged, not logged]
_refused_lock = threading.Lock()


def _new_key():
    return secrets.token_urlsafe(24)


class CspConnection(models.Model):
    _inherit = "csp.connection"

    webhook_key = fields.Char(
        readonly=True, copy=False, default=lambda self: _new_key(),
        groups="csp_connector.group_csp_manager",
        help="The unguessable part of this connection's webhook URL.",
    )  # fmt: skip
    webhook_url = fields.Char(
        string="Webhook URL", compute="_compute_webhook_url",
        groups="csp_connector.group_csp_manager",
    )  # fmt: skip
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
    webhook_certificate_names = fields.Char(
        string="Signing Certificate Names",
        default=" ".join(webhook_rules.DEFAULT_CERTIFICATE_NAMES),
        help="Host names the signing certificate must be issued to (that name or one "
        "below it), separated by spaces. Only system administrators can change it.",
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
    webhook_registration_differs = fields.Boolean(
        string="Registered URL Differs", readonly=True, copy=False,
        help="Partner Center answered the registration with a URL other than this "
        "connection's webhook URL: its events go elsewhere.",
    )  # fmt: skip
    webhook_test_id = fields.Char(string="Test Event", readonly=True, copy=False)
    webhook_test_requested = fields.Datetime(readonly=True, copy=False)
    webhook_test_status = fields.Char(readonly=True, copy=False)
    webhook_test_user_id = fields.Many2one(
        "res.users", string="Test Asked By", readonly=True, copy=False,
        help="Told when the test event arrives.",
    )  # fmt: skip
    webhook_refused_ids = fields.Many2many(
        "csp.request.log", string="Refused Deliveries", compute="_compute_webhook_refused",
        help="The last deliveries to this connection's webhook URL that Odoo refused, with "
        "why (a signature that did not verify, an event received twice...).",
    )  # fmt: skip
    webhook_refused_count = fields.Integer(compute="_compute_webhook_refused")
    webhook_test_state = fields.Char(string="Test Event Status", compute="_compute_webhook_seen")
    webhook_last_event = fields.Datetime(compute="_compute_webhook_seen")
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

    def _compute_webhook_refused(self):
        Log = self.env["csp.request.log"]
        for connection in self:
            domain = connection._csp_refused_domain()
            connection.webhook_refused_ids = Log.search(domain, limit=10)
            connection.webhook_refused_count = Log.search_count(domain)

    def _csp_refused_domain(self):
        return [("connection_id", "=", self.id), ("direction", "=", "inbound"),
                ("service", "=", "webhook"), ("error", "!=", False)]  # fmt: skip

    def _compute_webhook_event_count(self):
        counts = dict(
            self.env["csp.webhook.event"]._read_group(
                [("connection_id", "in", self.ids)], ["connection_id"], ["__count"]
            )
        )
        for connection in self:
            connection.webhook_event_count = counts.get(connection, 0)

    @api.depends("webhook_test_requested", "webhook_test_status")
    def _compute_webhook_seen(self):
        """The last event received and the test event's progress, read from the events
        (receiving never writes the connection row) and from Partner Center's own view
        of the delivery (``webhook_test_status``, read by 'Refresh')."""
        Event = self.env["csp.webhook.event"].sudo()
        for connection in self:
            last = Event.search([("connection_id", "=", connection.id)], limit=1, order="id desc")
            connection.webhook_last_event = last.create_date or False
            requested = connection.webhook_test_requested
            arrived = requested and Event.search(
                [("connection_id", "=", connection.id), ("name", "=", "test-created"),
                 ("create_date", ">=", requested)],
                limit=1, order="id desc",
            )  # fmt: skip
            if arrived:
                seen = self.env._(
                    "Arrived on %s (UTC)", fields.Datetime.to_string(arrived.create_date)
                )
            elif requested:
                seen = self.env._("Requested; not arrived yet")
            else:
                seen = False
            status = connection.webhook_test_status
            connection.webhook_test_state = (
                f"{seen}; {status}" if seen and status else (seen or status or False)
            )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._csp_check_webhook_fields(vals, creating=True)
        return super().create(vals_list)

    def write(self, vals):
        self._csp_check_webhook_fields(vals)
        return super().write(vals)

    @api.model
    def _csp_code_only_fields(self):
        # the webhook's own fields: its key, registration and test
        return super()._csp_code_only_fields() | {
            "webhook_key", "webhook_registration", "webhook_registration_differs",
            "webhook_test_id", "webhook_test_status", "webhook_test_requested",
            "webhook_test_user_id",
        }  # fmt: skip

    def _csp_check_webhook_fields(self, vals, creating=False):
        """What ``write`` refuses, ``create`` refuses too: the trust settings are a system
        administrator's (a default is not a choice)."""
        defaults = self.default_get(list(TRUST_FIELDS)) if creating else {}
        chosen = {f for f in TRUST_FIELDS if f in vals and (
            not creating or (vals[f] or False) != (defaults.get(f) or False))}  # fmt: skip
        if chosen and not self.env.user._is_system() and not is_code(self.env):
            raise AccessError(
                self.env._(
                    "Only system administrators can change what a webhook event is trusted by."
                )
            )

    # -- registration (buttons) ------------------------------------------------------------

    def _csp_webhook_call(self, call):
        """``call(client)`` with this connection's Partner Center client, for a manager."""
        self.ensure_one()
        if not self.env.user.has_group("csp_connector.group_csp_manager"):
            raise AccessError(self.env._("Only a Microsoft CSP manager may manage webhooks."))
        with self._csp_call_microsoft() as http:
            return call(self._csp_partner_center(http))

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
        if self.webhook_registration_differs:
            return feedback.notify(
                self.webhook_registration, title=self.env._("Webhook registered elsewhere"),
                kind="warning", sticky=True, next_action=feedback.RELOAD,
            )  # fmt: skip
        return feedback.notify(
            self.env._(
                "Partner Center now sends its events (%(events)s) to %(url)s. 'Send test "
                "event' checks that they arrive.",
                events=", ".join(events), url=self.webhook_url,
            ),
            title=self.env._("Webhook registered"),
            next_action=feedback.RELOAD,
        )  # fmt: skip

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
            code_env(self).write({"webhook_test_status": _test_state(test)})
        lines = [self.webhook_registration or self.env._("Nothing is registered.")]
        if self.webhook_test_state:
            lines.append(self.env._("Test event: %s", self.webhook_test_state))
        return feedback.notify(
            "\n".join(lines),
            title=self.env._("Partner Center's registration"),
            kind="warning" if self.webhook_registration_differs else "info",
            next_action=feedback.RELOAD,
        )

    def action_webhook_unregister(self):
        self.ensure_one()
        self._csp_webhook_call(lambda client: client.delete_webhook())
        code_env(self).write({"webhook_registration": False})
        return feedback.notify(
            self.env._("Partner Center no longer sends events to this Odoo."),
            title=self.env._("Webhook unregistered"),
            next_action=feedback.RELOAD,
        )

    def action_webhook_test(self):
        """Ask Partner Center to send a test event; its arrival shows on the form."""
        self.ensure_one()
        answer = self._csp_webhook_call(lambda client: client.send_webhook_test())
        code_env(self).write(
            {
                "webhook_test_id": answer.get("correlationId") or False,
                "webhook_test_requested": fields.Datetime.now(),
                "webhook_test_status": False,
                "webhook_test_user_id": self.env.uid,
            }
        )
        return feedback.notify(
            self.env._(
                "Partner Center is sending a test event to %s. You are told here when it "
                "arrives; if it does not within a few minutes, 'Show registration' gives "
                "Partner Center's view of the delivery and the Refused deliveries list why "
                "Odoo refused one.",
                self.webhook_url,
            ),
            title=self.env._("Test event asked"),
            kind="info",
            next_action=feedback.RELOAD,
        )

    def _csp_show_registration(self, answer):
        """Show what Partner Center registered; a URL other than this connection's is
        flagged (its events would go elsewhere) and said in words."""
        text, differs = False, False
        if answer:
            url = answer.get("WebhookUrl") or answer.get("webhookUrl") or ""
            events = answer.get("WebhookEvents") or answer.get("webhookEvents") or []
            if not isinstance(events, list):
                events = []
            url, events = one_line(url, 500), [one_line(e, 100) for e in events]
            differs = url.rstrip("/") != (self.webhook_url or "").rstrip("/")
            text = f"{url}\n{', '.join(events)}"
            if differs:
                text = self.env._(
                    "Partner Center registered a different URL than this connection's "
                    "(%(ours)s): its events do not reach this connection. Likely cause: "
                    "another Odoo (a copy of this database, or a test server) registered "
                    "its own URL since. Click 'Register' here to take the registration "
                    "back.\n%(text)s",
                    ours=self.webhook_url,
                    text=text,
                )
        code_env(self).write(
            {"webhook_registration": text, "webhook_registration_differs": differs}
        )

    def action_open_webhook_refused(self):
        """The request log's lines of the deliveries Odoo refused, with why."""
        self.ensure_one()
        return self.env["ir.actions.act_window"]._csp_action(
            "csp_connector.csp_request_log_action", domain=self._csp_refused_domain()
        )

    def _csp_tell_test_arrived(self, event_time):
        """The test event arrived: whoever asked for it is told, wherever they are."""
        user = self.sudo().webhook_test_user_id
        if not user:
            return
        user.partner_id._bus_send(
            "simple_notification",
            {
                "title": self.env._("Test event arrived"),
                "message": self.env._(
                    "Partner Center's test event reached %(connection)s on %(when)s (UTC): "
                    "its webhook works.",
                    connection=self.name,
                    when=fields.Datetime.to_string(event_time),
                ),
                "type": "success",
                "sticky": False,
            },
        )

    def action_open_webhook_events(self):
        self.ensure_one()
        return self.env["ir.actions.act_window"]._csp_action(
            "csp_connector.csp_webhook_event_action", domain=[("connection_id", "=", self.id)]
        )

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
                _certificates.move_to_end(url)
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
            _certificates.move_to_end(url)
            while len(_certificates) > MAX_CACHED_CERTIFICATES:
                _certificates.popitem(last=False)
        return data


def _refusal_slot(database, connection_id, now):
    """(log this refusal?, refusals counted and not logged before it) for a connection
    at ``now`` (seconds): the first REFUSED_LOG_PER_MINUTE of each minute are logged."""
    minute = int(now // 60)
    with _refused_lock:
        slot = _refused.get((database, connection_id))
        carried = 0
        if slot is None or slot[0] != minute:
            carried = slot[2] if slot else 0
            slot = _refused[(database, connection_id)] = [minute, 0, carried]
        if slot[1] >= REFUSED_LOG_PER_MINUTE:
            slot[2] += 1
            return False, 0
        slot[1] += 1
        skipped, slot[2] = slot[2], 0
        return True, skipped


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

    def write(self, vals):
        if not is_code(self.env):
            raise AccessError(
                self.env._("Webhook events are recorded by the connector; they cannot be edited.")
            )
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_by_the_connector_only(self):
        # a stored event is what refuses the same delivery sent again: only the
        # connector's own purge, after the replay window, removes events
        if not is_code(self.env):
            raise AccessError(
                self.env._(
                    "Webhook events are removed by the connector after %(days)s days, once "
                    "a copy of the delivery could no longer be accepted; they cannot be "
                    "deleted by hand.",
                    days=EVENT_DAYS,
                )
            )

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
                names=(connection.webhook_certificate_names or "").split(),
            )
        except webhook_rules.WebhookRefused as exc:
            self._csp_log_refused(connection, body, headers, exc.status, exc.reason)
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
        self._csp_log_refused(connection, body, headers, 200, reason, level=logging.INFO)
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
        self._csp_log_refused(connection, b"(not read)", headers, status, reason)
        return status, reason

    @api.model
    def _csp_log_refused(self, connection, body, headers, status, reason, level=logging.WARNING):
        """A refused delivery in the server log and the request log, at most
        REFUSED_LOG_PER_MINUTE a minute per connection: anyone who knows the URL can
        POST, and must not fill the database; the ones past the cap are counted on the
        next line written."""
        logged, skipped = _refusal_slot(self.env.cr.dbname, connection.id, time.time())
        if not logged:
            return
        if skipped:
            reason = self.env._(
                "%(reason)s (%(count)s more refused deliveries in the previous minutes were "
                "counted, not logged)",
                reason=reason,
                count=skipped,
            )
        _logger.log(level, "CSP: webhook delivery refused for connection %s: %s",
                    connection.id, one_line(reason, 500))  # fmt: skip
        self._csp_log_inbound(connection, body, headers, status, reason)

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
        if useful:
            self.env.ref("csp_connector.ir_cron_csp_webhook_events").sudo()._trigger()
        if event.name == "test-created" and connection.webhook_test_requested:
            connection._csp_tell_test_arrived(fields.Datetime.now())
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
        testing = under_test()
        for tenant in pending.csp_tenant_id:
            events = pending.filtered(lambda e, t=tenant: e.csp_tenant_id == t)
            if self._csp_dispatch_events(tenant, events):
                continue  # re-read elsewhere (an add-on's job)
            self._csp_apply_events(tenant, events)
            if not testing:
                self.env.cr.commit()  # pylint: disable=invalid-commit
        code_env(self.search([("state", "=", "pending"), ("csp_tenant_id", "=", False)])).write(
            {"state": "ignored"}
        )
        self._csp_purge()

    @api.model
    def _csp_dispatch_events(self, tenant, events):
        """Hand the re-read of `tenant` for its pending `events` elsewhere (an add-on's
        job queue); True when it was, and the add-on then calls `_csp_apply_events`
        itself. The core re-reads here and now: False."""
        return False

    @api.model
    def _csp_apply_events(self, tenant, events):
        """Re-read the subscriptions of `tenant` named by `events` and mark them applied,
        or failed with the explanation: one customer's failure never stops the others.
        Returns the failure (an exception), None when the re-read succeeded."""
        connection = tenant.connection_id
        try:
            with connection._csp_call_microsoft(explain=False) as http, self.env.cr.savepoint():
                ids = {e.subscription_ref or "*" for e in events}
                tenant._csp_note_changed_subscriptions(ids)
                # the re-read's changes are the events': dated and named by them
                sources = Sources({
                    e.subscription_ref.lower(): (e.changed_at or fields.Datetime.now(),
                                                 str(e.id))
                    for e in events.sorted("id") if e.subscription_ref
                })  # fmt: skip
                tenant.with_context(**{SOURCE_KEY: sources})._csp_sync_subscriptions(http)
                code_env(events).write({"state": "done", "message": False})
        except Exception as exc:  # one customer's failure never stops the others
            _logger.warning("CSP: applying webhook events of tenant %s failed: %s", tenant.id, exc)
            message = exc.user_message() if isinstance(exc, errors.MicrosoftError) else str(exc)
            code_env(events).write({"state": "error", "message": message})
            return exc
        return None

    @api.model
    def _csp_purge(self, days=None):
        """Events are kept a month: longer than the replay window (MAX_AGE of
        microsoft/webhooks), so a body sent again inside the window is still known."""
        days = max(days or EVENT_DAYS, webhook_rules.MAX_AGE.days + 1)
        limit = fields.Datetime.subtract(fields.Datetime.now(), days=days)
        code_env(self.search([("create_date", "<", limit)])).unlink()
