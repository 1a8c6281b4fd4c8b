# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Intune managed devices -> equipment, against the sandbox's Graph."""

import time
import uuid

from odoo.exceptions import AccessError
from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.csp_connector.importers.binding import BindingImporter, Planned
from odoo.addons.csp_connector.models.csp_guard import code_env
from odoo.addons.csp_connector.tests.code_only import (
    assert_code_only_fields_refused,
    models_guarded_by,
)
from odoo.addons.csp_connector.tests.common import CspSandboxCase
from odoo.addons.csp_connector.tests.display_names import assert_named


@tagged("post_install", "-at_install")
class TestDevices(CspSandboxCase):
    sandbox_tenants = 4

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.connect_as_admin()
        first, second = cls.sandbox.state()["special"]["two_tenant_company"]
        tenants = cls.connection.tenant_ids
        cls.t1 = tenants.filtered(lambda t: t.tenant_id == first)
        cls.t2 = tenants.filtered(lambda t: t.tenant_id == second)
        (tenants - cls.t1 - cls.t2).do_not_import = True
        Partner = cls.env["res.partner"]
        cls.customer = Partner.create({"name": "Ashford & Pike", "is_company": True})
        cls.customer2 = Partner.create({"name": "Pike Australia", "is_company": True})
        cls.hq = Partner.create({"name": "HQ", "parent_id": cls.customer.id, "type": "other"})
        cls.t1.partner_id = cls.customer
        cls.t2.partner_id = cls.customer2
        for tenant, customer, site in ((cls.t1, cls.customer, cls.hq),
                                       (cls.t2, cls.customer2, cls.customer2)):  # fmt: skip
            cls.env["csp.site.mapping"].create(
                {"connection_id": cls.connection.id, "kind": "site", "customer_id": customer.id,
                 "site_id": site.id, "tenant_ids": [(6, 0, tenant.ids)]}
            )  # fmt: skip
        domain = cls.t1.verified_domains.split()[0]
        cls.ann = cls.sandbox.control(
            "POST", f"tenants/{cls.t1.tenant_id}/users",
            {"userPrincipalName": f"ann.lee@{domain}", "mail": f"ann.mail@{domain}",
             "displayName": "Ann Lee", "accountEnabled": True},
        )  # fmt: skip
        run = cls.connection._csp_sync(trigger="manual", modules=["users"])
        assert run.state == "done", run.message
        cls.ann_contact = (
            cls.env["csp.user.binding"].search([("microsoft_id", "=", cls.ann["id"])]).partner_id
        )
        assert cls.ann_contact.parent_id == cls.hq
        cls.Equipment = cls.env["maintenance.equipment"]
        cls.Category = cls.env["maintenance.equipment.category"]

    def setUp(self):
        super().setUp()
        self.added = []
        self.addCleanup(self._remove_added)
        self.addCleanup(self.sandbox.control, "DELETE", "faults")

    def _remove_added(self):
        for tenant_id, device_id in self.added:
            try:
                self.sandbox.control("DELETE", f"tenants/{tenant_id}/devices/{device_id}")
            except Exception:
                continue

    # -- helpers ---------------------------------------------------------------

    def add_device(self, tenant=None, **values):
        tenant = tenant or self.t1
        body = {"deviceName": values.pop("deviceName", f"DEV-{uuid.uuid4().hex[:6]}"), **values}
        device = self.sandbox.control("POST", f"tenants/{tenant.tenant_id}/devices", body)
        self.added.append((tenant.tenant_id, device["id"]))
        return device

    def sync(self):
        run = self.connection._csp_sync(trigger="manual", modules=["assets"])
        self.assertEqual(run.state, "done", run.message)
        return run

    def equipment(self, device, tenant=None):
        binding = self.env["csp.device.binding"].search(
            [("csp_tenant_id", "=", (tenant or self.t1).id), ("microsoft_id", "=", device["id"])]
        )
        return binding.equipment_id

    def sandbox_devices(self, tenant):
        tid = tenant.tenant_id
        return [d for d in self.sandbox_get(tid) if d["managementAgent"].lower() != "mssense"]

    def sandbox_get(self, tenant_id):
        http = self.connection._csp_http()
        graph = self.connection._csp_graph(http, tenant_id)
        return list(graph.iter_collection("v1.0/deviceManagement/managedDevices"))

    def row_versions(self):
        """Each row's physical version: any UPDATE, even of an unchanged value, moves it."""
        self.env.flush_all()
        versions = {}
        for table in ("maintenance_equipment", "csp_device_binding",
                      "maintenance_equipment_category", "res_partner"):  # fmt: skip
            self.env.cr.execute(f"SELECT id, ctid::text FROM {table}")
            versions[table] = dict(self.env.cr.fetchall())
        return versions

    # -- import, values, users and a run without change ------------------------

    def test_full_import_values_user_and_no_change_rerun(self):
        laptop = self.add_device(
            deviceName="AP-LT-0042", serialNumber="5CG3041XYZ", osVersion="10.0.26100.2033",
            userPrincipalName=self.ann["userPrincipalName"], userId=self.ann["id"],
            model="Latitude 7440", manufacturer="Dell Inc.", complianceState="noncompliant",
            lastSyncDateTime="2026-11-30T09:15:00.1234567Z",
            enrolledDateTime="2025-02-01T08:00:00Z", managedDeviceOwnerType="personal",
        )  # fmt: skip
        run = self.sync()
        record = self.equipment(laptop)
        self.assertEqual(
            [record.name, record.serial_no, record.model, record.csp_manufacturer,
             record.csp_os, record.csp_os_version, record.csp_compliance,
             str(record.csp_last_sync), str(record.csp_enrolled), record.csp_ownership,
             record.csp_management_agent, record.csp_intune_id, record.csp_entra_device_id],
            ["AP-LT-0042", "5CG3041XYZ", "Latitude 7440", "Dell Inc.", "Windows",
             "10.0.26100.2033", "noncompliant", "2026-11-30 09:15:00", "2025-02-01 08:00:00",
             "personal", "mdm", laptop["id"], laptop["azureADDeviceId"]],
        )  # fmt: skip
        self.assertEqual(record.csp_contact_id, self.ann_contact)
        self.assertEqual(record.csp_site_id, self.hq, "the user's site")
        self.assertEqual(record.csp_customer_id, self.customer)
        self.assertEqual(record.csp_status, "in_use")
        expected = {d["id"] for d in self.sandbox_devices(self.t1)}
        imported = self.Equipment.search([("csp_tenant_id", "=", self.t1.id)])
        self.assertEqual(set(imported.mapped("csp_intune_id")), expected)
        self.assertEqual(run.created, len(expected) + len(self.sandbox_devices(self.t2)))
        # smart buttons: the contact, the site and the customer show the device
        self.assertGreaterEqual(self.ann_contact.csp_device_count, 1)
        self.assertGreaterEqual(self.customer.csp_device_count, len(expected))
        self.assertEqual(self.t1.device_count, len(expected))

        before = self.row_versions()
        again = self.sync()
        self.assertEqual((again.created, again.updated, again.deactivated), (0, 0, 0))
        self.assertEqual(self.row_versions(), before, "a run without change writes nothing")

        self.sandbox.control(
            "PATCH", f"tenants/{self.t1.tenant_id}/devices/{laptop['id']}",
            {"osVersion": "10.0.26100.2314", "complianceState": "compliant"},
        )  # fmt: skip
        changed = self.sync()
        self.assertEqual((changed.created, changed.updated), (0, 1))
        self.assertEqual(record.csp_os_version, "10.0.26100.2314")
        self.assertEqual(record.csp_compliance, "compliant")

    def test_properties_graph_leaves_out_keep_their_values(self):
        laptop = self.add_device(
            deviceName="AP-LT-0077", serialNumber="5CG7777XYZ", model="Latitude 7440",
            userPrincipalName=self.ann["userPrincipalName"], userId=self.ann["id"],
        )  # fmt: skip
        self.sync()
        record = self.equipment(laptop)
        self.assertEqual((record.model, record.csp_contact_id), ("Latitude 7440", self.ann_contact))
        # Microsoft leaves out properties (and renames the device meanwhile): what it did not
        # send stays as it was, what it sent is written
        self.sandbox.control(
            "PATCH", f"tenants/{self.t1.tenant_id}/devices/{laptop['id']}",
            {"deviceName": "AP-LT-0077-NEW", "model": "Latitude 9440"},
        )  # fmt: skip
        self.sandbox.fault(service="graph", path="managedDevices",
                           body="omit:model,userPrincipalName,serialNumber")  # fmt: skip
        run = self.sync()
        self.assertEqual(run.error_count, 0, run.message)
        self.assertEqual(record.name, "AP-LT-0077-NEW")
        self.assertEqual(record.model, "Latitude 7440", "a property not sent keeps its value")
        self.assertEqual(record.serial_no, "5CG7777XYZ")
        self.assertEqual(record.csp_contact_id, self.ann_contact, "the user was not sent")
        self.assertEqual(record.csp_status, "in_use")
        # sent empty (null) clears it
        self.sandbox.control("DELETE", "faults")
        self.sandbox.control(
            "PATCH", f"tenants/{self.t1.tenant_id}/devices/{laptop['id']}", {"model": None}
        )
        self.sync()
        self.assertFalse(record.model, "a property sent empty is cleared")

    def test_mobile_devices_use_the_mobile_identifier(self):
        phone = self.add_device(
            deviceName="Ann's iPhone", operatingSystem="iOS",
            userPrincipalName=None, emailAddress=self.ann["mail"],
        )  # fmt: skip
        laptop = self.add_device(emailAddress=self.ann["mail"], userPrincipalName=None)
        self.connection.asset_mobile_user_field = "emailAddress"
        self.sync()
        self.assertEqual(self.equipment(phone).csp_contact_id, self.ann_contact)
        self.assertFalse(self.equipment(laptop).csp_contact_id, "UPN for other devices")
        self.connection.asset_user_field = "emailAddress"
        self.sync()
        self.assertEqual(self.equipment(laptop).csp_contact_id, self.ann_contact)

    # -- categories ------------------------------------------------------------

    def test_category_modes(self):
        laptops = self.Category.create({"name": "Laptops"})
        device = self.add_device(model="ThinkPad X1")
        phone = self.add_device(operatingSystem="Android", model="Pixel 8")
        self.connection.asset_category_id = laptops
        self.sync()
        self.assertEqual(self.equipment(device).category_id, laptops, "one category for all")

        self.connection.asset_category_mode = "field"
        self.connection.asset_category_field = "operatingSystem"
        self.sync()
        android = self.Category.search([("name", "=", "Android")])
        self.assertEqual(len(android), 1, "created once, when missing")
        self.assertEqual(self.equipment(phone).category_id, android)
        self.assertEqual(self.equipment(device).category_id.name, "Windows")

        phones = self.Category.create({"name": "Phones"})
        other = self.Category.create({"name": "Other"})
        self.connection.write(
            {"asset_category_mode": "rules", "asset_fallback_category_id": other.id,
             "asset_rule_ids": [
                 (0, 0, {"sequence": 1, "category_id": phones.id, "condition_ids": [
                     (0, 0, {"field_name": "operatingSystem", "operator": "equals",
                             "value": "android"})]}),
                 (0, 0, {"sequence": 2, "category_id": laptops.id, "condition_ids": [
                     (0, 0, {"field_name": "operatingSystem", "operator": "equals",
                             "value": "windows"}),
                     (0, 0, {"field_name": "model", "operator": "starts_with",
                             "value": "thinkpad"})]}),
             ]}
        )  # fmt: skip
        surface = self.add_device(model="Surface Laptop 5")
        self.sync()
        self.assertEqual(self.equipment(phone).category_id, phones)
        self.assertEqual(self.equipment(device).category_id, laptops)
        self.assertEqual(self.equipment(surface).category_id, other, "fallback")

        self.connection.asset_unmatched = "exclude"
        unmatched = self.add_device(model="Surface Pro 9")
        run = self.sync()
        self.assertFalse(self.equipment(unmatched), "excluded: no rule matched")
        self.assertGreater(run.skipped, 0)
        self.assertEqual(self.equipment(surface).category_id, other, "existing stays as is")

        # never change the category of existing equipment
        self.connection.write({"asset_category_mode": "single", "asset_keep_category": True})
        self.sync()
        self.assertEqual(self.equipment(phone).category_id, phones)
        self.connection.asset_keep_category = False
        self.sync()
        self.assertEqual(self.equipment(phone).category_id, laptops)

    def test_device_records_are_named_and_the_devices_button_sits_in_the_row(self):
        self.add_device(deviceName="AP-LT-0100")
        self.sync()
        phones = self.Category.create({"name": "Phones"})
        self.connection.write(
            {"asset_rule_ids": [(0, 0, {"sequence": 1, "category_id": phones.id,
                                        "condition_ids": [(0, 0, {
                                            "field_name": "operatingSystem",
                                            "operator": "equals", "value": "android"})]})]}
        )  # fmt: skip
        self.env["csp.device.import"].create(
            {"connection_id": self.connection.id, "tenant_id": self.t1.id}
        )
        shown = assert_named(self, "csp_connector_assets")
        self.assertIn(f"AP-LT-0100 ({self.t1.name})", shown["csp.device.binding"])
        user = new_test_user(self.env, login="csp_user_dev", groups="csp_connector.group_csp_user")
        tenant = self.t1.with_user(user)
        arch = tenant.get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertEqual(arch.count("oe_button_box"), 1, "one row of smart buttons")
        self.assertIn('name="action_open_devices"', arch)
        devices = self.Equipment.search_count([("csp_tenant_id", "=", self.t1.id)])
        self.assertEqual(tenant.device_count, devices)
        self.assertTrue(devices)

    # -- sites --------------------------------------------------------------------

    def test_site_allocation_modes_and_default_site(self):
        owned = self.add_device(userPrincipalName=self.ann["userPrincipalName"])
        shared = self.add_device(userPrincipalName=None)
        self.connection.asset_default_site = "Unassigned devices"
        self.sync()
        default = self.env["res.partner"].search(
            [("parent_id", "=", self.customer.id), ("name", "=", "Unassigned devices")]
        )
        self.assertEqual(len(default), 1)
        self.assertEqual(self.equipment(owned).csp_site_id, self.hq)
        self.assertEqual(self.equipment(shared).csp_site_id, default)

        leeds = self.env["res.partner"].create(
            {"name": "Leeds", "parent_id": self.customer.id, "type": "other"}
        )
        self.ann_contact.sudo().parent_id = leeds  # Ann moved
        self.connection.asset_site_mode = "new"
        new_one = self.add_device(userPrincipalName=self.ann["userPrincipalName"])
        self.sync()
        self.assertEqual(self.equipment(owned).csp_site_id, self.hq, "existing: kept")
        self.assertEqual(self.equipment(new_one).csp_site_id, leeds, "new: the user's site")

        self.connection.asset_site_mode = "all"
        self.sync()
        self.assertEqual(self.equipment(owned).csp_site_id, leeds, "all: follows the user")

        self.connection.asset_site_mode = "never"
        newest = self.add_device(userPrincipalName=self.ann["userPrincipalName"])
        self.equipment(owned).csp_site_id = self.hq  # set by hand
        self.sync()
        self.assertEqual(self.equipment(newest).csp_site_id, default, "never: default site")
        self.assertEqual(self.equipment(owned).csp_site_id, self.hq, "never: kept")
        self.assertEqual(self.equipment(newest).csp_contact_id, self.ann_contact)

    # -- matching -------------------------------------------------------------------

    def test_matching_field_binds_equipment_made_by_hand(self):
        by_hand = self.Equipment.create(
            {"name": "Reception PC", "serial_no": "hand-0001", "csp_site_id": self.hq.id}
        )
        device = self.add_device(deviceName="AP-LT-0100", serialNumber="HAND-0001")
        self.sync()
        self.assertEqual(self.equipment(device), by_hand, "bound, not duplicated")
        self.assertEqual(by_hand.name, "AP-LT-0100")
        self.assertEqual(self.Equipment.search_count([("csp_intune_id", "=", device["id"])]), 1)

        # Entra device id: equipment of another source that knows it is bound too
        entra = str(uuid.uuid4())
        other_source = self.Equipment.sudo().create(
            {"name": "From the RMM", "serial_no": "RMM-77", "csp_entra_device_id": entra}
        )
        self.connection.write({"asset_match_field": "entra", "asset_adopt_unowned": True})
        twin = self.add_device(serialNumber="HAND-0001-B", azureADDeviceId=entra.upper())
        self.sync()
        self.assertEqual(self.equipment(twin), other_source)
        self.assertEqual(other_source.serial_no, "HAND-0001-B")

    def test_a_serial_number_never_takes_over_equipment_of_another_owner(self):
        """The MSP's own switch, another customer's laptop and an Odoo user's PC share a
        device's serial number: none becomes the customer's device; "adopt unowned
        equipment" takes only the one that belongs to nobody."""
        own_switch = self.Equipment.create({"name": "Core switch", "serial_no": "SN-SHARED-1",
                                            "note": "MSP rack 2"})  # fmt: skip
        theirs = self.Equipment.create(
            {"name": "Pike laptop", "serial_no": "SN-SHARED-2", "csp_site_id": self.customer2.id}
        )
        staff_pc = self.Equipment.create({"name": "Staff PC", "serial_no": "SN-SHARED-3",
                                          "owner_user_id": self.env.user.id})  # fmt: skip
        devices = [self.add_device(serialNumber=f"SN-SHARED-{n}") for n in (1, 2, 3)]
        self.sync()
        records = [self.equipment(d) for d in devices]
        for record, untouched in zip(records, (own_switch, theirs, staff_pc), strict=True):
            self.assertTrue(record)
            self.assertNotEqual(record, untouched)
            self.assertFalse(untouched.csp_customer_id or untouched.csp_tenant_id)
        self.assertEqual(own_switch.name, "Core switch")
        self.assertEqual(theirs.csp_site_id, self.customer2)
        # only with the setting, and only what belongs to nobody
        self.connection.asset_adopt_unowned = True
        orphan = self.Equipment.create({"name": "Spare laptop", "serial_no": "SN-ORPHAN"})
        adopted = self.add_device(serialNumber="SN-ORPHAN")
        again = self.add_device(serialNumber="SN-SHARED-2", deviceName="second")
        self.sync()
        self.assertEqual(self.equipment(adopted), orphan)
        self.assertNotEqual(self.equipment(again), theirs)

    def test_placeholder_serials_never_match(self):
        by_hand = self.Equipment.create({"name": "Old PC", "serial_no": "To be filled by O.E.M."})
        first = self.add_device(serialNumber="To be filled by O.E.M.")
        second = self.add_device(serialNumber="Default string")
        third = self.add_device(serialNumber="Default string")
        zero = self.add_device(serialNumber="0")
        self.sync()
        records = [self.equipment(d) for d in (first, second, third, zero)]
        self.assertEqual(len(set(records)), 4, "one equipment per device")
        self.assertNotIn(by_hand, records)
        self.assertEqual([r.serial_no for r in records], [False] * 4)
        self.assertEqual(records[1].csp_serial_number, "Default string")

    # -- exclusions -----------------------------------------------------------------

    def test_excluded_tenant_and_defender_devices(self):
        sense = self.add_device(managementAgent="msSense", deviceName="AP-SRV-01")
        in_t2 = self.add_device(self.t2)
        self.t2.exclude_devices = True
        run = self.sync()
        self.assertFalse(self.equipment(sense), "Defender-only devices are excluded")
        self.assertFalse(self.equipment(in_t2, self.t2), "the tenant is excluded")
        self.assertFalse(self.Equipment.search_count([("csp_tenant_id", "=", self.t2.id)]))
        self.assertGreater(run.skipped, 0)

        self.connection.asset_exclude_defender = False
        self.t2.exclude_devices = False
        self.sync()
        self.assertEqual(self.equipment(sense).csp_management_agent, "msSense")
        self.assertTrue(self.equipment(in_t2, self.t2))

    # -- disappearance ----------------------------------------------------------------

    def test_a_count_that_agrees_with_a_cut_page_marks_nothing_gone(self):
        """Intune's count is eventually consistent: a stale count that agrees with a page
        cut short was proof enough to mark 40 devices gone. Devices it left out are read
        again by id first."""
        self.sync()
        bound = self.env["csp.device.binding"].search(
            [("csp_tenant_id", "=", self.t1.id), ("removed", "=", False)]
        )
        self.assertGreaterEqual(len(bound), 3)
        self.sandbox.fault(service="graph", path="managedDevices", body="drop:2", times=1,
                           tenant=self.t1.tenant_id)  # fmt: skip
        run = self.connection._csp_sync(trigger="manual", modules=["assets"])
        self.assertEqual(run.state, "partial")
        self.assertFalse(bound.filtered("removed"), "nothing marked gone")
        self.assertIn("cut short", self.t1.last_error)
        self.assertEqual(self.sync().deactivated, 0, "the next complete read: all there")

    def test_the_safety_valve_holds_many_devices_gone_at_once(self):
        devices = [self.add_device(deviceName=f"AP-VALVE-{n}") for n in range(4)]
        self.sync()
        self.connection.write({"archive_max_percent": 5})  # at least 2 allowed: 4 are held
        for device in devices:
            self.sandbox.control("DELETE", f"tenants/{self.t1.tenant_id}/devices/{device['id']}")
        self.added = [a for a in self.added if a[1] not in {d["id"] for d in devices}]
        run = self.sync()
        records = self.Equipment.union(*(self.equipment(d) for d in devices))
        self.assertEqual(run.deactivated, 0)
        self.assertEqual(self.t1.devices_held_count, 4)
        self.assertIn("safety valve", run.line_ids.filtered(
            lambda line: line.csp_tenant_id == self.t1).message)  # fmt: skip
        self.assertNotIn("missing", records.mapped("csp_status"))
        # a CSP user cannot decide; a manager can
        reader = new_test_user(self.env, login="csp_reader4", groups="csp_connector.group_csp_user")
        with self.assertRaises(AccessError):
            self.t1.with_user(reader).action_release_devices()
        self.t1.with_user(self.manager).action_release_devices()
        self.assertEqual(set(records.mapped("csp_status")), {"missing"})
        self.assertFalse(self.t1.devices_held_count)

    def test_disappeared_device_status_and_return(self):
        self.env["ir.config_parameter"].sudo().set_param("csp_connector.page_size", "3")
        device = self.add_device(deviceName="AP-LT-0200")
        self.sync()
        record = self.equipment(device)
        record.csp_status = "repair"
        path = f"tenants/{self.t1.tenant_id}/devices/{device['id']}"
        self.sandbox.control("DELETE", path)

        # a read cut short proves nothing: nothing gets the "gone" status
        self.sandbox.fault(service="graph", path="managedDevices", body="cut", times=1,
                           tenant=self.t1.tenant_id)  # fmt: skip
        run = self.connection._csp_sync(trigger="manual", modules=["assets"])
        self.assertEqual(run.state, "partial")
        self.assertEqual(record.csp_status, "repair")
        self.assertIn("cut short", self.t1.last_error)

        run = self.sync()
        self.assertEqual(run.deactivated, 1)
        self.assertTrue(record.exists() and record.active, "never deleted")
        self.assertEqual(record.csp_status, "missing")
        self.assertFalse(self.t1.last_error, "the step's error clears once it works")

        self.sandbox.control("POST", f"tenants/{self.t1.tenant_id}/devices",
                             {k: v for k, v in device.items() if v is not None})  # fmt: skip
        self.sync()
        self.assertEqual(self.equipment(device), record)
        self.assertEqual(record.csp_status, "repair", "back, with the status it had")

    def test_a_rebound_device_keeps_its_old_binding_archived(self):
        """A device re-enrolled (a new Intune id, the same serial number) takes the
        equipment the old one left: the old device's binding stays, archived, and
        back in Intune the old device never takes the other's equipment."""
        Binding = self.env["csp.device.binding"]
        old = self.add_device(deviceName="AP-LT-0300", serialNumber="REENROL-0300")
        self.sync()
        record = self.equipment(old)
        old_binding = Binding.search([("microsoft_id", "=", old["id"])])
        self.sandbox.control("DELETE", f"tenants/{self.t1.tenant_id}/devices/{old['id']}")
        self.sync()
        self.assertTrue(old_binding.removed)
        new = self.add_device(deviceName="AP-LT-0300", serialNumber="REENROL-0300")
        self.sync()
        self.assertEqual(self.equipment(new), record, "bound to the equipment, not duplicated")
        self.assertTrue(old_binding.exists(), "archived, never deleted")
        self.assertEqual((old_binding.removed, old_binding.equipment_id), (True, record))
        self.assertEqual(record.csp_binding_ids, old_binding | self.equipment_binding(new))
        # the old device back in Intune: its own binding again, on other equipment
        self.sandbox.control("POST", f"tenants/{self.t1.tenant_id}/devices",
                             {k: v for k, v in old.items() if v is not None})  # fmt: skip
        self.sync()
        self.assertEqual(Binding.search([("microsoft_id", "=", old["id"])]), old_binding)
        self.assertFalse(old_binding.removed)
        self.assertNotEqual(old_binding.equipment_id, record)
        self.assertEqual(self.equipment(new), record)
        self.assertEqual(record.csp_binding_ids.filtered(lambda b: not b.removed).microsoft_id,
                         new["id"])  # fmt: skip

    def equipment_binding(self, device):
        return self.env["csp.device.binding"].search([("microsoft_id", "=", device["id"])])

    def test_the_bulk_insert_of_bindings_writes_what_the_orm_would(self):
        """New device bindings are inserted with one SQL INSERT per page
        (_csp_raw_insert): each row holds what the ORM's create would write."""
        integrator = self.env.ref("csp_connector.user_csp_integrator")
        Binding = code_env(self.env["csp.device.binding"].with_user(integrator))
        importer = BindingImporter(Binding, self.t1)
        importer.apply([Planned("raw-device-1", {}, {"name": "Raw"}, "digest-1")])
        raw = Binding.browse(importer.created_ids)
        self.assertEqual(len(raw), 1)
        self.assertEqual(raw.equipment_id.name, "Raw")
        other = self.Equipment.create({"name": "By the ORM"})
        orm = Binding.create(
            {"connection_id": self.connection.id, "csp_tenant_id": self.t1.id,
             "microsoft_id": "orm-device-1", "equipment_id": other.id,
             "fingerprint": "digest-1"}
        )  # fmt: skip
        Binding.env.flush_all()  # the company the ORM computes, as the integrator
        self.env.cr.execute(
            "SELECT to_jsonb(b) - 'id' - 'microsoft_id' - 'equipment_id' FROM"
            " csp_device_binding b WHERE id IN %s ORDER BY id",
            [(raw.id, orm.id)],
        )
        rows = [row[0] for row in self.env.cr.fetchall()]
        self.assertEqual(rows[0], rows[1], "every column as the ORM writes it")
        self.assertIn("company_id", rows[0])
        self.assertEqual(raw.create_uid, integrator)
        self.assertEqual(raw.company_id, self.connection.company_id)
        self.assertEqual(raw.equipment_id.csp_binding_ids, raw, "the equipment sees it")
        self.assertEqual((raw.create_date, raw.write_date), (orm.create_date, orm.write_date))

    def test_a_read_out_of_time_pauses_and_resumes_without_losing_devices(self):
        self.env["ir.config_parameter"].sudo().set_param("csp_connector.page_size", "3")
        self.connection.asset_exclude_defender = False
        http = self.connection._csp_http()
        late = self.t1.with_context(csp_deadline=time.monotonic() - 1, csp_run_memo={})
        counters = late._csp_sync_assets(http)
        self.assertEqual((counters.get("paused"), counters["created"]), (True, 3))
        self.assertTrue(self.t1._csp_round_get("devices"), "where the read goes on")
        counters = self.t1.with_context(csp_run_memo={})._csp_sync_assets(http)
        self.assertNotIn("paused", counters)
        self.assertFalse(self.t1._csp_round_get("devices"))
        imported = self.Equipment.search([("csp_tenant_id", "=", self.t1.id)])
        expected = {d["id"] for d in self.sandbox_get(self.t1.tenant_id)}
        self.assertEqual(set(imported.mapped("csp_intune_id")), expected)
        self.assertFalse(imported.filtered(lambda e: e.csp_status == "missing"))

    def test_a_read_out_of_time_and_cut_short_marks_nothing_gone_until_complete(self):
        self.env["ir.config_parameter"].sudo().set_param("csp_connector.page_size", "3")
        self.connection.asset_exclude_defender = False
        device = self.add_device(deviceName="AP-LT-0300")
        self.sync()
        record = self.equipment(device)
        self.sandbox.control("DELETE", f"tenants/{self.t1.tenant_id}/devices/{device['id']}")
        self.added.remove((self.t1.tenant_id, device["id"]))
        http = self.connection._csp_http()

        # out of time after its first page: the read stops there, nothing is gone yet
        late = self.t1.with_context(csp_deadline=time.monotonic() - 1, csp_run_memo={})
        counters = late._csp_sync_assets(http)
        self.assertEqual((counters.get("paused"), counters["deactivated"]), (True, 0))
        self.assertTrue(self.t1._csp_round_get("devices"))
        self.assertNotEqual(record.csp_status, "missing")

        # the next call goes on from there, but a page comes back cut short: the read
        # is not proven complete, nothing is marked gone, and it starts again from its
        # first page next time (its next link does not outlive the failure)
        self.sandbox.fault(service="graph", path="managedDevices", body="cut", times=1,
                           tenant=self.t1.tenant_id)  # fmt: skip
        run = self.connection._csp_sync(trigger="manual", modules=["assets"])
        self.assertEqual((run.state, run.deactivated), ("partial", 0))
        self.assertIn("cut short", self.t1.last_error)
        self.assertNotEqual(record.csp_status, "missing")
        self.assertFalse(self.t1._csp_round_get("devices"))

        # out of time again, then resumed to its end: only now is the device gone
        counters = late._csp_sync_assets(http)
        self.assertEqual((counters.get("paused"), counters["deactivated"]), (True, 0))
        self.assertNotEqual(record.csp_status, "missing")
        counters = self.t1.with_context(csp_run_memo={})._csp_sync_assets(http)
        self.assertNotIn("paused", counters)
        self.assertEqual(counters["deactivated"], 1)
        self.assertEqual(record.csp_status, "missing")
        self.assertFalse(self.t1._csp_round_get("devices"))

    # -- errors, buttons, access ---------------------------------------------------

    def test_forbidden_tenant_is_explained_and_the_others_go_on(self):
        device = self.add_device(self.t2)
        self.sandbox.fault(service="graph", path="managedDevices", status=403,
                           tenant=self.t1.tenant_id)  # fmt: skip
        run = self.connection._csp_sync(trigger="manual", modules=["assets"])
        self.assertEqual(run.state, "partial")
        self.assertIn("Intune refused to list the devices", self.t1.last_error)
        self.assertIn("DeviceManagementManagedDevices.Read.All", run.message)
        self.assertTrue(self.equipment(device, self.t2), "the other tenant was imported")
        # the connection lists the permission the device import needs
        self.assertIn("DeviceManagementManagedDevices.Read.All", self.connection.permissions_html)

    def test_import_now_is_queued_for_one_tenant_and_site(self):
        owned = self.add_device(userPrincipalName=self.ann["userPrincipalName"])
        shared = self.add_device(userPrincipalName=None)
        other = self.add_device(self.t2)
        # pressed by a CSP manager, not the superuser
        tenant = self.t1.with_user(self.manager)
        wizard = (
            self.env["csp.device.import"]
            .with_user(self.manager)
            .with_context(**tenant.action_import_devices()["context"])
            .create({"site_id": self.hq.id})
        )
        action = wizard.action_import()
        run = self.env["csp.sync.run"].browse(action["res_id"])
        self.assertEqual((run.state, run.steps), ("running", "assets"))
        self.assertFalse(self.equipment(owned), "the button runs nothing itself")
        self.env["csp.connection"]._cron_run_integrator()
        self.assertEqual(run.state, "done", run.message)
        self.assertEqual(self.equipment(owned).csp_site_id, self.hq)
        self.assertFalse(self.equipment(shared), "another site")
        self.assertFalse(self.equipment(other, self.t2), "another tenant")
        self.assertFalse(run.line_ids.filtered(lambda line: line.csp_tenant_id == self.t2))
        # a CSP user may not start it
        reader = new_test_user(self.env, login="csp_reader3", groups="csp_connector.group_csp_user")
        with self.assertRaises(AccessError):
            self.t1.with_user(reader).action_import_devices()

    def test_csp_users_see_device_equipment_only(self):
        device = self.add_device()
        self.sync()
        by_hand = self.Equipment.create({"name": "Coffee machine"})
        user = new_test_user(self.env, login="csp_tech2", groups="csp_connector.group_csp_user")
        visible = self.Equipment.with_user(user).search([])
        self.assertIn(self.equipment(device), visible)
        self.assertNotIn(by_hand, visible, "Odoo's maintenance rules")
        by_hand.message_subscribe(partner_ids=user.partner_id.ids)
        self.assertIn(by_hand, self.Equipment.with_user(user).search([]), "followers see it")


@tagged("post_install", "-at_install")
class TestCodeOnlyEquipment(HttpCase):
    """What Intune reports about a device is the import's alone: each code-only field of
    each model this add-on puts on the core's guard is refused over RPC to a CSP manager
    who manages equipment (status, user and site stay theirs to change)."""

    def test_every_code_only_field_is_refused_over_rpc_for_a_manager(self):
        manager = new_test_user(
            self.env, login="csp_equipment_mgr",
            groups="csp_connector.group_csp_manager,maintenance.group_equipment_manager",
        )  # fmt: skip
        laptop = code_env(self.env["maintenance.equipment"]).create({"name": "Laptop"})
        records = {"maintenance.equipment": laptop}
        self.assertEqual(set(records), models_guarded_by(self.env, "csp_connector_assets"))
        self.authenticate("csp_equipment_mgr", "csp_equipment_mgr")
        self.assertEqual(assert_code_only_fields_refused(self, records, manager), 13)
        # what stays a person's to change
        self.make_jsonrpc_request(
            "/web/dataset/call_kw/maintenance.equipment/write",
            {"model": "maintenance.equipment", "method": "write",
             "args": [[laptop.id], {"name": "Renamed laptop"}], "kwargs": {}},
        )  # fmt: skip
        self.assertEqual(laptop.name, "Renamed laptop")
