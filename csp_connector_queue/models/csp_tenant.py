# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import models


def _note_failure(env, error):
    """A job's step failed: the job sees the error (to try again later when it is
    transient) through the list its context carries."""
    failures = env.context.get("csp_job_failures")
    if failures is not None:
        failures.append(error)


class CspTenant(models.Model):
    _inherit = "csp.tenant"

    def _csp_record_step_error(self, code, error, message):
        _note_failure(self.env, error)
        return super()._csp_record_step_error(code, error, message)


class CspConnection(models.Model):
    _inherit = "csp.connection"

    def _csp_record_step_error(self, module, error, message):
        _note_failure(self.env, error)
        return super()._csp_record_step_error(module, error, message)
