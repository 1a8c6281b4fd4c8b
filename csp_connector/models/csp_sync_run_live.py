# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A run's progress told through Odoo's bus while it goes, and its end.

The run form and the connection form subscribe to their connection's channel
(``csp.connection_<id>``, allowed only to a user who can read that connection, see
``IrWebsocket``); the worker running the sync sends each step's progress there, and the
run's end there and to each user who started it ('Sync now'), wherever they are in Odoo
(static/src/sync_progress/)."""

import re

from odoo import api, fields, models
from odoo.exceptions import AccessError

PROGRESS = "csp.sync.run/progress"
ENDED = "csp.sync.run/ended"
CHANNEL = re.compile(r"^csp\.connection_(\d+)$")


class CspSyncRun(models.Model):
    _inherit = "csp.sync.run"

    notify_user_ids = fields.Many2many(
        "res.users",
        string="Told When It Ends",
        readonly=True,
        copy=False,
        help="Who started this run ('Sync now'): told when it ends, wherever they are in Odoo.",
    )

    @api.model
    def _csp_code_only_fields(self):
        return super()._csp_code_only_fields() | {"notify_user_ids"}

    # -- what the progress says -----------------------------------------------------------

    def _csp_progress_counts(self):
        """(tenants handled, tenants to handle) of this run: a tenant is handled once each
        of the run's tenant steps has a line that is not paused."""
        self.ensure_one()
        domain = [("connection_id", "=", self.connection_id.id), ("do_not_import", "=", False)]
        if self.csp_tenant_id:
            domain.append(("id", "=", self.csp_tenant_id.id))
        total = self.env["csp.tenant"].sudo().search_count(domain)
        steps = self.connection_id._csp_steps_to_run((self.steps or "").split(","))
        per_tenant = len({step.code for step in steps if step.scope == "tenant"})
        if not per_tenant or not self.id:
            return 0, total
        groups = (
            self.env["csp.sync.run.line"]
            .sudo()
            ._read_group(
                [("run_id", "=", self.id), ("csp_tenant_id", "!=", False),
                 ("state", "!=", "paused")],
                ["csp_tenant_id"],
                ["step:count_distinct"],
            )
        )  # fmt: skip
        return sum(1 for _tenant, count in groups if count >= per_tenant), total

    def _csp_step_words(self):
        """The step under way in words ("Licences of Contoso"), never its internal key."""
        self.ensure_one()
        if not self.current_step:
            return False
        tenant_id, _sep, code = self.current_step.partition(":")
        label = dict(self.env["csp.sync.run.line"]._csp_step_selection()).get(code, code)
        tenant = self.env["csp.tenant"].sudo().browse(int(tenant_id) if tenant_id.isdigit() else [])
        if tenant.exists():
            return self.env._("%(step)s of %(tenant)s", step=label, tenant=tenant.name)
        return self.env._("%(step)s of the connection", step=label)

    def _csp_progress_text(self):
        """What a person reads while the run goes: tenants handled of all, the step
        under way, the errors so far."""
        self.ensure_one()
        done, total = self._csp_progress_counts()
        parts = [self.env._("%(done)s of %(total)s tenants handled", done=done, total=total)]
        step = self._csp_step_words()
        if step:
            parts.append(self.env._("now: %s", step))
        if self.error_count:
            parts.append(self.env._("%s errors so far", self.error_count))
        return "; ".join(parts)

    def _csp_end_text(self):
        """(title, message, notification type) of the run's end."""
        self.ensure_one()
        done, total = self._csp_progress_counts()
        name = self.connection_id.name
        if self.state == "done":
            title = self.env._("Sync of %s finished", name)
            kind = "success"
        elif self.state == "partial":
            title = self.env._("Sync of %s finished with errors", name)
            kind = "warning"
        else:
            title = self.env._("Sync of %s failed", name)
            kind = "danger"
        changes = [
            text
            for count, text in (
                (self.created, self.env._("%s created", self.created)),
                (self.updated, self.env._("%s updated", self.updated)),
                (self.deactivated, self.env._("%s archived", self.deactivated)),
            )
            if count
        ] or [self.env._("nothing to change")]
        parts = [
            self.env._("%(done)s of %(total)s tenants handled", done=done, total=total),
            ", ".join(changes),
        ]
        if self.error_count:
            parts.append(self.env._("%s errors (see the run)", self.error_count))
        message = "; ".join(parts) + "."
        return title, message, kind

    def _csp_progress_payload(self):
        self.ensure_one()
        payload = {
            "run_id": self.id,
            "connection_id": self.connection_id.id,
            "state": self.state,
            "errors": self.error_count,
        }
        if self.state == "running":
            payload["text"] = self._csp_progress_text()
        else:
            title, message, kind = self._csp_end_text()
            payload.update(text=message, title=title, message=message, type=kind)
        return payload

    # -- telling it ---------------------------------------------------------------------------

    def _csp_push_progress(self):
        """The run's progress to everyone watching its connection (sent when the step's
        transaction commits)."""
        for run in self:
            self.env["bus.bus"]._sendone(run.connection_id, PROGRESS, run._csp_progress_payload())

    def _csp_push_ended(self):
        """The run's end to everyone watching its connection and to whoever started it."""
        bus = self.env["bus.bus"]
        for run in self:
            payload = run._csp_progress_payload()
            bus._sendone(run.connection_id, ENDED, payload)
            for user in run.sudo().notify_user_ids:
                bus._sendone(user.partner_id, ENDED, payload)

    def _csp_finish(self, failed=False):
        run = super()._csp_finish(failed=failed)
        run._csp_push_ended()
        return run

    def _csp_tell_starter(self):
        """The user pressing a button that queued this run is told when it ends."""
        if not self.env.user._is_superuser() and self.env.user not in self.notify_user_ids:
            self.write({"notify_user_ids": [(4, self.env.uid)]})


class IrWebsocket(models.AbstractModel):
    _inherit = "ir.websocket"

    def _build_bus_channel_list(self, channels):
        """A web client asking for ``csp.connection_<id>`` gets that connection's channel
        when its user can read the connection (company rules included), else nothing."""
        asked = [c for c in channels if isinstance(c, str) and CHANNEL.match(c)]
        others = [c for c in channels if c not in asked]
        return super()._build_bus_channel_list([*others, *self._csp_watched_connections(asked)])

    def _csp_watched_connections(self, names):
        """The connections among the channel names `names` this user may watch."""
        ids = [int(match[1]) for match in map(CHANNEL.match, names) if match]
        Connection = self.env["csp.connection"].with_context(active_test=False)
        if not ids or not self.env.uid or not self.env.user._is_internal():
            return Connection
        try:
            return Connection.search([("id", "in", ids)])
        except AccessError:  # no CSP group
            return Connection
