"""Single sign-on with Microsoft Entra ID: discovery, code redemption, id-token checks.

Plain Python (no ORM): the add-on's ``auth.oauth.provider`` and ``res.users`` call it.
Every HTTP call goes through :class:`~.http.MicrosoftHttp` (host allow-list, CA bundle,
timeouts, redacted request log). A refused sign-in is a :class:`Refusal` with a
``reason`` code the caller turns into a translated message; no token is ever put into
a refusal, so it can be logged as is.
"""

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

import jwt

from . import errors

ALGORITHMS = ("RS256",)
DEFAULT_LEEWAY = 120  # seconds of clock skew tolerated on exp/nbf/iat
ISSUER_TENANT_PLACEHOLDER = "{tenantid}"
MULTI_TENANT = "organizations"
# Signing keys change rarely (Microsoft rolls them over): the JWKS is kept per URL and
# read again after a day, or at once when a token names a key it does not hold.
JWKS_MAX_AGE = 24 * 3600

# Refusal reasons (the caller maps each to a message)
MALFORMED = "malformed"
SIGNATURE = "signature"
AUDIENCE = "audience"
ISSUER = "issuer"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"
NONCE = "nonce"
TENANT_MISSING = "tenant_missing"
TENANT_NOT_ALLOWED = "tenant_not_allowed"
SUBJECT_MISSING = "subject_missing"


@dataclass(frozen=True)
class Refusal:
    """Why a sign-in is refused: a reason code and facts safe to show and log."""

    reason: str
    tenant_id: str | None = None
    detail: str | None = None

    def __str__(self):
        parts = [self.reason]
        if self.tenant_id:
            parts.append(f"tenant {self.tenant_id}")
        if self.detail:
            parts.append(self.detail)
        return ": ".join(parts)


class SsoRefused(Exception):
    """Raised with a :class:`Refusal` when a token cannot be accepted."""

    def __init__(self, refusal):
        super().__init__(str(refusal))
        self.refusal = refusal


# -- allow-list -----------------------------------------------------------------


def parse_tenant_list(text):
    """The tenant ids of an allow-list text (one per line; blanks, commas ignored)."""
    return {item.strip().lower() for item in (text or "").replace(",", " ").split() if item}


def tenant_allowed(tenant_id, allowed_tenants, any_tenant):
    if not tenant_id:
        return False
    return any_tenant or tenant_id.lower() in {tid.lower() for tid in allowed_tenants}


# -- PKCE and nonce ---------------------------------------------------------------


def new_secret():
    """A random URL-safe value for a nonce or a PKCE code verifier."""
    return secrets.token_urlsafe(32)


def code_challenge(verifier):
    """The S256 PKCE challenge of `verifier`."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# -- HTTP -----------------------------------------------------------------------------


def discover(http, tenant=MULTI_TENANT):
    """The OpenID configuration of `tenant` on the connection's login endpoint."""
    url = http.url("login", f"{tenant}/v2.0/.well-known/openid-configuration")
    config = http.get_json(url, service="login", tenant=tenant)
    needed = ("authorization_endpoint", "token_endpoint", "jwks_uri", "issuer")
    missing = [name for name in needed if not config.get(name)]
    if missing:
        raise errors.AuthError(
            f"The OpenID configuration at {url} lacks {', '.join(missing)}.", service="login"
        )
    return config


def fetch_jwks(http, jwks_uri):
    """The signing keys document (JWKS) at `jwks_uri`."""
    return http.get_json(jwks_uri, service="login")


_JWKS = {}  # jwks_uri -> (fetched at, document)
_JWKS_LOCK = threading.Lock()


def signing_keys(http, jwks_uri, id_token=None, now=None):
    """The JWKS to check `id_token` with: the one kept for `jwks_uri` while it is
    younger than JWKS_MAX_AGE and holds the key the token names, else a fresh one.

    Each sign-in redeems its code at Microsoft first, so a token naming an unknown
    key (a rollover) costs one more request, never a request per forged token.
    """
    now = time.time() if now is None else now
    kid = _kid_of(id_token)
    with _JWKS_LOCK:
        kept = _JWKS.get(jwks_uri)
    if kept and now - kept[0] < JWKS_MAX_AGE and (kid is None or kid in _kids(kept[1])):
        return kept[1]
    jwks = fetch_jwks(http, jwks_uri)
    if _kids(jwks):  # a document without keys is not kept: the next sign-in asks again
        with _JWKS_LOCK:
            _JWKS[jwks_uri] = (now, jwks)
    return jwks


def forget_signing_keys():
    """Drop the kept JWKS documents (tests, or after an endpoint change)."""
    with _JWKS_LOCK:
        _JWKS.clear()


def _kid_of(id_token):
    try:
        return jwt.get_unverified_header(id_token or "").get("kid")
    except jwt.PyJWTError:
        return None  # verify_signature refuses it as malformed


def _kids(jwks):
    keys = (jwks or {}).get("keys") if isinstance(jwks, dict) else None
    return {key.get("kid") for key in keys or [] if isinstance(key, dict)}


def redeem_code(http, token_endpoint, *, client_id, client_secret, code, verifier, redirect_uri):
    """Exchange an authorization code (with its PKCE verifier) for tokens.

    Raises :class:`errors.MicrosoftError` with Microsoft's answer when it refuses.
    """
    response = http.request(
        "POST",
        token_endpoint,
        service="login",
        data={
            "client_id": client_id,
            "client_secret": client_secret,
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
            "scope": "openid profile email",
        },
    )
    return response.json()


# -- id token ---------------------------------------------------------------------------


def verify_signature(id_token, jwks):
    """The claims of `id_token` once its RS256 signature checks out against `jwks`.

    The key is the one named by the token's ``kid``; a token without ``kid`` is
    accepted only when the JWKS holds a single key. Times, audience, issuer and the
    rest are checked by :func:`check_claims`.
    """
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError:
        raise SsoRefused(Refusal(MALFORMED, detail="not a JWT")) from None
    if header.get("alg") not in ALGORITHMS:
        raise SsoRefused(Refusal(SIGNATURE, detail=f"algorithm {header.get('alg')!r}"))
    keys = [key for key in (jwks or {}).get("keys", []) if key.get("kty") == "RSA"]
    kid = header.get("kid")
    if kid is not None:
        keys = [key for key in keys if key.get("kid") == kid]
    elif len(keys) > 1:
        keys = []
    if not keys:
        raise SsoRefused(Refusal(SIGNATURE, detail=f"no published signing key {kid or ''}"))
    for key in keys:  # a rotated key may be listed twice under the same kid
        try:
            public_key = jwt.PyJWK(key, algorithm="RS256").key
            return jwt.decode(
                id_token,
                public_key,
                algorithms=list(ALGORITHMS),
                options={
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError:
            raise SsoRefused(Refusal(MALFORMED, detail="unreadable token")) from None
    raise SsoRefused(Refusal(SIGNATURE, detail="the signature does not match the key"))


def expected_issuer(template, tenant_id):
    """The issuer a token of `tenant_id` must carry, from the multi-tenant template."""
    return (template or "").replace(ISSUER_TENANT_PLACEHOLDER, tenant_id or "")


def check_claims(
    claims,
    allowed_tenants,
    any_tenant,
    expected_issuer_template,
    now,
    *,
    audience,
    nonce,
    leeway=DEFAULT_LEEWAY,
):
    """Why the verified `claims` of an id token must be refused, or None to accept them.

    ``now`` is a POSIX timestamp; ``allowed_tenants`` an iterable of tenant ids used
    unless ``any_tenant``. Checked in this order: audience, tenant id present, issuer
    (the template with the token's own ``tid``), expiry and not-before, nonce, subject
    (``oid``), then the tenant allow-list.
    """
    tid = claims.get("tid")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if not audience or audience not in audiences:
        return Refusal(AUDIENCE, tid, f"issued to {aud!r}")
    if not tid:
        return Refusal(TENANT_MISSING)
    if ISSUER_TENANT_PLACEHOLDER not in (expected_issuer_template or ""):
        return Refusal(ISSUER, tid, "no multi-tenant issuer template configured")
    wanted = expected_issuer(expected_issuer_template, tid)
    if claims.get("iss") != wanted:
        return Refusal(ISSUER, tid, f"issuer {claims.get('iss')!r}")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or now > exp + leeway:
        return Refusal(EXPIRED, tid)
    nbf = claims.get("nbf", claims.get("iat"))
    if isinstance(nbf, int | float) and now + leeway < nbf:
        return Refusal(NOT_YET_VALID, tid)
    if not nonce or not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
        return Refusal(NONCE, tid)
    if not claims.get("oid"):
        return Refusal(SUBJECT_MISSING, tid)
    if not tenant_allowed(tid, allowed_tenants, any_tenant):
        return Refusal(TENANT_NOT_ALLOWED, tid)
    return None


def validate_id_token(id_token, jwks, **checks):
    """Verified and accepted claims of `id_token`, else raise :class:`SsoRefused`.

    ``checks`` are :func:`check_claims`'s arguments after ``claims``.
    """
    if not id_token:
        raise SsoRefused(Refusal(MALFORMED, detail="no id_token in the answer"))
    claims = verify_signature(id_token, jwks)
    refusal = check_claims(claims, **checks)
    if refusal is not None:
        raise SsoRefused(refusal)
    return claims
