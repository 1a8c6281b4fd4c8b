# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..microsoft import sso

SSO_SCOPE = "openid profile email"


class CspConnection(models.Model):
    _inherit = "csp.connection"

    sso_any_tenant = fields.Boolean(
        string="SSO: Any Tenant",
        tracking=True,
        help="Users of any Microsoft tenant may sign in (they still need an Odoo user "
        "linked to their Microsoft account). Off: only the tenants of the SSO allow-list.",
    )
    sso_hide_odoo_com = fields.Boolean(
        string="SSO: Turn Off Odoo.com Sign-in",
        tracking=True,
        help="Setting up single sign-on also turns off Odoo's own login provider (Odoo.com "
        "accounts), so that portal users see one way in, Microsoft's. Users who sign in "
        "with an Odoo.com account then sign in with their password or Microsoft instead.",
    )
    sso_provider_ids = fields.One2many(
        "auth.oauth.provider",
        "csp_connection_id",
        string="SSO Providers",
        groups="base.group_system",
    )
    # the allow-list (GUIDs, sso_allowed_tenant_ids) shown by name: the connection's
    # tenants on it, and the GUIDs of tenants not imported (kept as typed)
    sso_tenant_ids = fields.Many2many(
        "csp.tenant",
        string="Tenants Allowed to Sign In",
        compute="_compute_sso_tenants",
        inverse="_inverse_sso_tenants",
        domain="[('connection_id', '=', id)]",
    )
    sso_other_tenant_ids = fields.Text(
        string="Other Allowed Tenant IDs",
        compute="_compute_sso_tenants",
        inverse="_inverse_sso_tenants",
        help="Tenant ids (GUIDs, one per line) allowed to sign in that are not among the "
        "connection's tenants.",
    )
    sso_enabled = fields.Boolean(string="Single Sign-on Set Up", compute="_compute_sso")
    sso_redirect_uri = fields.Char(
        string="Redirect URI (sign-in with Microsoft)", compute="_compute_sso"
    )

    @api.depends("sso_allowed_tenant_ids", "tenant_ids.tenant_id")
    def _compute_sso_tenants(self):
        for connection in self:
            allowed = sso.parse_tenant_list(connection.sso_allowed_tenant_ids)
            known = connection.tenant_ids.filtered(
                lambda t, ids=allowed: t.tenant_id.lower() in ids
            )
            connection.sso_tenant_ids = known
            others = sorted(allowed - {t.tenant_id.lower() for t in known})
            connection.sso_other_tenant_ids = "\n".join(others) or False

    def _inverse_sso_tenants(self):
        for connection in self:
            tenants = connection.sso_tenant_ids.filtered(
                lambda t, c=connection: t.connection_id == c
            )
            others = sso.parse_tenant_list(connection.sso_other_tenant_ids)
            ids = [*tenants.mapped("tenant_id"), *sorted(others)]
            connection.sso_allowed_tenant_ids = "\n".join(dict.fromkeys(ids)) or False

    def _compute_sso(self):
        providers = self.env["auth.oauth.provider"].sudo()
        for connection in self:
            found = providers.search([("csp_connection_id", "=", connection.id)], limit=1)
            connection.sso_enabled = bool(found.enabled)
            base = connection.get_base_url().rstrip("/")
            connection.sso_redirect_uri = f"{base}/auth_oauth/signin"

    def _csp_check_sso_rights(self):
        user = self.env.user
        if not (user._is_system() or user.has_group("csp_connector.group_csp_manager")):
            raise AccessError(
                self.env._("Only CSP managers and system administrators can set up sign-in.")
            )
        self.check_access("write")

    def action_csp_setup_sso(self):
        """Create or update the Microsoft login provider of this connection."""
        self.ensure_one()
        self._csp_check_sso_rights()
        self._csp_require("gdap_client_id", "gdap_client_secret")
        with self._csp_call_microsoft() as http:
            config = sso.discover(http, sso.MULTI_TENANT)
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                http.check_url(config[name])  # https, on the login endpoint's host
        if sso.ISSUER_TENANT_PLACEHOLDER not in config["issuer"]:
            raise UserError(
                self.env._(
                    "The login endpoint does not describe a multi-tenant issuer "
                    "(%(issuer)s); check the connection's login endpoint.",
                    issuer=config["issuer"],
                )
            )
        values = {
            "flow": "id_token_code",
            "client_id": self.gdap_client_id,
            "client_secret": False,  # read from the connection at sign-in time
            "scope": SSO_SCOPE,
            "auth_endpoint": config["authorization_endpoint"],
            "token_endpoint": config["token_endpoint"],
            "jwks_uri": config["jwks_uri"],
            "validation_endpoint": config.get("userinfo_endpoint") or False,
            "end_session_endpoint": config.get("end_session_endpoint") or False,
            "csp_issuer_template": config["issuer"],
            "enabled": True,
        }
        providers = self.env["auth.oauth.provider"].sudo()
        provider = providers.search([("csp_connection_id", "=", self.id)], limit=1)
        if provider:
            provider.write(values)
        else:
            provider = providers.create(
                {
                    **values,
                    "name": self.env._("Microsoft (%s)", self.name),
                    "body": self.env._("Sign in with Microsoft"),
                    "css_class": "fa fa-fw fa-windows",
                    "csp_connection_id": self.id,
                }
            )
        if not self.sso_any_tenant and self.partner_tenant_id:
            self._csp_allow_sso_tenants([self.partner_tenant_id])
        odoo_com = self._csp_hide_odoo_com() if self.sso_hide_odoo_com else ""
        self.message_post(
            body=self.env._(
                "Single sign-on with Microsoft set up (login provider %(name)s). Register "
                "%(uri)s as a redirect URI of the GDAP app.",
                name=provider.name,
                uri=self.sso_redirect_uri,
            )
            + (f" {odoo_com}" if odoo_com else "")
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._(
                    "Users can now sign in with Microsoft. Link each Odoo user to their "
                    "Microsoft account (OAuth provider and user id = the Entra object id)."
                )
                + (f" {odoo_com}" if odoo_com else ""),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _csp_hide_odoo_com(self):
        """Turn off Odoo's own login provider (Odoo.com accounts): the login page then
        offers portal users Microsoft's sign-in only. Returns what was done, in words."""
        provider = self.env.ref("auth_oauth.provider_openerp", raise_if_not_found=False)
        if not provider:
            return ""
        provider = provider.sudo()
        users = self.env["res.users"].sudo().search_count([("oauth_provider_id", "=", provider.id)])
        if not provider.enabled:
            return self.env._("The Odoo.com sign-in was already off.")
        provider.write({"enabled": False})
        said = self.env._(
            "The Odoo.com sign-in is now off: the login page offers Microsoft's sign-in (and "
            "the password) only."
        )
        if users:
            said += " " + self.env._(
                "%s user(s) signed in with an Odoo.com account: they sign in with their "
                "password or Microsoft from now on.",
                users,
            )
        return said
