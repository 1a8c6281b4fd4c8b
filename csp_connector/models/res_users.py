# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import json

from odoo import api, models
from odoo.exceptions import AccessDenied
from odoo.http import request

from ..microsoft import sso
from .auth_oauth_provider import SsoRefusedError

PENDING_KEY = "csp_sso_pending"  # session: {nonce: PKCE verifier} of shown login links
ERROR_KEY = "csp_sso_error"  # session: why the last Microsoft sign-in was refused
MAX_PENDING = 5


class ResUsers(models.Model):
    _inherit = "res.users"

    @api.model
    def _csp_sso_redirect_uri(self):
        """Where Microsoft sends the browser back (auth_oauth's route, as auth_oidc)."""
        return request.httprequest.url_root + "auth_oauth/signin"

    @api.model
    def _csp_sso_new_pending(self):
        """A fresh (nonce, PKCE verifier) for one login link, kept in the session."""
        nonce, verifier = sso.new_secret(), sso.new_secret()
        pending = dict(request.session.get(PENDING_KEY) or {})
        pending[nonce] = verifier
        request.session[PENDING_KEY] = dict(list(pending.items())[-MAX_PENDING:])
        return nonce, verifier

    @api.model
    def _csp_sso_take_pending(self, params):
        """The (nonce, verifier) named by the answer's state, removed (single use)."""
        if not request:
            return None
        try:
            nonce = json.loads(params.get("state") or "{}").get("n")
        except (ValueError, AttributeError):
            return None
        pending = dict(request.session.get(PENDING_KEY) or {})
        verifier = pending.pop(nonce, None) if nonce else None
        request.session[PENDING_KEY] = pending
        return (nonce, verifier) if verifier else None

    @api.model
    def auth_oauth(self, provider, params):
        oauth_provider = self.env["auth.oauth.provider"].browse(provider)
        if not oauth_provider.csp_connection_id:
            return super().auth_oauth(provider, params)
        if request:
            request.session.pop(ERROR_KEY, None)
        try:
            pending = self._csp_sso_take_pending(params)
            claims, access_token = oauth_provider._csp_validate_sign_in(params, pending)
            validation = dict(claims, user_id=claims["oid"])
            params["access_token"] = access_token
            try:
                login = self._auth_oauth_signin(provider, validation, params)
            except AccessDenied:
                login = None
            if not login:
                user = claims.get("preferred_username") or claims["oid"]
                refusal = sso.Refusal("no_user", claims.get("tid"), user)
                raise oauth_provider._csp_refused("no_user", refusal)
        except SsoRefusedError as exc:
            if request:
                request.session[ERROR_KEY] = exc.message
            raise
        return (self.env.cr.dbname, login, access_token)
