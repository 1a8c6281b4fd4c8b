# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import hashlib
import json

from odoo import api, fields, models


def fingerprint(*parts):
    """A short, stable digest of what a binding last wrote (plain JSON data)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


class CspBindingMixin(models.AbstractModel):
    """What every record bound to a Microsoft object shares (users, groups, licences,
    subscriptions, and what the feature add-ons import).

    A binding is one Microsoft object (``microsoft_id``, unique per tenant) of one
    tenant of one connection, bound to the Odoo record it became (the concrete
    model's ``_csp_target_field``, if any). Gone from Microsoft, it is marked
    ``removed`` and its Odoo record archived, never deleted. ``fingerprint`` is a
    digest of what was last written: equal, nothing is written again. The importer
    (importers/binding.py, BindingImporter) creates, updates and archives bindings in batches,
    for every such model.
    """

    _name = "csp.binding.mixin"
    _description = "Microsoft CSP Binding (base)"
    # the bound Odoo record (Many2one field name), archived when the object is removed
    _csp_target_field = None
    # columns the importer may write with one raw SQL UPDATE for many bindings at once
    # (values unique to each binding, e.g. a fingerprint, do not group into one ORM
    # write). Only columns no stored computed field depends on and no write() override
    # must see: test_binding_base fails otherwise.
    _csp_raw_update_fields = frozenset()
    # the importer may create new bindings with one raw SQL INSERT per page, as the ORM
    # would write them (company, create and write stamps): only a model whose rows are
    # plain (no stored computed field but the company, no default, no create()
    # override) may opt in; test_binding_base fails otherwise
    _csp_raw_insert = False

    connection_id = fields.Many2one(
        "csp.connection", required=True, ondelete="cascade", index=True, readonly=True
    )
    company_id = fields.Many2one(related="connection_id.company_id", store=True)
    csp_tenant_id = fields.Many2one(
        "csp.tenant", string="Tenant", required=True, ondelete="cascade", index=True
    )
    microsoft_id = fields.Char(
        string="Microsoft ID", required=True, index=True, help="The object's id at Microsoft."
    )
    removed = fields.Boolean(
        string="Removed in Microsoft", help="Deleted in Microsoft, or no longer imported."
    )
    removed_date = fields.Datetime(string="Removed On")
    fingerprint = fields.Char(help="What was last written, to skip unchanged objects.")

    _sql_constraints = [
        (
            "microsoft_id_unique",
            "unique(csp_tenant_id, microsoft_id)",
            "A Microsoft object is bound once per tenant.",
        ),
    ]

    def _csp_differs(self, values):
        """The part of `values` (as written) that differs from what is stored."""
        return {name: value for name, value in values.items() if differs(self, name, value)}

    def _csp_targets(self):
        """The bound Odoo records (empty recordset when the model binds none)."""
        if not self._csp_target_field:
            return None
        return self.mapped(self._csp_target_field)

    def _csp_mark_removed(self):
        """Gone from Microsoft: archived, never deleted (the Odoo record too, when it
        can be archived and belongs to no Odoo user or company: see
        res.partner._csp_protected_ids). Returns how many bindings were marked."""
        bindings = self.filtered(lambda b: not b.removed)
        if not bindings:
            return 0
        targets = bindings._csp_targets()
        if targets is not None and "active" in targets._fields:
            targets = targets.filtered("active")
            if targets._name == "res.partner":
                protected = self.env["res.partner"]._csp_protected_ids(targets.ids)
                targets = targets.filtered(lambda p: p.id not in protected)
            targets.write({"active": False})
        bindings.write(
            {"removed": True, "removed_date": fields.Datetime.now(), "fingerprint": False}
        )
        return len(bindings)

    @api.model
    def _csp_bindings(self, tenant, microsoft_ids=None):
        """{microsoft id: binding} of `tenant` (all of them, or those of the ids)."""
        domain = [("csp_tenant_id", "=", tenant.id)]
        if microsoft_ids is not None:
            domain.append(("microsoft_id", "in", list(microsoft_ids)))
        return {b.microsoft_id: b for b in self.with_context(active_test=False).search(domain)}


def differs(record, name, value):
    """Whether writing `value` (write format) to `record[name]` would change it."""
    field = record._fields[name]
    current = record[name]
    if field.type in ("one2many", "many2many"):  # [(6, 0, ids)]
        return sorted(current.ids) != sorted(value[0][2] if value else [])
    if field.type == "many2one":
        current = current.id
    elif field.type == "datetime" and value:
        value = fields.Datetime.to_datetime(value)
    elif field.type == "date" and value:
        value = fields.Date.to_date(value)
    return (current or False) != (value or False)
