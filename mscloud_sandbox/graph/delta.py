"""``/users/delta`` and ``/groups/delta``: Microsoft's delta-query contract on top of the
tenant's change log (a full pass, then changes since a delta token; updated objects with
their changed properties only, removed ones as ``@removed``; a group's ``members@delta``
spread over entries and pages; expired tokens answer ``syncStateNotFound``).
"""

import re
from dataclasses import dataclass
from datetime import timedelta

from ..errors import json_response
from .handler import NOT_PREMIUM, graph_handler, seal, unseal
from .odata import (
    DEFAULT_TOP,
    MAX_TOP,
    ordered_ids,
    parse_select,
    query_string,
    select_fragment,
    serialize,
    tenant_objects,
)
from .resources import GROUPS, USERS

DELTA_LIFETIME = timedelta(days=7)
SNAPSHOTS_KEPT = 64

SYNC_STATE_NOT_FOUND = (
    "syncStateNotFound",
    "The sync state generation is not found. The delta token is expired and data must be "
    "synchronized again.",
)


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
    suffix = f"?{query_string(query)}" if query else ""
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
    obj = tenant_objects(ctx.tenant, cursor.kind).get(item.object_id)
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
        "@odata.context": ctx.context(path + select_fragment(cursor.select)),
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
