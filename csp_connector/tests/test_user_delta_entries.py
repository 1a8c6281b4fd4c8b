# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The user sync on delta answers shaped as Microsoft documents them: entries with only
the changed properties, a large group's members over several pages, soft and hard
deletions and restores, users without a name, and one user Odoo cannot store."""

from odoo.tests import tagged

from .common import CspSandboxCase

SKU_E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"


@tagged("post_install", "-at_install")
class TestUserDeltaEntries(CspSandboxCase):
    sandbox_tenants = 4

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_customer_tenants("Harrow & Vale")
        cls.tenant = cls.t1
        cls.Mapping = cls.env["csp.site.mapping"]

    def setUp(self):
        super().setUp()
        self.map_users_to(self.tenant, self.customer)

    # -- helpers ---------------------------------------------------------------

    def path(self, *parts):
        return "/".join(["tenants", self.tenant.tenant_id, *parts])

    def add_user(self, local, **values):
        domain = self.tenant.verified_domains.split()[0]
        body = {"userPrincipalName": f"{local}@{domain}", "mail": f"{local}@{domain}",
                "accountEnabled": True, **values}  # fmt: skip
        return self.sandbox.control("POST", self.path("users"), body)

    def sync(self):
        run = self.connection._csp_sync(trigger="manual", modules=["users"])
        self.assertNotEqual(run.state, "failed", run.message)
        return run

    def binding(self, user):
        return self.env["csp.user.binding"].search(
            [("csp_tenant_id", "=", self.tenant.id), ("microsoft_id", "=", user["id"])]
        )

    def contact(self, user):
        return self.binding(user).partner_id.with_context(active_test=False)

    def line(self, run):
        return run.line_ids.filtered(lambda line: line.csp_tenant_id == self.tenant)

    # -- tests -------------------------------------------------------------------

    def test_a_partial_update_changes_only_what_it_carries(self):
        self.connection.write({"user_licence_rule": "include", "user_licence_skus": SKU_E3})
        user = self.add_user(
            "nia.brook", displayName="Nia Brook", jobTitle="Buyer", mobilePhone="+44 7700 900555",
            businessPhones=["+44 113 496 0000"],
            assignedLicenses=[{"skuId": SKU_E3, "disabledPlans": []}],
        )  # fmt: skip
        self.sync()
        self.assertTrue(self.tenant.users_delta_link)
        contact = self.contact(user)
        self.assertEqual(contact.function, "Buyer")

        self.sandbox.control("PATCH", self.path("users", user["id"]), {"jobTitle": "Head Buyer"})
        before = self.env["csp.request.log"].search([], limit=1).id
        self.sync()
        answers = self.env["csp.request.log"].search(
            [("id", ">", before), ("url", "like", "/users/delta")]
        )
        self.assertTrue(answers, "read through delta, whose entry holds the job title only")
        # the entry carried the job title only: everything else is kept, and the
        # licence it did not carry does not fail the 'include' rule
        self.assertEqual(
            (contact.name, contact.email, contact.function, contact.mobile, contact.phone,
             contact.active),
            ("Nia Brook", user["mail"], "Head Buyer", "+44 7700 900555", "+44 113 496 0000", True),
        )  # fmt: skip
        binding = self.binding(user)
        self.assertEqual((binding.upn, binding.sku_ids), (user["userPrincipalName"], SKU_E3))

        # a cleared property comes as null and clears
        self.sandbox.control("PATCH", self.path("users", user["id"]), {"mobilePhone": None})
        self.sync()
        self.assertFalse(contact.mobile)
        self.assertEqual(contact.function, "Head Buyer")

    def test_a_partial_entry_of_a_user_never_imported_reads_the_whole_user(self):
        self.connection.write({"user_licence_rule": "include", "user_licence_skus": SKU_E3})
        user = self.add_user("omar.reyes", displayName="Omar Reyes", jobTitle="Driver")
        self.sync()
        self.assertFalse(self.contact(user), "no licence: not imported")
        self.sandbox.control(
            "PATCH", self.path("users", user["id"]),
            {"assignedLicenses": [{"skuId": SKU_E3, "disabledPlans": []}]},
        )  # fmt: skip
        self.sync()
        contact = self.contact(user)
        self.assertEqual((contact.name, contact.email, contact.function),
                         ("Omar Reyes", user["mail"], "Driver"))  # fmt: skip

    def test_soft_and_hard_deletions_and_a_restore(self):
        soft = self.add_user("ana.soft", displayName="Ana Soft")
        hard = self.add_user("hal.hard", displayName="Hal Hard")
        self.sync()
        contacts = self.env["res.partner"].with_context(active_test=False)
        count = contacts.search_count([("parent_id", "=", self.customer.id)])
        self.sandbox.control("DELETE", self.path("users", soft["id"]))
        self.sandbox.control("DELETE", self.path("users", hard["id"]) + "?permanent=true")
        self.sync()
        self.assertFalse(self.contact(soft).active, "in deleted items: archived")
        self.assertFalse(self.contact(hard).active, "gone for good: archived, never deleted")
        self.assertFalse(self.binding(hard).graph_values, "nothing to merge into any more")
        self.assertTrue(self.binding(soft).graph_values)

        self.sandbox.control("POST", self.path("users", soft["id"], "restore"))
        self.sync()
        restored = self.contact(soft)
        self.assertTrue(restored.active, "a restored user's contact comes back")
        self.assertEqual(restored.name, "Ana Soft")
        self.assertEqual(
            contacts.search_count([("parent_id", "=", self.customer.id)]), count, "no second one"
        )

    def test_a_large_groups_members_over_several_pages_all_count(self):
        self.sandbox.control("PATCH", f"tenants/{self.tenant.tenant_id}",
                             {"delta_members_per_entry": 2})  # fmt: skip
        members = [self.add_user(f"crew.{n}", displayName=f"Crew {n}") for n in range(7)]
        group = self.sandbox.control("POST", self.path("groups"), {"displayName": "Night crew"})
        self.sandbox.control("PATCH", self.path("groups", group["id"]),
                             {"members": [m["id"] for m in members]})  # fmt: skip
        self.tenant.action_reset_users()
        self.env["csp.azure.group"].search([("csp_tenant_id", "=", self.tenant.id)]).unlink()
        self.tenant.sudo().groups_delta_link = False  # as the code does
        self.sync()
        stored = self.env["csp.azure.group"].search([("microsoft_id", "=", group["id"])])
        self.assertEqual(stored.member_count, 7, "a full round keeps every slice")
        self.assertEqual(stored.name, "Night crew", "later slices carry no name")

        # a later round: one member leaves, three join, in several entries too
        newcomers = [self.add_user(f"late.{n}", displayName=f"Late {n}") for n in range(3)]
        self.sandbox.control(
            "PATCH", self.path("groups", group["id"]),
            {"members": [m["id"] for m in members[1:] + newcomers]},
        )  # fmt: skip
        graph = self.connection._csp_graph(self.connection._csp_http(), self.tenant.tenant_id)
        self.env["csp.azure.group"]._csp_sync_groups(self.tenant, graph)
        self.assertEqual(stored.member_count, 9)

    def test_users_without_a_name_and_one_bad_user(self):
        # a contact type Odoo does not have: the one value Odoo refuses to store
        self.env["csp.field.mapping"].create(
            {"connection_id": self.connection.id, "azure_field": "onPremisesSamAccountName",
             "field_id": self.env["ir.model.fields"]._get("res.partner", "type").id}
        )  # fmt: skip
        plain = self.add_user("svc.backup")  # no display name, given name or surname
        given = self.add_user("lee.given", givenName="Lee", surname="Given")
        bad = self.add_user("bad.data", displayName="Bad Data", onPremisesSamAccountName="boss")
        # NUL (PostgreSQL refuses it) and bidirectional overrides (a name that reads
        # otherwise than it is) are cleaned before anything is stored
        tricky = self.add_user(
            "tricky", displayName="Ann\x00 Lee\u202e\u2066", jobTitle="Clerk\x07",
        )  # fmt: skip
        run = self.sync()
        self.assertEqual(self.contact(plain).name, plain["userPrincipalName"])
        self.assertEqual(self.contact(given).name, "Lee Given")
        self.assertEqual((self.contact(tricky).name, self.contact(tricky).function),
                         ("Ann Lee", "Clerk"))  # fmt: skip
        self.assertFalse(self.contact(bad), "the one user Odoo cannot store")
        line = self.line(run)
        self.assertEqual((line.state, line.error_count), ("done", 1))
        self.assertIn(bad["userPrincipalName"], line.message)
        self.assertIn("other users were imported", line.message)
        self.assertGreater(line.created, 0)
        self.assertTrue(self.tenant.users_delta_link)

    def test_a_changed_user_that_cannot_be_read_by_id_is_counted_and_explained(self):
        self.connection.write({"user_licence_rule": "include", "user_licence_skus": SKU_E3})
        user = self.add_user("gone.soon", displayName="Gone Soon")
        self.sync()
        self.assertFalse(self.contact(user), "no licence: not imported, no binding")
        self.sandbox.control(
            "PATCH", self.path("users", user["id"]),
            {"assignedLicenses": [{"skuId": SKU_E3, "disabledPlans": []}]},
        )  # fmt: skip
        # the partial delta entry names the user, whose read by id finds nothing (the
        # delta page itself goes through)
        tenant = self.tenant.tenant_id
        self.sandbox.fault(service="graph", path="/v1.0/users/delta", tenant=tenant, times=1)
        self.sandbox.fault(service="graph", path="/v1.0/users", body="drop:1", tenant=tenant,
                           times=1)  # fmt: skip
        run = self.sync()
        line = self.line(run)
        self.assertFalse(self.contact(user))
        self.assertGreaterEqual(line.skipped, 1)
        self.assertIn("could not be read by object id", line.message)
        self.assertIn(user["id"], line.message)
