"""What every Graph route shares: :func:`graph_handler` authenticates the request and
gives the route a :class:`Ctx` (the sandbox, the request, the token's claims, the tenant
it names and the Graph service's state for the world); the opaque tokens Graph's links
carry (sealed, so clients cannot forge them); the answers several routes share.
"""

import base64
import functools
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass, field

from ..errors import ApiError, graph_error
from ..world import Tenant

NOT_PREMIUM = (
    "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
    "Neither tenant is B2C or tenant doesn't have premium license",
)


@dataclass
class GraphState:
    """Runtime state of the Graph service for one World."""

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    orders: dict = field(default_factory=dict)  # (tenant id, kind) -> ((seq, n), [ids])
    snapshots: dict = field(default_factory=dict)  # (tenant id, seq) -> {group: frozenset}
    partner_tenant: Tenant | None = None


_STATE_LOCK = threading.Lock()


def _state(world):
    with _STATE_LOCK:
        state = world.service_state.get("graph")
        if state is None:
            state = world.service_state["graph"] = GraphState()
        return state


@dataclass
class Ctx:
    """What every handler needs: the sandbox, the request, the token and the tenant."""

    sb: object
    request: object
    claims: dict
    tenant: Tenant
    state: GraphState

    def fail(self, status, code, message, headers=None):
        client_id = self.request.headers.get("client-request-id")
        return ApiError(graph_error(status, code, message, self.sb.clock.now(), headers, client_id))

    def base(self):
        return self.sb.urls["graph"]

    def context(self, fragment):
        return f"{self.base()}/v1.0/$metadata#{fragment}"

    def self_url(self):
        path = self.request.path
        if path.startswith("/graph/"):
            path = path[len("/graph") :]
        return self.base() + path

    def arg(self, name):
        """An OData query option, with or without its "$", case-insensitively."""
        wanted = name.lower().lstrip("$")
        for key, value in self.request.args.items():
            if key.lower().lstrip("$") == wanted:
                return value
        return None

    @property
    def is_partner(self):
        return self.claims.get("tid") == self.sb.world.partner_tenant_id


def graph_handler(func):
    """Authenticate, resolve the tenant and run the handler under the world lock."""

    @functools.wraps(func)
    def handler(sb, request, **values):
        claims = sb.require_token(request, "graph")
        world = sb.world
        with world.lock:
            state = _state(world)
            ctx = Ctx(sb, request, claims, _tenant_for(world, state, claims["tid"]), state)
            return func(ctx, **values)

    return handler


def _tenant_for(world, state, tenant_id):
    tenant = world.tenant(tenant_id)
    if tenant is not None:
        return tenant
    if state.partner_tenant is None or state.partner_tenant.id != tenant_id:
        # The partner's own directory is not modelled: an empty tenant with P1.
        state.partner_tenant = Tenant(
            id=tenant_id,
            company_name=world.partner_name,
            default_domain=world.partner_domain,
            domains=[world.partner_domain],
            country="US",
            reseller=False,
            gdap=None,
            consented_apps=set(),
            has_p1=True,
        )
    return state.partner_tenant


def require_partner(ctx):
    if not ctx.is_partner:
        raise ctx.fail(
            403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )


# -- opaque tokens -------------------------------------------------------------


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(state, payload):
    """base64url(JSON) + "." + base64url(HMAC): opaque to clients, tamper-evident here."""
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(state.secret, raw, hashlib.sha256).digest()[:16]
    return f"{b64(raw)}.{b64(mac)}"


def unseal(state, token):
    """The payload of a token made by :func:`seal`, or None when it is not one."""
    try:
        body, mac = token.split(".")
        raw = _unb64(body)
        expected = hmac.new(state.secret, raw, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        return json.loads(raw)
    except (ValueError, TypeError):
        return None
