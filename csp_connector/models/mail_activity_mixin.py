# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import models


class MailActivityMixin(models.AbstractModel):
    _inherit = "mail.activity.mixin"

    def _csp_open_activities(self, summary):
        """The activities still open on these records whose summary is `summary`."""
        return self.activity_ids.filtered(lambda activity: activity.summary == summary)

    def _csp_activity_once(self, summary, note, user, **values):
        """A to-do `summary` for `user` on this record, unless one with that summary is
        still open: then that one, left as it is (never one per run). Returns the open
        activity; `values`: more of the new one's (a deadline)."""
        self.ensure_one()
        activities = self._csp_open_activities(summary)
        if activities:
            return activities
        return self.activity_schedule(
            activity_type_id=self.env.ref("mail.mail_activity_data_todo").id,
            summary=summary,
            note=note,
            user_id=user.id,
            **values,
        )
