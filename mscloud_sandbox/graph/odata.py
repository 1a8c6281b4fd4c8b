"""The OData query options Graph's collections honour: ``$select``, a small ``$filter``
dialect (``eq``, ``in``, ``startswith``, joined by ``and``), ``$top``, ``$count`` and
paging with ``@odata.nextLink`` (an opaque ``$skiptoken``); a tenant's objects in
directory order.
"""

import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from ..errors import json_response
from .handler import seal, unseal

MAX_TOP = 999
DEFAULT_TOP = 100


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


def select_fragment(select):
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


def query_string(query):
    return urlencode(query, quote_via=quote, safe="$,'()")


def _link(ctx, query):
    return f"{ctx.self_url()}?{query_string(query)}"


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
    collection = tenant_objects(tenant, kind)
    key = (tenant.seq, len(collection), tenant.device_changes if kind == "device" else 0)
    cached = ctx.state.orders.get((tenant.id, kind))
    if cached is None or cached[0] != key:
        cached = (key, list(collection))
        ctx.state.orders[(tenant.id, kind)] = cached
    return cached[1]


def tenant_objects(tenant, kind):
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
    collection = tenant_objects(ctx.tenant, kind)
    id_clause = next((c for c in clauses if c.prop == "id"), None)
    if id_clause is None and not clauses:
        return _Lazy(ordered_ids(ctx, kind), collection)
    if id_clause is not None:
        ids = [i for i in dict.fromkeys(id_clause.values) if i in collection]
        candidates = [collection[i] for i in ids]
    else:
        candidates = collection.values()
    return [obj for obj in candidates if matches(obj, clauses)]
