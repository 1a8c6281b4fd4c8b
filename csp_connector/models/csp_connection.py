# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import json
import logging
from contextlib import contextmanager
from datetime import timedelta

from dateutil.relativedelta import relativedelta
from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..microsoft import auth, errors
from ..microsoft.graph import Graph
from ..microsoft.http import MicrosoftHttp
from ..microsoft.partner_center import PartnerCenter
from ..microsoft.safe_text import one_line
from ..sync import budget
from ..sync import tenants as tenant_rules
from . import oauth_state
from .csp_sync_step import CspStep
from .testing import under_test

_logger = logging.getLogger(__name__)

AUTH_SCOPE = "csp_connection_authorize"
ENDPOINT_FIELDS = (
    "login_endpoint",
    "partner_center_endpoint",
    "graph_endpoint",
    "pricing_endpoint",
    "ca_bundle_path",
)


class CspConnection(models.Model):
    """One MSP partner tenant connected to Partner Center and Microsoft Graph."""

    _name = "csp.connection"
    _description = "Microsoft CSP Connection"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "name, id"

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company",
        required=True,
        default=lambda self: self.env.company,
        help="Every record this connection imports belongs to this company.",
    )
    partner_tenant_id = fields.Char(
        string="Partner Tenant ID",
        tracking=True,
        help="The Microsoft Entra tenant id (a GUID) of your CSP partner tenant.",
    )
    relationship_mode = fields.Selection(
        [("gdap_dap", "GDAP and DAP"), ("gdap_only", "GDAP only")],
        string="Tenant Relationships",
        default="gdap_dap",
        required=True,
        tracking=True,
        help="GDAP and DAP: customers come from Partner Center (reseller relationships) "
        "and from GDAP relationships. GDAP only: from GDAP relationships alone, for "
        "partners without reseller relationships.",
    )

    # -- apps (secrets are write-only from the form) --------------------------
    pc_client_id = fields.Char(string="Partner Center App (Client) ID", tracking=True)
    pc_client_secret = fields.Char(
        string="Partner Center App Secret",
        groups="base.group_system",
        copy=False,
        exportable=False,
    )
    pc_client_secret_input = fields.Char(
        string="New Partner Center App Secret",
        compute="_compute_secret_inputs",
        inverse="_inverse_pc_client_secret_input",
        copy=False,
        exportable=False,
        help="Paste the secret's Value (not its Secret ID). Once saved it is never shown "
        "again; only system administrators can read it.",
    )
    pc_client_secret_set = fields.Boolean(
        string="Partner Center Secret Stored", compute="_compute_secret_set"
    )
    gdap_client_id = fields.Char(string="GDAP App (Client) ID", tracking=True)
    gdap_client_secret = fields.Char(
        string="GDAP App Secret",
        groups="base.group_system",
        copy=False,
        exportable=False,
    )
    gdap_client_secret_input = fields.Char(
        string="New GDAP App Secret",
        compute="_compute_secret_inputs",
        inverse="_inverse_gdap_client_secret_input",
        copy=False,
        exportable=False,
    )
    gdap_client_secret_set = fields.Boolean(
        string="GDAP Secret Stored", compute="_compute_secret_set"
    )

    # -- endpoints: Microsoft's by default, changed by system administrators only --
    login_endpoint = fields.Char(default="https://login.microsoftonline.com", required=True)
    partner_center_endpoint = fields.Char(
        default="https://api.partnercenter.microsoft.com", required=True
    )
    graph_endpoint = fields.Char(default="https://graph.microsoft.com", required=True)
    pricing_endpoint = fields.Char(
        default="https://api.partner.microsoft.com",
        help="Partner Center's pricing API (price sheets).",
    )
    can_edit_endpoints = fields.Boolean(compute="_compute_can_edit_endpoints")
    ca_bundle_path = fields.Char(
        string="CA Bundle",
        help="Path on the Odoo server of a PEM file of certificate authorities to trust "
        "for these endpoints (a corporate proxy's, or the sandbox's). Empty: the "
        "system's trust store.",
    )

    # -- authorisation --------------------------------------------------------
    state = fields.Selection(
        [("not_authorized", "Not authorised"), ("authorized", "Authorised"), ("error", "Error")],
        default="not_authorized",
        required=True,
        readonly=True,
        copy=False,
        tracking=True,
    )
    last_error = fields.Text(readonly=True, copy=False)
    token_cache = fields.Text(groups="base.group_system", copy=False, exportable=False)
    auth_flow = fields.Text(groups="base.group_system", copy=False, exportable=False)
    authorized_upn = fields.Char(string="Authorised By", readonly=True, copy=False)
    authorized_date = fields.Datetime(string="Authorised On", readonly=True, copy=False)
    redirect_uri = fields.Char(
        string="Redirect URI (Partner Center app)", compute="_compute_redirect_uris"
    )
    consent_redirect_uri = fields.Char(
        string="Redirect URI (GDAP app)", compute="_compute_redirect_uris"
    )

    # -- options ----------------------------------------------------------------
    create_customers = fields.Boolean(
        string="Create Customers from New Tenants",
        help="A newly discovered tenant that no company matches becomes a new customer.",
    )
    auto_sso_allowlist = fields.Boolean(
        string="Add Tenants to the SSO Allow-list",
        help="Imported tenants may sign in to Odoo with Microsoft.",
    )
    sso_allowed_tenant_ids = fields.Text(
        string="SSO Allowed Tenants",
        help="One Microsoft tenant id per line.",
    )

    # -- integrator -----------------------------------------------------------
    integrator_enabled = fields.Boolean(tracking=True)
    # one switch per installed step (see _csp_sync_steps): sync_<code>, default on
    sync_tenants = fields.Boolean(
        string="Discover Tenants",
        default=True,
        help="Discover the connection's tenants and check each tenant's access.",
    )
    interval_number = fields.Integer(string="Every", default=4, required=True)
    interval_type = fields.Selection(
        [("minutes", "Minutes"), ("hours", "Hours"), ("days", "Days")],
        default="hours",
        required=True,
    )
    last_sync = fields.Datetime(compute="_compute_last_sync")
    # stored: the integrator cron searches the due connections on it
    next_sync = fields.Datetime(compute="_compute_next_sync", store=True, index=True)
    archive_max_percent = fields.Integer(
        string="Archive at Most (%)",
        default=20,
        required=True,
        help="Safety valve: when one run would archive more than this share of a tenant's "
        "users (gone from Azure, or no longer imported), it archives none of them and "
        "asks a person to confirm (an activity on the tenant).",
    )
    archive_max_count = fields.Integer(
        string="Archive at Most (users)",
        default=200,
        required=True,
        help="Safety valve: never more than this many contacts of one tenant in one run.",
    )
    run_state = fields.Selection(related="run_ids.state", string="Last Run")
    run_progress = fields.Char(related="run_ids.progress", string="Progress")
    log_retention_days = fields.Integer(
        string="Keep Request Logs (days)",
        default=30,
        required=True,
        help="Older request logs are deleted every night; 0 keeps them forever.",
    )

    permissions_html = fields.Html(
        string="Permissions per Feature",
        compute="_compute_permissions_html",
        sanitize=False,
        help="What each installed feature needs on the two app registrations.",
    )
    tenant_ids = fields.One2many("csp.tenant", "connection_id", string="Tenants")
    tenant_count = fields.Integer(compute="_compute_counts")
    run_ids = fields.One2many("csp.sync.run", "connection_id", string="Sync Runs")
    run_count = fields.Integer(compute="_compute_counts")
    log_count = fields.Integer(compute="_compute_counts")

    _sql_constraints = [
        (
            "partner_tenant_company_unique",
            "unique(partner_tenant_id, company_id)",
            "This partner tenant is already connected for this company.",
        ),
        (
            "interval_positive",
            "check(interval_number > 0)",
            "The integrator's interval must be positive.",
        ),
    ]

    # -- computes -------------------------------------------------------------

    def _compute_secret_inputs(self):
        self.pc_client_secret_input = False
        self.gdap_client_secret_input = False

    def _inverse_pc_client_secret_input(self):
        self._csp_store_secret("pc_client_secret", self.env._("Partner Center app"))

    def _inverse_gdap_client_secret_input(self):
        auth.forget_app_tokens()
        self._csp_store_secret("gdap_client_secret", self.env._("GDAP app"))

    def _csp_store_secret(self, field_name, label):
        """A secret typed in the form goes to its system-only field; only the fact of
        the change is noted in the chatter."""
        for connection in self.filtered(f"{field_name}_input"):
            connection.sudo()[field_name] = connection[f"{field_name}_input"].strip()
            connection.message_post(body=self.env._("The %s secret was replaced.", label))

    def _compute_secret_set(self):
        for connection in self:
            stored = connection.sudo()
            connection.pc_client_secret_set = bool(stored.pc_client_secret)
            connection.gdap_client_secret_set = bool(stored.gdap_client_secret)

    def _compute_can_edit_endpoints(self):
        self.can_edit_endpoints = self.env.user._is_system()

    def _compute_redirect_uris(self):
        for connection in self:
            base = connection.get_base_url().rstrip("/")
            connection.redirect_uri = f"{base}/csp/authcallback"
            connection.consent_redirect_uri = f"{base}/csp/adminconsent"

    def _compute_last_sync(self):
        for connection in self:
            finished = self.env["csp.sync.run"].search(
                [("connection_id", "=", connection.id), ("ended", "!=", False)],
                order="ended desc",
                limit=1,
            )
            connection.last_sync = finished.ended

    @api.depends("run_ids.started", "integrator_enabled", "interval_number", "interval_type")
    def _compute_next_sync(self):
        """The newest run's start plus the interval (due at once without a run).
        A run still going on is resumed by the cron whatever this says."""
        for connection in self:
            if not connection.integrator_enabled:
                connection.next_sync = False
                continue
            newest = self.env["csp.sync.run"].search(
                [("connection_id", "=", connection.id)], order="id desc", limit=1
            )
            started = newest.started
            connection.next_sync = (
                started + connection._csp_interval() if started else fields.Datetime.now()
            )

    @api.model
    def _csp_permissions(self):
        """[(feature, GDAP app's Graph application permissions, Partner Center app's
        permissions)] of the installed features; each add-on appends its own."""
        return [
            (
                self.env._("Tenant discovery and access check"),
                ["DelegatedAdminRelationship.Read.All", "Organization.Read.All"],
                ["Microsoft Partner Center: user_impersonation (delegated)"],
            ),
        ]

    def _compute_permissions_html(self):
        rows = Markup("").join(
            Markup("<tr><td>%s</td><td>%s</td><td>%s</td></tr>")
            % (feature, ", ".join(graph) or "-", ", ".join(partner_center) or "-")
            for feature, graph, partner_center in self._csp_permissions()
        )
        table = Markup(
            '<table class="table table-sm"><thead><tr><th>%s</th><th>%s</th><th>%s</th>'
            "</tr></thead><tbody>%s</tbody></table>"
        ) % (
            self.env._("Feature"),
            self.env._("GDAP app: Microsoft Graph application permissions"),
            self.env._("Partner Center app"),
            rows,
        )
        self.permissions_html = table

    def _compute_counts(self):
        tenants = self.env["csp.tenant"]._read_group(
            [("connection_id", "in", self.ids)], ["connection_id"], ["__count"]
        )
        runs = self.env["csp.sync.run"]._read_group(
            [("connection_id", "in", self.ids)], ["connection_id"], ["__count"]
        )
        logs = self.env["csp.request.log"]._read_group(
            [("connection_id", "in", self.ids)], ["connection_id"], ["__count"]
        )
        tenants, runs, logs = (
            {connection.id: count for connection, count in group} for group in (tenants, runs, logs)
        )
        for connection in self:
            connection.tenant_count = tenants.get(connection.id, 0)
            connection.run_count = runs.get(connection.id, 0)
            connection.log_count = logs.get(connection.id, 0)

    # -- ORM guards ---------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._check_endpoint_rights(vals)
        return super().create(vals_list)

    def write(self, vals):
        self._check_endpoint_rights(vals)
        return super().write(vals)

    def _check_endpoint_rights(self, vals):
        if self.env.su or self.env.user._is_system():
            return
        if any(name in vals for name in ENDPOINT_FIELDS):
            raise AccessError(
                self.env._("Only system administrators can change a connection's endpoints.")
            )

    # -- Microsoft clients ----------------------------------------------------

    def _csp_http(self, recorder=None):
        """A MicrosoftHttp bound to this connection's endpoints. Without `recorder`
        (which its caller flushes), each exchange is logged as it happens."""
        self.ensure_one()
        self._csp_check_can_sync()  # nobody without the right reaches Microsoft (or logs)
        recorder = recorder or self.env["csp.request.log"]._csp_recorder(self, immediate=True)
        return MicrosoftHttp(
            {
                "login": self.login_endpoint,
                "partnercenter": self.partner_center_endpoint,
                "graph": self.graph_endpoint,
                "pricing": self.pricing_endpoint,
            },
            ca_bundle=self.ca_bundle_path or None,
            on_exchange=recorder.add,
            timeout=self._csp_http_timeout(),
        )

    @contextmanager
    def _csp_call_microsoft(self, explain=True):
        """``with connection._csp_call_microsoft() as http:`` calls to Microsoft through
        this connection's endpoints, each exchange in its request log (written when the
        block ends, whatever happened in it). A MicrosoftError raised in the block
        becomes a UserError with its explanation (``explain=False``: it passes as is)."""
        recorder = self.env["csp.request.log"]._csp_recorder(self)
        try:
            yield self._csp_http(recorder)
        except errors.MicrosoftError as exc:
            if not explain:
                raise
            raise UserError(exc.user_message()) from None
        finally:
            recorder.flush()

    def _csp_http_timeout(self):
        """Seconds to wait for one answer (system parameter, default 30). A scheduled
        run's budget plus this is the longest a cron call can take."""
        return self.env["ir.config_parameter"]._csp_int("csp_connector.http_timeout", 30)

    def _csp_require(self, *field_names):
        missing = [self._fields[name].string for name in field_names if not self.sudo()[name]]
        if missing:
            raise UserError(
                self.env._(
                    "Fill in %(fields)s on the connection %(name)s first.",
                    fields=", ".join(missing),
                    name=self.name,
                )
            )

    def _csp_pc_app(self, http, cache=None):
        self._csp_require("partner_tenant_id", "pc_client_id", "pc_client_secret")
        return auth.confidential_app(
            http,
            self.pc_client_id,
            self.sudo().pc_client_secret,
            self.partner_tenant_id,
            cache,
        )

    def _csp_partner_center(self, http):
        """A Partner Center client using the stored sign-in (refreshed silently)."""
        token = self._csp_delegated_token(http)
        return PartnerCenter(http, token, fresh_token=lambda: token(force_refresh=True))

    def _csp_delegated_token(self, http, scopes=(auth.PARTNER_CENTER_SCOPE,)):
        """``token(force_refresh=False)``: an access token of the stored Partner Center
        sign-in (app+user) for ``scopes``, redeemed silently from its refresh token; any
        API that takes the partner's signed-in user (Partner Center, its pricing API)."""
        cache = auth.load_cache(self.sudo().token_cache)
        app = self._csp_pc_app(http, cache)

        def token(force_refresh=False):
            try:
                result = auth.silent_token(app, scopes=scopes, force_refresh=force_refresh)
            except errors.AuthError as exc:
                exc.signin = True  # the stored Partner Center sign-in no longer works
                self._csp_authorization_lost(exc)
                raise
            if cache.has_state_changed:
                self.sudo().token_cache = cache.serialize()
                cache.has_state_changed = False
            return result["access_token"]

        return token

    def _csp_graph(self, http, tenant_id=None):
        """Graph with an app-only token of the GDAP app in `tenant_id` (default: partner)."""
        tenant_id = tenant_id or self.partner_tenant_id
        self._csp_require("gdap_client_id", "gdap_client_secret")
        client_id, secret = self.gdap_client_id, self.sudo().gdap_client_secret
        return Graph(
            http,
            lambda: auth.cached_app_token(http, client_id, secret, tenant_id),
            tenant=tenant_id,
            forget_token=auth.forget_app_tokens,
        )

    def _csp_authorization_lost(self, error):
        """A refresh failure: the connection needs a new sign-in."""
        if error.code == "not_authorized" and self.state == "not_authorized":
            return
        message = error.user_message()
        self.sudo().write({"state": "error", "last_error": message})
        self.message_post(body=self.env._("Partner Center sign-in stopped working:\n%s", message))

    # -- authorisation flow -----------------------------------------------------

    def _check_system(self):
        if not self.env.user._is_system():
            raise AccessError(self.env._("Only system administrators can authorise a connection."))

    def action_authorize(self):
        """Send the administrator to Microsoft's sign-in (code flow with PKCE)."""
        self.ensure_one()
        self._check_system()
        http = self._csp_http()
        app = self._csp_pc_app(http)
        state = oauth_state.sign(self.env, AUTH_SCOPE, self.id, oauth_state.new_nonce())
        flow = auth.start_code_flow(app, self.redirect_uri, state)
        self.sudo().auth_flow = json.dumps(flow)
        return {"type": "ir.actions.act_url", "url": flow["auth_uri"], "target": "self"}

    @api.model
    def _csp_finish_authorization(self, params):
        """Store the tokens of a sign-in that came back to /csp/authcallback.

        Returns the connection; when Microsoft refused, the explanation is on its
        ``last_error`` and chatter. Raises AccessError for a state that is forged,
        belongs to another user or was already used: then nothing is stored.
        """
        self._check_system()
        verified = oauth_state.verify(self.env, AUTH_SCOPE, params.get("state"))
        connection = self.browse(verified[0]).exists() if verified else self.browse()
        stored = connection.sudo().auth_flow if connection else False
        flow = json.loads(stored) if stored else None
        if not flow or flow.get("state") != params.get("state"):
            _logger.warning("CSP: refused an authorisation answer with an unknown state")
            raise AccessError(
                self.env._(
                    "This sign-in answer is not valid: it was already used, has been "
                    "replaced by a newer sign-in, or was not started by you. Click "
                    "'Authorize' on the connection again."
                )
            )
        connection.sudo().auth_flow = False  # one use only
        if params.get("error"):
            error = errors.AuthError(
                params.get("error_description") or params["error"], code=params["error"]
            )
            connection._csp_record_error(error)
            return connection
        http = connection._csp_http()
        cache = auth.load_cache(None)
        app = connection._csp_pc_app(http, cache)
        try:
            result = auth.finish_code_flow(app, flow, params)
        except errors.MicrosoftError as exc:
            connection._csp_record_error(exc)
            return connection
        claims = result.get("id_token_claims") or {}
        upn = claims.get("preferred_username") or claims.get("upn") or ""
        connection.sudo().write(
            {
                "token_cache": cache.serialize(),
                "state": "authorized",
                "last_error": False,
                "authorized_upn": upn,
                "authorized_date": fields.Datetime.now(),
            }
        )
        connection.message_post(body=self.env._("Authorised in Partner Center as %s.", upn or "?"))
        return connection

    def _csp_record_error(self, error):
        message = error.user_message() if isinstance(error, errors.MicrosoftError) else str(error)
        _logger.warning("CSP connection %s: %s", self.id, one_line(message))
        self.sudo().write({"state": "error", "last_error": message})
        self.message_post(body=message)
        return message

    def action_disconnect(self):
        self._check_system()
        self.sudo().write(
            {
                "token_cache": False,
                "auth_flow": False,
                "state": "not_authorized",
                "authorized_upn": False,
                "authorized_date": False,
                "last_error": False,
            }
        )
        for connection in self:
            connection.message_post(body=self.env._("Disconnected from Partner Center."))
        return True

    # -- buttons ----------------------------------------------------------------

    def action_sync_now(self):
        """Start a sync of this connection in the background and show its run.

        The sync never runs in the web request (a worker is killed after
        limit_time_real): the integrator cron is called at once for it."""
        self.ensure_one()
        return self.env["csp.sync.run"]._csp_queue(self, self._csp_step_codes())._csp_open()

    def action_discover_tenants(self):
        self.ensure_one()
        return self.env["csp.sync.run"]._csp_queue(self, ["tenants"])._csp_open()

    def action_suggest_mappings(self):
        self.ensure_one()
        self.tenant_ids._csp_check_can_sync()
        count = self.tenant_ids._csp_suggest_partners()
        action = self.env["ir.actions.act_window"]._csp_action(
            "csp_connector.csp_tenant_action",
            domain=[("connection_id", "=", self.id)],
            context={"search_default_to_confirm": 1},
        )
        if not count:
            action["help"] = self.env._(
                "<p>No new suggestion: map the remaining tenants by hand.</p>"
            )
        return action

    def action_open_tenants(self):
        return self._csp_open_related("csp_connector.csp_tenant_action")

    def action_open_runs(self):
        return self._csp_open_related("csp_connector.csp_sync_run_action")

    def action_open_logs(self):
        return self._csp_open_related("csp_connector.csp_request_log_action")

    def _csp_open_related(self, xmlid):
        self.ensure_one()
        return self.env["ir.actions.act_window"]._csp_action(
            xmlid,
            domain=[("connection_id", "=", self.id)],
            context={"default_connection_id": self.id},
        )

    # -- integrator ---------------------------------------------------------------

    @api.model
    def _csp_sync_steps(self):
        """The integrator's steps (csp_sync_step.CspStep), in any order. Each add-on
        appends its own: ``return super()._csp_sync_steps() + [CspStep(...)]`` and
        declares a ``sync_<code>`` switch on the connection; the run lines' ``step``
        selection follows (csp.sync.run.line._csp_step_selection)."""
        return [
            CspStep("tenants", self.env._("Tenants"), "connection", 10, "_csp_sync_tenants"),
            CspStep("tenants", self.env._("Tenants"), "tenant", 10, "_csp_sync_access"),
        ]

    def _csp_step_codes(self):
        """Codes of the installed steps switched on for this connection, in order."""
        codes = []
        for step in sorted(self._csp_sync_steps(), key=lambda s: s.sequence):
            switch = f"sync_{step.code}"
            if step.code not in codes and (switch not in self._fields or self[switch]):
                codes.append(step.code)
        return codes

    def _csp_steps_to_run(self, codes):
        """The installed steps among `codes` (a run's), ordered: unknown codes (a step
        whose add-on was uninstalled since) are left out, never recorded as done."""
        steps = [step for step in self._csp_sync_steps() if step.code in codes]
        return sorted(steps, key=lambda s: (s.scope != "connection", s.sequence))

    def _csp_interval(self):
        return relativedelta(**{self.interval_type: self.interval_number})

    def _csp_sync(self, trigger="cron", modules=None, batch=None, commit=None):
        """Run (or resume) a sync of this connection; returns the csp.sync.run.
        ``modules``: the step codes to run (default: the switched-on steps)."""
        self.ensure_one()
        return self.env["csp.sync.run"]._csp_execute(
            self, trigger=trigger, steps=modules or self._csp_step_codes(), batch=batch,
            commit=commit,
        )  # fmt: skip

    @api.model
    def _cron_run_integrator(self, batch=None):
        """Run due connections (and runs started with 'Sync now'), within a time budget.

        Odoo kills a cron worker after limit_time_real_cron (and limit_time_cpu), and
        calls a job that reports remaining work up to 10 times in a row in the same
        worker. So one budget (see sync/budget.py, cron_budget) covers all those calls:
        tenants and pages are processed until it is spent, each step committed; then
        the job reports progress, asks to be called again at once, and returns. The
        budget and every call's timeout are measured from what the worker has left
        (budget.cron_clock), not from the job's start. A slow tenant delays the
        others by at most one budget, never stops them: its other steps come last.
        """
        window = self._csp_cron_window()
        this = self.with_context(csp_clock=window["clock"], csp_cpu_deadline=window["cpu"])
        now = fields.Datetime.now()
        running = self.env["csp.sync.run"].search([("state", "=", "running")]).connection_id
        connections = this.search(
            [("integrator_enabled", "=", True), ("next_sync", "<=", now)]
        ) | this.browse(running.ids)
        remaining = 0
        testing = under_test()
        for connection in connections:
            if budget.out_of_time(this.env):
                remaining += 1
                continue
            try:
                run = connection._csp_sync(trigger="cron", batch=batch, commit=True)
            except Exception as exc:
                if testing:
                    raise
                # not a step's failure (those are recorded on the run): the open run
                # is closed as failed, explained, rather than retried in a loop
                _logger.exception("CSP: the integrator failed for connection %s", connection.id)
                self.env.cr.rollback()
                self.env["csp.sync.run"]._csp_close_failed(connection, exc)
                window["done"] += 1
                continue
            if not run:
                continue  # another worker has it, or it waits for a stale heartbeat
            if run.state == "running" and run._csp_dispatched():
                pass  # its steps run elsewhere (see csp.sync.run._csp_dispatch_steps)
            elif run.state == "running":
                remaining += 1
            else:
                window["done"] += 1
            if not testing:
                self.env.cr.commit()  # pylint: disable=invalid-commit
        if remaining:
            # wake a cron worker at once for the rest (Odoo would otherwise wait for its
            # next poll); "done" counts this job's work so far, so that Odoo sees a
            # partial run and keeps the job ready
            self.env.ref("csp_connector.ir_cron_csp_integrator").sudo()._trigger()
            done = max(window["done"], 1)
        else:
            done = window["done"]
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)

    def _csp_cron_window(self):
        """The budget shared by the calls of one cron job (same job cursor)."""
        cr = self.env.cr
        window = getattr(cr, "_csp_budget_window", None)
        # tests call the cron method directly, each call a job of its own
        if window is None or under_test():
            setting = self.env["ir.config_parameter"].sudo().get_param("csp_connector.cron_budget")
            wall, cpu = budget.cron_budget(setting)
            clock = budget.cron_clock(wall)  # from what the worker has left, not from now
            window = {"clock": clock, "deadline": clock.soft, "cpu": budget.cpu_deadline(cpu),
                      "done": 0}  # fmt: skip
            cr._csp_budget_window = window
        return window

    # -- sync steps (called by csp.sync.run, inside a savepoint) ------------------

    def _csp_record_step_error(self, module, error, message):
        """A connection step failed (rolled back to its savepoint): say so once."""
        if getattr(error, "signin", False):
            self._csp_authorization_lost(error)  # again: the savepoint rolled it back
            return
        if errors.same_failure(self.last_error, message):
            return
        self.sudo().write({"last_error": message})
        self.message_post(
            body=self.env._(
                "Sync of %(module)s failed:\n%(message)s", module=module, message=message
            )
        )

    def _csp_sync_tenants(self, http):
        """Discover the connection's tenants and upsert them (counters for the run)."""
        page_size = self._csp_page_size()
        customers = []
        if self.relationship_mode == "gdap_dap":
            customers = list(self._csp_partner_center(http).customers(page_size))
        relationships = list(self._csp_graph(http).iter_relationships(page_size))
        refused = []
        discovered = tenant_rules.merge(
            customers, relationships, self.relationship_mode, refused=refused
        )
        counters = self.env["csp.tenant"]._csp_upsert(self, discovered)
        if refused:  # counted and explained on the run; the other tenants go on
            _logger.warning("CSP: %s", "; ".join(refused))
            counters = {**counters, "errors": len(refused), "message": "\n".join(refused[:20])}
        if self.state != "authorized" and self.relationship_mode == "gdap_dap":
            self.sudo().write({"state": "authorized", "last_error": False})
        return counters

    def _csp_page_size(self):
        """Page size for Partner Center and Graph lists (system parameter, default 500)."""
        return self.env["ir.config_parameter"]._csp_int("csp_connector.page_size", 500, high=999)

    def _csp_allow_sso_tenants(self, tenant_ids):
        """Add tenant ids to the SSO allow-list (kept one per line, no duplicates)."""
        current = (self.sudo().sso_allowed_tenant_ids or "").split()
        added = [tid for tid in tenant_ids if tid not in current]
        if added:
            self.sudo().sso_allowed_tenant_ids = "\n".join(current + added)

    @api.model
    def _cron_purge_request_logs(self):
        keeping = self.with_context(active_test=False).search([("log_retention_days", ">", 0)])
        for connection in keeping:
            limit = fields.Datetime.now() - timedelta(days=connection.log_retention_days)
            self.env["csp.request.log"].search(
                [("connection_id", "=", connection.id), ("create_date", "<", limit)]
            ).unlink()
