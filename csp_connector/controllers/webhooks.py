# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Partner Center's webhook deliveries: thin, the model verifies, stores and answers."""

from odoo import http
from odoo.http import request

from ..microsoft.webhooks import MAX_BODY


class CspWebhookController(http.Controller):
    @http.route(
        "/csp/webhook/<string:key>", type="http", auth="public", methods=["POST"], csrf=False,
        save_session=False,
    )  # fmt: skip
    def csp_webhook(self, key, **_kwargs):
        events = request.env["csp.webhook.event"].sudo()
        length = request.httprequest.content_length
        headers = dict(request.httprequest.headers)
        if length is None or length > MAX_BODY:  # refused without reading the body
            status, text = events._csp_refuse_unread(key, headers, length)
        else:
            status, text = events._csp_receive(key, request.httprequest.get_data(), headers)
        return request.make_response(
            text, headers=[("Content-Type", "text/plain; charset=utf-8")], status=status
        )
