# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Where Microsoft sends the browser back: thin, the models check and record."""

import logging

from werkzeug.exceptions import Forbidden

from odoo import http
from odoo.exceptions import AccessError
from odoo.http import request

_logger = logging.getLogger(__name__)

CALLBACK_PARAMS = ("code", "state", "error", "error_description", "session_state",
                   "client_info", "admin_consent", "tenant", "scope")  # fmt: skip


def _params(kwargs):
    return {key: kwargs[key] for key in CALLBACK_PARAMS if key in kwargs}


class CspController(http.Controller):
    @http.route("/csp/authcallback", type="http", auth="user", methods=["GET"])
    def csp_authcallback(self, **kwargs):
        """Partner Center sign-in answer: store the tokens on the connection."""
        if not request.env.user._is_system():
            _logger.warning("CSP: user %s is not allowed to authorise", request.env.uid)
            raise Forbidden()
        try:
            connection = request.env["csp.connection"]._csp_finish_authorization(_params(kwargs))
        except AccessError as exc:
            raise Forbidden(str(exc)) from None
        return request.redirect(f"/odoo/action-csp_connector.csp_connection_action/{connection.id}")

    @http.route("/csp/adminconsent", type="http", auth="user", methods=["GET"])
    def csp_adminconsent(self, **kwargs):
        """Admin-consent answer for one customer tenant."""
        if not request.env.user.has_group("csp_connector.group_csp_manager"):
            raise Forbidden()
        try:
            tenant = request.env["csp.tenant"]._csp_finish_consent(_params(kwargs))
        except AccessError as exc:
            raise Forbidden(str(exc)) from None
        return request.redirect(f"/odoo/action-csp_connector.csp_tenant_action/{tenant.id}")
