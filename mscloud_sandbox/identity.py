"""Entra ID (login.microsoftonline.com): discovery, authorize, token, admin consent, logout.

Paths are those of the v2.0 endpoints, ``/{tenant}/oauth2/v2.0/token`` and friends,
where ``{tenant}`` is a tenant GUID, a verified domain, ``common`` or ``organizations``.
There is no sign-in page: the authorize endpoint signs in ``login_hint`` (any user of
the partner or of a customer tenant) or else the partner admin, and redirects at once.
"""

import base64
import html
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote_plus, urlencode, urlparse

from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from . import errors, faults, tokens

GENERIC_TENANTS = ("common", "organizations")
CODE_LIFETIME = 600  # seconds an authorization code can be redeemed
REFRESH_INACTIVITY = 90 * 86400  # a refresh token unused this long is dead
GDAP_SIGN_IN_STATUSES = ("active", "expiring")


@dataclass(frozen=True)
class Principal:
    """A signed-in user."""

    oid: str
    upn: str
    name: str
    home_tid: str
    email: str | None = None


class SignInError(Exception):
    """An AADSTS error, rendered as a token error, an error page or an error redirect."""

    def __init__(self, status, error, code, message):
        super().__init__(f"AADSTS{code}: {message}")
        self.status, self.error, self.code, self.message = status, error, code, message

    @classmethod
    def from_table(cls, code, **values):
        status, error, _ = faults.AADSTS[code]
        return cls(status, error, code, faults.aadsts_message(code, **values))

    def token_response(self, sb):
        return errors.token_error(self.status, self.error, self.code, self.message, sb.clock.now())


# -- tenants and users ---------------------------------------------------------


def resolve_tenant(world, segment):
    """Tenant id named by a path segment; None for common/organizations."""
    name = segment.lower()
    if name in GENERIC_TENANTS:
        return None
    if name in (world.partner_tenant_id.lower(), world.partner_domain.lower()):
        return world.partner_tenant_id
    if name in world.tenants:
        return name
    tenant = world.tenant_by_domain(name)
    if tenant is None:
        raise SignInError.from_table(90002, tenant=segment)
    return tenant.id


def partner_admin(world):
    upn = world.partner_admin_upn
    return Principal(
        oid=tokens.object_id(world.partner_tenant_id, upn.lower()),
        upn=upn,
        name=f"{world.partner_name} Admin",
        home_tid=world.partner_tenant_id,
        email=upn,
    )


def find_principal(world, upn):
    """The partner admin or a customer-tenant user with this UPN, else None."""
    if not upn:
        return None
    wanted = upn.lower()
    if wanted == world.partner_admin_upn.lower():
        return partner_admin(world)
    tenant = world.tenant_by_domain(wanted.rpartition("@")[2])
    if tenant is None:
        return None
    with world.lock:
        users = list(world.tenant(tenant.id).users.values())
    for user in users:
        if user.userPrincipalName.lower() == wanted:
            return Principal(
                user.id, user.userPrincipalName, user.displayName, tenant.id, user.mail
            )
    return None


def sign_in_tenant(world, path_tid, principal):
    """The tenant a token for `principal` is issued in, when asked at `path_tid`.

    A user signs in to their own tenant; the partner admin also signs in to a customer
    tenant while a GDAP relationship with it is active (delegated admin access).
    """
    if path_tid is None or path_tid == principal.home_tid:
        return principal.home_tid
    tenant = world.tenants.get(path_tid)
    status = tenant.gdap.status if tenant is not None and tenant.gdap is not None else None
    if principal.home_tid == world.partner_tenant_id and status in GDAP_SIGN_IN_STATUSES:
        return path_tid
    raise SignInError(
        400,
        "invalid_grant",
        50020,
        f"User account '{principal.upn}' from identity provider "
        f"'{principal.home_tid}' does not exist in tenant '{path_tid}' and cannot access "
        "the application in that tenant. The account needs to be added as an external "
        "user in the tenant first.",
    )


# -- responses for browsers ----------------------------------------------------


def error_page(sb, error):
    """Microsoft's sign-in error page (no redirect: the redirect URI is not trusted)."""
    stamp = sb.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    body = (
        "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>"
        "<h1>Sorry, but we're having trouble signing you in.</h1>"
        f'<p id="error">AADSTS{error.code}: {html.escape(error.message)}</p>'
        f"<p>Request Id: {uuid.uuid4()}<br>Correlation Id: {uuid.uuid4()}<br>"
        f"Timestamp: {stamp}</p></body></html>"
    )
    return Response(body, 400, content_type="text/html; charset=utf-8")


def redirect_to_client(redirect_uri, response_mode, values):
    """Send `values` to the client's redirect URI as query, fragment or form_post."""
    values = {key: value for key, value in values.items() if value is not None}
    if response_mode == "form_post":
        fields = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}"/>'
            for k, v in values.items()
        )
        body = (
            "<html><head><title>Working...</title></head>"
            '<body onload="document.forms[0].submit()">'
            f'<form method="POST" name="hiddenform" action="{html.escape(redirect_uri)}">'
            f"{fields}<noscript><p>Script is disabled. Click Submit to continue.</p>"
            '<input type="submit" value="Submit"/></noscript></form></body></html>'
        )
        return Response(body, 200, content_type="text/html; charset=utf-8")
    separator = "#" if response_mode == "fragment" else ("&" if "?" in redirect_uri else "?")
    return redirect(redirect_uri + separator + urlencode(values), 302)


def redirect_error(sb, redirect_uri, response_mode, state, error, code, message):
    stamp = sb.clock.now().strftime("%Y-%m-%d %H:%M:%SZ")
    return redirect_to_client(
        redirect_uri,
        response_mode,
        {
            "error": error,
            "error_description": f"AADSTS{code}: {message} Trace ID: {uuid.uuid4()} "
            f"Correlation ID: {uuid.uuid4()} Timestamp: {stamp}",
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
            "state": state,
        },
    )


def redirect_allowed(app, redirect_uri):
    """Registered redirect URIs must match exactly; with none registered, loopback only."""
    if not redirect_uri:
        return False
    if app.redirect_uris is not None:
        return redirect_uri in app.redirect_uris
    parsed = urlparse(redirect_uri)
    return parsed.scheme in ("http", "https") and parsed.hostname in ("127.0.0.1", "localhost")


def _client_checks(sb, params, tenant):
    """(path tenant id, app, redirect_uri) of a browser request, or raise SignInError."""
    path_tid = resolve_tenant(sb.world, tenant)
    client_id = params.get("client_id", "")
    app = sb.world.app(client_id)
    if app is None:
        raise SignInError.from_table(700016, client_id=client_id, tenant=tenant)
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_allowed(app, redirect_uri):
        raise SignInError.from_table(50011, client_id=client_id, redirect_uri=redirect_uri)
    return path_tid, app, redirect_uri


# -- discovery -----------------------------------------------------------------


def openid_configuration(sb, request, tenant):
    try:
        tid = resolve_tenant(sb.world, tenant)
    except SignInError as exc:
        return exc.token_response(sb)
    base = f"{sb.base_url}/{tenant}"
    return errors.json_response(
        {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{sb.base_url}/{tid or '{tenantid}'}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{sb.urls['graph']}/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "cloud_instance_name",
                "cloud_instance_host_name",
                "cloud_graph_host_name",
                "msgraph_host",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "at_hash",
                "c_hash",
                "email",
            ],
            "kerberos_endpoint": f"{base}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }
    )


def keys(sb, request, tenant):
    return errors.json_response(sb.tokens.jwks())


# -- authorize -----------------------------------------------------------------


def authorize(sb, request, tenant):
    params = request.values
    try:
        path_tid, app, redirect_uri = _client_checks(sb, params, tenant)
        mode, state = params.get("response_mode", "query"), params.get("state")
        failure = _authorize_problem(params)
        if failure is not None:
            return redirect_error(sb, redirect_uri, mode, state, *failure)
        principal = find_principal(sb.world, params.get("login_hint")) or partner_admin(sb.world)
        tid = sign_in_tenant(sb.world, path_tid, principal)
    except SignInError as exc:
        return error_page(sb, exc)
    code = sb.tokens.new_code(
        tokens.AuthCode(
            client_id=app.client_id,
            redirect_uri=redirect_uri,
            scope=params.get("scope"),
            principal=principal,
            tid=tid,
            issued=sb.clock.timestamp(),
            code_challenge=params.get("code_challenge"),
            code_challenge_method=params.get("code_challenge_method", "plain"),
            nonce=params.get("nonce"),
        )
    )
    session_state = tokens.object_id(principal.oid, "session")
    return redirect_to_client(
        redirect_uri, mode, {"code": code, "state": state, "session_state": session_state}
    )


def _authorize_problem(params):
    """(error, AADSTS code, message) for a bad authorize request, else None."""
    response_type = params.get("response_type", "")
    if response_type != "code":
        return (
            "unsupported_response_type",
            700054,
            f"response_type '{response_type}' is not enabled for the application.",
        )
    if not params.get("scope"):
        return (
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        )
    try:
        tokens.parse_scopes(params["scope"])
    except tokens.ScopeError:
        return ("invalid_scope", 70011, _bad_scope(params["scope"]))
    if params.get("code_challenge") and params.get("code_challenge_method", "plain") not in (
        "S256",
        "plain",
    ):
        return ("invalid_request", 501491, "Invalid code_challenge_method. Use S256 or plain.")
    return None


def _bad_scope(scope):
    return (
        "The provided value for the input parameter 'scope' is not valid. "
        f"The scope '{scope}' is not valid."
    )


# -- token ---------------------------------------------------------------------


def token(sb, request, tenant):
    try:
        return _token(sb, request.form, request, tenant)
    except SignInError as exc:
        return exc.token_response(sb)


def token_v1(sb, request, tenant):
    """The v1 endpoint: ``resource=`` instead of scopes; answers also carry ``resource``."""
    form = request.form.copy()
    resource = form.get("resource", tokens.RESOURCES["graph"].audience)
    extra = "" if form.get("grant_type") == "client_credentials" else " openid offline_access"
    form["scope"] = f"{resource.rstrip('/')}/.default{extra}"
    try:
        response = _token(sb, form, request, tenant)
    except SignInError as exc:
        return exc.token_response(sb)
    body = json.loads(response.get_data())
    body.update(resource=resource, expires_on=str(sb.clock.timestamp() + sb.tokens.lifetime))
    return _token_json(body)


def _token(sb, form, request, tenant):
    path_tid = resolve_tenant(sb.world, tenant)
    app = _authenticate_client(sb, request, form, tenant)
    grant_type = form.get("grant_type", "")
    grant = _GRANTS.get(grant_type)
    if grant is None:
        raise SignInError(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant_type}'.",
        )
    return grant(sb, app, form, path_tid, tenant)


def _authenticate_client(sb, request, form, tenant):
    client_id, secret = form.get("client_id"), form.get("client_secret")
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        client_id, secret = unquote_plus(auth.username or ""), unquote_plus(auth.password or "")
    app = sb.world.app(client_id)
    if app is None:
        raise SignInError.from_table(700016, client_id=client_id, tenant=tenant)
    if not secret:
        raise SignInError(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.",
        )
    if secret != app.client_secret:
        raise SignInError.from_table(7000215, client_id=client_id)
    if app.secret_expires is not None and app.secret_expires <= sb.clock.now():
        raise SignInError.from_table(7000222, client_id=client_id)
    return app


def _required(form, name):
    value = form.get(name)
    if not value:
        raise SignInError(
            400,
            "invalid_request",
            900144,
            f"The request body must contain the following parameter: '{name}'.",
        )
    return value


def _grant_authorization_code(sb, app, form, path_tid, tenant):
    record, redeemed = sb.tokens.redeem_code(_required(form, "code"))
    if redeemed:
        raise SignInError(
            400,
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid "
            "code or use an existing refresh token.",
        )
    if record is None or record.client_id != app.client_id:
        raise SignInError(
            400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
        )
    if sb.clock.timestamp() - record.issued > CODE_LIFETIME:
        raise SignInError(
            400,
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to "
            "inactivity. Send a new interactive authorization request for this user and "
            "resource.",
        )
    if form.get("redirect_uri") != record.redirect_uri:
        raise SignInError.from_table(
            50011, client_id=app.client_id, redirect_uri=form.get("redirect_uri", "")
        )
    _check_pkce(record, form.get("code_verifier"))
    scope = form.get("scope") or record.scope
    return _delegated_tokens(sb, app, record.principal, record.tid, scope, record.nonce)


def _check_pkce(record, verifier):
    if not record.code_challenge:
        return
    if not verifier:
        raise SignInError(
            400,
            "invalid_grant",
            50148,
            "The code_verifier does not match the code_challenge supplied in the "
            "authorization request for PKCE.",
        )
    if not tokens.pkce_matches(verifier, record.code_challenge, record.code_challenge_method):
        raise SignInError(
            400,
            "invalid_grant",
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the "
            "authorization request.",
        )


def _grant_refresh_token(sb, app, form, path_tid, tenant):
    record = sb.tokens.refresh_token(_required(form, "refresh_token"))
    if record is None or record.client_id != app.client_id:
        raise SignInError(
            400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
        )
    now = sb.clock.timestamp()
    if now - record.last_used > REFRESH_INACTIVITY:
        issued = datetime.fromtimestamp(record.issued, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise SignInError.from_table(700082, issued=issued)
    record.last_used = now
    tid = sign_in_tenant(sb.world, path_tid, record.principal)
    scope = form.get("scope") or record.scope
    return _delegated_tokens(sb, app, record.principal, tid, scope)


def _grant_client_credentials(sb, app, form, path_tid, tenant):
    if path_tid is None:
        raise SignInError(
            400,
            "invalid_request",
            50059,
            "No tenant-identifying information found in either the request or implied by "
            "any provided credentials.",
        )
    scope = form.get("scope", "")
    if len(scope.split()) != 1 or not scope.endswith("/.default"):
        raise SignInError(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows "
            "must have a scope value with /.default suffixed to the resource identifier "
            "(application ID URI).",
        )
    try:
        resource = tokens.parse_scopes(scope).resource
    except tokens.ScopeError:
        raise SignInError(
            400,
            "invalid_resource",
            500011,
            f"The resource principal named {scope.rpartition('/')[0]} was not found in the "
            f"tenant named {tenant}. This can happen if the application has not been "
            "installed by the administrator of the tenant.",
        ) from None
    partner = path_tid == sb.world.partner_tenant_id
    if not partner and app.client_id not in sb.world.tenants[path_tid].consented_apps:
        raise SignInError.from_table(7000229, client_id=app.client_id, tenant=path_tid)
    service_principal = tokens.object_id(app.client_id, path_tid)
    claims = _access_claims(sb, app, resource, path_tid, service_principal)
    claims["idtyp"] = "app"
    if resource.roles:
        claims["roles"] = list(resource.roles)
    return _token_json(_lifetimes(sb) | {"access_token": sb.tokens.sign(claims)})


_GRANTS = {
    "authorization_code": _grant_authorization_code,
    "refresh_token": _grant_refresh_token,
    "client_credentials": _grant_client_credentials,
}


def _lifetimes(sb):
    lifetime = sb.tokens.lifetime
    return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime}


def _token_json(body):
    return errors.json_response(body, 200, {"Cache-Control": "no-store", "Pragma": "no-cache"})


def _access_claims(sb, app, resource, tid, oid):
    return {
        "aud": resource.audience,
        "iss": f"{sb.base_url}/{tid}/v2.0",
        "tid": tid,
        "oid": oid,
        "sub": oid,
        "appid": app.client_id,
        "azp": app.client_id,
        "appidacr": "1",
        "azpacr": "1",
        "ver": "2.0",
        "uti": uuid.uuid4().hex,
        **sb.tokens.time_claims(),
    }


def _delegated_tokens(sb, app, principal, tid, scope, nonce=None):
    """The answer of a user grant: access token, and refresh/ID token when asked."""
    try:
        wanted = tokens.parse_scopes(scope)
    except tokens.ScopeError:
        raise SignInError(400, "invalid_scope", 70011, _bad_scope(scope)) from None
    claims = _access_claims(sb, app, wanted.resource, tid, principal.oid)
    claims.update(
        idtyp="user",
        scp=" ".join(wanted.permissions),
        upn=principal.upn,
        preferred_username=principal.upn,
        unique_name=principal.upn,
        name=principal.name,
    )
    granted = wanted.requested or [f"{wanted.resource.audience}/User.Read"]
    body = _lifetimes(sb) | {
        "scope": " ".join(granted + sorted(wanted.oidc)),
        "access_token": sb.tokens.sign(claims),
    }
    if "offline_access" in wanted.oidc:
        body["refresh_token"] = sb.tokens.new_refresh_token(app.client_id, principal, scope)
    if "openid" in wanted.oidc:
        body["id_token"] = _id_token(sb, app, principal, tid, nonce)
    info = json.dumps({"uid": principal.oid, "utid": principal.home_tid}).encode()
    body["client_info"] = base64.urlsafe_b64encode(info).rstrip(b"=").decode()
    return _token_json(body)


def _id_token(sb, app, principal, tid, nonce):
    claims = {
        "aud": app.client_id,
        "iss": f"{sb.base_url}/{tid}/v2.0",
        "sub": tokens.object_id(principal.oid, app.client_id),
        "oid": principal.oid,
        "tid": tid,
        "preferred_username": principal.upn,
        "name": principal.name,
        "email": principal.email or principal.upn,
        "ver": "2.0",
        **sb.tokens.time_claims(),
    }
    if nonce:
        claims["nonce"] = nonce
    return sb.tokens.sign(claims)


# -- admin consent and logout --------------------------------------------------


def admin_consent(sb, request, tenant):
    """Grant tenant-wide consent to an app (its service principal appears in the tenant)."""
    params = request.args
    state, scope = params.get("state"), params.get("scope")
    try:
        path_tid, app, redirect_uri = _client_checks(sb, params, tenant)
        principal = find_principal(sb.world, params.get("login_hint")) or partner_admin(sb.world)
        target = path_tid or principal.home_tid
        if target != sb.world.partner_tenant_id and not app.multi_tenant:
            raise SignInError.from_table(700016, client_id=app.client_id, tenant=target)
    except SignInError as exc:
        return error_page(sb, exc)
    if target != sb.world.partner_tenant_id:
        problem = _consent_problem(sb, path_tid, target, principal)
        if problem is not None:
            return redirect_error(sb, redirect_uri, "query", state, "access_denied", *problem)
        sb.world.grant_consent(sb.world.tenants[target], [app.client_id])
    values = {"admin_consent": "True", "tenant": target, "state": state, "scope": scope}
    return redirect_to_client(redirect_uri, "query", values)


def _consent_problem(sb, path_tid, target, principal):
    """(AADSTS code, message) when consent in the customer tenant is refused, else None."""
    try:
        sign_in_tenant(sb.world, path_tid or target, principal)
    except SignInError as exc:
        return exc.code, exc.message
    if sb.world.tenants[target].consent_blocked:
        return (
            90094,
            "Admin consent is required for the permissions requested by this application, "
            "and the signed-in account cannot grant it for this organization.",
        )
    return None


def logout(sb, request, tenant):
    target = request.args.get("post_logout_redirect_uri")
    if target:
        return redirect(target, 302)
    return Response(
        "<html><body><p>You signed out of your account.</p></body></html>",
        200,
        content_type="text/html; charset=utf-8",
    )


url_map = Map(
    [
        Rule("/<tenant>/v2.0/.well-known/openid-configuration", endpoint=openid_configuration),
        Rule("/<tenant>/.well-known/openid-configuration", endpoint=openid_configuration),
        Rule("/<tenant>/discovery/v2.0/keys", endpoint=keys),
        Rule("/<tenant>/discovery/keys", endpoint=keys),
        Rule("/<tenant>/oauth2/v2.0/authorize", endpoint=authorize, methods=["GET", "POST"]),
        Rule("/<tenant>/oauth2/v2.0/token", endpoint=token, methods=["POST"]),
        Rule("/<tenant>/oauth2/token", endpoint=token_v1, methods=["POST"]),
        Rule("/<tenant>/v2.0/adminconsent", endpoint=admin_consent),
        Rule("/<tenant>/adminconsent", endpoint=admin_consent),
        Rule("/<tenant>/oauth2/v2.0/logout", endpoint=logout, methods=["GET", "POST"]),
    ],
    strict_slashes=False,
)
