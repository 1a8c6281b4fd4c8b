# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The ``state`` sent through Microsoft's sign-in and consent pages.

It names the record, carries a one-time nonce stored on that record, and an HMAC
(keyed with the database secret) binding both to the user who started the flow. The
callback refuses a state whose signature does not match the signed-in user, or whose
nonce is no longer the one stored (used once already, or replaced by a newer flow).
"""

import secrets

from odoo.tools import consteq
from odoo.tools.misc import hmac


def new_nonce():
    return secrets.token_urlsafe(24)


def sign(env, scope, record_id, nonce):
    signature = hmac(env(su=True), scope, (int(record_id), env.uid, nonce))
    return f"{int(record_id)}.{nonce}.{signature}"


def verify(env, scope, state):
    """(record id, nonce) of a genuine state for the current user, else None."""
    try:
        record_id, nonce, signature = (state or "").split(".")
        record_id = int(record_id)
    except ValueError:
        return None
    expected = hmac(env(su=True), scope, (record_id, env.uid, nonce))
    if not consteq(signature, expected):
        return None
    return record_id, nonce
