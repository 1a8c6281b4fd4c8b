# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import logging
import time

from odoo import fields, models
from odoo.exceptions import AccessDenied

from ..microsoft import errors, sso
from ..microsoft.http import MicrosoftHttp
from ..microsoft.safe_text import one_line

_logger = logging.getLogger(__name__)


class SsoRefusedError(AccessDenied):
    """A refused Microsoft sign-in; ``message`` is safe to show (no token in it)."""

    def __init__(self, message, reason):
        super().__init__(message)
        self.message = message
        self.reason = reason


class AuthOauthProvider(models.Model):
    _inherit = "auth.oauth.provider"

    csp_connection_id = fields.Many2one(
        "csp.connection",
        string="CSP Connection",
        ondelete="cascade",
        readonly=True,
        index="btree_not_null",
        help="Set up from this Microsoft CSP connection: its GDAP app signs users in, "
        "its tenant allow-list says which Microsoft tenants may.",
    )
    csp_issuer_template = fields.Char(
        string="Issuer Template",
        help="Issuer of Microsoft's multi-tenant endpoint; {tenantid} stands for the "
        "tenant id (tid) of the token.",
    )

    def _csp_http(self):
        """MicrosoftHttp for the sign-in: the connection's login endpoint and the
        provider's token and key URLs (set by system administrators only)."""
        connection = self.csp_connection_id.sudo()
        recorder = self.env["csp.request.log"]._csp_recorder(connection, immediate=True)
        endpoints = {
            "login": connection.login_endpoint,
            "sso_token": self.token_endpoint,
            "sso_keys": self.jwks_uri,
        }
        # a person waits at the login page: fewer, shorter retries than a sync
        return MicrosoftHttp(
            endpoints,
            ca_bundle=connection.ca_bundle_path or None,
            on_exchange=recorder.add,
            timeout=15,
            max_attempts=2,
            max_wait=5.0,
        )

    def _csp_validate_sign_in(self, params, pending):
        """Redeem the code of a Microsoft answer and validate its id token.

        ``pending`` is the (nonce, PKCE verifier) this browser's session stored when the
        login page was shown. Returns (claims, access token); raises SsoRefusedError.
        """
        self.ensure_one()
        connection = self.csp_connection_id.sudo()
        if not pending:  # before showing anything of the answer: it may be forged
            raise self._csp_refused("session")
        if params.get("error"):
            raise self._csp_refused(
                "microsoft",
                detail=params.get("error_description") or params["error"],
            )
        nonce, verifier = pending
        http = self._csp_http()
        redirect_uri = self.env["res.users"]._csp_sso_redirect_uri()
        try:
            tokens = sso.redeem_code(
                http,
                self.token_endpoint,
                client_id=self.client_id,
                client_secret=self.client_secret or connection.gdap_client_secret,
                code=params.get("code") or "",
                verifier=verifier,
                redirect_uri=redirect_uri,
            )
            jwks = sso.signing_keys(http, self.jwks_uri, tokens.get("id_token"))
        except errors.MicrosoftError as exc:
            raise self._csp_refused("microsoft", detail=exc.user_message()) from None
        except ValueError:  # an answer that is not JSON
            raise self._csp_refused(sso.MALFORMED, detail="unreadable answer") from None
        try:
            claims = sso.validate_id_token(
                tokens.get("id_token"),
                jwks,
                allowed_tenants=sso.parse_tenant_list(connection.sso_allowed_tenant_ids),
                any_tenant=connection.sso_any_tenant,
                expected_issuer_template=self.csp_issuer_template,
                now=time.time(),
                audience=connection.gdap_client_id,
                nonce=nonce,
            )
        except sso.SsoRefused as exc:
            raise self._csp_refused(exc.refusal.reason, exc.refusal) from None
        access_token = tokens.get("access_token")
        if not access_token:
            raise self._csp_refused(sso.MALFORMED, detail="no access_token in the answer")
        return claims, access_token

    def _csp_refused(self, reason, refusal=None, detail=None):
        """Log a refused sign-in (a WARNING, never a token) and build its error."""
        refusal = refusal or sso.Refusal(reason, detail=detail)
        _logger.warning(
            "Microsoft sign-in refused by provider %s (CSP connection %s): %s",
            self.id,
            self.csp_connection_id.id,
            one_line(refusal),  # its detail may come from the query string
        )
        return SsoRefusedError(self._csp_refusal_message(refusal), reason)

    def _csp_refusal_message(self, refusal):
        """What the login page says about a refused sign-in."""
        reason = refusal.reason
        if reason == sso.TENANT_NOT_ALLOWED:
            return self.env._(
                "Your Microsoft organisation (tenant %(tenant)s) is not allowed to sign in "
                "to this database. An administrator can add this tenant id to the "
                "connection's SSO allow-list, or you can sign in with another account.",
                tenant=refusal.tenant_id,
            )
        if reason == sso.TENANT_MISSING:
            return self.env._("Microsoft's answer does not say which tenant you belong to.")
        if reason in (sso.EXPIRED, sso.NOT_YET_VALID):
            return self.env._(
                "Microsoft's sign-in answer has expired or is not valid yet. Check the "
                "server's clock, then sign in again."
            )
        if reason == sso.NONCE:
            return self.env._(
                "Microsoft's sign-in answer does not belong to this sign-in (nonce "
                "mismatch). Sign in again."
            )
        if reason == "session":
            return self.env._(
                "This sign-in was not started from this browser, or was already used. "
                "Open the login page and sign in again."
            )
        if reason == "no_user":
            return self.env._(
                "No Odoo user is linked to your Microsoft account (%(user)s, tenant "
                "%(tenant)s). Ask your administrator for access.",
                user=refusal.detail or "?",
                tenant=refusal.tenant_id or "?",
            )
        if reason == "microsoft":
            return self.env._("Microsoft refused the sign-in:\n%s", refusal.detail or "")
        # signature, audience, issuer, malformed token, missing subject
        return self.env._(
            "Microsoft's sign-in answer is not valid (%(reason)s) and was refused. Ask "
            "your administrator if you think this is wrong.",
            reason=str(refusal),
        )
