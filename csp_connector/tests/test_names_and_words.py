# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Screens in the user's words, against the sandbox: records named for what they are,
licences and tenants by name, Microsoft's values in words, free SKUs out of the totals,
refusals with their dates, the tenant's smart buttons, a run's errors once each, the
Odoo.com sign-in turned off on request and a licence assigned from a contact."""

import re
from datetime import timedelta

from lxml import etree

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tools.safe_eval import safe_eval

from ..models.csp_guard import code_env
from ..sync import subscriptions as quantity_rules
from .common import CspSandboxCase
from .display_names import assert_named

ASHFORD = "7af027bc-08d6-4f57-9a71-144896c8da19"  # seed 1: reseller, consent, subscriptions
PLAIN = "fb695ffb-3a18-40c7-8092-b4d42b28fef0"  # 2 seats, every window closed
ANNUAL = "d8f33418-f3d4-4711-9804-f92283868a29"  # 1 seat, no window
GUID = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}", re.IGNORECASE)


def default_domain(env, xmlid):
    """The domain a list opened from the action `xmlid` starts with: its own domain and
    the filters its context turns on (search_default_*), as the search view combines
    them (OR within a group of filters, AND between groups)."""
    action = env.ref(xmlid)
    context = safe_eval(action.context or "{}")
    wanted = {key[len("search_default_") :] for key, on in context.items()
              if key.startswith("search_default_") and on}  # fmt: skip
    arch = env[action.res_model].get_views([(False, "search")])["views"]["search"]["arch"]
    groups, current = [], []
    for node in etree.fromstring(arch):
        if node.tag in ("separator", "group"):
            groups.append(current)
            current = []
        elif node.tag == "filter" and node.get("name") in wanted and node.get("domain"):
            current.append(safe_eval(node.get("domain")))
    groups.append(current)
    domain = list(safe_eval(action.domain or "[]"))
    for filters in filter(None, groups):
        ored = filters[0]
        for other in filters[1:]:
            ored = ["|", *ored, *other] if len(ored) == 1 and len(other) == 1 else None
            if ored is None:
                raise AssertionError("only one-condition filters are combined here")
        domain += ored
    return domain


@tagged("post_install", "-at_install")
class TestNamesAndWords(CspSandboxCase):
    sandbox_tenants = 8

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_customer_tenant(ASHFORD)
        cls.connection.write(
            {"licence_import_type": "both", "manage_licences": True, "adjust_quantities": True}
        )
        cls.connection._csp_sync(trigger="manual", modules=["users"])
        run = cls.connection._csp_sync(trigger="manual", modules=["licences"])
        assert run.state == "done", run.message
        cls.user = new_test_user(
            cls.env, login="csp_user_nw", groups="csp_connector.group_csp_user"
        )
        cls.skus = cls.env["csp.subscribed.sku"].search([("csp_tenant_id", "=", cls.tenant.id)])
        cls.subscriptions = cls.env["csp.subscription"].search(
            [("csp_tenant_id", "=", cls.tenant.id)]
        )

    def graph_licences(self, user):
        graph = self.connection._csp_graph(self.connection._csp_http(), ASHFORD)
        found = graph.get(f"v1.0/users/{user.microsoft_id}", params={"$select": "assignedLicenses"})
        return [lic["skuId"].lower() for lic in found.get("assignedLicenses") or []]

    # -- names --------------------------------------------------------------------------

    def test_every_model_has_a_display_name_that_is_no_model_and_id(self):
        tenant, connection = self.tenant, self.connection
        group = self.env["csp.azure.group"].sudo().create({
            "connection_id": connection.id, "csp_tenant_id": tenant.id, "name": "Sales",
            "microsoft_id": "0b1e6a52-5b3c-4c61-9a0e-6c3c2b8e4f11",
        })  # fmt: skip
        mappings = self.env["csp.site.mapping"].create([
            {"connection_id": connection.id, "kind": "field_sites", "customer_id": self.customer.id,
             "azure_field": "officeLocation", "sequence": 1},
            {"connection_id": connection.id, "kind": "skip", "description": "guests"},
        ])  # fmt: skip
        self.env["csp.site.mapping.filter"].create(
            {"mapping_id": mappings[0].id, "azure_field": "department", "operator": "equals",
             "value": "Sales"}
        )  # fmt: skip
        function = self.env.ref("base.field_res_partner__function")
        self.env["csp.site.mapping.value"].create(
            {"mapping_id": mappings[0].id, "field_id": function.id, "value": "Seller",
             "group_id": group.id}
        )  # fmt: skip
        self.env["csp.webhook.event"].sudo().create({
            "connection_id": connection.id, "name": "subscription-updated", "digest": "x1",
            "csp_tenant_id": tenant.id,
        })  # fmt: skip
        sku = self.skus.filtered(lambda s: not s.free_kind)[:1]
        user = self.env["csp.user.binding"].search([("csp_tenant_id", "=", tenant.id)], limit=1)
        self.env["csp.licence.assign"].create(
            {"subscribed_sku_id": sku.id, "user_binding_id": user.id}
        )
        subscription = self.subscriptions[:1]
        self.env["csp.subscription.quantity"].create(
            {"subscription_id": subscription.id, "new_quantity": subscription.quantity + 1}
        )
        # the portal's seat request and licence statement (made by code only)
        code = code_env(self.env["csp.portal.request"]).env
        code["csp.portal.request"].create({
            "subscription_id": subscription.id, "customer_id": self.customer.id,
            "old_quantity": subscription.quantity, "new_quantity": subscription.quantity + 1,
            "requested_by_id": self.env.uid,
        })  # fmt: skip
        code["csp.licence.statement"].create({
            "customer_id": self.customer.id, "month": "2026-11-01",
            "company_id": self.env.company.id,
        })  # fmt: skip
        shown = assert_named(self, "csp_connector")
        # named for what they map
        self.assertEqual(mappings[0].display_name, "Ashford & Pike: officeLocation → sites")
        self.assertEqual(mappings[1].display_name, "Do not import (guests)")
        self.assertEqual(mappings[0].filter_ids.display_name, "department equals Sales")
        self.assertEqual(
            mappings[0].value_ids.display_name, "Job Position = Seller (members of Sales)"
        )
        email = connection.field_mapping_ids.filtered(lambda m: m.azure_field == "mail")
        self.assertEqual(email.display_name, "mail → Email")
        self.assertIn(f"{sku.product_name} (Ashford & Pike)", shown["csp.subscribed.sku"])

    def test_licences_and_tenants_by_name_on_users_and_request_logs(self):
        user = self.env["csp.user.binding"].search(
            [("csp_tenant_id", "=", self.tenant.id), ("sku_ids", "!=", False)], limit=1
        )
        held = self.skus.filtered(lambda s: s.sku_id in user.sku_ids.split())
        self.assertTrue(held)
        self.assertEqual(user.licence_names, ", ".join(sorted(held.mapped("product_name"))))
        self.assertNotRegex(user.licence_names, GUID)
        # the connection's licence check, typed as SKU ids, shown by name
        self.connection.write({"user_licence_rule": "include", "user_licence_skus": held[0].sku_id})
        self.assertEqual(self.connection.user_licence_names, held[0].product_name)
        log = self.env["csp.request.log"].search(
            [("connection_id", "=", self.connection.id), ("tenant_id", "=", ASHFORD),
             ("url", "ilike", "/subscriptions")], limit=1,
        )  # fmt: skip
        self.assertEqual(log.with_user(self.user).csp_tenant_id, self.tenant)
        found = self.env["csp.request.log"].search(
            [("csp_tenant_id", "=", self.tenant.name), ("id", "=", log.id)]
        )
        self.assertEqual(found, log, "request logs are searched by the tenant's name")
        self.assertNotIn("csp.request.log", log.display_name)

    def test_terms_cycles_and_days_in_words(self):
        for subscription in self.subscriptions.filtered("term_duration"):
            self.assertNotRegex(subscription.term_words, r"^P\d", subscription.term_duration)
            self.assertRegex(subscription.term_words, r"^\d+ (year|month|day)s?")
            self.assertNotEqual(subscription.billing_cycle_words, subscription.billing_cycle)
            if subscription.commitment_end_date:
                self.assertEqual(subscription.renewal_day, subscription.commitment_end_date.date())
        words = set(self.subscriptions.mapped("billing_cycle_words"))
        self.assertTrue(words & {"Monthly", "Yearly"}, words)

    def test_a_change_of_seats_in_words(self):
        subscription = self.subscriptions.filtered(lambda s: s.microsoft_id == ANNUAL)
        before = subscription.quantity
        subscription.with_user(self.manager)._csp_set_quantity(before + 1)
        change = subscription.change_ids.sorted("id")[-1]
        self.assertEqual(change.kind_words, "Seats added")
        self.assertEqual(
            change.display_name,
            f"{subscription.display_name}: Seats added, {change.changed_at.date().isoformat()}",
        )

    # -- free SKUs ----------------------------------------------------------------------

    def test_free_skus_are_out_of_the_default_unassigned_seats_total(self):
        free = self.skus.filtered(lambda s: s.enabled_units >= 10000)
        self.assertTrue(free, "the sandbox gives each customer free 10,000-seat SKUs")
        self.assertTrue(all(free.mapped("free_kind")), free.mapped("part_number"))
        Sku = self.env["csp.subscribed.sku"].with_user(self.user)
        mine = [("csp_tenant_id", "=", self.tenant.id)]
        for action in (
            "csp_connector.csp_unused_seats_action",
            "csp_connector.csp_subscribed_sku_action",
        ):
            domain = [*default_domain(self.env, action), *mine]
            shown = Sku.search(domain)
            self.assertFalse(shown & free, f"{action} lists free SKUs by default")
            [(total,)] = Sku._read_group(domain, [], ["unassigned_units:sum"])
            self.assertLess(total or 0, 10000, "no 10,000 free seats in the default total")
        # the filter to include them
        default = default_domain(self.env, "csp_connector.csp_unused_seats_action")
        with_free = [term for term in default if term != ("free_kind", "=", False)]
        self.assertNotEqual(with_free, default)
        self.assertTrue(Sku.search([*with_free, *mine]) & free)
        search = etree.fromstring(Sku.get_views([(False, "search")])["views"]["search"]["arch"])
        self.assertTrue(search.xpath("//filter[@name='free']"))
        # their subscriptions too: the list's seat total leaves the free grants out
        grants = self.subscriptions.filtered(lambda s: s.quantity >= 10000)
        self.assertTrue(grants and all(grants.mapped("free_kind")))
        Subscription = self.env["csp.subscription"].with_user(self.user)
        domain = [*default_domain(self.env, "csp_connector.csp_subscription_action"), *mine]
        self.assertFalse(Subscription.search(domain) & grants)
        self.assertTrue(Subscription.search(domain))
        # the customer's "Licences" button counts paid licences only
        paid = self.skus.filtered(lambda s: not s.free_kind and not s.removed)
        self.assertEqual(self.customer.with_user(self.user).csp_licence_count, len(paid))
        self.assertEqual(self.tenant.with_user(self.user).licence_count, len(paid))

    # -- refusals -----------------------------------------------------------------------

    def test_a_refused_decrease_names_when_added_the_last_day_and_the_renewal(self):
        subscription = self.subscriptions.filtered(lambda s: s.microsoft_id == PLAIN)
        windows = quantity_rules.windows_from(subscription.refundable_details)
        if windows:  # Partner Center dates each batch's window
            last = max(w.until for w in windows)
            added = last - timedelta(hours=168)
        else:  # none sent: the last addition Odoo saw
            added = subscription._csp_seats_added_at()
            last = added + timedelta(hours=168)
        self.assertTrue(subscription.renewal_day)
        with self.assertRaises(UserError) as refused:
            subscription.with_user(self.manager)._csp_set_quantity(1)
        message = str(refused.exception)
        self.assertIn(f"added on {added.date().isoformat()}", message)
        self.assertIn(f"could be removed until {last.date().isoformat()}", message)
        self.assertIn(f"at renewal, on {subscription.renewal_day.isoformat()}", message)

    # -- the tenant's buttons -------------------------------------------------------------

    def test_tenant_smart_buttons_in_one_row_pressed_by_a_csp_user(self):
        tenant = self.tenant.with_user(self.user)
        arch = etree.fromstring(tenant.get_views([(False, "form")])["views"]["form"]["arch"])
        boxes = arch.xpath("//div[hasclass('oe_button_box')]")
        self.assertEqual(len(boxes), 1, "one row of smart buttons")
        names = set(boxes[0].xpath(".//button/@name"))
        self.assertLessEqual(
            {"action_open_users", "action_open_licences", "action_open_subscriptions"}, names
        )
        for method, xmlid, count in (
            ("action_open_licences", "csp_connector.csp_subscribed_sku_action",
             tenant.licence_count),
            ("action_open_subscriptions", "csp_connector.csp_subscription_action",
             tenant.subscription_count),
        ):  # fmt: skip
            action = getattr(tenant, method)()
            model = action["res_model"]
            listed = (
                self.env[model]
                .with_user(self.user)
                .search([*action["domain"], *default_domain(self.env, xmlid)])
            )
            self.assertEqual(len(listed), count, method)
            self.assertTrue(listed)
        outsider = new_test_user(self.env, login="not_csp_nw", groups="base.group_user")
        with self.assertRaises(AccessError):
            self.tenant.with_user(outsider).action_open_subscriptions()

    # -- runs ---------------------------------------------------------------------------

    def test_a_run_shows_each_distinct_error_once_and_its_error_lines(self):
        run = code_env(self.env["csp.sync.run"]).create(
            {"connection_id": self.connection.id, "trigger": "manual", "steps": "users,licences"}
        )
        labels = dict(self.env["csp.sync.run.line"]._csp_step_selection())
        self.assertEqual(run.steps_words, f"{labels['users']}, {labels['licences']}")
        self.assertNotIn("users", run.steps_words)
        other = self.connection.tenant_ids.filtered(lambda t: t != self.tenant)[:2]
        consent = "The tenant has not granted admin consent."
        Line = code_env(self.env["csp.sync.run.line"])
        for tenant, state, message in (
            (self.tenant, "error", consent), (other[0], "error", consent),
            (other[1], "error", "Graph answered 503."), (self.tenant, "done", False),
        ):  # fmt: skip
            Line.create({"run_id": run.id, "step": "users", "csp_tenant_id": tenant.id,
                         "state": state, "message": message,
                         "error_count": int(state == "error")})  # fmt: skip
        code_env(run).write({"error_count": 3})
        run._csp_finish()
        self.assertEqual(run.message.count(consent), 1, run.message)
        self.assertIn(f"{consent} ({self.tenant.name}, {other[0].name})", run.message)
        self.assertIn("Graph answered 503.", run.message)
        action = run.with_user(self.user).action_open_lines()
        domain = [*action["domain"]]
        context = action["context"]
        self.assertTrue(context.get("search_default_errors"))
        arch = etree.fromstring(
            self.env["csp.sync.run.line"].get_views([(False, "search")])["views"]["search"]["arch"]
        )
        [errors_only] = arch.xpath("//filter[@name='errors']")
        lines = (
            self.env["csp.sync.run.line"]
            .with_user(self.user)
            .search([*domain, *safe_eval(errors_only.get("domain"))])
        )
        self.assertEqual(len(lines), 3)
        self.assertEqual(set(lines.mapped("state")), {"error"})

    # -- single sign-on -------------------------------------------------------------------

    def test_sso_setup_turns_off_the_odoo_com_sign_in_when_asked(self):
        odoo_com = self.env.ref("auth_oauth.provider_openerp")
        odoo_com.enabled = True
        answer = self.connection.with_user(self.manager).action_csp_setup_sso()
        self.assertTrue(odoo_com.enabled, "not asked: left on")
        self.assertNotIn("Odoo.com", answer["params"]["message"])
        self.connection.with_user(self.manager).sso_hide_odoo_com = True
        answer = self.connection.with_user(self.manager).action_csp_setup_sso()
        self.assertFalse(odoo_com.enabled)
        self.assertIn("Odoo.com sign-in is now off", answer["params"]["message"])
        self.assertIn("Odoo.com sign-in is now off", self.connection.message_ids[0].body)
        with self.assertRaises(AccessError):
            self.connection.with_user(self.user).action_csp_setup_sso()

    # -- a licence from the contact form ----------------------------------------------------

    def test_a_manager_assigns_a_licence_from_the_contact_form(self):
        binding = self.env["csp.user.binding"].search(
            [("csp_tenant_id", "=", self.tenant.id), ("partner_id", "!=", False)], limit=1
        )
        contact = binding.partner_id.with_user(self.manager)
        self.assertTrue(contact.csp_can_assign_licence)
        action = contact.action_csp_assign_licence()
        self.assertEqual(action["res_model"], "csp.licence.assign")
        self.assertEqual(action["context"]["default_user_binding_id"], binding.id)
        wizard = (
            self.env["csp.licence.assign"]
            .with_user(self.manager)
            .new({"user_binding_id": binding.id})
        )
        choices = wizard.allowed_sku_ids.filtered(lambda s: s.unassigned_units and not s.free_kind)
        self.assertTrue(choices, "licences with a free seat to choose from")
        sku = choices[0]._origin
        self.assertNotIn(sku.sku_id, (binding.sku_ids or "").split())
        graph = self.connection._csp_graph(self.connection._csp_http(), ASHFORD)
        self.addCleanup(graph.assign_license, binding.microsoft_id, remove=[sku.sku_id])
        wizard = (
            self.env["csp.licence.assign"].with_user(self.manager).with_context(**action["context"])
            .create({"subscribed_sku_id": sku.id})
        )  # fmt: skip
        wizard.action_assign()
        held = self.env["csp.licence.assignment"].search(
            [("subscribed_sku_id", "=", sku.id), ("user_binding_id", "=", binding.id)]
        )
        self.assertTrue(held, "assigned in Microsoft, then in Odoo")
        self.assertIn(sku.sku_id, self.graph_licences(binding))
        binding.invalidate_recordset()
        self.assertIn(sku.product_name, binding.licence_names)
        # the request log names the licence it assigned
        log = self.env["csp.request.log"].search(
            [("connection_id", "=", self.connection.id), ("url", "ilike", "assignLicense")],
            limit=1,
        )
        self.assertIn(sku.display_name, log.about)
        # a CSP user may see the contact's licences, not assign one
        with self.assertRaises(AccessError):
            binding.partner_id.with_user(self.user).action_csp_assign_licence()
