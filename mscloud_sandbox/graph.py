"""Microsoft Graph v1.0: the directory, licence, Intune and GDAP calls the connector makes.

Every route authenticates with ``sb.require_token(request, "graph")`` and serves the
tenant named by the token's ``tid``.  Collections page with ``@odata.nextLink`` (an
opaque ``$skiptoken``), honour ``$select``, ``$top`` and a small ``$filter`` dialect, and
``/users/delta`` and ``/groups/delta`` keep Microsoft's delta-query contract on top of
the tenant's change log.  Partner billing usage exports live in ``usage_exports``;
their Graph routes are listed here.
"""

import base64
import functools
import hashlib
import hmac
import json
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field, fields
from datetime import timedelta
from urllib.parse import quote, urlencode

from werkzeug.routing import Map, Rule

from . import usage_exports
from .errors import ApiError, graph_error, json_response
from .generate import catalogue
from .world import Device, Group, Tenant, User

MAX_TOP = 999
DEFAULT_TOP = 100
DEVICE_PAGE = 1000
GDAP_PAGE = 300
SIGNIN_PAGE = 1000
DELTA_LIFETIME = timedelta(days=7)
SNAPSHOTS_KEPT = 64

USER_DEFAULT = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
# Graph properties the sandbox does not model: selectable, served empty.
USER_UNMODELLED = {
    "usageLocation": None,
    "preferredLanguage": None,
    "mailNickname": None,
    "employeeType": None,
    "state": None,
    "faxNumber": None,
    "ageGroup": None,
    "onPremisesSyncEnabled": None,
    "onPremisesImmutableId": None,
    "onPremisesLastSyncDateTime": None,
    "lastPasswordChangeDateTime": None,
    "passwordPolicies": None,
    "otherMails": [],
    "proxyAddresses": [],
    "imAddresses": [],
    "assignedPlans": [],
}
GROUP_UNMODELLED = {
    "mail": None,
    "mailNickname": None,
    "createdDateTime": None,
    "visibility": None,
    "membershipRule": None,
    "classification": None,
    "onPremisesSyncEnabled": None,
    "proxyAddresses": [],
}
DEVICE_UNMODELLED = {
    "managedDeviceName": None,
    "userDisplayName": None,
    "deviceEnrollmentType": None,
    "deviceRegistrationState": None,
    "isEncrypted": None,
    "jailBroken": None,
    "imei": None,
    "wiFiMacAddress": None,
    "totalStorageSpaceInBytes": None,
    "freeStorageSpaceInBytes": None,
}

NOT_PREMIUM = (
    "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
    "Neither tenant is B2C or tenant doesn't have premium license",
)
SYNC_STATE_NOT_FOUND = (
    "syncStateNotFound",
    "The sync state generation is not found. The delta token is expired and data must be "
    "synchronized again.",
)


@dataclass(frozen=True)
class Resource:
    """How one kind of Graph object is selected, filtered and serialised."""

    name: str  # type name in error messages: "User"
    type_name: str  # OData type: "microsoft.graph.user"
    modelled: frozenset  # attribute names read from the dataclass
    unmodelled: dict  # selectable but not modelled: name -> empty value
    default: tuple  # properties served without $select
    filterable: frozenset

    def lookup(self):
        """Lower-cased property name -> canonical name (Graph names are case-insensitive)."""
        names = set(self.modelled) | set(self.unmodelled) | {"id"}
        return {name.lower(): name for name in names}


def _field_names(cls, *hidden):
    return frozenset(f.name for f in fields(cls) if f.name not in hidden)


USERS = Resource(
    "User",
    "microsoft.graph.user",
    _field_names(User, "is_service_account"),
    USER_UNMODELLED,
    USER_DEFAULT,
    frozenset(
        {"id", "userPrincipalName", "mail", "accountEnabled", "userType", "displayName"}
        | {"givenName", "surname", "employeeId", "department", "jobTitle", "companyName"}
    ),
)
GROUPS = Resource(
    "Group",
    "microsoft.graph.group",
    _field_names(Group, "members"),
    GROUP_UNMODELLED,
    ("id", "displayName", "description", "mailEnabled", "securityEnabled", "groupTypes"),
    frozenset({"id", "displayName", "mailEnabled", "securityEnabled"}),
)
DEVICES = Resource(
    "ManagedDevice",
    "microsoft.graph.managedDevice",
    _field_names(Device),
    DEVICE_UNMODELLED,
    tuple(f.name for f in fields(Device)),
    frozenset(
        {"id", "operatingSystem", "managementAgent", "complianceState", "userId"}
        | {"userPrincipalName", "deviceName", "managedDeviceOwnerType", "azureADDeviceId"}
    ),
)
RELATIONSHIPS_FILTERABLE = frozenset({"id", "status", "displayName", "customer/tenantId"})


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


# -- opaque tokens -------------------------------------------------------------


def _b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(state, payload):
    """base64url(JSON) + "." + base64url(HMAC): opaque to clients, tamper-evident here."""
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(state.secret, raw, hashlib.sha256).digest()[:16]
    return f"{_b64(raw)}.{_b64(mac)}"


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


# -- $select ------------------------------------------------------------------


def parse_select(ctx, resource, extra=()):
    """Canonical property names from $select (id always first), or None without it."""
    text = ctx.arg("select")
    if not text:
        return None
    lookup = resource.lookup()
    lookup.update({name.lower(): name for name in extra})
    selected = ["id"]
    for raw in text.split(","):
        name = raw.strip()
        canonical = lookup.get(name.lower())
        if canonical is None:
            raise ctx.fail(
                400,
                "Request_BadRequest",
                f"Could not find a property named '{name}' on type '{resource.type_name}'.",
            )
        if canonical not in selected:
            selected.append(canonical)
    return selected


def serialize(obj, resource, select):
    names = select or resource.default
    out = {}
    for name in names:
        if name in resource.modelled:
            out[name] = getattr(obj, name)
        elif name in resource.unmodelled:
            out[name] = resource.unmodelled[name]
    return out


def _select_fragment(select):
    return f"({','.join(select)})" if select else ""


# -- $filter ------------------------------------------------------------------

_EQ = re.compile(r"^([\w/]+)\s+eq\s+(.+)$", re.IGNORECASE)
_IN = re.compile(r"^([\w/]+)\s+in\s+\((.*)\)$", re.IGNORECASE)
_STARTSWITH = re.compile(r"^startswith\(\s*([\w/]+)\s*,\s*('.*')\s*\)$", re.IGNORECASE)
_STRING = re.compile(r"^'((?:[^']|'')*)'$")


@dataclass(frozen=True)
class Clause:
    prop: str
    op: str  # eq, in, startswith
    values: tuple


def _split_and(text):
    parts, current, quoted = [], [], False
    tokens = re.split(r"(\s+and\s+|')", text, flags=re.IGNORECASE)
    for token in tokens:
        if token == "'":
            quoted = not quoted
            current.append(token)
        elif not quoted and re.fullmatch(r"\s+and\s+", token, re.IGNORECASE):
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(token)
    parts.append("".join(current).strip())
    return parts


def _literal(text):
    text = text.strip()
    match = _STRING.match(text)
    if match:
        return match.group(1).replace("''", "'")
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    raise ValueError(text)


def _split_list(text):
    items, current, quoted = [], "", False
    for char in text:
        if char == "'":
            quoted = not quoted
        if char == "," and not quoted:
            items.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        items.append(current)
    return items


def _clause(text):
    match = _IN.match(text)
    if match:
        return Clause(match.group(1), "in", tuple(_literal(v) for v in _split_list(match[2])))
    match = _STARTSWITH.match(text)
    if match:
        return Clause(match.group(1), "startswith", (_literal(match.group(2)),))
    match = _EQ.match(text)
    if match:
        return Clause(match.group(1), "eq", (_literal(match.group(2)),))
    raise ValueError(text)


def parse_filter(ctx, resource_name, filterable):
    """$filter as a list of and-ed clauses; unsupported ones raise Graph's 400."""
    text = ctx.arg("filter")
    if not text:
        return []
    try:
        clauses = [_clause(part) for part in _split_and(text)]
    except ValueError:
        raise ctx.fail(400, "BadRequest", f"Invalid filter clause: {text}") from None
    lookup = {name.lower(): name for name in filterable}
    out = []
    for clause in clauses:
        prop = lookup.get(clause.prop.lower())
        if prop is None:
            raise ctx.fail(
                400,
                "Request_UnsupportedQuery",
                "Unsupported or invalid query filter clause specified for property "
                f"'{clause.prop}' of resource '{resource_name}'.",
            )
        out.append(Clause(prop, clause.op, clause.values))
    return out


def _value(obj, path):
    for part in path.split("/"):
        obj = obj.get(part) if isinstance(obj, dict) else getattr(obj, part, None)
    return obj


def _fold(value):
    return value.lower() if isinstance(value, str) else value


def matches(obj, clauses):
    """Directory string comparisons are case-insensitive."""
    for clause in clauses:
        value = _fold(_value(obj, clause.prop))
        wanted = [_fold(v) for v in clause.values]
        if clause.op == "startswith":
            if not (isinstance(value, str) and value.startswith(wanted[0] or "")):
                return False
        elif value not in wanted:
            return False
    return True


# -- paging -------------------------------------------------------------------


def page_size(ctx, default, maximum, strict=True):
    text = ctx.arg("top")
    if text is None:
        return default
    try:
        size = int(text)
    except ValueError:
        size = 0
    if 1 <= size <= maximum:
        return size
    if not strict:
        return max(1, min(size, maximum))
    raise ctx.fail(
        400,
        "Request_UnsupportedQuery",
        f"Invalid page size specified: '{text}'. Must be between 1 and {maximum} inclusive.",
    )


def _offset(ctx):
    token = ctx.arg("skiptoken")
    if token is None:
        return 0
    payload = unseal(ctx.state, token)
    if not payload or "o" not in payload:
        raise ctx.fail(400, "Request_BadRequest", "Invalid skip token.")
    return payload["o"]


def _query_string(query):
    return urlencode(query, quote_via=quote, safe="$,'()")


def _link(ctx, query):
    return f"{ctx.self_url()}?{_query_string(query)}"


def _next_link(ctx, offset):
    query = [(k, v) for k, v in ctx.request.args.items(multi=True) if k.lower() != "$skiptoken"]
    query.append(("$skiptoken", seal(ctx.state, {"o": offset})))
    return _link(ctx, query)


def paged(ctx, context, items, size, render):
    """A page of `items` (a list) from the request's $skiptoken, with nextLink if more."""
    offset = _offset(ctx)
    body = {"@odata.context": context}
    if (ctx.arg("count") or "").lower() == "true":
        body["@odata.count"] = len(items)
    body["value"] = [render(item) for item in items[offset : offset + size]]
    if offset + size < len(items):
        body["@odata.nextLink"] = _next_link(ctx, offset + size)
    return json_response(body)


def ordered_ids(ctx, kind):
    """The tenant's object ids in directory order, cached until the tenant changes."""
    tenant = ctx.tenant
    collection = _collection(tenant, kind)
    key = (tenant.seq, len(collection), tenant.device_changes if kind == "device" else 0)
    cached = ctx.state.orders.get((tenant.id, kind))
    if cached is None or cached[0] != key:
        cached = (key, list(collection))
        ctx.state.orders[(tenant.id, kind)] = cached
    return cached[1]


def _collection(tenant, kind):
    return {"user": tenant.users, "group": tenant.groups, "device": tenant.devices}[kind]


class _Lazy:
    """A list-like view of ids resolved to objects on slicing (no per-request copies)."""

    def __init__(self, ids, collection):
        self.ids = ids
        self.collection = collection

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, index):
        return [self.collection[i] for i in self.ids[index]]


def select_objects(ctx, kind, clauses):
    """Objects of `kind` matching the clauses, using the id index for id eq / id in."""
    collection = _collection(ctx.tenant, kind)
    id_clause = next((c for c in clauses if c.prop == "id"), None)
    if id_clause is None and not clauses:
        return _Lazy(ordered_ids(ctx, kind), collection)
    if id_clause is not None:
        ids = [i for i in dict.fromkeys(id_clause.values) if i in collection]
        candidates = [collection[i] for i in ids]
    else:
        candidates = collection.values()
    return [obj for obj in candidates if matches(obj, clauses)]


# -- users --------------------------------------------------------------------


def _user_select(ctx):
    select = parse_select(ctx, USERS)
    if select and "signInActivity" in select and not ctx.tenant.has_p1:
        raise ctx.fail(403, *NOT_PREMIUM)
    return select


def _find_user(ctx, key):
    users = ctx.tenant.users
    user = users.get(key)
    if user is None:
        lowered = key.lower()
        user = next((u for u in users.values() if u.userPrincipalName.lower() == lowered), None)
    if user is None:
        raise ctx.fail(
            404,
            "Request_ResourceNotFound",
            f"Resource '{key}' does not exist or one of its queried reference-property "
            "objects are not present.",
        )
    return user


@graph_handler
def list_users(ctx):
    select = _user_select(ctx)
    size = page_size(ctx, DEFAULT_TOP, MAX_TOP)
    users = select_objects(ctx, "user", parse_filter(ctx, "User", USERS.filterable))
    context = ctx.context("users" + _select_fragment(select))
    return paged(ctx, context, users, size, lambda u: serialize(u, USERS, select))


@graph_handler
def get_user(ctx, user_id):
    select = _user_select(ctx)
    body = {"@odata.context": ctx.context(f"users{_select_fragment(select)}/$entity")}
    body.update(serialize(_find_user(ctx, user_id), USERS, select))
    return json_response(body)


def _group_entry(group, select=None):
    entry = {"@odata.type": "#microsoft.graph.group"}
    entry.update(serialize(group, GROUPS, select))
    return entry


@graph_handler
def user_member_of(ctx, user_id):
    user = _find_user(ctx, user_id)
    groups = [g for g in ctx.tenant.groups.values() if user.id in g.members]
    select = parse_select(ctx, GROUPS)
    size = page_size(ctx, DEFAULT_TOP, MAX_TOP)
    return paged(
        ctx,
        ctx.context("directoryObjects"),
        groups,
        size,
        lambda g: _group_entry(g, select),
    )


@graph_handler
def user_license_details(ctx, user_id):
    user = _find_user(ctx, user_id)
    part_numbers = sku_part_numbers()
    value = [
        {
            "id": _b64(f"{user.id}:{lic['skuId']}".encode()),
            "skuId": lic["skuId"],
            "skuPartNumber": part_numbers.get(lic["skuId"].lower(), ""),
            "servicePlans": [],
        }
        for lic in user.assignedLicenses
    ]
    context = ctx.context(f"users('{user.id}')/licenseDetails")
    return json_response({"@odata.context": context, "value": value})


# -- licences -----------------------------------------------------------------


def sku_part_numbers():
    """Lower-cased skuId -> skuPartNumber, from the generator's SKU catalogue."""
    return {sku_id.lower(): sku.sku_part_number for sku_id, sku in catalogue().items()}


_QUANTITY_FIELD = {"active": "enabled", "suspended": "suspended", "expired": "lockedOut"}


def sku_table(tenant):
    """skuId -> prepaid units, from the tenant's subscriptions (deleted ones excluded)."""
    table = {}
    for sub in tenant.subscriptions:
        bucket = _QUANTITY_FIELD.get(sub.status)
        if bucket is None:
            continue
        units = table.setdefault(
            sub.skuId.lower(), {"enabled": 0, "suspended": 0, "warning": 0, "lockedOut": 0}
        )
        units[bucket] += sub.quantity
    return table


def consumed_units(tenant):
    counts = {}
    for user in tenant.users.values():
        for lic in user.assignedLicenses:
            key = lic["skuId"].lower()
            counts[key] = counts.get(key, 0) + 1
    return counts


def _capability(units):
    for status, bucket in (
        ("Enabled", "enabled"),
        ("Warning", "warning"),
        ("Suspended", "suspended"),
    ):
        if units[bucket]:
            return status
    return "LockedOut"


@graph_handler
def subscribed_skus(ctx):
    tenant = ctx.tenant
    table = sku_table(tenant)
    consumed = consumed_units(tenant)
    part_numbers = sku_part_numbers()
    empty = {"enabled": 0, "suspended": 0, "warning": 0, "lockedOut": 0}
    value = []
    for sku_id in dict.fromkeys([*table, *consumed]):
        units = table.get(sku_id, empty)
        value.append(
            {
                "accountName": tenant.company_name,
                "accountId": tenant.id,
                "appliesTo": "User",
                "capabilityStatus": _capability(units),
                "consumedUnits": consumed.get(sku_id, 0),
                "id": f"{tenant.id}_{sku_id}",
                "skuId": sku_id,
                "skuPartNumber": part_numbers.get(sku_id, ""),
                "subscriptionIds": [
                    s.id for s in tenant.subscriptions if s.skuId.lower() == sku_id
                ],
                "prepaidUnits": dict(units),
                "servicePlans": service_plans(sku_id, part_numbers.get(sku_id, "")),
            }
        )
    return json_response({"@odata.context": ctx.context("subscribedSkus"), "value": value})


# the workloads a licence carries, by words of its part number (the sandbox's own
# short list: enough for plans to be present and shaped as Graph serves them)
_PLANS = (
    (
        ("ENTERPRISE", "BUSINESS", "SPE_", "O365", "M365", "STANDARD", "SPB"),
        (
            "EXCHANGE_S_STANDARD",
            "SHAREPOINTSTANDARD",
            "MCOSTANDARD",
            "TEAMS1",
            "OFFICESUBSCRIPTION",
        ),
    ),
    (("SPB", "SPE_E", "EMS", "AAD_PREMIUM", "E3", "E5"), ("AAD_PREMIUM", "INTUNE_A")),
    (("EXCHANGE",), ("EXCHANGE_S_STANDARD",)),
    (("POWER_BI", "PBI"), ("BI_AZURE_P2",)),
    (("VISIO",), ("VISIO_CLIENT_SUBSCRIPTION",)),
    (("PROJECT",), ("PROJECT_CLIENT_SUBSCRIPTION",)),
    (("DEFENDER", "ATP"), ("ATP_ENTERPRISE",)),
)


def service_plans(sku_id, part_number):
    """subscribedSku.servicePlans: servicePlanInfo entries (id, name, status, target)."""
    names = []
    for words, plans in _PLANS:
        if any(word in part_number.upper() for word in words):
            names += [plan for plan in plans if plan not in names]
    names = names or [part_number or "SERVICE_PLAN"]
    return [
        {
            "servicePlanId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"plan:{sku_id}:{name}")),
            "servicePlanName": name,
            "provisioningStatus": "Success",
            "appliesTo": "User",
        }
        for name in names
    ]


def _license_body(ctx):
    try:
        body = json.loads(ctx.request.get_data() or b"{}")
        adds = body.get("addLicenses") or []
        removes = [str(s).lower() for s in body.get("removeLicenses") or []]
        adds = [
            {"skuId": str(a["skuId"]).lower(), "disabledPlans": a.get("disabledPlans") or []}
            for a in adds
        ]
    except (ValueError, AttributeError, KeyError, TypeError):
        raise ctx.fail(400, "Request_BadRequest", "Invalid request body.") from None
    return adds, removes


def _check_license_change(ctx, user, adds, removes):
    table = sku_table(ctx.tenant)
    consumed = consumed_units(ctx.tenant)
    held = {lic["skuId"].lower() for lic in user.assignedLicenses}
    for sku_id in removes:
        if sku_id not in held:
            raise ctx.fail(400, "Request_BadRequest", "User does not have a corresponding license.")
    for add in adds:
        sku_id = add["skuId"]
        if sku_id not in table:
            raise ctx.fail(
                400,
                "Request_BadRequest",
                f"License {sku_id} does not correspond to a valid company License.",
            )
        if sku_id not in held and consumed.get(sku_id, 0) >= table[sku_id]["enabled"]:
            raise ctx.fail(
                400,
                "Request_BadRequest",
                f"Subscription with SKU {sku_id} does not have any available licenses.",
            )


@graph_handler
def assign_license(ctx, user_id):
    user = _find_user(ctx, user_id)
    adds, removes = _license_body(ctx)
    _check_license_change(ctx, user, adds, removes)
    changed = {a["skuId"] for a in adds} | set(removes)
    licenses = [lic for lic in user.assignedLicenses if lic["skuId"].lower() not in changed]
    licenses.extend(adds)
    user = ctx.sb.world.update_user(ctx.tenant, user.id, assignedLicenses=licenses)
    body = {"@odata.context": ctx.context("users/$entity")}
    body.update(serialize(user, USERS, None))
    return json_response(body)


# -- groups -------------------------------------------------------------------


def _find_group(ctx, group_id):
    group = ctx.tenant.groups.get(group_id)
    if group is None:
        raise ctx.fail(
            404,
            "Request_ResourceNotFound",
            f"Resource '{group_id}' does not exist or one of its queried reference-property "
            "objects are not present.",
        )
    return group


@graph_handler
def list_groups(ctx):
    select = parse_select(ctx, GROUPS)
    size = page_size(ctx, DEFAULT_TOP, MAX_TOP)
    groups = select_objects(ctx, "group", parse_filter(ctx, "Group", GROUPS.filterable))
    context = ctx.context("groups" + _select_fragment(select))
    return paged(ctx, context, groups, size, lambda g: serialize(g, GROUPS, select))


@graph_handler
def get_group(ctx, group_id):
    select = parse_select(ctx, GROUPS)
    body = {"@odata.context": ctx.context(f"groups{_select_fragment(select)}/$entity")}
    body.update(serialize(_find_group(ctx, group_id), GROUPS, select))
    return json_response(body)


@graph_handler
def group_members(ctx, group_id):
    group = _find_group(ctx, group_id)
    select = parse_select(ctx, USERS)
    users = ctx.tenant.users
    members = [users[m] for m in group.members if m in users]
    size = page_size(ctx, DEFAULT_TOP, MAX_TOP)

    def render(user):
        entry = {"@odata.type": "#microsoft.graph.user"}
        entry.update(serialize(user, USERS, select))
        return entry

    return paged(ctx, ctx.context("directoryObjects"), members, size, render)


# -- delta --------------------------------------------------------------------


@dataclass
class Cursor:
    """Where a delta pass stands: which changes, up to which sequence, which page."""

    kind: str
    mode: str  # "full" (initial sync) or "since" (changes after `since`)
    since: int
    until: int  # tenant.seq when the pass began; the next deltaLink starts there
    offset: int
    select: list | None

    def payload(self, tenant_id):
        return {
            "t": tenant_id,
            "k": self.kind,
            "m": self.mode,
            "s": self.since,
            "u": self.until,
            "o": self.offset,
            "sel": self.select,
        }


DELTA_RESOURCES = {"user": USERS, "group": GROUPS}


def _max_page_size(ctx):
    match = re.search(r"odata\.maxpagesize\s*=\s*(\d+)", ctx.request.headers.get("Prefer", ""))
    if not match:
        return DEFAULT_TOP, None
    size = max(1, min(int(match.group(1)), MAX_TOP))
    return size, f"odata.maxpagesize={size}"


def _delta_select(ctx, kind):
    extra = ("members",) if kind == "group" else ()
    select = parse_select(ctx, DELTA_RESOURCES[kind], extra)
    if kind == "user" and select and "signInActivity" in select and not ctx.tenant.has_p1:
        raise ctx.fail(403, *NOT_PREMIUM)
    return select


def _delta_token(ctx, kind, token):
    payload = unseal(ctx.state, token)
    if not payload or payload.get("k") != kind or "iat" not in payload:
        raise ctx.fail(400, "Request_BadRequest", "The delta token is invalid.")
    if payload["t"] != ctx.tenant.id:
        raise ctx.fail(400, "Request_BadRequest", "The delta token does not belong to this tenant.")
    issued = ctx.sb.clock.now().timestamp() - payload["iat"]
    if issued > DELTA_LIFETIME.total_seconds():
        location = _delta_link(ctx, kind, {"$select": ",".join(payload["sel"] or [])})
        raise ctx.fail(410, *SYNC_STATE_NOT_FOUND, headers={"Location": location})
    return payload


def _delta_link(ctx, kind, query):
    path = {"user": "users", "group": "groups"}[kind]
    query = {k: v for k, v in query.items() if v}
    suffix = f"?{_query_string(query)}" if query else ""
    return f"{ctx.base()}/v1.0/{path}/delta{suffix}"


def _start_cursor(ctx, kind):
    skip = ctx.arg("skiptoken")
    if skip is not None:
        payload = unseal(ctx.state, skip)
        if not payload or payload.get("k") != kind or payload.get("t") != ctx.tenant.id:
            raise ctx.fail(400, "Request_BadRequest", "Invalid skip token.")
        return Cursor(kind, payload["m"], payload["s"], payload["u"], payload["o"], payload["sel"])
    token = ctx.arg("deltatoken")
    seq = ctx.tenant.seq
    if kind == "group":
        _snapshot(ctx, seq)
    if token is None:
        return Cursor(kind, "full", 0, seq, 0, _delta_select(ctx, kind))
    if token.lower() == "latest":
        return Cursor(kind, "latest", seq, seq, 0, _delta_select(ctx, kind))
    payload = _delta_token(ctx, kind, token)
    return Cursor(kind, "since", payload["s"], seq, 0, payload["sel"])


def _snapshot(ctx, seq):
    """Remember group memberships at `seq`, for members@delta of the next pass."""
    key = (ctx.tenant.id, seq)
    snapshots = ctx.state.snapshots
    if key not in snapshots:
        snapshots[key] = {g.id: frozenset(g.members) for g in ctx.tenant.groups.values()}
        while len(snapshots) > SNAPSHOTS_KEPT:
            snapshots.pop(next(iter(snapshots)))


def _members_delta(group, before):
    entries = [
        {"@odata.type": "#microsoft.graph.user", "id": member}
        for member in group.members
        if before is None or member not in before
    ]
    current = set(group.members)
    for member in sorted(before or ()):
        if member not in current:
            entries.append(
                {
                    "@odata.type": "#microsoft.graph.user",
                    "id": member,
                    "@removed": {"reason": "deleted"},
                }
            )
    return entries


def _serialize_delta(obj, resource, select, changed):
    """An object as a delta entry: a new (or restored) one with its selected properties
    (nulls left out, as Graph does), an updated one with only the changed properties
    (a cleared one as null)."""
    names = select or resource.default
    if changed is None:
        return {k: v for k, v in serialize(obj, resource, names).items() if v is not None}
    wanted = [name for name in names if name == "id" or name in changed]
    return serialize(obj, resource, wanted)


@dataclass(frozen=True)
class DeltaItem:
    """One entry of a delta pass: an object, or one slice of a large group's members."""

    object_id: str
    removed: object  # False, "changed", "deleted"
    changed: frozenset | None  # changed property names; None: the whole object
    members: tuple | None = None  # this entry's slice of members@delta
    first_slice: bool = True
    last_slice: bool = True


def _delta_entry(ctx, cursor, item):
    obj = _collection(ctx.tenant, cursor.kind).get(item.object_id)
    if item.removed or obj is None:
        return {"id": item.object_id, "@removed": {"reason": item.removed or "deleted"}}
    resource = DELTA_RESOURCES[cursor.kind]
    if not item.first_slice:
        entry = {"id": item.object_id}  # the group again: only more of its members
    elif ctx.tenant.delta_full_records:  # the sandbox's old, complete answers
        entry = serialize(obj, resource, cursor.select)
    else:
        entry = _serialize_delta(obj, resource, cursor.select, item.changed)
    if item.members is not None:
        entry["members@delta"] = list(item.members)
    return entry


def _delta_items(ctx, cursor, before):
    if cursor.mode == "full":
        raw = [(object_id, False, None) for object_id in ordered_ids(ctx, cursor.kind)]
    elif cursor.mode == "latest":
        raw = []
    else:
        raw = [
            (object_id, removed, props)
            for object_id, (removed, props) in ctx.tenant.changes_since(
                cursor.kind, cursor.since
            ).items()
        ]
    with_members = cursor.kind == "group" and (cursor.select is None or "members" in cursor.select)
    # Graph tracks the selected properties only: other changes bring no entry
    names = set(cursor.select or DELTA_RESOURCES[cursor.kind].default)
    if with_members:
        names.add("members")
    raw = [(oid, rm, props) for oid, rm, props in raw if rm or props is None or props & names]
    if not with_members:
        return [DeltaItem(oid, removed, props) for oid, removed, props in raw]
    per_entry = ctx.tenant.delta_members_per_entry
    items = []
    for oid, removed, props in raw:
        group = ctx.tenant.groups.get(oid)
        if removed or group is None:
            items.append(DeltaItem(oid, removed or "deleted", props))
            continue
        old = None if before is None else before.get(oid)
        members = _members_delta(group, old)
        if props is not None and "members" not in props:
            items.append(DeltaItem(oid, False, props))
            continue
        slices = [members[i : i + per_entry] for i in range(0, len(members), per_entry)]
        slices = slices if per_entry and slices else [members]
        for index, part in enumerate(slices):
            items.append(
                DeltaItem(
                    oid,
                    False,
                    props,
                    members=tuple(part),
                    first_slice=index == 0,
                    last_slice=index == len(slices) - 1,
                )
            )
    return items


def _page_end(items, offset, size):
    """Where a page starting at `offset` ends: after `size` entries, or right after a
    slice of a group whose other members follow (Graph spreads a large group's
    members@delta over several pages)."""
    end = min(offset + size, len(items))
    for index in range(offset, end):
        if not items[index].last_slice:
            return index + 1
    return end


def delta(ctx, kind):
    cursor = _start_cursor(ctx, kind)
    size, applied = _max_page_size(ctx)
    before = ctx.state.snapshots.get((ctx.tenant.id, cursor.since))
    if cursor.mode == "full":
        before = None
    items = _delta_items(ctx, cursor, before)
    end = _page_end(items, cursor.offset, size)
    chunk = items[cursor.offset : end]
    path = {"user": "users", "group": "groups"}[kind]
    body = {
        "@odata.context": ctx.context(path + _select_fragment(cursor.select)),
        "value": [_delta_entry(ctx, cursor, item) for item in chunk],
    }
    cursor.offset = end
    if cursor.offset < len(items):
        token = seal(ctx.state, cursor.payload(ctx.tenant.id))
        body["@odata.nextLink"] = _delta_link(ctx, kind, {"$skiptoken": token})
    else:
        payload = {
            "t": ctx.tenant.id,
            "k": kind,
            "s": cursor.until,
            "sel": cursor.select,
            "iat": int(ctx.sb.clock.now().timestamp()),
        }
        body["@odata.deltaLink"] = _delta_link(ctx, kind, {"$deltatoken": seal(ctx.state, payload)})
    headers = {"Preference-Applied": applied} if applied else None
    return json_response(body, headers=headers)


@graph_handler
def users_delta(ctx):
    return delta(ctx, "user")


@graph_handler
def groups_delta(ctx):
    return delta(ctx, "group")


# -- Intune ----------------------------------------------------------------------


@graph_handler
def list_managed_devices(ctx):
    select = parse_select(ctx, DEVICES)
    size = page_size(ctx, DEVICE_PAGE, DEVICE_PAGE, strict=False)
    devices = select_objects(ctx, "device", parse_filter(ctx, "ManagedDevice", DEVICES.filterable))
    context = ctx.context("deviceManagement/managedDevices" + _select_fragment(select))
    return paged(ctx, context, devices, size, lambda d: serialize(d, DEVICES, select))


@graph_handler
def get_managed_device(ctx, device_id):
    device = ctx.tenant.devices.get(device_id)
    if device is None:
        raise ctx.fail(
            404, "ResourceNotFound", f"Resource not found for the segment '{device_id}'."
        )
    select = parse_select(ctx, DEVICES)
    body = {"@odata.context": ctx.context("deviceManagement/managedDevices/$entity")}
    body.update(serialize(device, DEVICES, select))
    return json_response(body)


# -- organization, sign-ins -------------------------------------------------------


@graph_handler
def organization(ctx):
    tenant = ctx.tenant
    domains = list(dict.fromkeys([*tenant.domains, tenant.default_domain]))
    org = {
        "id": tenant.id,
        "displayName": tenant.company_name,
        "countryLetterCode": tenant.country,
        "tenantType": "AAD",
        "verifiedDomains": [
            {
                "capabilities": "Email, OfficeCommunicationsOnline",
                "isDefault": name == tenant.default_domain,
                "isInitial": name.endswith(".onmicrosoft.com"),
                "name": name,
                "type": "Managed",
            }
            for name in domains
        ],
    }
    return json_response({"@odata.context": ctx.context("organization"), "value": [org]})


@graph_handler
def sign_ins(ctx):
    if not ctx.tenant.has_p1:
        raise ctx.fail(403, *NOT_PREMIUM)
    entries = [
        {
            "id": _b64(hashlib.sha256(user.id.encode()).digest()[:12]),
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


# -- GDAP ------------------------------------------------------------------------


def _require_partner(ctx):
    if not ctx.is_partner:
        raise ctx.fail(
            403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )


NOT_STARTED = ("created", "approvalPending")  # not active yet: no activation, no end


def _etag(*parts):
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()[:9]
    return f'W/"{base64.b64encode(digest).decode()}"'


def relationship_entity(tenant):
    rel = tenant.gdap
    started = rel.status not in NOT_STARTED
    entity = {
        "@odata.type": "#microsoft.graph.delegatedAdminRelationship",
        "@odata.etag": _etag(rel.id, rel.status, rel.endDateTime, rel.autoExtendDuration),
        "id": rel.id,
        "displayName": rel.displayName,
        "duration": rel.duration,
        "status": rel.status,
        "autoExtendDuration": rel.autoExtendDuration,
        "createdDateTime": rel.createdDateTime,
        "activatedDateTime": rel.activatedDateTime if started else None,
        "lastModifiedDateTime": rel.activatedDateTime or rel.createdDateTime,
        "endDateTime": rel.endDateTime if started else None,
        "customer": {"tenantId": tenant.id, "displayName": tenant.company_name},
        "accessDetails": {"unifiedRoles": _roles(rel.roles)},
    }
    if rel.indirect_provider_tenant_id:
        entity["@odata.type"] = "#microsoft.graph.resellerDelegatedAdminRelationship"
        entity["indirectProviderTenantId"] = rel.indirect_provider_tenant_id
        entity["isPartnerConsentPending"] = False
    return entity


def _roles(roles):
    return [r if isinstance(r, dict) else {"roleDefinitionId": r} for r in roles]


def _relationship_tenant(ctx, relationship_id):
    for tenant in ctx.sb.world.tenants.values():
        if tenant.gdap is not None and tenant.gdap.id == relationship_id:
            return tenant
    raise ctx.fail(
        404,
        "ResourceNotFound",
        f"The delegated admin relationship with id '{relationship_id}' was not found.",
    )


@graph_handler
def list_relationships(ctx):
    _require_partner(ctx)
    clauses = parse_filter(ctx, "DelegatedAdminRelationship", RELATIONSHIPS_FILTERABLE)
    entities = [relationship_entity(t) for t in ctx.sb.world.tenants.values() if t.gdap is not None]
    entities = [e for e in entities if matches(e, clauses)]
    size = page_size(ctx, GDAP_PAGE, GDAP_PAGE, strict=False)
    context = ctx.context("tenantRelationships/delegatedAdminRelationships")
    return paged(ctx, context, entities, size, lambda e: e)


@graph_handler
def get_relationship(ctx, relationship_id):
    _require_partner(ctx)
    tenant = _relationship_tenant(ctx, relationship_id)
    body = {
        "@odata.context": ctx.context("tenantRelationships/delegatedAdminRelationships/$entity")
    }
    body.update(relationship_entity(tenant))
    return json_response(body)


@graph_handler
def relationship_access_assignments(ctx, relationship_id):
    _require_partner(ctx)
    rel = _relationship_tenant(ctx, relationship_id).gdap
    value = [
        {
            "@odata.type": "#microsoft.graph.delegatedAdminAccessAssignment",
            "@odata.etag": _etag(assignment["id"], assignment.get("status", "active")),
            "id": assignment["id"],
            "status": assignment.get("status", "active"),
            "createdDateTime": rel.activatedDateTime or rel.createdDateTime,
            "lastModifiedDateTime": rel.activatedDateTime or rel.createdDateTime,
            "accessContainer": {
                "accessContainerId": assignment.get("securityGroupId"),
                "accessContainerType": "securityGroup",
            },
            "accessDetails": {"unifiedRoles": _roles(assignment.get("roles", []))},
        }
        for assignment in rel.access_assignments
    ]
    context = ctx.context(
        f"tenantRelationships/delegatedAdminRelationships('{rel.id}')/accessAssignments"
    )
    return json_response({"@odata.context": context, "value": value})


# -- partner billing (handled in usage_exports) ------------------------------------


@graph_handler
def billing_unbilled_export(ctx):
    _require_partner(ctx)
    return usage_exports.start_export(ctx, "unbilled")


@graph_handler
def billing_billed_export(ctx):
    _require_partner(ctx)
    return usage_exports.start_export(ctx, "billed")


@graph_handler
def billing_operation(ctx, operation_id):
    _require_partner(ctx)
    return usage_exports.get_operation(ctx, operation_id)


@graph_handler
def billing_manifest(ctx, manifest_id):
    _require_partner(ctx)
    return usage_exports.get_manifest(ctx, manifest_id)


_BILLING = "/v1.0/reports/partners/billing"
_GDAP = "/v1.0/tenantRelationships/delegatedAdminRelationships"

url_map = Map(
    [
        Rule("/v1.0/users", endpoint=list_users, methods=["GET"]),
        Rule("/v1.0/users/delta", endpoint=users_delta, methods=["GET"]),
        Rule("/v1.0/users/<user_id>", endpoint=get_user, methods=["GET"]),
        Rule("/v1.0/users/<user_id>/memberOf", endpoint=user_member_of, methods=["GET"]),
        Rule(
            "/v1.0/users/<user_id>/licenseDetails", endpoint=user_license_details, methods=["GET"]
        ),
        Rule("/v1.0/users/<user_id>/assignLicense", endpoint=assign_license, methods=["POST"]),
        Rule("/v1.0/groups", endpoint=list_groups, methods=["GET"]),
        Rule("/v1.0/groups/delta", endpoint=groups_delta, methods=["GET"]),
        Rule("/v1.0/groups/<group_id>", endpoint=get_group, methods=["GET"]),
        Rule("/v1.0/groups/<group_id>/members", endpoint=group_members, methods=["GET"]),
        Rule("/v1.0/groups/<group_id>/transitiveMembers", endpoint=group_members, methods=["GET"]),
        Rule("/v1.0/subscribedSkus", endpoint=subscribed_skus, methods=["GET"]),
        Rule(
            "/v1.0/deviceManagement/managedDevices",
            endpoint=list_managed_devices,
            methods=["GET"],
        ),
        Rule(
            "/v1.0/deviceManagement/managedDevices/<device_id>",
            endpoint=get_managed_device,
            methods=["GET"],
        ),
        Rule("/v1.0/organization", endpoint=organization, methods=["GET"]),
        Rule("/v1.0/auditLogs/signIns", endpoint=sign_ins, methods=["GET"]),
        Rule(_GDAP, endpoint=list_relationships, methods=["GET"]),
        Rule(f"{_GDAP}/<relationship_id>", endpoint=get_relationship, methods=["GET"]),
        Rule(
            f"{_GDAP}/<relationship_id>/accessAssignments",
            endpoint=relationship_access_assignments,
            methods=["GET"],
        ),
        Rule(
            f"{_BILLING}/usage/unbilled/export", endpoint=billing_unbilled_export, methods=["POST"]
        ),
        Rule(f"{_BILLING}/usage/billed/export", endpoint=billing_billed_export, methods=["POST"]),
        Rule(f"{_BILLING}/operations/<operation_id>", endpoint=billing_operation, methods=["GET"]),
        Rule(f"{_BILLING}/manifests/<manifest_id>", endpoint=billing_manifest, methods=["GET"]),
    ],
    strict_slashes=False,
)
