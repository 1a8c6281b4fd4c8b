# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Intune managed devices -> maintenance.equipment: the binding and the import.

Intune has no delta query: every run reads the tenant's whole device list, page by
page, and writes each page in batches (importers/devices.py, DeviceImporter). A device
whose values (and the decisions taken from them) did not change since the last run is
not written at all. Devices gone from Intune get the "gone" status only after a read
proven complete.
"""

from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.csp_connector.importers.paged_read import PagedRead
from odoo.addons.csp_connector.microsoft import errors
from odoo.addons.csp_connector.microsoft.graph import ReadCheck
from odoo.addons.csp_connector.models.csp_guard import code_env

from ..importers.devices import QUIET, DeviceImporter
from ..microsoft import devices as device_calls
from ..sync import devices as rules
from .maintenance_equipment import STATUSES


class CspDeviceBinding(models.Model):
    """One Intune managed device of one tenant, bound to the equipment it is."""

    _name = "csp.device.binding"
    _inherit = ["csp.binding.mixin"]
    _description = "Microsoft CSP Intune Device"
    _order = "csp_tenant_id, id"
    _rec_name = "microsoft_id"
    _csp_target_field = "equipment_id"
    # new bindings in one INSERT per page (plain rows: see csp.binding.mixin)
    _csp_raw_insert = True

    equipment_id = fields.Many2one(
        "maintenance.equipment", required=True, ondelete="cascade", index=True
    )
    status_before = fields.Selection(
        STATUSES, help="The equipment's status when the device left Intune (given back "
        "when it returns).",
    )  # fmt: skip

    @api.model
    def _csp_import_devices(self, tenant, http, site=None):
        """Full read of one tenant's managed devices (resumed when a previous call ran
        out of time). Returns the run counters."""
        counters = dict.fromkeys(("created", "updated", "deactivated", "skipped"), 0)
        if tenant.exclude_devices or not tenant.partner_id:
            return counters
        graph = tenant.connection_id._csp_graph(http, tenant.tenant_id)
        read = _DeviceRead(_DeviceImport(self.env, tenant, site), counters)
        try:
            complete = read.read_round(graph)
        except errors.MicrosoftError as exc:
            raise UserError(_explain(self.env, tenant, exc)) from exc
        if not complete:
            counters["paused"] = True  # out of time: the run resumes this step
        return counters

    @api.model
    def _csp_mark_gone(self, tenant, bindings, counters):
        """`bindings` of `tenant`'s devices gone from Intune: the binding marked removed
        (the equipment's status kept to give back if the device returns) and the
        equipment given the connection's 'gone' status; never deleted."""
        bindings = bindings.filtered(lambda b: not b.removed)
        if not bindings:
            return
        now = fields.Datetime.now()
        by_status = {}
        for binding in bindings:
            by_status.setdefault(binding.equipment_id.csp_status or False, []).append(binding.id)
        Binding = self.with_context(**QUIET)
        for status, ids in by_status.items():
            Binding.browse(ids).write(
                {"removed": True, "removed_date": now, "status_before": status}
            )
        gone_status = tenant.connection_id.asset_gone_status
        equipment = code_env(bindings.equipment_id).with_context(**QUIET)
        equipment.filtered(lambda e: e.csp_status != gone_status).write({"csp_status": gone_status})
        counters["deactivated"] += len(bindings)


def _explain(env, tenant, exc):
    """Graph's refusal of the device list, in the words of an MSP."""
    text = (exc.message or "").lower()
    if exc.status == 403 or "not applicable to target tenant" in text:
        head = env._(
            "Intune refused to list the devices of %(tenant)s.\n"
            "Likely cause: the tenant has no Intune licence, or the GDAP app lacks the "
            "application permission DeviceManagementManagedDevices.Read.All (or the "
            "tenant's admin consent predates it), or the GDAP relationship has no Intune "
            "role.\n"
            "How to fix it: check the tenant has Intune (or exclude it from the device "
            "import in its mapping), add the permission to the GDAP app, grant admin "
            "consent again and check the GDAP roles. The other tenants were imported.",
            tenant=tenant.name,
        )
        return f"{head}\n\n{exc.user_message()}"
    return exc.user_message()


class _DeviceRead(PagedRead):
    """The tenant's device list on the core's one resumable paged read: Intune has no
    delta query, so every run reads the whole list (ReadCheck: its pages must hold
    the @odata.count Intune states); a read cut out of time goes on from its next
    link in the next call, and devices are marked gone only after a complete read."""

    kind = "devices"  # the tenant's round store
    # Intune's next links do not outlive a failed read: it starts again from the
    # first page (nothing is decided from the pages it had read)
    restart_step = "assets"

    def __init__(self, run, counters):
        self.run, self.counters = run, counters
        run.counters = counters
        self.env, self.tenant = run.env, run.tenant
        self.what = f"the managed devices of {run.tenant.name}"

    def resume(self, state):
        self.run.seen = set(state.get("seen") or ())

    def state(self):
        return {"seen": sorted(self.run.seen)}

    def start(self, graph, link):
        page_size = self.tenant.connection_id._csp_page_size()
        # Intune states the total in @odata.count: the proof that the pages held
        # every device (a page cut short without nextLink is caught by it)
        select = ",".join(rules.SELECT)
        pages = device_calls.managed_devices(graph, select, page_size, count=True)
        return ReadCheck(delta=False), pages

    def apply_page(self, items):
        self.run.apply_page(items)

    def complete(self, graph):
        self.run.disappear(self.counters, graph)


class _DeviceImport(DeviceImporter):
    """One tenant's import: the pages are written by DeviceImporter (importers/
    devices.py, on the core's binding routine); what a complete read decides is here."""

    # -- after a complete read ----------------------------------------------------

    def disappear(self, counters, graph):
        """Devices bound here that Intune no longer lists get the 'gone' status (never
        deleted); called only after every page was read. More than the connection's
        safety valve allows are held for a person to decide (tenant form); the others
        are first read again by id: Intune's count is no proof on its own (a stale count
        can agree with a page cut short), so one still there fails the read and nothing
        is marked gone."""
        self.Binding.flush_model(["microsoft_id", "removed", "csp_tenant_id"])
        self.env.cr.execute(
            "SELECT microsoft_id FROM csp_device_binding"
            " WHERE csp_tenant_id = %s AND removed IS NOT TRUE",
            [self.tenant.id],
        )
        live = [row[0] for row in self.env.cr.fetchall()]
        gone_ids = rules.disappeared(live, self.seen, complete=True)
        gone = self.Binding.search(
            [("csp_tenant_id", "=", self.tenant.id), ("microsoft_id", "in", gone_ids),
             ("removed", "=", False)]
        ) if gone_ids else self.Binding  # fmt: skip
        if self.site:
            gone = gone.filtered(lambda b: b.equipment_id.csp_site_id == self.site)
        if gone and not self.tenant._csp_archive_allowed(len(gone), "csp.device.binding"):
            self.tenant._csp_hold_devices(gone)
            counters["held"] = counters.get("held", 0) + len(gone)
            counters["message"] = self.env._(
                "%(count)s devices of %(tenant)s are no longer in Intune's list: more than "
                "the connection's safety valve allows in one run, so none was marked gone. "
                "If they really left, click 'Mark held devices gone' on the tenant; if not, "
                "'Keep them'.",
                count=len(gone),
                tenant=self.tenant.name,
            )
            return
        if not self.site:
            self.tenant._csp_hold_devices(self.Binding)  # listed again, or decided now
        still = [b.microsoft_id for b in gone if device_calls.managed_device(graph, b.microsoft_id)]
        if still:
            raise errors.IncompleteReadError(
                f"Intune's list of the devices of {self.tenant.name} left out {len(still)} "
                f"devices that still exist (read again by id: {', '.join(still[:5])}), "
                "although its count agreed with its pages: the answer was cut short. "
                "Nothing was marked gone.",
                service="graph",
                tenant=self.tenant.tenant_id,
            )
        self.Binding._csp_mark_gone(self.tenant, gone, counters)
