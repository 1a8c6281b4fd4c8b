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


class CspCodeGuard(models.AbstractModel):
    """Refuses writes of `_csp_code_fields` that do not come from the connector."""

    _name = "csp.code.guard"
    _description = "Microsoft CSP: fields only the connector writes"

    _csp_code_fields = ()

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
        names = sorted(set(vals) & set(self._csp_code_fields))
        if names:
            raise AccessError(
                self.env._(
                    "%(fields)s of %(model)s are set by the Microsoft CSP connector itself "
                    "and cannot be changed by hand, by an import or over the API.",
                    fields=", ".join(self._fields[name].string for name in names),
                    model=self._description,
                )
            )
