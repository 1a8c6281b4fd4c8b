# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The integrator's steps: what one sync of a connection does, in order.

Each add-on adds its own steps by extending ``csp.connection._csp_sync_steps()`` with
``super()``; the core never names a feature's step. See readme/CONFIGURE.md.
"""

from dataclasses import dataclass

SCOPES = ("connection", "tenant")


@dataclass(frozen=True)
class CspStep:
    """One step of the integrator.

    - ``code``: the step's code (also the run lines' ``step`` value, whose selection
      lists the installed steps, and the connection's ``sync_<code>`` switch);
    - ``label``: what the run lines and the form show;
    - ``scope``: "connection" (handler on ``csp.connection``, once per run) or
      "tenant" (handler on ``csp.tenant``, once per tenant to import);
    - ``sequence``: order (the core's: tenants 10, users 20, licences 30; a feature's
      step comes after those whose records it reads); every connection step runs
      before the tenants' steps;
    - ``handler``: name of the method called as ``record.handler(http)`` on one
      record; it returns a counters dict (created, updated, deactivated, skipped,
      errors, held: ints; message: str; paused: True when out of time).

    A code may be declared twice, once per scope: its connection part runs first.
    """

    code: str
    label: str
    scope: str
    sequence: int
    handler: str

    def __post_init__(self):
        if self.scope not in SCOPES:
            raise ValueError(f"CspStep {self.code}: scope must be one of {SCOPES}")
