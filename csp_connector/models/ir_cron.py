# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class IrCron(models.Model):
    _inherit = "ir.cron"

    def method_direct_trigger(self):
        """ "Run manually" of a job run by the integrator's technical user: the job runs
        as that user (as when scheduled), and the administrator who clicked records the
        last call (Odoo records it as the job's user, who may not change jobs)."""
        integrator = self.env.ref("csp_connector.user_csp_integrator", raise_if_not_found=False)
        if len(self) != 1 or not integrator or self.user_id != integrator:
            return super().method_direct_trigger()
        self.browse().check_access("write")
        self._try_lock()
        job, _progress = (
            self.with_user(self.user_id).with_context(lastcall=self.lastcall)._add_progress()
        )
        job.ir_actions_server_id.run()
        self.lastcall = fields.Datetime.now()
        self.env.flush_all()
        return True
