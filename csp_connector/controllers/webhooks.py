# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Partner Center's webhook deliveries: thin, the model verifies, stores and answers.

The URL's last part is the connection's webhook key, a secret: the server's access log
(werkzeug's request lines) shows it masked.
"""

import logging
import re

from odoo import http
from odoo.http import request

from ..microsoft.webhooks import MAX_BODY

_KEY_IN_PATH = re.compile(r"(/csp/webhook/)[^\s?\"/]+")


class HideWebhookKey(logging.Filter):
    """Masks the key of /csp/webhook/<key> in a log record's message and arguments."""

    def filter(self, record):
        if isinstance(record.msg, str):
            record.msg = _KEY_IN_PATH.sub(r"\1***", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                _KEY_IN_PATH.sub(r"\1***", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


def _hide_keys_in_access_log():
    access_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, HideWebhookKey) for f in access_log.filters):
        access_log.addFilter(HideWebhookKey())


_hide_keys_in_access_log()


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
