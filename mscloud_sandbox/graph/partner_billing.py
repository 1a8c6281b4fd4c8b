"""The partner's billed and unbilled usage exports (``/reports/partners/billing``):
Graph's routes, for the partner's own tokens only; the exports themselves (operations,
manifests, blobs) are ``usage_exports``.
"""

from .. import usage_exports
from .handler import graph_handler, require_partner


@graph_handler
def billing_unbilled_export(ctx):
    require_partner(ctx)
    return usage_exports.start_export(ctx, "unbilled")


@graph_handler
def billing_billed_export(ctx):
    require_partner(ctx)
    return usage_exports.start_export(ctx, "billed")


@graph_handler
def billing_operation(ctx, operation_id):
    require_partner(ctx)
    return usage_exports.get_operation(ctx, operation_id)


@graph_handler
def billing_manifest(ctx, manifest_id):
    require_partner(ctx)
    return usage_exports.get_manifest(ctx, manifest_id)
