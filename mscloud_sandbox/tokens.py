"""Signed access tokens, the JWKS document, scopes and :func:`require_token`.

Tokens are RS256 JWTs signed by a key generated once per :class:`~.app.Sandbox`.
Their times come from the sandbox clock, so moving the clock expires them.
Authorization codes and refresh tokens are opaque strings kept in memory here.
"""

import base64
import hashlib
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from . import errors

OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})


@dataclass(frozen=True)
class Resource:
    name: str
    audience: str
    app_id: str
    delegated: tuple  # permissions granted by "<resource>/.default" to a user
    roles: tuple = ()  # application permissions of a client-credentials token


RESOURCES = {
    "graph": Resource(
        "graph",
        "https://graph.microsoft.com",
        "00000003-0000-0000-c000-000000000000",
        ("Directory.Read.All", "Group.Read.All", "User.Read", "User.Read.All"),
        (
            "User.Read.All",
            "Group.Read.All",
            "Directory.Read.All",
            "DeviceManagementManagedDevices.Read.All",
            "AuditLog.Read.All",
            "Organization.Read.All",
            "DelegatedAdminRelationship.Read.All",
        ),
    ),
    "partnercenter": Resource(
        "partnercenter",
        "https://api.partnercenter.microsoft.com",
        "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd",
        ("user_impersonation",),
    ),
    "pricing": Resource(
        "pricing",
        "https://api.partner.microsoft.com",
        "4990cffe-04e8-4e8b-808a-1175604b879f",
        ("user_impersonation",),
    ),
}


class ScopeError(ValueError):
    """A scope parameter that names no known resource, or more than one."""


@dataclass
class ScopeRequest:
    resource: Resource
    requested: list  # the resource scopes exactly as the client wrote them
    permissions: list  # permission names (".default" expanded)
    oidc: set = field(default_factory=set)


def _resource_of(prefix):
    prefix = prefix.rstrip("/").lower()
    for resource in RESOURCES.values():
        if prefix in (resource.audience, resource.app_id):
            return resource
    raise ScopeError(prefix)


def parse_scopes(scope):
    """Split a space-separated scope string into one resource and its permissions.

    Bare names ("User.Read.All") are Graph permissions; only OpenID scopes mean
    Graph's User.Read, as Microsoft does.
    """
    items = [item for item in (scope or "").split() if item]
    oidc = {item for item in items if item in OIDC_SCOPES}
    requested = [item for item in items if item not in OIDC_SCOPES]
    resources, permissions = set(), []
    for item in requested:
        prefix, _, name = item.rpartition("/")
        resource = _resource_of(prefix) if prefix else RESOURCES["graph"]
        resources.add(resource.name)
        permissions.extend(resource.delegated if name == ".default" else [name])
    if len(resources) > 1:
        raise ScopeError("more than one resource")
    if not resources:
        return ScopeRequest(RESOURCES["graph"], [], ["User.Read"], oidc)
    resource = RESOURCES[resources.pop()]
    return ScopeRequest(resource, requested, list(dict.fromkeys(permissions)), oidc)


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    scope: str
    principal: object
    tid: str
    issued: float  # sandbox timestamp
    code_challenge: str | None = None
    code_challenge_method: str = "plain"
    nonce: str | None = None


@dataclass
class RefreshToken:
    client_id: str
    principal: object
    scope: str
    issued: float
    last_used: float


class TokenRejected(Exception):
    """Why a bearer token was refused: 'empty', 'invalid', 'expired', 'audience'."""


class TokenService:
    """The signing key, the JWKS, and the in-memory code/refresh-token stores."""

    def __init__(self, clock, lifetime=3600):
        self.clock = clock
        self.lifetime = lifetime
        self.lock = threading.Lock()
        self.keys = {}  # kid -> private key, oldest first: the JWKS lists the last two
        self.rotate_key()
        self.codes = {}  # code -> AuthCode
        self.redeemed_codes = set()
        self.refresh_tokens = {}  # token -> RefreshToken

    # -- JWT -----------------------------------------------------------------------

    def rotate_key(self):
        """A new signing key, as in Microsoft's key rollover: tokens are signed with it
        from now on; the previous key stays published (and valid) beside it."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = secrets.token_hex(16)
        with self.lock:
            self.keys[kid] = key
            for old in list(self.keys)[:-2]:
                del self.keys[old]
            self.key, self.kid = key, kid
        return kid

    def sign(self, claims):
        with self.lock:
            key, kid = self.key, self.kid
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

    def time_claims(self, lifetime=None):
        now = self.clock.timestamp()
        return {"iat": now, "nbf": now, "exp": now + (lifetime or self.lifetime)}

    def jwks(self):
        keys = []
        with self.lock:
            published = list(self.keys.items())
        for kid, key in reversed(published):  # the current key first
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
            keys.append(jwk)
        return {"keys": keys}

    def verify(self, token, audience):
        """Claims of a valid token for `audience`, else raise :class:`TokenRejected`."""
        if not token:
            raise TokenRejected("empty")
        try:
            key = self.keys.get(jwt.get_unverified_header(token).get("kid"))
            if key is None:
                raise TokenRejected("invalid")
            claims = jwt.decode(
                token,
                key.public_key(),
                algorithms=["RS256"],
                # times are checked below against the sandbox clock, not the real one
                options={
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise TokenRejected("invalid") from exc
        now = self.clock.timestamp()
        if not claims.get("nbf", 0) - 300 <= now < claims.get("exp", 0):
            raise TokenRejected("expired")
        if claims.get("aud") != audience:
            raise TokenRejected("audience")
        return claims

    # -- opaque grants -------------------------------------------------------------

    def new_code(self, record):
        code = "1.A" + secrets.token_urlsafe(48)
        with self.lock:
            self.codes[code] = record
        return code

    def redeem_code(self, code):
        """(AuthCode or None, already_redeemed)."""
        with self.lock:
            record = self.codes.pop(code, None)
            if record is not None:
                self.redeemed_codes.add(code)
                return record, False
            return None, code in self.redeemed_codes

    def new_refresh_token(self, client_id, principal, scope):
        token = "0.A" + secrets.token_urlsafe(96)
        now = self.clock.timestamp()
        with self.lock:
            self.refresh_tokens[token] = RefreshToken(client_id, principal, scope, now, now)
        return token

    def refresh_token(self, token):
        with self.lock:
            return self.refresh_tokens.get(token)


def pkce_matches(verifier, challenge, method):
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        verifier = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return secrets.compare_digest(verifier, challenge)


def object_id(*parts):
    """A stable GUID for objects the world does not model (partner admin, service principals)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


# -- require_token: the services' side -----------------------------------------

_GRAPH_401 = {
    "empty": "Access token is empty.",
    "invalid": "Access token validation failure.",
    "expired": "Access token has expired or is not yet valid.",
    "audience": "Access token validation failure. Invalid audience.",
}
_PC_401 = {
    "empty": "Authorization header is missing. Send 'Authorization: Bearer <token>' "
    "with a token issued for {audience}.",
    "invalid": "The access token is malformed or its signature could not be validated.",
    "expired": "The access token has expired or is not yet valid. Acquire a new token.",
    "audience": "The access token was not issued for this API: expected audience {audience}.",
}


def _bearer(request):
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _unauthorized(sb, resource, reason):
    if resource.name == "graph":
        challenge = (
            f'Bearer realm="", authorization_uri="{sb.base_url}/common/oauth2/authorize", '
            f'client_id="{resource.app_id}"'
        )
        return errors.graph_error(
            401,
            "InvalidAuthenticationToken",
            _GRAPH_401[reason],
            sb.clock.now(),
            {"WWW-Authenticate": challenge},
        )
    description = _PC_401[reason].format(audience=resource.audience)
    return errors.partner_center_error(401, 401, description, {"WWW-Authenticate": "Bearer"})


def _forbidden(sb, resource, tid):
    if resource.name == "graph":
        return errors.graph_error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
            sb.clock.now(),
        )
    description = (
        f"The token was issued in tenant '{tid}', which is not the partner's tenant; "
        "sign in as a user of the partner organization."
    )
    return errors.partner_center_error(403, 403, description)


def require_token(sb, request, resource_name):
    """Verified claims of the request's bearer token, or raise the service's 401/403."""
    resource = RESOURCES[resource_name]
    try:
        claims = sb.tokens.verify(_bearer(request), resource.audience)
    except TokenRejected as exc:
        raise errors.ApiError(_unauthorized(sb, resource, exc.args[0])) from None
    tid = claims.get("tid")
    world = sb.world
    if resource.name == "graph":
        allowed = tid == world.partner_tenant_id or tid in world.tenants
    else:
        allowed = tid == world.partner_tenant_id
    if not allowed:
        raise errors.ApiError(_forbidden(sb, resource, tid))
    return claims
