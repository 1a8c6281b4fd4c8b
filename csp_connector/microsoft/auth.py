"""Tokens through MSAL: Partner Center app+user (code flow with PKCE) and GDAP app-only.

MSAL does the OAuth work; its HTTP goes through :class:`MicrosoftHttp` (allow-list,
timeouts, CA bundle, request log). The token cache is MSAL's serialised cache, stored
by the caller (on the connection, readable by system administrators only).
"""

import hashlib
import threading
import time
import warnings

import msal

from . import errors

PARTNER_CENTER_SCOPE = "https://api.partnercenter.microsoft.com/user_impersonation"
GRAPH_APP_SCOPE = "https://graph.microsoft.com/.default"


class MsalHttpClient:
    """The ``http_client`` MSAL expects (get/post returning a requests.Response)."""

    def __init__(self, http, tenant=None):
        self.http = http
        self.tenant = tenant
        self.last_status = None  # of Microsoft's last answer, shown with its error

    def post(self, url, params=None, data=None, headers=None, **_kwargs):
        return self._seen(self.http.request(
            "POST",
            url,
            service="login",
            tenant=self.tenant,
            params=params,
            data=data,
            headers=headers,
            raise_for_status=False,
        ))  # fmt: skip

    def get(self, url, params=None, headers=None, **_kwargs):
        return self._seen(self.http.request(
            "GET",
            url,
            service="login",
            tenant=self.tenant,
            params=params,
            headers=headers,
            raise_for_status=False,
        ))  # fmt: skip

    def _seen(self, response):
        self.last_status = response.status_code
        return response

    def close(self):
        """MSAL calls it; the session belongs to MicrosoftHttp."""


def load_cache(serialized):
    cache = msal.SerializableTokenCache()
    if serialized:
        cache.deserialize(serialized)
    return cache


def confidential_app(http, client_id, client_secret, tenant, cache=None):
    """An MSAL confidential client for ``tenant`` on the connection's login endpoint.

    MSAL reads the tenant's OpenID configuration first; when Microsoft refuses (an
    unknown tenant, an injected AADSTS error) MSAL raises ValueError with Microsoft's
    answer inside: it becomes an explained AuthError.
    """
    client = MsalHttpClient(http, tenant)
    try:
        app = msal.ConfidentialClientApplication(
            client_id,
            client_credential=client_secret,
            authority=http.url("login", tenant),
            token_cache=cache,
            http_client=client,
            instance_discovery=False,
        )
    except ValueError as exc:
        cause = exc.__context__ or exc
        raise errors.AuthError(
            str(cause), service="login", tenant=tenant, status=client.last_status
        ) from None
    app.csp_http_client = client
    return app


def raise_for_result(result, tenant=None, app=None):
    """MSAL answers with a dict; turn an error answer into an :class:`errors.AuthError`."""
    if result and "access_token" in result:
        return result
    result = result or {}
    client = getattr(app, "csp_http_client", None)
    codes = result.get("error_codes") or []
    raise errors.AuthError(
        result.get("error_description") or result.get("error") or "No token was returned.",
        service="login",
        code=result.get("error"),
        aadsts=codes[0] if codes else None,
        correlation_id=result.get("correlation_id"),
        tenant=tenant,
        status=client.last_status if client else None,
    )


def start_code_flow(app, redirect_uri, state, scopes=(PARTNER_CENTER_SCOPE,), login_hint=None):
    """Begin the authorisation code flow (PKCE). Keep the returned flow server-side.

    The answer comes back as a query string on purpose: a cross-site form_post would
    arrive without Odoo's SameSite=Lax session cookie, and the callback needs the
    signed-in administrator. PKCE and the HMAC-signed state protect the code instead,
    so MSAL's advice to prefer form_post is silenced here.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="response_mode='form_post'")
        return app.initiate_auth_code_flow(
            list(scopes),
            redirect_uri=redirect_uri,
            state=state,
            login_hint=login_hint,
            response_mode="query",
        )


def finish_code_flow(app, flow, auth_response):
    """Redeem the code Microsoft sent back; the tokens land in the app's cache."""
    try:
        result = app.acquire_token_by_auth_code_flow(flow, auth_response)
    except ValueError as exc:  # state mismatch or a flow that does not belong here
        raise errors.AuthError(f"The sign-in answer does not match this flow: {exc}") from None
    return raise_for_result(result, app=app)


def silent_token(app, scopes=(PARTNER_CENTER_SCOPE,), force_refresh=False):
    """A delegated token from the cache, refreshed with the refresh token when needed.

    ``force_refresh`` redeems the refresh token even if the cached access token looks
    valid (after Microsoft answered 401 for it, for example).
    """
    accounts = app.get_accounts()
    if not accounts:
        raise errors.AuthError(
            "No Partner Center sign-in is stored for this connection.", code="not_authorized"
        )
    result = app.acquire_token_silent_with_error(
        list(scopes), account=accounts[0], force_refresh=force_refresh
    )
    if result is None:
        raise errors.AuthError(
            "The stored Partner Center sign-in cannot be refreshed.", code="not_authorized"
        )
    return raise_for_result(result, app=app)


def app_token(app, scope=GRAPH_APP_SCOPE, tenant=None):
    """An app-only token (client credentials), e.g. for Graph in a customer tenant."""
    return raise_for_result(app.acquire_token_for_client([scope]), tenant=tenant, app=app)


# App-only tokens, kept in this process's memory only (never stored or logged): a sync
# of hundreds of tenants then spends no discovery or token request per tenant per run.
_APP_TOKENS = {}
_APP_TOKENS_LOCK = threading.Lock()
_MARGIN = 300  # seconds: a token that expires sooner is not reused


def cached_app_token(http, client_id, client_secret, tenant, scope=GRAPH_APP_SCOPE):
    """Like :func:`app_token` (client credentials), reusing a still valid token."""
    secret_hash = hashlib.sha256((client_secret or "").encode()).hexdigest()
    key = (http.endpoints.get("login"), client_id, secret_hash, tenant, scope)
    now = time.time()
    with _APP_TOKENS_LOCK:
        hit = _APP_TOKENS.get(key)
    if hit and hit[1] - _MARGIN > now:
        return hit[0]
    app = confidential_app(http, client_id, client_secret, tenant)
    result = app_token(app, scope, tenant=tenant)
    with _APP_TOKENS_LOCK:
        _APP_TOKENS[key] = (result["access_token"], now + int(result.get("expires_in", 0)))
    return result["access_token"]


def forget_app_tokens():
    """Drop the cached app-only tokens (after a secret change, or in tests)."""
    with _APP_TOKENS_LOCK:
        _APP_TOKENS.clear()
