# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import ValidationError

from odoo.addons.csp_connector.models.testing import under_test

from ..sync import jobs as rules


class CspConnection(models.Model):
    _inherit = "csp.connection"

    queue_jobs = fields.Boolean(
        string="Run Through the Job Queue",
        default=lambda self: self._csp_queue_default(),
        help="Each tenant's steps run as jobs of the job queue, several tenants at once "
        "(on every Odoo server with the job runner); off: one tenant after another in the "
        "integrator's scheduled action.",
    )
    queue_capacity = fields.Integer(
        string="Tenants at Once",
        default=rules.DEFAULT_CAPACITY,
        help="At most this many jobs of this connection run at the same time (Microsoft "
        "limits the requests per app and tenant). The job runner's channel capacity "
        "(root.csp) caps all connections together.",
    )

    @api.model
    def _csp_queue_default(self):
        """On for every connection, existing ones included: installing the add-on is
        choosing the queue. Off only inside Odoo's test run, whose other tests exercise
        the serial run (this add-on's tests switch it on)."""
        return not under_test()

    @api.constrains("queue_capacity")
    def _check_queue_capacity(self):
        for connection in self:
            if not 1 <= connection.queue_capacity <= rules.MAX_CAPACITY:
                raise ValidationError(
                    self.env._(
                        "Tenants at once must be between 1 and %(most)s (it is %(value)s): "
                        "it is how many of this connection's jobs run at the same time.",
                        most=rules.MAX_CAPACITY,
                        value=connection.queue_capacity,
                    )
                )
