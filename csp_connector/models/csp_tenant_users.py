# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The user import's state on the tenant: its delta links, the contacts its safety
valve holds from archiving, its users, and the buttons that act on them. The import
itself is importers/users.py; the round store and the safety valve's limit, which the
device import shares, stay on the tenant's own model (csp_tenant.py)."""

import json
from datetime import timedelta
from urllib.parse import urlsplit

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import ValidationError


class CspTenant(models.Model):
    _inherit = "csp.tenant"
    # code-only fields: listed with the tenant's own in csp_tenant.py

    # users (delta links are opaque URLs from Graph; a new one is kept when something
    # changed or the stored one is a day old, so a run without change writes nothing)
    users_delta_link = fields.Char(readonly=True, copy=False)
    users_delta_date = fields.Datetime(readonly=True, copy=False)
    groups_delta_link = fields.Char(readonly=True, copy=False)
    groups_delta_date = fields.Datetime(readonly=True, copy=False)
    # contacts the safety valve kept from archiving (binding ids, JSON) until a person decides
    archive_held = fields.Text(string="Held Archive (bindings)", readonly=True, copy=False)
    archive_held_count = fields.Integer(string="Archive Held", readonly=True, copy=False)
    user_binding_ids = fields.One2many("csp.user.binding", "csp_tenant_id", string="Users")
    user_count = fields.Integer(compute="_compute_user_count")

    @api.constrains("users_delta_link", "groups_delta_link")
    def _check_delta_links(self):
        """A delta link is followed as is: it must lead to the connection's own Graph."""
        for tenant in self:
            graph = urlsplit(tenant.connection_id.graph_endpoint or "")
            for link in (tenant.users_delta_link, tenant.groups_delta_link):
                if not link:
                    continue
                url = urlsplit(link)
                if url.scheme != "https" or url.netloc.lower() != graph.netloc.lower():
                    raise ValidationError(
                        self.env._(
                            "A delta link of tenant %(tenant)s does not point at the "
                            "connection's Microsoft Graph endpoint (%(graph)s); it was refused.",
                            tenant=tenant.name,
                            graph=tenant.connection_id.graph_endpoint,
                        )
                    )

    def _csp_store_delta_link(self, kind, link, changed, force=False):
        """Keep the newest delta link when it matters (see the fields' comment).

        ``force``: a full round's link replaces the stored one even when nothing
        changed (the stored one may be the expired link that made the round full)."""
        if not link:
            return
        date_field = f"{kind}_delta_date"
        stale = not self[date_field] or self[date_field] < fields.Datetime.now() - timedelta(days=1)
        if force and self[f"{kind}_delta_link"] == link:
            return
        if changed or stale or force or not self[f"{kind}_delta_link"]:
            self._csp_code().write({f"{kind}_delta_link": link, date_field: fields.Datetime.now()})

    def _compute_user_count(self):
        groups = self.env["csp.user.binding"]._read_group(
            [("csp_tenant_id", "in", self.ids), ("removed", "=", False)],
            ["csp_tenant_id"],
            ["__count"],
        )
        counts = {tenant.id: count for tenant, count in groups}
        for tenant in self:
            tenant.user_count = counts.get(tenant.id, 0)

    def action_reset_users(self):
        """Next run reads every user and group again (a full sync)."""
        self._csp_check_can_sync()
        self._csp_code().write({"users_delta_link": False, "users_delta_date": False,
                    "groups_delta_link": False, "groups_delta_date": False})  # fmt: skip
        self._csp_round_drop("users", "groups")
        return True

    def _csp_held_ids(self):
        return json.loads(self.archive_held) if self.archive_held else []

    def _csp_hold_archive(self, bindings, new=False):
        """Keep `bindings` (users gone from Azure) waiting for a person's decision."""
        bindings = bindings.exists()
        self.write({
            "archive_held": json.dumps(bindings.ids) if bindings else False,
            "archive_held_count": len(bindings),
        })  # fmt: skip
        summary = self.env._("Archive of contacts held")
        activities = self.activity_ids.filtered(lambda a: a.summary == summary)
        if not bindings:
            activities.unlink()
            return
        # an HTML field: Microsoft's names are escaped
        note = Markup("<p>%s</p>") % self.env._(
            "A sync would archive %(count)s contacts of %(name)s (users gone from Azure, "
            "or no longer imported): more than the connection's safety valve allows in "
            "one run. Nothing was archived. If these people really left, click 'Archive "
            "held contacts' on the tenant; if not (a mistake in Azure or in a mapping), "
            "click 'Keep them'. Examples: %(names)s",
            count=len(bindings),
            name=self.name,
            names=", ".join(bindings[:10].mapped("upn")),
        )
        if activities:
            activities.write({"note": note})
            return
        if new:
            self.message_post(body=note)
        managers = self.env.ref("csp_connector.group_csp_manager").users.filtered(
            lambda u: not u.share and u.active
        )
        self.activity_schedule(
            activity_type_id=self.env.ref("mail.mail_activity_data_todo").id,
            summary=summary,
            note=note,
            user_id=(managers[:1] or self.env.user).id,
        )

    def action_release_archive(self):
        """A person confirms the held archive: the contacts are archived now."""
        self._check_csp_manager()
        Binding = self.env["csp.user.binding"]
        for tenant in self.filtered("archive_held")._csp_code():
            count = Binding.browse(tenant._csp_held_ids()).exists()._csp_mark_removed()
            tenant._csp_hold_archive(Binding)
            tenant.message_post(body=self.env._("%s held contacts archived.", count))
        return True

    def action_keep_held(self):
        """A person refuses the held archive: the contacts stay; a later complete read
        that still misses them holds them again."""
        self._check_csp_manager()
        for tenant in self.filtered("archive_held")._csp_code():
            tenant._csp_hold_archive(self.env["csp.user.binding"])
            tenant.message_post(body=self.env._("The held contacts were kept."))
        return True

    def action_latest_users(self):
        """Skip the changes made until now: the next run only sees later ones."""
        self._csp_check_can_sync()
        for tenant in self._csp_code():
            connection = tenant.connection_id
            with connection._csp_call_microsoft() as http:
                graph = connection._csp_graph(http, tenant.tenant_id)
                context_select = self.env["csp.user.binding"]._csp_select_for(tenant)
                tenant.write(
                    {
                        "users_delta_link": graph.users_delta_latest(context_select),
                        "users_delta_date": fields.Datetime.now(),
                    }
                )
        return True

    def action_open_users(self):
        self.ensure_one()
        return self.env["ir.actions.act_window"]._csp_action(
            "csp_connector.csp_user_binding_action", domain=[("csp_tenant_id", "=", self.id)]
        )
