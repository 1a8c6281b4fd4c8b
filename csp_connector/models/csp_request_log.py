# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import logging
import re

from odoo import SUPERUSER_ID, api, fields, models

from .testing import under_test

_logger = logging.getLogger(__name__)

_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
SCANNED = 4000  # characters of a request body searched for the ids it names


class CspRequestLog(models.Model):
    """Every exchange with Microsoft, both ways, with secrets redacted."""

    _name = "csp.request.log"
    _description = "Microsoft CSP Request Log"
    _order = "id desc"
    _rec_name = "url"

    connection_id = fields.Many2one("csp.connection", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="connection_id.company_id", store=True)
    tenant_id = fields.Char(string="Tenant ID", index=True)
    csp_tenant_id = fields.Many2one(
        "csp.tenant", string="Tenant", compute="_compute_named", search="_search_csp_tenant_id",
        help="The customer tenant the exchange was about (by its Tenant ID).",
    )  # fmt: skip
    about = fields.Char(
        compute="_compute_named",
        help="The subscriptions and licences the exchange names, by their names.",
    )
    direction = fields.Selection(
        [("outbound", "Outbound (to Microsoft)"), ("inbound", "Inbound (from Microsoft)")],
        required=True,
        default="outbound",
    )
    service = fields.Selection(
        [
            ("login", "Entra ID"),
            ("partnercenter", "Partner Center"),
            ("graph", "Microsoft Graph"),
            ("pricing", "Price sheet"),
            ("webhook", "Webhook"),
        ]
    )
    method = fields.Char()
    url = fields.Char(string="URL")
    status = fields.Integer(string="HTTP Status")
    duration_ms = fields.Integer(string="Duration (ms)")
    attempt = fields.Integer(default=1)
    request_id = fields.Char(string="Request ID")
    correlation_id = fields.Char(string="Correlation ID", index=True)
    request_body = fields.Text()
    response_body = fields.Text()
    outcome = fields.Selection(
        [("success", "Success"), ("retried", "Retried"), ("error", "Error")], index=True
    )
    error = fields.Text()

    @api.depends("method", "url", "status", "service")
    def _compute_display_name(self):
        services = dict(self._fields["service"]._description_selection(self.env))
        for log in self:
            path = (log.url or "").split("?", 1)[0]
            log.display_name = " ".join(
                part
                for part in (services.get(log.service), log.method, path,
                             log.status and f"({log.status})")
                if part
            )  # fmt: skip

    @api.depends("connection_id", "tenant_id", "url", "request_body")
    def _compute_named(self):
        """Tenants, subscriptions and licences by name instead of their GUIDs."""
        ids = {guid.lower() for log in self for guid in log._csp_guids()}
        tenants, subscriptions, skus = {}, {}, {}
        if ids:
            Tenant = self.env["csp.tenant"].with_context(active_test=False)
            for tenant in Tenant.search([("tenant_id", "in", list(ids))]):
                tenants[(tenant.connection_id.id, tenant.tenant_id)] = tenant
            for sub in self.env["csp.subscription"].search([("microsoft_id", "in", list(ids))]):
                subscriptions[(sub.connection_id.id, sub.microsoft_id)] = sub
            for sku in self.env["csp.subscribed.sku"].search([("sku_id", "in", list(ids))]):
                skus.setdefault((sku.connection_id.id, sku.sku_id), sku)
        for log in self:
            connection = log.connection_id.id
            log.csp_tenant_id = tenants.get((connection, (log.tenant_id or "").lower()), False)
            names = []
            for guid in log._csp_guids():
                key = (connection, guid.lower())
                found = subscriptions.get(key) or skus.get(key)
                if found and found.display_name not in names:
                    names.append(found.display_name)
            log.about = ", ".join(names) or False

    def _csp_guids(self):
        text = f"{self.url or ''} {(self.request_body or '')[:SCANNED]}"
        return _GUID.findall(text)

    @api.model
    def _search_csp_tenant_id(self, operator, value):
        field = "name" if isinstance(value, str) else "id"
        tenants = (
            self.env["csp.tenant"]
            .with_context(active_test=False)
            .search([(field, operator, value)])
        )
        return [("tenant_id", "in", [t for t in tenants.mapped("tenant_id") if t])]

    @api.model
    def _csp_recorder(self, connection, immediate=False):
        """A recorder for `connection`'s exchanges. A batch (a sync run) buffers them
        and must call ``flush()``; an ``immediate`` one (a person's click, a sign-in:
        a few requests, no place that would flush) writes each exchange at once."""
        return Recorder(self.env, connection.id, flush_every=1 if immediate else None)

    @api.model
    def _csp_values(self, connection_id, exchange):
        status = exchange.status
        if exchange.error or status is None:
            outcome = "error"
        elif status == 429 or status >= 500:
            outcome = "retried"
        elif status >= 400:
            outcome = "error"
        else:
            outcome = "success"
        return {
            "connection_id": connection_id,
            "tenant_id": exchange.tenant,
            "direction": "outbound",
            "service": exchange.service,
            "method": exchange.method,
            "url": exchange.url,
            "status": status or 0,
            "duration_ms": exchange.duration_ms,
            "attempt": exchange.attempt,
            "request_id": exchange.request_id,
            "correlation_id": exchange.correlation_id,
            "request_body": exchange.request_text(),
            "response_body": exchange.response_text(),
            "outcome": outcome,
            "error": exchange.error,
        }


class Recorder:
    """Buffers a connection's exchanges and writes them in their own transaction.

    The log must survive the rollback of the work that failed, so ``flush`` writes
    with a separate cursor. Under tests, where nothing may commit, it writes with the
    current cursor instead.
    """

    FLUSH_EVERY = 50

    def __init__(self, env, connection_id, flush_every=None):
        self.env = env
        self.connection_id = connection_id
        self.flush_every = flush_every or self.FLUSH_EVERY
        self.pending = []

    def add(self, exchange):
        self.pending.append(self.env["csp.request.log"]._csp_values(self.connection_id, exchange))
        if len(self.pending) >= self.flush_every:
            self.flush()

    def flush(self):
        if not self.pending:
            return
        values, self.pending = self.pending, []
        if under_test():
            self.env["csp.request.log"].sudo().create(values)
            return
        try:
            with self.env.registry.cursor() as cr:
                # a connection created in the still open transaction is not visible
                # from another cursor: then the log goes with the current transaction
                cr.execute("SELECT 1 FROM csp_connection WHERE id = %s", [self.connection_id])
                if cr.fetchone():
                    api.Environment(cr, SUPERUSER_ID, {})["csp.request.log"].create(values)
                    return
        except Exception:  # the log must never break the sync it describes
            _logger.exception("CSP: could not write %s request log lines", len(values))
            return
        self.env["csp.request.log"].sudo().create(values)
