# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Rules enforced on the server whatever the client sends (see readme "Security model").

- Fields the form shows read-only (states, delta links, authorisation data, bindings)
  are written only by the connector's code: a write coming over RPC is refused. Code
  marks its environment with :func:`code_env`; the mark is a Python object that no
  JSON-RPC call can produce (a context key sent by a client is never it).
- Contacts of Odoo users and the database's own companies are "protected": no sync
  matches, binds, moves, archives or writes them (``res.partner._csp_protected_ids``),
  and a write to one of them from code running a sync is refused outright.
  Their ids are read once per transaction (:func:`protected_partner_ids`).
"""

from odoo import api, models
from odoo.exceptions import AccessError

CONTEXT_KEY = "csp_code_write"


class _CodeWrite:
    """The mark of the connector's own writes (one instance, never serialised)."""

    __slots__ = ()

    def __repr__(self):
        return "<csp code write>"

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


CODE_WRITE = _CodeWrite()


def code_env(records):
    """`records` in an environment whose writes count as the connector's own."""
    return records.with_context(**{CONTEXT_KEY: CODE_WRITE})


def is_code(env):
    return env.su or env.context.get(CONTEXT_KEY) is CODE_WRITE


def in_sync(env):
    """Whether `env` runs connector code (a sync, a button's Microsoft call)."""
    return env.context.get(CONTEXT_KEY) is CODE_WRITE


PROTECTED_KEY = "csp_connector.protected_partner_ids"


def protected_partner_ids(env):
    """The ids of the protected contacts (of an Odoo user, internal or portal, archived
    included, or of a company of the database), as this transaction sees them.

    Read once per transaction and kept in ``env.cr.precommit.data`` (Odoo's data store
    of the transaction, which Odoo empties on every commit, rollback, savepoint opened,
    released or rolled back, and flush of the cursor). Odoo cursors read a
    repeatable-read snapshot, so until the transaction ends the database shows no other
    transaction's users: only this transaction's own changes can make a contact
    protected meanwhile, and the res.users and res.company overrides below follow them
    (a user or company created adds its contact; a contact changed or a user or company
    deleted makes the set read again). Do not read or change the set elsewhere: it is
    the set itself, not a copy.
    """
    data = env.cr.precommit.data
    ids = data.get(PROTECTED_KEY)
    if ids is None:
        env["res.users"].flush_model(["partner_id"])
        env["res.company"].flush_model(["partner_id"])
        env.cr.execute("SELECT partner_id FROM res_users UNION SELECT partner_id FROM res_company")
        ids = data[PROTECTED_KEY] = {row[0] for row in env.cr.fetchall()}
    return ids


def _note_protected(env, partner_ids):
    """Contacts that became protected in this transaction (when the set is read)."""
    ids = env.cr.precommit.data.get(PROTECTED_KEY)
    if ids is not None:
        ids.update(pid for pid in partner_ids if pid)


def _forget_protected(env):
    """The set is read again when next needed (a contact may no longer be protected)."""
    env.cr.precommit.data.pop(PROTECTED_KEY, None)


class _ProtectedOwner(models.AbstractModel):
    """What the protected set follows of a model whose records own a contact."""

    _name = "csp.protected.owner"
    _description = "Microsoft CSP: records whose contact no sync may touch"

    @api.model_create_multi
    def create(self, vals_list):
        # a contact given is protected from the start (Odoo's own create may write it)
        _note_protected(self.env, [vals.get("partner_id") for vals in vals_list])
        records = super().create(vals_list)
        _note_protected(self.env, records.partner_id.ids)
        return records

    def write(self, vals):
        if "partner_id" not in vals:
            return super().write(vals)
        _note_protected(self.env, [vals["partner_id"]])
        result = super().write(vals)
        _forget_protected(self.env)  # the contact left may now be free
        return result

    def unlink(self):
        result = super().unlink()
        _forget_protected(self.env)
        return result


class ResUsers(models.Model):
    _name = "res.users"
    _inherit = ["res.users", "csp.protected.owner"]


class ResCompany(models.Model):
    _name = "res.company"
    _inherit = ["res.company", "csp.protected.owner"]


class CspCodeGuard(models.AbstractModel):
    """Refuses creates and writes of the fields `_csp_code_only_fields()` lists that do
    not come from the connector (see :func:`code_env`)."""

    _name = "csp.code.guard"
    _description = "Microsoft CSP: fields only the connector writes"

    @api.model
    def _csp_code_only_fields(self):
        """The names of this model's fields that only the connector's code writes: a
        value for one of them from anywhere else (a form, an import, a call over RPC)
        is refused. The one way to declare them: a model on the guard, and each
        add-on extending one, returns ``super()._csp_code_only_fields() | {...}``."""
        return frozenset()

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._csp_check_code_fields(vals)
        return super().create(vals_list)

    def write(self, vals):
        self._csp_check_code_fields(vals)
        return super().write(vals)

    def _csp_code(self):
        return code_env(self)

    def _csp_check_code_fields(self, vals):
        if is_code(self.env):
            return
        names = sorted(self._csp_code_only_fields().intersection(vals))
        if names:
            raise AccessError(
                self.env._(
                    "%(fields)s of %(model)s are set by the Microsoft CSP connector itself "
                    "and cannot be changed by hand, by an import or over the API.",
                    fields=", ".join(self._fields[name].string for name in names),
                    model=self._description,
                )
            )
