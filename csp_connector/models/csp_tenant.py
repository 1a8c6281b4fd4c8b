# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import json
import logging
from datetime import timedelta
from urllib.parse import urlencode

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..importers.tenants import TenantImporter
from ..microsoft import errors
from ..sync import matching
from ..sync import tenants as tenant_rules
from . import oauth_state

_logger = logging.getLogger(__name__)

CONSENT_SCOPE = "csp_tenant_admin_consent"
GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"
EXPIRY_WARNING_DAYS = 30
# the GDAP app has no service principal (no admin consent) in the tenant
CONSENT_MISSING_CODES = frozenset({7000229, 700016, 65001})
# the safety valve never holds an archive of this many contacts or fewer
ARCHIVE_ALWAYS_ALLOWED = 2


class CspTenant(models.Model):
    """A customer's Microsoft tenant, seen through one connection."""

    _name = "csp.tenant"
    _description = "Microsoft CSP Tenant"
    _inherit = ["mail.thread", "mail.activity.mixin", "csp.code.guard"]
    _order = "name, id"

    @api.model
    def _csp_code_only_fields(self):
        # shown read-only: only the connector's code writes them (see csp_guard)
        return super()._csp_code_only_fields() | {
            "connection_id", "tenant_id", "name", "default_domain", "verified_domains",
            "relationship", "gdap_status", "gdap_end", "gdap_auto_extend",
            "gdap_relationship_id", "suggested_partner_id", "suggestion_reason",
            "consent_state", "consent_nonce", "last_error", "users_delta_link",
            "users_delta_date", "groups_delta_link", "groups_delta_date", "read_rounds",
            "archive_held", "archive_held_count", "last_error_step",
        }  # fmt: skip

    connection_id = fields.Many2one(
        "csp.connection", required=True, ondelete="cascade", index=True, readonly=True
    )
    company_id = fields.Many2one(related="connection_id.company_id", store=True, index=True)
    active = fields.Boolean(default=True)
    tenant_id = fields.Char(string="Tenant ID", required=True, readonly=True, index=True)
    name = fields.Char(required=True, readonly=True)
    default_domain = fields.Char(readonly=True)
    verified_domains = fields.Char(
        readonly=True, help="The tenant's verified domains, as Microsoft Graph lists them."
    )
    relationship = fields.Selection(
        [("reseller", "Reseller"), ("gdap", "GDAP"), ("both", "Reseller and GDAP")],
        readonly=True,
    )
    gdap_status = fields.Selection(
        [
            ("active", "Active"),
            ("expiring", "Expiring"),
            ("approvalPending", "Approval pending"),
            ("activating", "Activating"),
            ("created", "Created"),
            ("approved", "Approved"),
            ("terminationRequested", "Termination requested"),
            ("terminating", "Terminating"),
            ("expired", "Expired"),
            ("terminated", "Terminated"),
        ],
        string="GDAP Status",
        readonly=True,
    )
    gdap_end = fields.Date(string="GDAP Ends", readonly=True)
    gdap_auto_extend = fields.Boolean(string="GDAP Auto-extends", readonly=True)
    gdap_relationship_id = fields.Char(string="GDAP Relationship ID", readonly=True)
    gdap_expiring = fields.Boolean(
        string="GDAP Expiring",
        compute="_compute_gdap_expiring",
        search="_search_gdap_expiring",
        help=f"The GDAP relationship ends within {EXPIRY_WARNING_DAYS} days and will not "
        "extend by itself.",
    )

    # -- mapping ------------------------------------------------------------------
    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        domain="[('is_company', '=', True)]",
        tracking=True,
        index=True,
    )
    do_not_import = fields.Boolean(tracking=True, help="Ignore this tenant in every sync.")
    mapping_state = fields.Selection(
        [("unmapped", "Unmapped"), ("mapped", "Mapped"), ("ignored", "Do not import")],
        compute="_compute_mapping_state",
        store=True,
    )
    suggested_partner_id = fields.Many2one(
        "res.partner", string="Suggested Customer", readonly=True, copy=False
    )
    suggestion_reason = fields.Selection(
        [("name", "Same name"), ("domain", "Same e-mail domain")], readonly=True, copy=False
    )
    # -- consent and access ---------------------------------------------------
    consent_state = fields.Selection(
        [
            ("unknown", "Not checked"),
            ("granted", "Granted"),
            ("missing", "Missing"),
            ("error", "Error"),
        ],
        default="unknown",
        required=True,
        readonly=True,
        tracking=True,
    )
    consent_nonce = fields.Char(groups="base.group_system", copy=False, exportable=False)
    last_error = fields.Text(readonly=True)
    # the tenant's one round store: reads cut at a page boundary (out of time), where
    # each goes on, by kind (JSON; see importers/paged_read.py)
    read_rounds = fields.Text(readonly=True, copy=False)
    last_error_step = fields.Char(readonly=True, copy=False)
    last_sync = fields.Datetime(compute="_compute_last_sync")

    _sql_constraints = [
        (
            "tenant_connection_unique",
            "unique(connection_id, tenant_id)",
            "A tenant appears once per connection.",
        ),
    ]

    def _compute_last_sync(self):
        """When a run last handled the tenant without error (kept on the run lines)."""
        groups = self.env["csp.sync.run.line"]._read_group(
            [("csp_tenant_id", "in", self.ids), ("state", "=", "done")],
            ["csp_tenant_id"],
            ["create_date:max"],
        )
        last = {tenant.id: when for tenant, when in groups}
        for tenant in self:
            tenant.last_sync = last.get(tenant.id, False)

    @api.depends("partner_id", "do_not_import")
    def _compute_mapping_state(self):
        for tenant in self:
            if tenant.do_not_import:
                tenant.mapping_state = "ignored"
            elif tenant.partner_id:
                tenant.mapping_state = "mapped"
            else:
                tenant.mapping_state = "unmapped"

    def _expiry_limit(self):
        return fields.Date.today() + timedelta(days=EXPIRY_WARNING_DAYS)

    @api.depends("gdap_status", "gdap_end", "gdap_auto_extend")
    def _compute_gdap_expiring(self):
        now = fields.Date.today()
        for tenant in self:
            tenant.gdap_expiring = tenant_rules.ends_soon(
                tenant.gdap_status,
                tenant.gdap_end or None,
                tenant.gdap_auto_extend,
                now,
                EXPIRY_WARNING_DAYS,
            )

    def _search_gdap_expiring(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(self.env._("Unsupported search on GDAP Expiring."))
        domain = [
            ("gdap_status", "in", tenant_rules.LIVE_STATUSES),
            ("gdap_auto_extend", "=", False),
            ("gdap_end", "<=", self._expiry_limit()),
        ]
        positive = (operator == "=") == value
        return domain if positive else ["!", "&", "&", *domain]

    @api.constrains("partner_id", "do_not_import")
    def _check_mapping(self):
        for tenant in self:
            if tenant.partner_id and tenant.do_not_import:
                raise ValidationError(
                    self.env._(
                        "Tenant %s cannot be both mapped and set to 'Do not import'.", tenant.name
                    )
                )

    @api.constrains("partner_id")
    def _check_customer(self):
        """The form's domain, enforced: a tenant's customer is a company, and never one
        of the database's own companies (their contacts are the MSP's staff)."""
        protected = self.env["res.partner"]._csp_protected_ids(self.partner_id.ids)
        for tenant in self.filtered("partner_id"):
            partner = tenant.partner_id.sudo()
            if (
                not partner.is_company
                or partner.id in protected
                or partner.company_id not in (tenant.company_id, partner.company_id.browse())
            ):
                raise ValidationError(
                    self.env._(
                        "%(partner)s cannot be the customer of tenant %(tenant)s: choose a "
                        "company contact (with 'Company' ticked) of the connection's company "
                        "(or shared), that is neither one of this database's own companies "
                        "nor an Odoo user's contact.",
                        partner=tenant.partner_id.display_name,
                        tenant=tenant.name,
                    )
                )

    # -- mapping suggestions ----------------------------------------------------

    def _csp_suggest_partners(self):
        """Store a suggested customer on each unmapped tenant; returns how many got one."""
        unmapped = self.filtered(lambda t: t.mapping_state == "unmapped")
        if not unmapped:
            return 0
        found = {}
        # per company: a tenant is only ever suggested a customer of its connection's
        # company, or a shared one (the cron runs as a user of several companies)
        for company in unmapped.company_id:
            tenants = unmapped.filtered(lambda t, c=company: t.company_id == c)
            found.update(tenants._csp_suggestions(company))
        for tenant in unmapped:
            partner_id, reason = found.get(tenant.id, (False, False))
            if tenant.suggested_partner_id.id != partner_id:
                tenant._csp_code().write(
                    {"suggested_partner_id": partner_id, "suggestion_reason": reason}
                )
        return len(found)

    def _csp_suggestions(self, company):
        """{tenant id: (partner id, reason)} among the companies of `company` or shared."""
        Partner = self.env["res.partner"]
        companies = Partner.search_read(
            [("is_company", "=", True), ("company_id", "in", [False, company.id]),
             *Partner._csp_syncable_domain()],
            ["name", "email", "website"],
        )  # fmt: skip
        # e-mail domains of the companies' contacts count too
        contacts = Partner.search_read(
            [("parent_id", "in", [c["id"] for c in companies]), ("email", "!=", False)],
            ["parent_id", "email"],
        )
        domains = {c["id"]: [c["email"], c["website"]] for c in companies}
        for contact in contacts:
            domains[contact["parent_id"][0]].append(contact["email"])
        return matching.suggest(
            [(t.id, t.name, t._csp_domains()) for t in self],
            [(c["id"], c["name"], [d for d in domains[c["id"]] if d]) for c in companies],
        )

    def _csp_domains(self):
        return [d for d in {self.default_domain, *(self.verified_domains or "").split()} if d]

    def action_confirm_suggestion(self):
        self.check_access("write")
        for tenant in self.filtered("suggested_partner_id")._csp_code():
            tenant.write(
                {
                    "partner_id": tenant.suggested_partner_id.id,
                    "do_not_import": False,
                    "suggested_partner_id": False,
                    "suggestion_reason": False,
                }
            )
        return True

    def action_reject_suggestion(self):
        self.check_access("write")
        self._csp_code().write({"suggested_partner_id": False, "suggestion_reason": False})
        return True

    def action_create_customer(self):
        """Create a company named after each unmapped tenant and map it."""
        self.check_access("write")
        for tenant in self.filtered(lambda t: t.mapping_state == "unmapped"):
            tenant.partner_id = tenant._csp_new_partner()
        return True

    def _csp_new_partner(self):
        website = self.default_domain
        if website and website.endswith(".onmicrosoft.com"):
            website = False
        return self.env["res.partner"].create(
            {
                "name": self.name,
                "is_company": True,
                "website": website,
                "company_id": self.company_id.id,
            }
        )

    # -- admin consent -----------------------------------------------------------

    def action_grant_consent(self):
        """Open Microsoft's admin-consent page for this tenant and the GDAP app."""
        self.ensure_one()
        if not self.env.user.has_group("csp_connector.group_csp_manager"):
            raise AccessError(self.env._("Only Microsoft CSP managers can grant admin consent."))
        self.check_access("write")
        connection = self.connection_id
        connection._csp_require("gdap_client_id")
        nonce = oauth_state.new_nonce()
        self.sudo().consent_nonce = nonce
        query = urlencode(
            {
                "client_id": connection.gdap_client_id,
                "redirect_uri": connection.consent_redirect_uri,
                "state": oauth_state.sign(self.env, CONSENT_SCOPE, self.id, nonce),
                "scope": GRAPH_DEFAULT_SCOPE,
            }
        )
        url = f"{connection.login_endpoint.rstrip('/')}/{self.tenant_id}/v2.0/adminconsent"
        return {"type": "ir.actions.act_url", "url": f"{url}?{query}", "target": "self"}

    @api.model
    def _csp_finish_consent(self, params):
        """Record the answer of Microsoft's admin-consent page; returns the tenant."""
        verified = oauth_state.verify(self.env, CONSENT_SCOPE, params.get("state"))
        tenant = self.browse(verified[0]).exists() if verified else self.browse()
        if (
            not tenant
            or not tenant.sudo().consent_nonce
            or (tenant.sudo().consent_nonce != verified[1])
        ):
            _logger.warning("CSP: refused an admin-consent answer with an unknown state")
            raise AccessError(
                self.env._(
                    "This consent answer is not valid: it was already used, was replaced by "
                    "a newer request, or was not started by you."
                )
            )
        tenant.sudo().consent_nonce = False
        tenant = tenant._csp_code()
        if params.get("error"):
            error = errors.AuthError(
                params.get("error_description") or params["error"], code=params["error"]
            )
            tenant._csp_set_error(error, consent_state="error")
            return tenant
        if (params.get("tenant") or "").lower() != tenant.tenant_id.lower() or (
            params.get("admin_consent") or ""
        ).lower() != "true":
            tenant._csp_set_error(
                errors.AuthError(
                    self.env._("Consent came back for another tenant (%s).", params.get("tenant"))
                ),
                consent_state="error",
            )
            return tenant
        tenant.write({"consent_state": "granted", "last_error": False})
        tenant.message_post(body=self.env._("Admin consent granted for the GDAP app."))
        return tenant

    def _csp_set_error(self, error, consent_state=None):
        message = error.user_message() if isinstance(error, errors.MicrosoftError) else str(error)
        values = {"last_error": message}
        if consent_state:
            values["consent_state"] = consent_state
        self._csp_code().write(values)
        self.message_post(body=message)
        return message

    # -- access check --------------------------------------------------------------

    def _csp_check_can_sync(self):
        """A button that calls Microsoft or writes what only code writes: the user may
        change these tenants and their connections (checked before any request)."""
        self.connection_id._csp_check_can_sync()
        if not self.env.su:
            self.check_access("write")

    def action_test_access(self):
        """Get an app-only token in this tenant and read its organisation."""
        self.ensure_one()
        self._csp_check_can_sync()  # before any request (and request log)
        with self.connection_id._csp_call_microsoft() as http:
            self._csp_code()._csp_check_access(http)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._("Odoo can read %s's tenant.", self.name),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def _csp_check_access(self, http):
        """Consent and access check; records the outcome, raises MicrosoftError."""
        try:
            graph = self.connection_id._csp_graph(http, self.tenant_id)
            organization = graph.organization()
        except errors.MicrosoftError as exc:
            self._csp_set_error(exc, consent_state=self._csp_consent_state_for(exc))
            raise
        values = {"consent_state": "granted"}
        if self.last_error_step in (False, "tenants"):  # another step's error stays
            values.update(last_error=False, last_error_step=False)
        domains = organization.get("verifiedDomains") or []
        default = next((d.get("name") for d in domains if d.get("isDefault")), None)
        if default and not self.default_domain:
            values["default_domain"] = default
        names = " ".join(sorted(d["name"].lower() for d in domains if d.get("name")))
        if names:
            values["verified_domains"] = names
        changed = {k: v for k, v in values.items() if self[k] != v}
        if changed:
            self._csp_code().write(changed)
        return organization

    # -- sync --------------------------------------------------------------------

    def _csp_sync_access(self, http):
        """The tenants step, per tenant: consent and access check."""
        before = (self.consent_state, self.last_error)
        self._csp_check_access(http)
        changed = before != (self.consent_state, self.last_error)
        return {"updated": 1} if changed else {"skipped": 1}

    def _csp_step_succeeded(self, module):
        """A step that worked clears the error it had left on the tenant."""
        if self.last_error_step == module and self.last_error:
            self.write({"last_error": False, "last_error_step": False})

    # -- the one round store (reads cut by the time budget), the archive safety valve --

    def _csp_rounds(self):
        return json.loads(self.read_rounds) if self.read_rounds else {}

    def _csp_round_get(self, kind):
        """Where the tenant's read of `kind` goes on ({}: no read under way)."""
        return self._csp_rounds().get(kind) or {}

    def _csp_round_keep(self, kind, state):
        self.ensure_one()
        rounds = self._csp_rounds()
        rounds[kind] = state
        self._csp_code().write({"read_rounds": json.dumps(rounds)})

    def _csp_round_drop(self, *kinds):
        for tenant in self:
            rounds = tenant._csp_rounds()
            kept = {k: v for k, v in rounds.items() if k not in kinds}
            if kept != rounds:
                tenant._csp_code().write({"read_rounds": json.dumps(kept) if kept else False})

    def _csp_archive_allowed(self, count, binding_model="csp.user.binding"):
        """Whether one round may archive `count` records of this tenant (the safety
        valve: a share of its live bindings of `binding_model`, users by default, never
        more than a fixed number)."""
        connection = self.connection_id
        bound = self.env[binding_model].search_count(
            [("csp_tenant_id", "=", self.id), ("removed", "=", False)]
        )
        share = bound * connection.archive_max_percent / 100.0
        limit = min(connection.archive_max_count, max(share, ARCHIVE_ALWAYS_ALLOWED))
        return count <= limit

    def _check_csp_manager(self):
        if not self.env.user.has_group("csp_connector.group_csp_manager"):
            raise AccessError(
                self.env._("Only Microsoft CSP managers can decide on held archives.")
            )
        self.check_access("write")

    def _csp_consent_state_for(self, error):
        """Consent state after a failed access check: throttling, outages and timeouts
        say nothing about consent (the state stays as it was)."""
        if getattr(error, "aadsts", None) in CONSENT_MISSING_CODES:
            return "missing"
        if errors.is_transient(error):
            return self.consent_state if len(self) == 1 else "unknown"
        return "error"

    def _csp_record_step_error(self, module, error, message):
        """Called by the run after the failed step was rolled back."""
        if not self.gdap_status and self.relationship == "reseller":
            message = self.env._(
                "%(name)s has no GDAP relationship with you: Graph data needs one, approved "
                "by the customer, before admin consent can be granted.\n\n%(error)s",
                name=self.name,
                error=message,
            )
        values = {"last_error_step": module}
        # a read whose next links do not outlive a failure starts again from its first
        # page (nothing is decided from it: see importers/paged_read.py)
        rounds = self._csp_rounds()
        kept = {k: v for k, v in rounds.items() if v.get("restart_step") != module}
        if kept != rounds:
            values["read_rounds"] = json.dumps(kept) if kept else False
        if not errors.same_failure(self.last_error, message):
            values["last_error"] = message
        if module == "tenants":
            values["consent_state"] = self._csp_consent_state_for(error)
        changed = {k: v for k, v in values.items() if self[k] != v}
        if changed:
            self._csp_code().write(changed)
        if "last_error" in changed:
            self.message_post(body=message)

    @api.model
    def _csp_upsert(self, connection, discovered):
        """Create, update or archive the connection's tenants from discovery (a
        complete read), through the binding base's routine (importers/tenants.py).

        Idempotent: unchanged tenants are not written at all.
        """
        importer = TenantImporter(self, connection)
        importer.apply(importer.plan(found) for found in discovered)
        importer.archive_missing(complete=True)
        created = self.browse(importer.created_ids)
        if created:
            created._csp_on_new_tenants()
        self.search([("connection_id", "=", connection.id)])._csp_warn_expiring()
        return importer.counters

    def _csp_on_new_tenants(self):
        """Options of the connection applied to newly discovered tenants."""
        connection = self.connection_id
        if connection.auto_sso_allowlist:
            connection._csp_allow_sso_tenants(self.mapped("tenant_id"))
        self._csp_suggest_partners()
        if connection.create_customers:
            # a suggestion waits for confirmation: only tenants nobody matches are created
            self.filtered(
                lambda t: t.mapping_state == "unmapped" and not t.suggested_partner_id
            ).action_create_customer()

    def _csp_warn_expiring(self):
        """An activity for the CSP managers on each tenant whose GDAP ends soon."""
        expiring = self.filtered("gdap_expiring")
        if not expiring:
            return
        managers = self.env.ref("csp_connector.group_csp_manager").users.filtered(
            lambda u: not u.share and u.active
        )
        user = managers[:1] or self.env.user
        summary = self.env._("GDAP relationship ends soon")
        for tenant in expiring:
            tenant._csp_activity_once(
                summary,
                # an HTML field: the text (with Microsoft's tenant name) is escaped
                note=Markup("<p>%s</p>")
                % self.env._(
                    "The GDAP relationship with %(name)s ends on %(date)s and will not "
                    "extend by itself. Ask the customer to approve a new relationship "
                    "(or turn on auto-extend) before then, or user, licence and device "
                    "syncs for this tenant will stop.",
                    name=tenant.name,
                    date=tenant.gdap_end,
                ),
                user=user,
                date_deadline=tenant.gdap_end,
            )
