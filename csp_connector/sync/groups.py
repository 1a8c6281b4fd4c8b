# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Groups delta -> the tenant's groups and their members, as plain data.

Graph's groups delta gives each group's name and its ``members@delta``: in a full
round every member, in a delta round only the members added and removed (removed
ones carry ``@removed``). A large group's members are split over several entries,
in one page or over several pages, each adding to what the round already has. The
ORM side (models/csp_azure_group.py) reads the page's stored groups, asks
:func:`merge_page` what they become and writes that through the binding base.
Nothing here reads or writes the database.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class StoredGroup:
    """What Odoo holds of a group: its name, members (object ids) and whether it is
    removed (gone from Microsoft)."""

    name: str
    members: frozenset = frozenset()
    removed: bool = False


def merge_page(items, stored, full, seen):
    """One page of groups delta.

    ``items``: the page's entries (dicts with an ``id``); ``stored``: {group id:
    StoredGroup} of the page's groups Odoo holds; ``full``: a full round (every
    group and member listed; members not listed are gone); ``seen``: the ids of the
    groups the round met in its earlier pages, updated with this page's.

    A group met earlier in a full round, or any stored group in a delta round, adds
    the entry's members to those it has; a group new to a full round starts from
    none. Returns ``(planned, removed)``: {group id: (name, sorted member ids)} to
    write, and the ids of the groups removed from Microsoft (``@removed``: soft- or
    hard-deleted, without members) and not listed again in the page.
    """
    planned, removed = {}, []
    for item in items:
        group_id = item["id"]
        seen_before = group_id in seen
        seen.add(group_id)
        if "@removed" in item:
            planned.pop(group_id, None)
            removed.append(group_id)
            continue
        group = stored.get(group_id)
        before = planned.get(group_id)
        if before:  # the same group again in this page
            members = set(before[1])
        elif group and not group.removed and (seen_before or not full):
            members = set(group.members)
        else:
            members = set()
        for member in item.get("members@delta") or []:
            if "@removed" in member:
                members.discard(member["id"])
            else:
                members.add(member["id"])
        name = item.get("displayName") or (before[0] if before else None)
        planned[group_id] = (name or (group.name if group else group_id), sorted(members))
    return planned, [group_id for group_id in removed if group_id not in planned]
