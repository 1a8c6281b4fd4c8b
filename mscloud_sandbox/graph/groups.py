"""Graph's groups: the list, one group and its (transitive) members. Their delta query,
with ``members@delta``, is in ``delta``.
"""

from ..errors import json_response
from .handler import graph_handler
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
    context = ctx.context("groups" + select_fragment(select))
    return paged(ctx, context, groups, size, lambda g: serialize(g, GROUPS, select))


@graph_handler
def get_group(ctx, group_id):
    select = parse_select(ctx, GROUPS)
    body = {"@odata.context": ctx.context(f"groups{select_fragment(select)}/$entity")}
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
