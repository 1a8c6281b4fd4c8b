# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Intune managed devices -> maintenance.equipment: the write side of the import.

ORM-aware orchestration (not a model), on the core's binding routine
(csp_connector/importers/binding.py, BindingImporter) with the device's hooks: each
page's devices planned with the plain rules of sync/devices.py, existing equipment
bound by serial number or Entra device id, values computed against the equipment as
it is (kept category, site modes, status given back on return, serial numbers that
stay unique), new bindings in one INSERT per page. A device whose values (and the
decisions taken from them) did not change since the last run is not written at all.
"""

from odoo.addons.csp_connector.importers.binding import BindingImporter, Planned
from odoo.addons.csp_connector.models.csp_binding_mixin import fingerprint
from odoo.addons.csp_connector.models.csp_guard import code_env

from ..sync import devices as rules

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


class DeviceImporter(BindingImporter):
    """One tenant's devices: settings, lookups and caches, then one page at a time
    (apply_page). `site`: the site an "Import devices now" run is limited to."""

    target_context = QUIET
    # a device back in Intune: the status it had is given back, then forgotten
    restore = {**BindingImporter.restore, "status_before": False}
    count_unchanged = False  # the device import counts what it writes or leaves out

    def __init__(self, env, tenant, site):
        super().__init__(code_env(env["csp.device.binding"]).with_context(**QUIET), tenant)
        self.env = env
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
        self.page = {}  # Microsoft id -> (DevicePlan, contact, its site, category) of a page
        self._users = None
        self._categories = None
        self._default_site = None
        self.Binding = self.model

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
                                    WHERE b.equipment_id = e.id
                                      AND b.removed IS NOT TRUE)
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

    def apply_page(self, devices):
        """Plan one page of Graph's devices and write it through the binding routine."""
        plans, planned = [], set()
        for device in devices:
            plan = rules.plan(device, self.settings)
            if plan.microsoft_id:
                self.seen.add(plan.microsoft_id)  # excluded ones too: they are not gone
            if plan.skip or plan.microsoft_id in planned:
                self.counters["skipped"] += 1  # excluded, or listed twice in one page
            else:
                planned.add(plan.microsoft_id)
                plans.append(plan)
        self.page = {}
        page = []
        for plan in plans:
            contact, user_site = self.user_of(plan.user_key)
            category = self.category_of(plan.category)
            digest = fingerprint(plan.values, category, contact, user_site, self.settings_print)
            self.page[plan.microsoft_id] = (plan, contact, user_site, category)
            page.append(Planned(plan.microsoft_id, {}, plan.values, digest))
        self.apply(page)

    def _site(self, is_new, contact, user_site, current):
        needs_default = not contact or not user_site or self.site_mode == rules.SITE_NEVER
        default = self.default_site() if needs_default else None
        return rules.site_for(self.site_mode, is_new, bool(contact), user_site, default, current)

    def _outside_site(self, *site_ids):
        return bool(self.site) and self.site.id not in site_ids

    # -- the binding routine's hooks -------------------------------------------------

    def _target_of(self, binding):
        """A device gone from Intune whose equipment another device took since (bound by
        serial number) keeps its binding, archived: back in Intune, it is bound anew
        (matched or new equipment), never to the other device's equipment."""
        equipment = binding.equipment_id
        if binding.removed and (equipment.csp_binding_ids - binding).filtered(
            lambda other: not other.removed
        ):
            return equipment.browse()
        return equipment

    def _match(self, microsoft_ids):
        """Existing equipment with the device's serial number (or Entra device id): one
        device each (see match_existing)."""
        plans = [self.page[i][0] for i in microsoft_ids]
        found = self.match_existing({p.match_key for p in plans if p.match_key})
        return {
            p.microsoft_id: found.pop(p.match_key)
            for p in plans
            if p.match_key and p.match_key in found
        }

    def _new_targets(self, plans):
        """New equipment: the user's site (or the default site), the connection's new
        status, a serial number another record holds left empty; a device outside the
        run's site is left out."""
        items = [self.page[p.microsoft_id] for p in plans]
        taken = self.serials_taken(
            {p.values["serial_no"] for p, *_r in items if p.values.get("serial_no")}
        )
        result = []
        for plan, contact, user_site, category in items:
            site = self._site(True, contact, user_site, False)
            if self._outside_site(site):
                result.append(None)
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
            result.append(values)
        return result

    def _target_values(self, items):
        """Existing equipment (bound, or matched): Intune's values, and what depends on
        the equipment as it is: the user it keeps when Graph did not send one, the site
        (modes), the category (kept when asked), the status (given back on return), a
        serial number another record holds left as it is, a company when it has none;
        equipment outside the run's site is left out."""
        names = [*{name for item in items for name in item.plan.target}, "category_id",
                 "csp_site_id", "csp_status", "csp_contact_id", "csp_customer_id",
                 "csp_tenant_id", "company_id"]  # fmt: skip
        records = self.targets.browse([item.record.id for item in items])
        records.fetch(names)
        serials = {
            item.plan.target["serial_no"]
            for item in items
            if item.plan.target.get("serial_no")
            and item.plan.target["serial_no"] != item.record.serial_no
        }
        taken = self.serials_taken(serials)
        return [self._equipment_values(item, taken) for item in items]

    def _equipment_values(self, item, taken):
        plan, found, found_site, category = self.page[item.plan.microsoft_id]
        record = item.record
        binding = None if item.matched else item.binding
        was_removed = bool(binding and binding.removed)
        contact, user_site = found, found_site
        if not plan.user_sent:  # Graph did not send the user: the equipment keeps its own
            contact = record.csp_contact_id.id or False
            user_site = record.csp_contact_id.parent_id.id or False
        current_site = record.csp_site_id.id or False
        site = self._site(False, contact, user_site, current_site)
        if self._outside_site(site, current_site):
            return None
        wanted = dict(plan.values)
        serial = wanted.get("serial_no")
        if serial and taken.get(serial, record.id) != record.id:
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
        return wanted
