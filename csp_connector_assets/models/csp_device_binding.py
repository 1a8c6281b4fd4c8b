# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Intune managed devices -> maintenance.equipment: the binding and the import.

Intune has no delta query: every run reads the tenant's whole device list, page by
page, and writes each page in batches. A device whose values (and the decisions
taken from them) did not change since the last run is not written at all. Devices
gone from Intune get the "gone" status only after a read proven complete.
"""

import logging

from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.csp_connector.importers.paged_read import PagedRead
from odoo.addons.csp_connector.microsoft import errors
from odoo.addons.csp_connector.microsoft.graph import ReadCheck
from odoo.addons.csp_connector.models.csp_binding_mixin import differs, fingerprint
from odoo.addons.csp_connector.models.csp_guard import code_env

from ..microsoft import devices as device_calls
from ..sync import devices as rules
from .maintenance_equipment import STATUSES

_logger = logging.getLogger(__name__)

# contacts are found through the user bindings: device field -> user binding field
USER_BINDING_FIELDS = {
    "userPrincipalName": "upn",
    "emailAddress": "mail",
    "userId": "microsoft_id",
}
QUIET = {
    "tracking_disable": True,
    "mail_create_nolog": True,
    "mail_create_nosubscribe": True,
    "mail_notrack": True,
}


class CspDeviceBinding(models.Model):
    """One Intune managed device of one tenant, bound to the equipment it is."""

    _name = "csp.device.binding"
    _inherit = ["csp.binding.mixin"]
    _description = "Microsoft CSP Intune Device"
    _order = "csp_tenant_id, id"
    _rec_name = "microsoft_id"

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
        self.env, self.tenant = run.env, run.tenant
        self.what = f"the managed devices of {run.tenant.name}"

    def restore(self, state):
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
        self.run.apply(items, self.counters)

    def complete(self, graph):
        self.run.disappear(self.counters, graph)


class _DeviceImport:
    """One tenant's import: settings, lookups and caches, then one page at a time."""

    def __init__(self, env, tenant, site):
        self.env = env
        self.tenant = tenant
        self.site = site or env["res.partner"]
        self.connection = connection = tenant.connection_id
        self.company_id = connection.company_id.id
        self.customer_id = tenant.partner_id.id
        self.settings = connection._csp_device_settings()
        self.keep_category = connection.asset_keep_category
        self.site_mode = connection.asset_site_mode
        self.default_site_name = (connection.asset_default_site or "").strip()
        self.new_status = connection.asset_new_status
        self.gone_status = connection.asset_gone_status
        self.adopt_unowned = connection.asset_adopt_unowned
        # everything besides the device that changes what is written
        self.settings_print = fingerprint(
            repr(self.settings), self.keep_category, self.site_mode, self.default_site_name,
            self.customer_id, self.company_id, self.adopt_unowned,
        )  # fmt: skip
        self.seen = set()
        self._users = None
        self._categories = None
        self._default_site = None
        self.Equipment = code_env(env["maintenance.equipment"]).with_context(**QUIET)
        self.Binding = env["csp.device.binding"].with_context(**QUIET)

    # -- lookups ---------------------------------------------------------------

    def user_of(self, key):
        """(contact id, its site id) of the user the key names, or (False, False)."""
        if not key:
            return False, False
        if self._users is None:
            self._users = self._load_users()
        return self._users.get(key, (False, False))

    def _load_users(self):
        names = {self.settings.user_field, self.settings.mobile_user_field} - {None}
        columns = [USER_BINDING_FIELDS[name] for name in names]
        bindings = self.env["csp.user.binding"].search_fetch(
            [("csp_tenant_id", "=", self.tenant.id), ("partner_id", "!=", False),
             ("removed", "=", False)],
            [*columns, "partner_id"],
        )  # fmt: skip
        bindings.partner_id.fetch(["parent_id"])
        users = {}
        for binding in bindings:
            contact = binding.partner_id
            found = (contact.id, contact.parent_id.id or False)
            for column in columns:
                if binding[column]:
                    users.setdefault(binding[column].lower(), found)
        return users

    def category_of(self, category):
        if not category:
            return False
        kind, value = category
        if kind == "id":
            return value
        if self._categories is None:
            found = self.env["maintenance.equipment.category"].search_fetch(
                [("company_id", "in", [self.company_id, False])], ["name"], order="id"
            )
            self._categories = {}
            for record in found:
                self._categories.setdefault((record.name or "").lower(), record.id)
        key = value.lower()
        if key not in self._categories:
            created = (
                self.env["maintenance.equipment.category"]
                .with_context(**QUIET)
                .create({"name": value, "company_id": self.company_id})
            )
            self._categories[key] = created.id
        return self._categories[key]

    def default_site(self):
        """The site of devices without a user (created under the customer if needed)."""
        if self._default_site is None:
            self._default_site = self.customer_id
            if self.default_site_name:
                Partner = self.env["res.partner"].with_context(tracking_disable=True)
                site = Partner.search(
                    [("parent_id", "=", self.customer_id), ("type", "=", "other"),
                     ("name", "=ilike", self.default_site_name)], limit=1,
                )  # fmt: skip
                if not site:
                    site = Partner.create(
                        {"name": self.default_site_name, "parent_id": self.customer_id,
                         "type": "other"}
                    )  # fmt: skip
                self._default_site = site.id
        return self._default_site

    def match_existing(self, keys):
        """{match key: equipment id}: equipment with the key's value (of this company or
        none), not bound to a device still in Intune, that belongs to this tenant's
        customer (its customer, or a site of the customer set by hand); with the
        connection's "adopt unowned equipment", also equipment that belongs to nobody (no
        customer, site, tenant or owner). Never the MSP's own equipment or another
        customer's: a serial number is not proof of ownership."""
        if not keys:
            return {}
        Equipment = self.env["maintenance.equipment"]
        owners = [name for name in ("owner_user_id", "employee_id", "department_id")
                  if name in Equipment._fields and Equipment._fields[name].store]  # fmt: skip
        Equipment.flush_model(["serial_no", "csp_entra_device_id", "csp_customer_id",
                               "csp_site_id", "csp_tenant_id", *owners])  # fmt: skip
        self.env["csp.device.binding"].flush_model(["equipment_id", "removed"])
        self.env["res.partner"].flush_model(["commercial_partner_id"])
        if self.settings.match_field == rules.MATCH_ENTRA:
            column = "lower(e.csp_entra_device_id)"
        else:
            column = "upper(e.serial_no)"
        unowned = " AND ".join(
            ["e.csp_site_id IS NULL", "e.csp_tenant_id IS NULL"]
            + [f"e.{name} IS NULL" for name in owners]
        )
        self.env.cr.execute(
            f"""SELECT {column}, e.id FROM maintenance_equipment e
                  LEFT JOIN res_partner site ON site.id = e.csp_site_id
                 WHERE {column} = ANY(%(keys)s)
                   AND (e.company_id = %(company)s OR e.company_id IS NULL)
                   AND NOT EXISTS (SELECT 1 FROM csp_device_binding b
                                    WHERE b.equipment_id = e.id AND NOT b.removed)
                   AND (e.csp_customer_id = %(customer)s
                        OR (e.csp_customer_id IS NULL
                            AND (site.commercial_partner_id = %(customer)s
                                 OR (%(adopt)s AND {unowned}))))
              ORDER BY e.active DESC, e.id""",
            {"keys": list(keys), "company": self.company_id, "customer": self.customer_id,
             "adopt": bool(self.adopt_unowned)},
        )  # fmt: skip
        found = {}
        for key, equipment_id in self.env.cr.fetchall():
            found.setdefault(key, equipment_id)
        return found

    def serials_taken(self, serials):
        """{serial: equipment id} of serial numbers already used (they are unique)."""
        if not serials:
            return {}
        self.env["maintenance.equipment"].flush_model(["serial_no"])
        self.env.cr.execute(
            "SELECT serial_no, id FROM maintenance_equipment WHERE serial_no = ANY(%s)",
            [list(serials)],
        )
        return dict(self.env.cr.fetchall())

    # -- one page ----------------------------------------------------------------

    def apply(self, devices, counters):
        plans, planned = [], set()
        for device in devices:
            plan = rules.plan(device, self.settings)
            if plan.microsoft_id:
                self.seen.add(plan.microsoft_id)
            if plan.skip or plan.microsoft_id in planned:
                counters["skipped"] += 1  # excluded, or listed twice in one page
            else:
                planned.add(plan.microsoft_id)
                plans.append(plan)
        if not plans:
            return
        bindings = self.Binding.search_fetch(
            [("csp_tenant_id", "=", self.tenant.id),
             ("microsoft_id", "in", [p.microsoft_id for p in plans])],
            ["microsoft_id", "fingerprint", "removed", "equipment_id", "status_before"],
        )  # fmt: skip
        by_id = {binding.microsoft_id: binding for binding in bindings}
        changed = []
        for plan in plans:
            contact, user_site = self.user_of(plan.user_key)
            category = self.category_of(plan.category)
            print_ = fingerprint(plan.values, category, contact, user_site, self.settings_print)
            binding = by_id.get(plan.microsoft_id)
            if binding and not binding.removed and binding.fingerprint == print_:
                continue  # nothing changed: nothing written
            changed.append((plan, binding, contact, user_site, category, print_))
        if not changed:
            return
        # devices without binding: existing equipment with the same key, or new
        keys = {p.match_key for p, b, *_r in changed if not b and p.match_key}
        matches = self.match_existing(keys)
        existing, new = [], []
        for item in changed:
            plan, binding = item[0], item[1]
            if binding:
                existing.append((binding.equipment_id.id, *item))
            elif plan.match_key and plan.match_key in matches:
                existing.append((matches.pop(plan.match_key), *item))  # one device each
            else:
                new.append(item)
        self._update(existing, counters)
        self._create(new, counters)

    def _site(self, is_new, contact, user_site, current):
        needs_default = not contact or not user_site or self.site_mode == rules.SITE_NEVER
        default = self.default_site() if needs_default else None
        return rules.site_for(self.site_mode, is_new, bool(contact), user_site, default, current)

    def _outside_site(self, *site_ids):
        return bool(self.site) and self.site.id not in site_ids

    def _create(self, items, counters):
        vals_list, kept = [], []
        taken = self.serials_taken(
            {p.values["serial_no"] for p, *_r in items if p.values.get("serial_no")}
        )
        for plan, _binding, contact, user_site, category, print_ in items:
            site = self._site(True, contact, user_site, False)
            if self._outside_site(site):
                counters["skipped"] += 1
                continue
            values = dict(plan.values)
            values.setdefault("name", plan.new_name)
            if values.get("serial_no") and values["serial_no"] in taken:
                values["serial_no"] = False  # another record holds it (serials are unique)
            elif values.get("serial_no"):
                taken[values["serial_no"]] = True
            values.update(
                company_id=self.company_id,
                csp_tenant_id=self.tenant.id,
                csp_customer_id=self.customer_id,
                category_id=category,
                csp_contact_id=contact,
                csp_site_id=site,
                csp_status=self.new_status,
            )
            vals_list.append(values)
            kept.append((plan, print_))
        if not vals_list:
            return
        equipment = self.Equipment.create(vals_list)
        self._insert_bindings(
            [(plan.microsoft_id, record_id, print_)
             for (plan, print_), record_id in zip(kept, equipment.ids, strict=True)]
        )  # fmt: skip
        counters["created"] += len(vals_list)

    def _insert_bindings(self, rows):
        """New bindings of one page in one INSERT: the ORM's create of thousands of
        these plain rows (no computed field but the stored company, set here) costs as
        much as the equipment itself. Rows are (microsoft id, equipment id, print)."""
        self.Binding.flush_model()
        now, uid = self.env.cr.now(), self.env.uid  # as the ORM stamps rows
        base = (self.connection.id, self.company_id, self.tenant.id)
        self.env.cr.execute(
            "INSERT INTO csp_device_binding (connection_id, company_id, csp_tenant_id,"
            " microsoft_id, equipment_id, fingerprint, removed, create_uid, create_date,"
            " write_uid, write_date) VALUES " + ", ".join(["%s"] * len(rows)),
            [(*base, mid, eid, print_, False, uid, now, uid, now) for mid, eid, print_ in rows],
        )
        self.env["maintenance.equipment"].invalidate_model(["csp_binding_ids"])

    def _update(self, items, counters):
        if not items:
            return
        names = [*{name for item in items for name in item[1].values}, "category_id",
                 "csp_site_id", "csp_status", "csp_contact_id", "csp_customer_id",
                 "csp_tenant_id", "company_id"]  # fmt: skip
        records = self.Equipment.browse([item[0] for item in items])
        records.fetch(names)
        serials = {
            item[1].values["serial_no"]
            for item, record in zip(items, records, strict=True)
            if item[1].values.get("serial_no") and item[1].values["serial_no"] != record.serial_no
        }
        taken = self.serials_taken(serials)
        rebound = self.Binding.browse()
        for (equipment_id, plan, binding, found, found_site, category, print_), record in zip(
            items, records, strict=True
        ):
            was_removed = bool(binding and binding.removed)
            contact, user_site = found, found_site
            if not plan.user_sent:  # Graph did not send the user: the equipment keeps its own
                contact = record.csp_contact_id.id or False
                user_site = record.csp_contact_id.parent_id.id or False
            current_site = record.csp_site_id.id or False
            site = self._site(False, contact, user_site, current_site)
            if self._outside_site(site, current_site):
                counters["skipped"] += 1
                continue
            wanted = dict(plan.values)
            serial = wanted.get("serial_no")
            if serial and taken.get(serial, equipment_id) != equipment_id:
                wanted["serial_no"] = record.serial_no or False  # held by another record
            wanted.update(
                csp_tenant_id=self.tenant.id,
                csp_customer_id=self.customer_id,
                csp_contact_id=contact,
                csp_site_id=site,
            )
            if not (self.keep_category and record.category_id) and category:
                wanted["category_id"] = category
            if was_removed or not record.csp_status:
                wanted["csp_status"] = rules.status_for(
                    False, was_removed, record.csp_status, self.new_status,
                    binding.status_before if binding else None,
                )  # fmt: skip
            if not record.company_id:
                wanted["company_id"] = self.company_id
            diff = {k: v for k, v in wanted.items() if differs(record, k, v)}
            if diff:
                record.write(diff)
            if binding:
                binding.write(
                    {"fingerprint": print_, "removed": False, "removed_date": False,
                     "status_before": False} if was_removed else {"fingerprint": print_}
                )  # fmt: skip
            else:
                # equipment from elsewhere (or left by a device gone from Intune) is
                # bound to this device; a binding of a device gone is dropped
                rebound |= record.csp_binding_ids
                self.Binding.create(
                    {"connection_id": self.connection.id, "csp_tenant_id": self.tenant.id,
                     "microsoft_id": plan.microsoft_id, "equipment_id": equipment_id,
                     "fingerprint": print_}
                )  # fmt: skip
            if diff or was_removed or not binding:
                counters["updated"] += 1
        rebound.filtered("removed").unlink()

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
