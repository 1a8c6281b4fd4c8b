# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A webhook's "re-read this customer" as a job of the same kind as a run's steps:
in the connection's channel, under the lock of the tenant's licences step (never at
the same time as that step), retried later when Microsoft throttles or fails."""

import logging

from odoo import api, fields, models

from odoo.addons.csp_connector.models.csp_guard import code_env
from odoo.addons.csp_connector.sync.run_lock import step_namespace, try_lock
from odoo.addons.queue_job.exception import RetryableJobError

from ..sync import jobs as rules

_logger = logging.getLogger(__name__)

REREAD_STEP = "tenant:licences"  # the lock the re-read shares with the licences step


class CspWebhookEvent(models.Model):
    _inherit = "csp.webhook.event"

    state = fields.Selection(
        selection_add=[("queued", "Queued")],
        ondelete={"queued": lambda events: code_env(events).write({"state": "pending"})},
    )

    @api.model
    def _csp_dispatch_events(self, tenant, events):
        connection = tenant.connection_id
        if not connection.queue_jobs:
            return super()._csp_dispatch_events(tenant, events)
        code_env(events).write({"state": "queued"})
        events.delayable(
            channel=rules.channel_name(connection.id),
            description=self.env._("Microsoft CSP re-read of %s (webhook)", tenant.display_name),
            identity_key=f"csp-events:{tenant.id}:{min(events.ids)}",
            max_retries=rules.MAX_TRIES,
        )._csp_job_apply_events().delay()
        return True

    def _csp_job_apply_events(self):
        """Job: re-read the subscriptions these events name (one tenant's)."""
        events = code_env(self.exists()).filtered(lambda event: event.state == "queued")
        if not events:
            return "Nothing left to re-read."
        tenant = events.csp_tenant_id
        if not try_lock(self.env.cr, tenant.id, step_namespace(REREAD_STEP)):
            raise RetryableJobError(
                "The tenant's licences are being read by another worker: tried again later.",
                seconds=rules.LOCKED_RETRY,
                ignore_retry=True,
            )
        tries, max_tries = self.env["csp.sync.run"]._csp_job_tries()
        with self.env.cr.savepoint():
            error = self._csp_apply_events(tenant, events)
            if error is not None and rules.is_transient(error) and tries < max_tries:
                raise RetryableJobError(str(error), seconds=rules.retry_seconds(error, tries))
        return f"{len(events)} events of tenant {tenant.id}: " + ("failed" if error else "applied")
