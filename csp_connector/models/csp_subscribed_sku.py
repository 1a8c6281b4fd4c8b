# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Licences of a customer tenant: subscribed SKUs (Graph) and who holds them."""

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..importers.binding import BindingImporter, Planned
from ..microsoft import words
from ..sync import licences as licence_rules
from . import feedback
from .csp_guard import code_env


class CspLicenceRecord(models.AbstractModel):
    """What imported licences share: read-only but for our own extra fields, and
    deleted only by a Microsoft CSP manager."""

    _name = "csp.licence.record"
    _description = "Microsoft CSP imported licence record"

    @api.ondelete(at_uninstall=False)
    def _unlink_by_managers_only(self):
        if not self.env.su and not self.env.user.has_group("csp_connector.group_csp_manager"):
            raise AccessError(
                self.env._(
                    "Only a Microsoft CSP manager may delete an imported %s: it comes from "
                    "Microsoft and the next sync reads it again.",
                    self._description,
                )
            )

    def _csp_check_change(self, option, off_message, removed_message):
        """A change in Microsoft from Odoo: the connection's `option` is on, the record
        is still in Microsoft, the user is a CSP manager who may sync (no call before)."""
        for record in self:
            if not record.connection_id[option]:
                raise UserError(off_message % record.connection_id.name)
            if record.removed:
                raise UserError(removed_message)
        if not self.env.user.has_group("csp_connector.group_csp_manager"):
            raise AccessError(
                self.env._(
                    "Only a Microsoft CSP manager may change %s in Microsoft.", self._description
                )
            )
        self.connection_id._csp_check_can_sync()


class CspSubscribedSku(models.Model):
    _name = "csp.subscribed.sku"
    _inherit = ["csp.binding.mixin", "csp.code.guard", "csp.licence.record"]
    _description = "Microsoft Licence (Subscribed SKU)"
    _order = "partner_id, product_name"
    _rec_name = "product_name"

    partner_id = fields.Many2one(
        "res.partner", string="Customer", related="csp_tenant_id.partner_id", store=True,
        index=True,
    )  # fmt: skip
    sku_id = fields.Char(string="SKU Id", readonly=True, index=True)
    part_number = fields.Char(readonly=True)
    product_name = fields.Char(string="Product", readonly=True)
    name_unknown = fields.Boolean(
        readonly=True,
        help="This SKU is not in the SKU name list: it shows its part number. Add its "
        "name under Microsoft CSP > Licences > SKU Names.",
    )
    enabled_units = fields.Integer(string="Purchased", readonly=True)
    suspended_units = fields.Integer(string="Suspended", readonly=True)
    warning_units = fields.Integer(string="In Warning", readonly=True)
    locked_out_units = fields.Integer(string="Locked Out", readonly=True)
    consumed_units = fields.Integer(string="Assigned", readonly=True)
    unassigned_units = fields.Integer(
        string="Unassigned", compute="_compute_unassigned_units", store=True,
        help="Seats paid for and not assigned to anyone.",
    )  # fmt: skip
    capability_status = fields.Char(string="Status (Microsoft)", readonly=True)
    status_words = fields.Char(string="Status", compute="_compute_status_words")
    free_kind = fields.Selection(
        licence_rules.FREE_KINDS, string="Free / Trial", compute="_compute_free_kind",
        store=True, index=True,
        help="Microsoft's free, trial and self-service (viral) SKUs: seats nobody paid for "
        "(often 10,000 of them). Left out of the licence totals and the unassigned seats "
        "by default: the filter 'Free, trial and viral' shows them.",
    )  # fmt: skip
    subscription_refs = fields.Char(
        string="Subscription Ids", readonly=True,
        help="The subscriptions Microsoft says provide this licence.",
    )  # fmt: skip
    assignment_ids = fields.One2many(
        "csp.licence.assignment", "subscribed_sku_id", string="Assigned To", readonly=True
    )
    subscription_ids = fields.One2many(
        "csp.subscription", "subscribed_sku_id", string="Subscriptions", readonly=True
    )
    note = fields.Text(help="Your own notes; the sync never changes them.")
    manage_licences = fields.Boolean(related="connection_id.manage_licences")

    @api.model
    def _csp_code_only_fields(self):
        return super()._csp_code_only_fields() | {
            "connection_id", "csp_tenant_id", "microsoft_id", "removed", "removed_date",
            "fingerprint", "sku_id", "part_number", "product_name", "name_unknown",
            "enabled_units", "suspended_units", "warning_units", "locked_out_units",
            "consumed_units", "capability_status", "subscription_refs",
        }  # fmt: skip

    @api.depends("part_number", "product_name", "enabled_units")
    def _compute_free_kind(self):
        for record in self:
            record.free_kind = licence_rules.free_kind(
                record.part_number, record.product_name, record.enabled_units
            )

    @api.depends("capability_status")
    def _compute_status_words(self):
        for record in self:
            record.status_words = words.capability_status(record.capability_status)

    @api.depends("product_name", "partner_id", "csp_tenant_id")
    def _compute_display_name(self):
        for record in self:
            owner = record.partner_id.name or record.csp_tenant_id.name
            name = record.product_name or record.part_number or record.env._("Licence")
            record.display_name = f"{name} ({owner})" if owner else name

    @api.depends("enabled_units", "consumed_units")
    def _compute_unassigned_units(self):
        for record in self:
            record.unassigned_units = licence_rules.unassigned_units(
                record.enabled_units, record.consumed_units
            )

    # -- import (the licences step) ---------------------------------------------------

    @api.model
    def _csp_import_skus(self, tenant, items, names):
        """Bind one complete read of the tenant's subscribed SKUs; returns counters."""
        importer = BindingImporter(code_env(self), tenant)
        plans, errors_found = [], []
        for item in items:
            try:
                values = licence_rules.plan_subscribed_sku(item, names)
            except licence_rules.BadRecord as exc:
                errors_found.append(str(exc))
                continue
            microsoft_id = values.pop("microsoft_id")
            plans.append(Planned(microsoft_id, values))
        importer.apply(plans)
        # an item refused above makes the read incomplete: nothing is archived then
        importer.archive_missing(complete=not errors_found)
        counters = dict(importer.counters)
        if errors_found:
            counters["errors"] = len(errors_found)
            counters["message"] = "; ".join(errors_found[:5])
        return counters

    def _csp_sync_assignments(self):
        """Who holds each licence, from the users the users step imported. A licence
        no longer held is archived (dated), never deleted; held again, the same row
        comes back (one row per user and licence)."""
        counters = {"created": 0, "deactivated": 0}
        if not self:
            return counters
        tenant = self.csp_tenant_id
        users = self.env["csp.user.binding"].search(
            [("csp_tenant_id", "in", tenant.ids), ("removed", "=", False),
             ("sku_ids", "!=", False)]
        )  # fmt: skip
        skus = {sku.sku_id: sku for sku in self if not sku.removed}
        wanted = licence_rules.assignment_pairs(
            {user.id: (user.sku_ids or "").split() for user in users}, skus
        )
        Assignment = code_env(self.env["csp.licence.assignment"]).with_context(active_test=False)
        existing = Assignment.search([("subscribed_sku_id", "in", self.ids)])
        have = {(a.user_binding_id.id, a.subscribed_sku_id.sku_id): a for a in existing}
        gone = Assignment.union(*[a for key, a in have.items() if key not in wanted and a.active])
        if gone:
            gone.write({"active": False, "removed_date": fields.Datetime.now()})
            counters["deactivated"] = len(gone)
        back = Assignment.union(*[have[key] for key in wanted if key in have])
        back = back.filtered(lambda a: not a.active)
        if back:  # held again: the archived row is the assignment
            back.write({"active": True, "removed_date": False})
            counters["created"] += len(back)
        new = sorted(wanted - set(have))
        if new:
            Assignment.create(
                [{"user_binding_id": user, "subscribed_sku_id": skus[sku].id} for user, sku in new]
            )
            counters["created"] += len(new)
        return counters

    # -- names ------------------------------------------------------------------------------

    def _csp_rename(self, names):
        """Apply the SKU name list (a SkuNames) to these imported licences."""
        for sku in self:
            name, known = names.resolve(sku.sku_id, sku.part_number)
            if (sku.product_name, sku.name_unknown) != (name, not known):
                code_env(sku).write({"product_name": name, "name_unknown": not known})

    def _csp_check_manage(self):
        """Assigning licences from Odoo: switched on, by a CSP manager (before any call)."""
        self._csp_check_change(
            "manage_licences",
            self.env._("Managing licences from Odoo is off for the connection %s: turn on "
                       "'Manage licences from Odoo' on its Licences tab first."),
            self.env._("This licence is no longer in Microsoft."),
        )  # fmt: skip

    # -- actions --------------------------------------------------------------------------------

    def action_open_assignments(self):
        self.ensure_one()
        return self.env["ir.actions.act_window"]._csp_action(
            "csp_connector.csp_licence_assignment_action",
            domain=[("subscribed_sku_id", "=", self.id)],
            context={"default_subscribed_sku_id": self.id},
        )

    def action_name_sku(self):
        """Open the SKU name list on this SKU (to name an unknown one)."""
        self.ensure_one()
        return self.env["ir.actions.act_window"]._csp_action(
            "csp_connector.csp_sku_name_action",
            context={
                "default_sku_id": self.sku_id,
                "default_part_number": self.part_number,
                "default_name": self.product_name,
                "search_default_name": self.sku_id,
            },
        )


class CspLicenceAssignment(models.Model):
    """One licence held by one user: searchable and reportable ("who holds what")."""

    _name = "csp.licence.assignment"
    _inherit = ["csp.code.guard", "csp.licence.record"]
    _description = "Microsoft Licence Assignment"
    _order = "subscribed_sku_id, partner_id"

    subscribed_sku_id = fields.Many2one(
        "csp.subscribed.sku", string="Licence", required=True, ondelete="cascade", index=True,
        readonly=True,
    )  # fmt: skip
    user_binding_id = fields.Many2one(
        "csp.user.binding", string="Microsoft User", required=True, ondelete="cascade",
        index=True, readonly=True,
    )  # fmt: skip
    partner_id = fields.Many2one(
        "res.partner", string="Contact", related="user_binding_id.partner_id", store=True,
        index=True,
    )  # fmt: skip
    customer_id = fields.Many2one(
        "res.partner", string="Customer", related="subscribed_sku_id.partner_id", store=True
    )
    csp_tenant_id = fields.Many2one(
        "csp.tenant", string="Tenant", related="subscribed_sku_id.csp_tenant_id", store=True,
        index=True,
    )  # fmt: skip
    connection_id = fields.Many2one(related="subscribed_sku_id.connection_id", store=True)
    company_id = fields.Many2one(related="subscribed_sku_id.company_id", store=True)
    product_name = fields.Char(related="subscribed_sku_id.product_name", store=True)
    upn = fields.Char(related="user_binding_id.upn", string="User Principal Name")
    # no longer held in Microsoft: archived by the licences step, never deleted
    active = fields.Boolean(default=True, readonly=True)
    removed_date = fields.Datetime(string="Removed On", readonly=True)

    _sql_constraints = [
        (
            "assignment_unique",
            "unique(subscribed_sku_id, user_binding_id)",
            "A user holds a licence once.",
        ),
    ]

    @api.depends("product_name", "partner_id", "user_binding_id")
    def _compute_display_name(self):
        for assignment in self:
            holder = assignment.partner_id.name or assignment.user_binding_id.upn or ""
            assignment.display_name = f"{assignment.product_name or ''}: {holder}"

    @api.model
    def _csp_code_only_fields(self):
        return super()._csp_code_only_fields() | {
            "subscribed_sku_id",
            "user_binding_id",
            "active",
            "removed_date",
        }

    # -- managing licences from Odoo (Graph assignLicense) ------------------------------------

    @api.model
    def _csp_assign(self, sku, user):
        """Assign `sku` to `user` in Microsoft, then in Odoo (only once Microsoft said yes)."""
        sku._csp_check_manage()
        if user.csp_tenant_id != sku.csp_tenant_id:
            raise UserError(self.env._("The user and the licence belong to different tenants."))
        self._csp_call_assign_license(sku, user, add=[sku.sku_id], remove=[])
        skus = set((user.sku_ids or "").split()) | {sku.sku_id}
        code_env(user).write({"sku_ids": " ".join(sorted(skus))})
        assignment = self.with_context(active_test=False).search(
            [("subscribed_sku_id", "=", sku.id), ("user_binding_id", "=", user.id)]
        )
        if assignment and not assignment.active:  # held before: the same row again
            code_env(assignment).write({"active": True, "removed_date": False})
        if not assignment:
            assignment = code_env(self).create(
                {"subscribed_sku_id": sku.id, "user_binding_id": user.id}
            )
        return assignment

    def action_remove_licence(self):
        """Remove this licence from its user in Microsoft, then in Odoo."""
        removed = []
        for assignment in self:
            sku, user = assignment.subscribed_sku_id, assignment.user_binding_id
            sku._csp_check_manage()
            self._csp_call_assign_license(sku, user, add=[], remove=[sku.sku_id])
            skus = set((user.sku_ids or "").split()) - {sku.sku_id}
            code_env(user).write({"sku_ids": " ".join(sorted(skus)) or False})
            removed.append((sku.display_name, user.display_name))
            assignment.sudo().unlink()
        if len(removed) == 1:
            message = self.env._(
                "%(licence)s removed from %(user)s in Microsoft.",
                licence=removed[0][0],
                user=removed[0][1],
            )
        else:
            message = self.env._("%s licences removed from their users in Microsoft.", len(removed))
        return feedback.notify(
            message, title=self.env._("Licence removed"), next_action=feedback.RELOAD
        )

    @api.model
    def _csp_call_assign_license(self, sku, user, add, remove):
        connection = sku.connection_id
        with connection._csp_call_microsoft() as http:
            graph = connection._csp_graph(http, sku.csp_tenant_id.tenant_id)
            graph.assign_license(user.microsoft_id, add=add, remove=remove)
