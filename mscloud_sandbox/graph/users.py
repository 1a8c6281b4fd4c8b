"""Graph's users: the list, one user (by id or user principal name) and the groups a
user is a member of. Their delta query is in ``delta``, their licences in ``licences``.
"""

from ..errors import json_response
from .handler import NOT_PREMIUM, graph_handler
from .odata import (
    DEFAULT_TOP,
    MAX_TOP,
    page_size,
    paged,
    parse_filter,
    parse_select,
    select_fragment,
    select_objects,
    serialize,
)
from .resources import GROUPS, USERS


def _user_select(ctx):
    select = parse_select(ctx, USERS)
    if select and "signInActivity" in select and not ctx.tenant.has_p1:
        raise ctx.fail(403, *NOT_PREMIUM)
    return select


def find_user(ctx, key):
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
    context = ctx.context("users" + select_fragment(select))
    return paged(ctx, context, users, size, lambda u: serialize(u, USERS, select))


@graph_handler
def get_user(ctx, user_id):
    select = _user_select(ctx)
    body = {"@odata.context": ctx.context(f"users{select_fragment(select)}/$entity")}
    body.update(serialize(find_user(ctx, user_id), USERS, select))
    return json_response(body)


def _group_entry(group, select=None):
    entry = {"@odata.type": "#microsoft.graph.group"}
    entry.update(serialize(group, GROUPS, select))
    return entry


@graph_handler
def user_member_of(ctx, user_id):
    user = find_user(ctx, user_id)
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
