# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Azure users -> contacts: site mappings, filters, matching, full and delta sync."""

from odoo.tests import tagged

from ..microsoft import auth
from .common import CspSandboxCase

SKU_E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"


@tagged("post_install", "-at_install")
class TestUsers(CspSandboxCase):
    sandbox_tenants = 6

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_customer_tenants()
        (cls.t1 | cls.t2).partner_id = cls.customer
        cls.Mapping = cls.env["csp.site.mapping"]
        cls.staff_tag = cls.env["res.partner.category"].create({"name": "Microsoft user"})

    # -- helpers ---------------------------------------------------------------

    def add_user(self, tenant, name, **values):
        first, last = name.lower().split()
        domain = tenant.verified_domains.split()[0]
        body = {
            "userPrincipalName": f"{first}.{last}@{domain}",
            "displayName": name,
            "mail": f"{first}.{last}@{domain}",
            "accountEnabled": True,
            **values,
        }
        return self.sandbox.control("POST", f"tenants/{tenant.tenant_id}/users", body)

    def map_everyone_to_the_customer(self):
        self.Mapping.create(
            {"connection_id": self.connection.id, "kind": "site",
             "customer_id": self.customer.id, "site_id": self.customer.id}
        )  # fmt: skip

    def patch_user(self, tenant, user, **values):
        return self.sandbox.control(
            "PATCH", f"tenants/{tenant.tenant_id}/users/{user['id']}", values
        )

    def sync(self):
        run = self.connection._csp_sync(trigger="manual", modules=["users"])
        self.assertNotIn(run.state, ("failed",), run.message)
        return run

    def contact(self, tenant, user):
        binding = self.env["csp.user.binding"].search(
            [("csp_tenant_id", "=", tenant.id), ("microsoft_id", "=", user["id"])]
        )
        return binding.partner_id.with_context(active_test=False)

    def graph_calls(self, since_id, tenant):
        return self.env["csp.request.log"].search(
            [("id", ">", since_id), ("service", "=", "graph"), ("tenant_id", "=", tenant.tenant_id)]
        )

    def last_log_id(self):
        return self.env["csp.request.log"].search([], limit=1).id

    # -- tests -------------------------------------------------------------------

    def test_mapping_kinds_sequence_and_filters_on_two_tenants(self):
        hr = self.add_user(self.t1, "Olive Hart", department="HR", officeLocation="Leeds")
        leeds = self.add_user(self.t1, "Ada Stone", department="Sales", officeLocation="Leeds")
        york = self.add_user(self.t1, "Ben Frost", department="Sales", officeLocation="York")
        guest = self.add_user(
            self.t1, "Gus Guest", userType="Guest",
            userPrincipalName=f"gus_x.com#EXT#@{self.t1.default_domain}",
        )  # fmt: skip
        other = self.add_user(self.t2, "Kai Moana", department="Sales", officeLocation="Perth")
        skip = self.Mapping.create(
            {"connection_id": self.connection.id, "sequence": 5, "kind": "skip",
             "filter_ids": [(0, 0, {"azure_field": "department", "operator": "equals",
                                    "value": "hr"})]}
        )  # fmt: skip
        self.Mapping.create(
            {"connection_id": self.connection.id, "sequence": 10, "kind": "field_sites",
             "customer_id": self.customer.id, "azure_field": "officeLocation",
             "tenant_ids": [(6, 0, self.t1.ids)]}
        )  # fmt: skip
        self.Mapping.create(
            {"connection_id": self.connection.id, "sequence": 20, "kind": "site",
             "customer_id": self.customer.id, "site_id": self.customer.id,
             "tenant_ids": [(6, 0, self.t2.ids)], "tag_ids": [(6, 0, self.staff_tag.ids)]}
        )  # fmt: skip
        run = self.sync()
        self.assertFalse(self.contact(self.t1, hr), "the skip mapping comes first")
        self.assertFalse(self.contact(self.t1, guest), "external users are left out")
        leeds_site = self.contact(self.t1, leeds).parent_id
        self.assertEqual((leeds_site.name, leeds_site.parent_id), ("Leeds", self.customer))
        self.assertEqual(self.contact(self.t1, york).parent_id.name, "York")
        kai = self.contact(self.t2, other)
        self.assertEqual(kai.parent_id, self.customer)
        self.assertEqual(kai.commercial_partner_id, self.customer)
        self.assertIn(self.staff_tag, kai.category_id)
        self.assertEqual(kai.email, other["mail"])
        self.assertGreater(run.created, 5)
        # one site per value, created once for both tenants' users
        self.assertEqual(
            self.env["res.partner"].search_count(
                [("parent_id", "=", self.customer.id), ("name", "=", "Leeds")]
            ),
            1,
        )
        # precedence: the skip mapping moved after the site mapping no longer applies
        skip.sequence = 30
        self.connection.action_reset_users()
        self.sync()
        self.assertEqual(self.contact(self.t1, hr).parent_id.name, "Leeds")

    def test_group_property_filters_values_external_and_roles(self):
        admins_group = self.sandbox.control(
            "POST", f"tenants/{self.t1.tenant_id}/groups", {"displayName": "Portal users"}
        )
        vip = self.add_user(self.t1, "Vera Peak", jobTitle="Director")
        plain = self.add_user(self.t1, "Paul Plain", jobTitle="Clerk")
        guest = self.add_user(
            self.t1, "Gina Guest", userType="Guest", mail="gina@partner.example",
            userPrincipalName=f"gina_partner.example#EXT#@{self.t1.default_domain}",
        )  # fmt: skip
        self.sandbox.control(
            "PATCH", f"tenants/{self.t1.tenant_id}/groups/{admins_group['id']}",
            {"members": [vip["id"]]},
        )  # fmt: skip
        self.sync()  # reads the groups, so that mappings can use them
        group = self.env["csp.azure.group"].search([("microsoft_id", "=", admins_group["id"])])
        self.assertEqual(group.member_count, 1)
        site = self.env["res.partner"].create(
            {"name": "Head office", "parent_id": self.customer.id, "type": "other",
             "city": "Director"}
        )  # fmt: skip
        ref_field = self.env["ir.model.fields"]._get("res.partner", "ref")
        self.Mapping.create(
            {"connection_id": self.connection.id, "sequence": 1, "kind": "site",
             "customer_id": self.customer.id, "site_id": site.id,
             "group_ids": [(6, 0, group.ids)], "grant_portal": True,
             "value_ids": [(0, 0, {"field_id": ref_field.id, "value": "VIP",
                                   "group_id": group.id})]}
        )  # fmt: skip
        self.Mapping.create(
            {"connection_id": self.connection.id, "sequence": 2, "kind": "site",
             "customer_id": self.customer.id, "include_external": True,
             "filter_ids": [(0, 0, {"azure_field": "userType", "operator": "equals",
                                    "value": "guest"})]}
        )  # fmt: skip
        self.Mapping.create(
            {"connection_id": self.connection.id, "sequence": 3, "kind": "match",
             "customer_id": self.customer.id, "azure_field": "jobTitle",
             "site_field": "city", "tenant_ids": [(6, 0, self.t1.ids)]}
        )  # fmt: skip
        self.connection.action_reset_users()
        self.sync()
        vera = self.contact(self.t1, vip)
        self.assertEqual((vera.parent_id, vera.ref), (site, "VIP"))
        self.assertTrue(vera.user_ids.has_group("base.group_portal"), "role: portal access")
        self.assertEqual(self.contact(self.t1, guest).parent_id, self.customer)
        # match by field: no site has city 'Clerk' and there is no default: skipped
        self.assertFalse(self.contact(self.t1, plain))

    def test_joiners_leavers_renames_moves_and_licences_through_delta(self):
        self.Mapping.create(
            {"connection_id": self.connection.id, "kind": "field_sites",
             "customer_id": self.customer.id, "azure_field": "officeLocation"}
        )  # fmt: skip
        mover = self.add_user(self.t1, "Mo Ver", officeLocation="Leeds")
        leaver = self.add_user(self.t1, "Lee Ver", officeLocation="Leeds")
        licensed = self.add_user(self.t1, "Lic Ensed", officeLocation="Leeds")
        self.sync()
        self.assertTrue(self.t1.users_delta_link)
        full_calls = self.graph_calls(0, self.t1)
        self.assertTrue(full_calls.filtered(lambda r: "/v1.0/users?" in r.url))

        joiner = self.add_user(self.t1, "Jo Iner", officeLocation="York")
        self.sandbox.control("DELETE", f"tenants/{self.t1.tenant_id}/users/{leaver['id']}")
        self.patch_user(self.t1, mover, displayName="Mo Moved", officeLocation="York")
        self.connection.write({"user_licence_rule": "exclude", "user_licence_skus": SKU_E3})
        self.patch_user(
            self.t1, licensed, assignedLicenses=[{"skuId": SKU_E3, "disabledPlans": []}]
        )
        before = self.last_log_id()
        run = self.sync()
        delta_calls = self.graph_calls(before, self.t1)
        self.assertTrue(all("/delta" in r.url for r in delta_calls), delta_calls.mapped("url"))
        self.assertEqual(self.contact(self.t1, joiner).parent_id.name, "York")
        self.assertFalse(self.contact(self.t1, leaver).active, "leavers are archived")
        self.assertTrue(self.contact(self.t1, leaver).exists(), "never deleted")
        moved = self.contact(self.t1, mover)
        self.assertEqual((moved.name, moved.parent_id.name), ("Mo Moved", "York"))
        self.assertFalse(self.contact(self.t1, licensed).active, "excluded by licence")
        self.assertGreaterEqual(run.deactivated, 2)

        # a run with no change writes nothing and asks Graph once per tenant
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE res_partner SET write_date = '2000-01-01' WHERE commercial_partner_id = %s",
            [self.customer.id],
        )
        self.env.cr.execute("UPDATE csp_user_binding SET write_date = '2000-01-01'")
        self.env.cr.execute("UPDATE csp_tenant SET write_date = '2000-01-01'")
        self.env.invalidate_all()
        before = self.last_log_id()
        quiet = self.sync()
        self.env.flush_all()
        for table in ("res_partner", "csp_user_binding", "csp_tenant"):
            self.env.cr.execute(
                f"SELECT count(*) FROM {table} WHERE write_date > '2000-01-01'"
                + (" AND commercial_partner_id = %s" if table == "res_partner" else ""),
                [self.customer.id] if table == "res_partner" else [],
            )
            self.assertEqual(self.env.cr.fetchone()[0], 0, f"{table} was written")
        self.assertEqual((quiet.created, quiet.updated, quiet.deactivated), (0, 0, 0))
        for tenant in (self.t1, self.t2):
            self.assertLessEqual(len(self.graph_calls(before, tenant)), 2)

    def test_leavers_lose_the_portal_access_the_sync_granted(self):
        self.Mapping.create(
            {"connection_id": self.connection.id, "kind": "site", "grant_portal": True,
             "customer_id": self.customer.id, "site_id": self.customer.id}
        )  # fmt: skip
        leaver = self.add_user(self.t1, "Port Leaver")
        stayer = self.add_user(self.t1, "Port Stayer")
        self.sync()
        gone, kept = self.contact(self.t1, leaver), self.contact(self.t1, stayer)
        portal = gone.user_ids
        self.assertTrue(portal.has_group("base.group_portal"))
        binding = self.env["csp.user.binding"].search([("partner_id", "=", gone.id)])
        self.assertEqual(binding.portal_user_id, portal)
        # someone archives the stayer's portal user by hand: the sync leaves it so
        kept.user_ids.action_archive()

        self.sandbox.control("DELETE", f"tenants/{self.t1.tenant_id}/users/{leaver['id']}")
        self.sync()
        self.assertTrue(binding.removed)
        self.assertFalse(portal.active, "a leaver cannot sign in to the portal any more")
        self.assertTrue(gone.active, "the contact of a (portal) user is never archived")
        self.assertFalse(kept.with_context(active_test=False).user_ids.active)

        self.sandbox.control("POST", f"tenants/{self.t1.tenant_id}/users/{leaver['id']}/restore")
        self.sync()
        self.assertFalse(binding.removed)
        self.assertTrue(portal.active, "back in Azure: the portal access the sync took comes back")
        self.assertFalse(binding.portal_revoked)
        self.assertFalse(
            kept.with_context(active_test=False).user_ids.active, "archived by hand: stays so"
        )

    def test_expired_delta_link_triggers_a_full_resync(self):
        self.map_everyone_to_the_customer()
        self.sync()
        late = self.add_user(self.t1, "Lat Ecomer")
        self.sandbox.control("POST", "clock", {"advance_seconds": 8 * 86400})
        self.addCleanup(self.sandbox.control, "POST", "clock", {"advance_seconds": -8 * 86400})
        # the app tokens were issued before the clock's jump
        auth.forget_app_tokens()
        before = self.last_log_id()
        self.sync()
        calls = self.graph_calls(before, self.t1)
        self.assertIn(410, calls.mapped("status"))
        self.assertTrue(calls.filtered(lambda r: "/v1.0/users?" in r.url), "full resync")
        self.assertTrue(self.contact(self.t1, late))
        self.assertIn("expired", self.t1.message_ids[:1].body)

    def test_reset_and_latest_buttons(self):
        self.map_everyone_to_the_customer()
        self.sync()
        skipped = self.add_user(self.t1, "Ski Pped")
        self.t1.action_latest_users()  # forget what happened until now
        later = self.add_user(self.t1, "Lat Er")
        self.sync()
        self.assertFalse(self.contact(self.t1, skipped), "changes before 'latest' are skipped")
        self.assertTrue(self.contact(self.t1, later))
        self.t1.action_reset_users()
        self.assertFalse(self.t1.users_delta_link)
        self.sync()
        self.assertTrue(self.contact(self.t1, skipped), "a full sync reads every user")

    def test_matching_by_email_and_upn_binds_existing_contacts(self):
        self.map_everyone_to_the_customer()
        self.connection.user_match_field = "upn"
        by_upn = self.add_user(self.t2, "Up Nmatch", mail=None)
        known_upn = self.env["res.partner"].create(
            {"name": "Upn Person", "parent_id": self.customer.id,
             "email": by_upn["userPrincipalName"]}
        )  # fmt: skip
        self.sync()
        self.assertEqual(self.contact(self.t2, by_upn), known_upn)
        self.assertEqual(known_upn.name, "Up Nmatch")

        self.connection.user_match_field = "email"
        domain = self.t1.verified_domains.split()[0]
        by_mail = self.add_user(self.t1, "Em Ail", mail=f"emma.alias@{domain}")
        known_mail = self.env["res.partner"].create(
            {"name": "Emma (typed by hand)", "parent_id": self.customer.id,
             "email": f"EMMA.ALIAS@{domain}"}
        )  # fmt: skip
        self.sync()
        self.assertEqual(self.contact(self.t1, by_mail), known_mail)
        self.assertEqual(known_mail.name, "Em Ail")
        # nothing was duplicated, and a second run changes nothing
        contacts = self.env["res.partner"].search(
            [("commercial_partner_id", "=", self.customer.id)]
        )
        self.assertEqual(len(contacts.filtered(lambda p: p.name in ("Em Ail", "Up Nmatch"))), 2)
        rerun = self.sync()
        self.assertEqual((rerun.created, rerun.updated), (0, 0))

    def test_object_id_matching_is_stable_across_renames(self):
        self.map_everyone_to_the_customer()
        user = self.add_user(self.t1, "Ren Ame")
        self.sync()
        first = self.contact(self.t1, user)
        self.patch_user(self.t1, user, displayName="Ren Amed", mail="other@example.com")
        self.sync()
        self.assertEqual(self.contact(self.t1, user), first)
        self.assertEqual((first.name, first.email), ("Ren Amed", "other@example.com"))

    def test_a_contact_deleted_in_odoo_is_made_again_on_the_same_binding(self):
        self.map_everyone_to_the_customer()
        user = self.add_user(self.t1, "Del Eted")
        self.sync()
        binding = self.env["csp.user.binding"].search([("microsoft_id", "=", user["id"])])
        binding.partner_id.unlink()  # by hand: the binding stays, bound to nothing
        self.assertFalse(binding.partner_id)
        self.patch_user(self.t1, user, jobTitle="Returns clerk")
        run = self.sync()
        self.assertEqual((run.created, run.updated), (1, 0))
        self.assertEqual(
            self.env["csp.user.binding"].search([("microsoft_id", "=", user["id"])]), binding
        )
        self.assertEqual(
            (binding.partner_id.name, binding.partner_id.function, binding.partner_id.parent_id),
            ("Del Eted", "Returns clerk", self.customer),
        )
        # and from then on it is that contact that follows the user
        self.patch_user(self.t1, user, jobTitle="Dispatcher")
        self.assertEqual(self.sync().updated, 1)
        self.assertEqual(binding.partner_id.function, "Dispatcher")

    def test_last_sign_in_needs_p1_and_never_blocks_the_import(self):
        self.map_everyone_to_the_customer()
        self.connection.user_import_sign_in = True
        no_p1 = self.sandbox.state()["special"]["no_p1"]
        plain_tenant, p1_tenant = (self.t2, self.t1) if self.t2.tenant_id in no_p1 else (
            self.t1, self.t2)  # fmt: skip
        self.assertNotIn(p1_tenant.tenant_id, no_p1)
        self.sync()
        self.assertIn("P1", plain_tenant.message_ids[:1].body)
        plain_users = self.env["csp.user.binding"].search([("csp_tenant_id", "=", plain_tenant.id)])
        self.assertTrue(plain_users, "users of a tenant without P1 still import")
        self.assertFalse(any(plain_users.mapped("last_sign_in")))
        p1_users = self.env["csp.user.binding"].search([("csp_tenant_id", "=", p1_tenant.id)])
        self.assertTrue(any(p1_users.mapped("last_sign_in")))

    def test_generated_and_automatic_site_mappings(self):
        self.connection.action_generate_site_mappings()
        generated = self.connection.site_mapping_ids
        self.assertEqual(generated.tenant_ids, self.t1 | self.t2)
        self.assertEqual(set(generated.mapped("site_id")), {self.customer})
        self.connection.action_generate_site_mappings()  # nothing twice
        self.assertEqual(self.connection.site_mapping_ids, generated)
        # mapping a further tenant adds its mapping when the option is on
        self.connection.auto_site_mapping = True
        other = self.connection.tenant_ids.filtered(
            lambda t: t.mapping_state == "unmapped" and t.consent_state == "granted"
        )[:1]
        customer = self.env["res.partner"].create({"name": "Other customer", "is_company": True})
        other.partner_id = customer
        added = self.connection.site_mapping_ids - generated
        self.assertEqual((added.tenant_ids, added.site_id), (other, customer))
        user = self.add_user(other, "New Comer")
        self.sync()
        self.assertEqual(self.contact(other, user).parent_id, customer)
