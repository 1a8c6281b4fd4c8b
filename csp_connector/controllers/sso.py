# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Login page: per-browser nonce and PKCE for Microsoft links, and why a sign-in failed."""

import json
from urllib.parse import parse_qsl, urlencode

from odoo import http
from odoo.http import request

from odoo.addons.auth_oidc.controllers.main import OpenIDLogin

from ..microsoft import sso
from ..models.res_users import ERROR_KEY


class CspSsoLogin(OpenIDLogin):
    def list_providers(self):
        providers = super().list_providers()
        for provider in providers:
            if not provider.get("csp_connection_id") or "auth_link" not in provider:
                continue
            # auth_oidc's verifier is one per provider and its nonce is never checked:
            # each link gets its own, remembered in this browser's session
            nonce, verifier = request.env["res.users"].sudo()._csp_sso_new_pending()
            query = provider["auth_link"].split("?", 1)[-1]
            params = dict(parse_qsl(query, keep_blank_values=True))
            state = json.loads(params.get("state") or "{}")
            state["n"] = nonce
            params["state"] = json.dumps(state)
            params["nonce"] = nonce
            params["code_challenge"] = sso.code_challenge(verifier)
            params["code_challenge_method"] = "S256"
            params["response_type"] = "code"
            params["response_mode"] = "query"
            provider["auth_link"] = f"{provider['auth_endpoint']}?{urlencode(params)}"
            # what the login page renders needs no secret
            provider.pop("client_secret", None)
            provider.pop("code_verifier", None)
        return providers

    @http.route()
    def web_login(self, *args, **kw):
        message = None
        if request.params.get("oauth_error") and request.session.get(ERROR_KEY):
            message = request.session.pop(ERROR_KEY)
        response = super().web_login(*args, **kw)
        if message and response.is_qweb:
            response.qcontext["error"] = message
        return response
