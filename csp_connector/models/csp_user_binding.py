# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""An Azure user of a customer tenant, bound to the contact it became."""

from odoo import api, fields, models

from ..importers.users import UserImporter, select_for
from .csp_guard import CONTEXT_KEY as CODE_WRITE_KEY
from .csp_guard import code_env


class CspUserBinding(models.Model):
    """One Azure user of one tenant (csp.binding.mixin: connection, tenant, object id
    as microsoft_id, removed, fingerprint), bound to the contact it became."""

    _name = "csp.user.binding"
    _inherit = "csp.binding.mixin"
    _description = "Microsoft CSP User"
    _order = "csp_tenant_id, upn"
    _rec_name = "upn"
    _csp_target_field = "partner_id"
    # written with one raw UPDATE per set of changed columns by the importer
    # (importers/binding.py, BindingImporter.write_bindings: fingerprints and
    # graph_values differ per user, so ORM writes would not group). Safe only while
    # no stored computed field depends on them and no write() override must see them:
    # test_binding_base fails when either appears.
    _csp_raw_update_fields = frozenset({
        "upn", "mail", "account_enabled", "external", "licensed", "sku_ids", "last_sign_in",
        "mapping_id", "fingerprint", "graph_values", "removed", "removed_date",
    })  # fmt: skip
    # new bindings come from one SQL INSERT per page (importers/binding.py,
    # BindingImporter._insert_rows): an ORM create of each page's bindings cost a tenth
    # of the user import (make bench-users' profile), as much as a quarter of the
    # contacts' own creation. Hence no default below: the import gives every value.
    _csp_raw_insert = True

    microsoft_id = fields.Char(string="Object ID")
    partner_id = fields.Many2one("res.partner", string="Contact", ondelete="set null", index=True)
    upn = fields.Char(string="User Principal Name")
    mail = fields.Char()
    account_enabled = fields.Boolean()
    external = fields.Boolean(help="A guest of the tenant (#EXT#).")
    licensed = fields.Boolean(
        help="Holds at least one licence. Unlicensed accounts (service accounts, shared "
        "mailboxes) are left out of anything billed per user."
    )
    sku_ids = fields.Char(string="Licence SKUs", help="skuIds of the assigned licences.")
    licence_names = fields.Char(
        string="Licences", compute="_compute_licence_names",
        help="The licences the user holds, by their product names.",
    )  # fmt: skip
    last_sign_in = fields.Datetime()
    mapping_id = fields.Many2one("csp.site.mapping", ondelete="set null")
    portal_user_id = fields.Many2one(
        "res.users", string="Portal User Granted", readonly=True, ondelete="set null",
        help="The portal user the sync gave this contact (a mapping grants portal access). "
        "Archived when the Azure user leaves; active again when the user comes back.",
    )  # fmt: skip
    portal_revoked = fields.Boolean(
        readonly=True, help="The sync archived the portal user when the Azure user left."
    )
    graph_values = fields.Text(
        string="Last Microsoft values",
        help="The user's properties as last read from Microsoft (JSON). A delta entry "
        "carries only what changed: it is merged into these before anything is decided.",
    )

    @api.depends("sku_ids", "csp_tenant_id")
    def _compute_licence_names(self):
        """The tenant's licence names (its subscribed SKUs), else the SKU name list, else
        the part number or id: never a bare GUID where a name is known."""
        wanted = {sku for binding in self for sku in (binding.sku_ids or "").lower().split()}
        names = self.env["csp.sku.name"]._csp_names() if wanted else None
        by_tenant = {}
        if wanted:
            for sku in self.env["csp.subscribed.sku"].search(
                [("csp_tenant_id", "in", self.csp_tenant_id.ids), ("sku_id", "in", list(wanted))]
            ):
                by_tenant[(sku.csp_tenant_id.id, sku.sku_id)] = sku.product_name
        for binding in self:
            found = []
            for sku in (binding.sku_ids or "").lower().split():
                name = by_tenant.get((binding.csp_tenant_id.id, sku)) or names.resolve(sku, None)[0]
                found.append(name)
            binding.licence_names = ", ".join(sorted(found)) or False

    # -- the sync (importers/users.py) ------------------------------------

    def _csp_mark_removed(self):
        """Gone from Azure: besides the binding (and the contact, unless protected), the
        portal access the sync granted is revoked: a leaver must not keep signing in to
        the portal. The contact of a portal user is protected, so it stays as it is."""
        leaving = self.filtered(lambda b: not b.removed and b.portal_user_id)
        count = super()._csp_mark_removed()
        users = leaving.portal_user_id.filtered(lambda u: u.active and u.share)
        if users:
            _portal_users(users).write({"active": False})
            revoked = leaving.filtered(lambda b: b.portal_user_id in users)
            code_env(revoked).write({"portal_revoked": True})
        return count

    def _csp_restore_portal(self):
        """Users back in Azure get back the portal access the sync revoked (a portal user
        someone archived by hand stays archived)."""
        back = self.filtered(lambda b: b.portal_revoked and not b.removed)
        users = back.portal_user_id.with_context(active_test=False).filtered(
            lambda u: not u.active and u.share
        )
        if users:
            _portal_users(users).write({"active": True})
        if back:
            code_env(back).write({"portal_revoked": False})

    @api.model
    def _csp_sync_users(self, tenant, http):
        """Full or delta import of one tenant's users. Returns the run counters."""
        return UserImporter(self, tenant).run(http)

    @api.model
    def _csp_select_for(self, tenant):
        """$select of a users read of `tenant` (what its mappings and filters use)."""
        return select_for(self.env, tenant)


def _portal_users(users):
    """Portal users as the sync manages them: with sudo (the integrator may not manage
    users), outside the guard of synced contacts (a user is not a contact)."""
    return users.sudo().with_context(**{CODE_WRITE_KEY: False})
