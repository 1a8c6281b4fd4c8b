# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import AccessError

from .csp_guard import in_sync, protected_partner_ids


class ResPartner(models.Model):
    _inherit = "res.partner"

    csp_user_binding_count = fields.Integer(
        string="Azure Users",
        compute="_compute_csp_user_binding_count",
        groups="csp_connector.group_csp_user",
    )

    def _compute_csp_user_binding_count(self):
        groups = self.env["csp.user.binding"]._read_group(
            [("partner_id", "in", self.ids)], ["partner_id"], ["__count"]
        )
        counts = {partner.id: count for partner, count in groups}
        for partner in self:
            partner.csp_user_binding_count = counts.get(partner.id, 0)

    def action_csp_open_azure_users(self):
        """The Azure user(s) this contact stands for."""
        self.ensure_one()
        bindings = self.env["csp.user.binding"].search([("partner_id", "=", self.id)])
        action = self.env["ir.actions.act_window"]._csp_action(
            "csp_connector.csp_user_binding_action", domain=[("partner_id", "=", self.id)]
        )
        if len(bindings) == 1:
            action.update(view_mode="form", views=[(False, "form")], res_id=bindings.id)
        return action

    @api.model
    def _csp_protected_ids(self, among=None):
        """Contacts no sync may match, bind, move, archive or write: those of an Odoo
        user (internal or portal, archived included) and the database's companies.
        A set of ids (only those in `among`, when given)."""
        protected = protected_partner_ids(self.env)
        return set(protected) if among is None else protected.intersection(among)

    @api.model
    def _csp_syncable_domain(self):
        """Domain of the contacts a sync may touch (see `_csp_protected_ids`)."""
        return [("id", "not in", list(self._csp_protected_ids()))]

    def write(self, vals):
        self._csp_check_not_protected()
        return super().write(vals)

    def unlink(self):
        self._csp_check_not_protected()
        return super().unlink()

    def _csp_check_not_protected(self):
        """Last line of defence: code running a sync never writes a protected contact,
        whatever rights its user has (the sync itself skips them and counts them).
        Called on every write of a contact: the protected ids are read once per
        transaction, then followed (see `protected_partner_ids`)."""
        if not self or not in_sync(self.env):
            return
        protected = protected_partner_ids(self.env).intersection(self._ids)
        if protected:
            raise AccessError(
                self.env._(
                    "A Microsoft CSP sync tried to change the contact of an Odoo user or "
                    "of one of this database's companies (%s); it was refused.",
                    ", ".join(self.browse(sorted(protected)).sudo().mapped("display_name")),
                )
            )
