"""``/auditLogs/signIns``: each user's last sign-in, for tenants with Entra ID P1."""

import hashlib

from .handler import NOT_PREMIUM, b64, graph_handler
from .odata import page_size, paged

SIGNIN_PAGE = 1000


@graph_handler
def sign_ins(ctx):
    if not ctx.tenant.has_p1:
        raise ctx.fail(403, *NOT_PREMIUM)
    entries = [
        {
            "id": b64(hashlib.sha256(user.id.encode()).digest()[:12]),
            "createdDateTime": user.signInActivity["lastSignInDateTime"],
            "userDisplayName": user.displayName,
            "userPrincipalName": user.userPrincipalName,
            "userId": user.id,
            "appDisplayName": "Office 365 Exchange Online",
            "clientAppUsed": "Browser",
            "isInteractive": True,
            "status": {"errorCode": 0, "failureReason": None, "additionalDetails": None},
        }
        for user in ctx.tenant.users.values()
        if (user.signInActivity or {}).get("lastSignInDateTime")
    ]
    size = page_size(ctx, SIGNIN_PAGE, SIGNIN_PAGE, strict=False)
    return paged(ctx, ctx.context("auditLogs/signIns"), entries, size, lambda e: e)
