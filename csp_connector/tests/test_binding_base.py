# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Users and groups on the binding base (csp.binding.mixin): created, updated,
archived (never deleted) and restored by the sync; one binding per Microsoft id and
tenant; the raw UPDATE of user bindings stays safe."""

import psycopg2

from odoo import models
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..models.csp_guard import CspCodeGuard
from .common import CspSandboxCase

OLD = "2000-01-01 00:00:00"


@tagged("post_install", "-at_install")
class TestBindingBase(CspSandboxCase):
    sandbox_tenants = 4

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_customer_tenants("Fenwick Mill")
        cls.tenant = cls.t1
        cls.map_users_to(cls.tenant, cls.customer)

    def path(self, *parts):
        return "/".join(["tenants", self.tenant.tenant_id, *parts])

    def sync_users(self):
        run = self.connection._csp_sync(trigger="manual", modules=["users"])
        line = run.line_ids.filtered(lambda li: li.csp_tenant_id == self.tenant)
        self.assertEqual(line.state, "done", line.message)
        return line

    def sync_groups(self):
        graph = self.connection._csp_graph(self.connection._csp_http(), self.tenant.tenant_id)
        self.assertTrue(self.env["csp.azure.group"]._csp_sync_groups(self.tenant, graph))

    def age(self, records):
        """Stamp `records` as written long ago: a write by the sync shows."""
        self.env.flush_all()
        self.env.cr.execute(
            f"UPDATE {records._table} SET write_date = %s WHERE id IN %s",
            [OLD, tuple(records.ids)],
        )
        records.invalidate_recordset(["write_date"])

    def assertUntouched(self, records):
        self.assertEqual({str(d) for d in records.mapped("write_date")}, {OLD})

    def test_groups_are_created_updated_and_archived_never_deleted(self):
        Group = self.env["csp.azure.group"].with_context(active_test=False)
        domain = self.tenant.verified_domains.split()[0]
        user = self.sandbox.control(
            "POST", self.path("users"), {"userPrincipalName": f"ida@{domain}", "displayName": "Ida"}
        )
        created = self.sandbox.control("POST", self.path("groups"), {"displayName": "Drivers"})
        self.sandbox.control("PATCH", self.path("groups", created["id"]), {"members": [user["id"]]})
        self.sync_groups()
        group = Group.search([("microsoft_id", "=", created["id"])])
        self.assertEqual(
            (group.name, group.csp_tenant_id, group.connection_id, group.removed),
            ("Drivers", self.tenant, self.connection, False),
        )
        self.assertTrue(group.fingerprint)
        self.assertEqual(Group._csp_memberships(self.tenant)[user["id"]], {created["id"]})
        # nothing changed in Microsoft: nothing written
        everything = Group.search([("csp_tenant_id", "=", self.tenant.id)])
        self.age(everything)
        self.sync_groups()
        self.assertUntouched(everything)
        # renamed: that group alone is written
        self.sandbox.control("PATCH", self.path("groups", created["id"]), {"displayName": "Crew"})
        self.sync_groups()
        self.assertEqual(group.name, "Crew")
        self.assertUntouched(everything - group)
        # deleted in Microsoft: archived (removed, dated), no longer a membership
        self.sandbox.control("DELETE", self.path("groups", created["id"]))
        self.sync_groups()
        self.assertTrue(group.exists())
        self.assertTrue(group.removed)
        self.assertTrue(group.removed_date)
        self.assertNotIn(user["id"], Group._csp_memberships(self.tenant))
        # one binding per Microsoft id and tenant
        twin = {"connection_id": self.connection.id, "csp_tenant_id": self.tenant.id,
                "microsoft_id": created["id"], "name": "Twin"}  # fmt: skip
        with (
            mute_logger("odoo.sql_db"),
            self.assertRaises(psycopg2.IntegrityError),
            self.env.cr.savepoint(),
        ):
            Group.create(twin)

    def test_users_are_created_updated_archived_and_restored(self):
        Binding = self.env["csp.user.binding"].with_context(active_test=False)
        domain = self.tenant.verified_domains.split()[0]
        user = self.sandbox.control(
            "POST", self.path("users"),
            {"userPrincipalName": f"olu@{domain}", "mail": f"olu@{domain}",
             "displayName": "Olu Ade", "jobTitle": "Driver", "accountEnabled": True},
        )  # fmt: skip
        self.sync_users()
        binding = Binding.search([("microsoft_id", "=", user["id"])])
        self.assertEqual(
            (binding.csp_tenant_id, binding.connection_id), (self.tenant, self.connection)
        )
        self.assertEqual(binding.partner_id.function, "Driver")
        printed = binding.fingerprint
        self.assertTrue(printed)
        # updated: the contact and the fingerprint follow Microsoft
        self.sandbox.control("PATCH", self.path("users", user["id"]), {"jobTitle": "Dispatcher"})
        line = self.sync_users()
        self.assertEqual(line.updated, 1)
        self.assertEqual(binding.partner_id.function, "Dispatcher")
        self.assertNotEqual(binding.fingerprint, printed)
        # deleted: binding marked removed (dated), contact archived, nothing deleted
        self.sandbox.control("DELETE", self.path("users", user["id"]))
        line = self.sync_users()
        self.assertEqual(line.deactivated, 1)
        self.assertTrue(binding.removed)
        self.assertTrue(binding.removed_date)
        self.assertFalse(binding.partner_id.active)
        # restored in Microsoft: the same binding and contact come back
        self.sandbox.control("POST", self.path("users", user["id"], "restore"))
        self.sync_users()
        self.assertFalse(binding.removed)
        self.assertFalse(binding.removed_date)
        self.assertTrue(binding.partner_id.active)
        self.assertEqual(Binding.search_count([("microsoft_id", "=", user["id"])]), 1)

    def test_raw_update_of_user_bindings_stays_safe(self):
        """The importer writes the columns a binding model lists in
        _csp_raw_update_fields with raw SQL: it would skip a stored computed field
        depending on them, or a write() override. Either fails here."""
        listing = [
            name for name in sorted(self.registry["csp.binding.mixin"]._inherit_children)
            if not self.registry[name]._abstract
        ]  # fmt: skip
        self.assertIn("csp.user.binding", listing)
        guard = {  # the code-only fields' guard: its write() sees every value
            cls.__name__
            for cls in type(self.env["csp.code.guard"]).__mro__
            if "write" in vars(cls) and cls is not models.BaseModel
        }
        self.assertTrue(guard)
        for name in listing:
            Binding = self.env[name]
            raw = Binding._csp_raw_update_fields
            for field_name in raw:
                field = Binding._fields[field_name]
                self.assertTrue(field.store and not field.compute and not field.related, field_name)
                dependents = [f for f in self.registry.get_dependent_fields(field) if f.store]
                self.assertFalse(dependents, f"{field_name} has dependents: the UPDATE skips them")
            self.assertFalse(raw & getattr(Binding, "_csp_code_only_fields", frozenset)())
            if not raw:
                continue
            overrides = {
                cls
                for cls in type(Binding).__mro__
                if "write" in vars(cls) and cls is not models.BaseModel
            }
            self.assertEqual(
                {cls.__name__ for cls in overrides}, guard,
                f"a write() override on {name}: list what it must see, or keep the ORM",
            )  # fmt: skip

    def test_raw_insert_of_bindings_stays_safe(self):
        """A binding model with _csp_raw_insert gets its new rows from one SQL INSERT
        (BindingImporter._insert_rows): it fills the company itself and the ORM's
        stamps, nothing else. A default, another stored computed field, a translated
        column or a create() override would be skipped: each fails here."""
        listing = [
            name for name in sorted(self.registry["csp.binding.mixin"]._inherit_children)
            if not self.registry[name]._abstract and self.registry[name]._csp_raw_insert
        ]  # fmt: skip
        magic = {"id", "create_uid", "create_date", "write_uid", "write_date"}
        for name in listing:
            Binding = self.env[name]
            for field_name, field in Binding._fields.items():
                if not field.store or field_name in magic:
                    continue
                if field_name == "company_id":
                    self.assertEqual(field.related, "connection_id.company_id")
                    continue
                self.assertFalse(field.compute or field.related, f"{name}.{field_name}")
                self.assertIsNone(field.default, f"{name}.{field_name} has a default")
                self.assertFalse(getattr(field, "translate", False), f"{name}.{field_name}")
            overrides = {
                cls.__name__
                for cls in type(Binding).__mro__
                if "create" in vars(cls) and cls is not models.BaseModel
            }
            self.assertLessEqual(
                overrides, {CspCodeGuard.__name__},
                f"a create() override on {name}: keep the ORM's create",
            )  # fmt: skip
