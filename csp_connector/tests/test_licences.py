# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Licences against the sandbox: subscribed SKUs, subscriptions, assignments, quantities
and the audit-record catch-up."""

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from .common import CspSandboxCase

ASHFORD = "7af027bc-08d6-4f57-9a71-144896c8da19"  # seed 1: reseller, consent, subscriptions
AUSTRALIA = "5b569643-d037-4dff-bc24-0d4969d495dd"  # the same company's second tenant
REFUNDABLE = "3328ad08-8ded-4c96-91eb-79fa5d5f576c"  # 3 seats inside their 168 h window
PLAIN = "fb695ffb-3a18-40c7-8092-b4d42b28fef0"  # 2 seats, every window closed
ANNUAL = "d8f33418-f3d4-4711-9804-f92283868a29"  # 1 seat, no window
# tests share one sandbox per class (never rolled back): each changes its own subscription
SCHEDULED = "b410d93c-4efb-48d6-8b21-fbac78255d68"  # renewal instructions pending: 409


@tagged("post_install", "-at_install")
class TestLicences(CspSandboxCase):
    sandbox_tenants = 8

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_customer_tenant(ASHFORD)
        cls.connection._csp_sync(trigger="manual", modules=["users"])

    # -- helpers ----------------------------------------------------------------------

    def sync(self):
        run = self.connection._csp_sync(trigger="manual", modules=["licences"])
        self.assertNotIn(run.state, ("failed", "partial"), run.message)
        return run

    def last_log_id(self):
        return self.env["csp.request.log"].search([], limit=1).id

    def calls(self, since, service=None):
        domain = [("id", ">", since), ("direction", "=", "outbound")]
        if service:
            domain.append(("service", "=", service))
        return self.env["csp.request.log"].search(domain)

    def skus(self):
        return self.env["csp.subscribed.sku"].search([("csp_tenant_id", "=", self.tenant.id)])

    def subscriptions(self):
        return (
            self.env["csp.subscription"]
            .with_context(active_test=False)
            .search([("csp_tenant_id", "=", self.tenant.id)])
        )

    def graph_licences(self, user):
        graph = self.connection._csp_graph(self.connection._csp_http(), ASHFORD)
        found = graph.get(f"v1.0/users/{user.microsoft_id}", params={"$select": "assignedLicenses"})
        return [lic["skuId"].lower() for lic in found.get("assignedLicenses") or []]

    def set_type(self, connection_type, override=False):
        self.connection.licence_import_type = connection_type
        self.tenant.licence_import_type = override

    def stamps(self, records):
        records.invalidate_recordset()
        return {r.id: r.write_date for r in records}

    # -- import -----------------------------------------------------------------------

    def test_skus_import_with_names_seats_and_holders_and_a_rerun_writes_nothing(self):
        self.set_type("skus")
        self.sync()
        skus = self.skus()
        self.assertTrue(skus)
        self.assertFalse(self.subscriptions(), "SKUs only: no Partner Center subscriptions")
        for sku in skus:
            self.assertTrue(sku.product_name)
            self.assertEqual(sku.unassigned_units, max(sku.enabled_units - sku.consumed_units, 0))
            self.assertEqual(sku.partner_id, self.customer)
        held = skus.filtered("consumed_units")
        self.assertTrue(held)
        for sku in held:
            # every assignment links a contact the users step imported
            self.assertEqual(len(sku.assignment_ids), sku.consumed_units)
            self.assertTrue(all(sku.assignment_ids.mapped("partner_id")))
        contact = held[0].assignment_ids[0].partner_id
        self.assertGreaterEqual(contact.csp_assignment_count, 1)
        paid = skus.filtered(lambda s: not s.free_kind)  # free, trial, viral: not counted
        self.assertEqual(self.customer.csp_licence_count, len(paid))
        before = (self.stamps(skus), self.stamps(skus.assignment_ids))
        run = self.sync()
        after = (self.stamps(skus), self.stamps(self.skus().assignment_ids))
        self.assertEqual(after, before, "nothing written")
        line = run.line_ids.filtered(lambda ln: ln.step == "licences" and ln.created + ln.updated)
        self.assertFalse(line, "a rerun with no change creates and updates nothing")

    def test_a_customer_with_two_tenants_shows_the_licences_of_both(self):
        self.set_type("skus")
        second = self.connection.tenant_ids.filtered(lambda t: t.tenant_id == AUSTRALIA)
        second.partner_id = self.customer
        self.sync()
        skus = self.env["csp.subscribed.sku"].search([("partner_id", "=", self.customer.id)])
        self.assertEqual(skus.csp_tenant_id, self.tenant | second)
        paid = skus.filtered(lambda s: not s.free_kind)  # free, trial, viral: not counted
        self.assertEqual(self.customer.csp_licence_count, len(paid))
        action = self.customer.action_csp_open_licences()
        self.assertEqual(self.env["csp.subscribed.sku"].search(action["domain"]), skus)

    def test_import_types_and_the_tenant_override(self):
        self.set_type("subscriptions")
        self.sync()
        self.assertFalse(self.skus())
        subs = self.subscriptions()
        client = self.connection._csp_partner_center(self.connection._csp_http())
        listed = {item["id"].lower(): item for item in client.subscriptions(ASHFORD)}
        self.assertEqual(sorted(subs.mapped("microsoft_id")), sorted(listed))
        for sub in subs:
            item = listed[sub.microsoft_id]
            self.assertEqual((sub.quantity, sub.status, sub.billing_cycle, sub.auto_renew),
                             (item["quantity"], item["status"], item["billingCycle"],
                              item["autoRenewEnabled"]))  # fmt: skip
            self.assertEqual(sub.refundable_quantity, item["refundableQuantity"]["totalQuantity"])
            self.assertTrue(sub.commitment_end_date)
        self.assertTrue(subs.filtered("refundable_quantity"), "a batch still removable")
        paid = subs.filtered(lambda s: not s.free_kind)  # free 10,000-seat grants: not counted
        self.assertTrue(paid and paid != subs, "the sandbox sells paid and grants free ones")
        self.assertEqual(self.customer.csp_subscription_count, len(paid))
        # the tenant's override wins over the connection's type
        self.set_type("subscriptions", "both")
        self.sync()
        self.assertTrue(self.skus())
        linked = self.subscriptions().filtered("subscribed_sku_id")
        self.assertTrue(linked, "subscriptions link to the SKU Graph says they provide")
        for sub in linked:
            self.assertIn(sub.microsoft_id, sub.subscribed_sku_id.subscription_refs.split())

    def test_subscriptions_over_several_partner_center_pages(self):
        self.set_type("subscriptions")
        self.env["ir.config_parameter"].sudo().set_param("csp_connector.page_size", "2")
        since = self.last_log_id()
        self.sync()
        pages = self.calls(since, "partnercenter").filtered(
            lambda log: f"customers/{ASHFORD}/subscriptions" in log.url
        )
        count = len(self.subscriptions())
        self.assertGreaterEqual(count, 5)
        self.assertEqual(len(pages), -(-count // 2), "2 subscriptions per page")

    def test_unknown_sku_imports_by_part_number_and_takes_a_name_given_later(self):
        self.set_type("skus")
        self.sync()
        sku = self.skus()[0]
        name, part = sku.product_name, sku.part_number
        self.env["csp.sku.name"].search(
            ["|", ("sku_id", "=", sku.sku_id), ("part_number", "=", part)]
        ).unlink()
        self.assertEqual(sku.product_name, part, "renamed at once")
        self.sync()
        self.assertEqual(sku.product_name, part, "unknown: shown by its part number")
        self.assertTrue(sku.name_unknown)
        self.env["csp.sku.name"].create({"sku_id": sku.sku_id.upper(), "name": name})
        self.assertEqual(sku.product_name, name)
        self.assertFalse(sku.name_unknown)
        with self.assertRaisesRegex(ValidationError, "is not a SKU id"):
            self.env["csp.sku.name"].create({"sku_id": "not-a-guid", "name": "x"})

    def test_a_subscription_removed_in_partner_center_is_marked_never_deleted(self):
        self.set_type("subscriptions")
        self.connection.licence_full_read_hours = 0
        added = self.sandbox.control(
            "POST", f"tenants/{ASHFORD}/subscriptions",
            {"offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K5DJ",
             "skuId": "3b555118-da6a-4418-894f-7df1e2096870", "quantity": 4},
        )  # fmt: skip
        self.sync()
        gone = self.subscriptions().filtered(lambda s: s.microsoft_id == added["id"].lower())
        self.assertEqual(gone.quantity, 4)
        present = len(self.subscriptions())
        self.sandbox.control("DELETE", f"tenants/{ASHFORD}/subscriptions/{added['id']}")
        self.sync()
        self.assertTrue(gone.exists())
        self.assertTrue(gone.removed and gone.removed_date)
        self.assertEqual(len(self.subscriptions().filtered(lambda s: not s.removed)), present - 1)

    def test_partner_centers_null_offset_and_unset_dates_as_sent(self):
        self.set_type("subscriptions")
        self.connection.licence_full_read_hours = 0
        path = f"tenants/{ASHFORD}/subscriptions/{ANNUAL}"
        self.sandbox.control("PATCH", path, {"promotionId": "39NFJQT1Q5KF:0002",
                                             "commitmentEndDate": "2027-01-01T01:00:00+01:00",
                                             "creationDate": "0001-01-01T00:00:00"})  # fmt: skip
        self.sync()
        sub = self.subscriptions().filtered(lambda s: s.microsoft_id == ANNUAL)
        self.assertEqual(sub.promotion_id, "39NFJQT1Q5KF:0002")
        self.assertEqual(str(sub.commitment_end_date), "2027-01-01 00:00:00", "in UTC")
        self.assertFalse(sub.creation_date, "Partner Center's unset date")
        # the promotion ended: Partner Center sends null, and Odoo clears it
        self.sandbox.control("PATCH", path, {"promotionId": None})
        self.sync()
        self.assertFalse(sub.promotion_id)
        self.assertEqual(sub.offer_id and sub.quantity, 1, "what was sent as before is kept")

    def test_imported_licences_are_read_only_and_deleted_by_managers_only(self):
        self.set_type("both")
        self.sync()
        sub = self.subscriptions()[0].with_user(self.manager)
        with self.assertRaises(AccessError):
            sub.write({"quantity": 99})
        with self.assertRaises(AccessError):
            self.skus()[0].with_user(self.manager).write({"enabled_units": 99})
        sub.write({"note": "our own field"})
        user = self.env["res.users"].create(
            {"name": "CSP reader", "login": "csp_reader",
             "groups_id": [(6, 0, [self.env.ref("csp_connector.group_csp_user").id])]}
        )  # fmt: skip
        with self.assertRaises(AccessError):
            sub.with_user(user).unlink()
        with self.assertRaises(AccessError):
            self.skus()[0].with_user(user).unlink()
        self.skus()[0].with_user(self.manager).unlink()

    def test_forbidden_answers_are_explained_on_their_tenant_and_the_others_import(self):
        self.set_type("both")
        second = self.connection.tenant_ids.filtered(lambda t: t.tenant_id == AUSTRALIA)
        second.partner_id = self.customer
        self.addCleanup(self.sandbox.control, "DELETE", "faults")
        subscriptions = {"service": "partnercenter", "path": f"customers/{ASHFORD}/subscriptions"}
        skus = {"service": "graph", "path": "subscribedSkus", "tenant": ASHFORD}
        cases = (
            ("risky sign-in, Partner Center", {**subscriptions, "aadsts": 530034},
             "Partner Center refused to list the subscriptions", "Risky users"),
            ("risky sign-in, Graph", {**skus, "aadsts": 53011},
             "Microsoft Graph refused to list the licences", "Risky users"),
            ("no Partner Center role", subscriptions,
             "Partner Center refused to list the subscriptions", "Admin agent"),
            ("missing GDAP roles or permission", skus,
             "Microsoft Graph refused to list the licences", "LicenseAssignment.Read.All"),
        )  # fmt: skip
        for label, rule, head, fix in cases:
            with self.subTest(label):
                self.sandbox.fault(status=403, **rule)
                run = self.connection._csp_sync(trigger="manual", modules=["licences"])
                self.sandbox.control("DELETE", "faults")
                self.assertEqual(run.state, "partial")
                lines = run.line_ids.filtered(lambda ln: ln.step == "licences")
                failed = lines.filtered(lambda ln: ln.state == "error")
                self.assertEqual(failed.csp_tenant_id, self.tenant)
                for text in (failed.message, self.tenant.last_error, run.message):
                    self.assertIn(head, text)
                    self.assertIn(fix, text)
                self.assertIn("HTTP 403", self.tenant.last_error)
                self.assertEqual(self.tenant.last_error_step, "licences")
                # the other tenant was imported in the same run
                other = lines.filtered(lambda ln, t=second: ln.csp_tenant_id == t)
                self.assertEqual(other.state, "done")
                self.assertTrue(second.subscribed_sku_ids)
        # once Microsoft answers again, the tenant imports and its error is cleared
        self.sync()
        self.assertFalse(self.tenant.last_error)
        self.assertTrue(self.skus())
        # the setup page lists what the step needs
        self.assertIn("LicenseAssignment.Read.All", self.connection.permissions_html)

    # -- audit-record catch-up ------------------------------------------------------------

    def test_audit_records_bring_a_change_without_reading_every_subscription(self):
        self.set_type("subscriptions")
        self.sync()  # first run: full read, audit position set
        target = self.subscriptions().filtered(lambda s: s.microsoft_id == REFUNDABLE)
        http = self.connection._csp_http()
        client = self.connection._csp_partner_center(http)
        current = client.subscription(ASHFORD, REFUNDABLE)
        client.patch_subscription(ASHFORD, REFUNDABLE, {**current, "quantity": 5})
        self.assertEqual(target.quantity, 3, "no webhook: Odoo does not know yet")
        since = self.last_log_id()
        self.sync()
        self.assertEqual(target.quantity, 5)
        urls = self.calls(since, "partnercenter").mapped("url")
        self.assertTrue(any("auditrecords" in url for url in urls))
        self.assertTrue(any(url.endswith(f"subscriptions/{REFUNDABLE}") for url in urls))
        self.assertFalse(
            any(url.split("?")[0].endswith("/subscriptions") for url in urls),
            "only the subscription the audit record names is read again",
        )

    # -- licence assignment round trip ---------------------------------------------------------

    def test_assign_and_remove_a_licence_through_graph(self):
        self.set_type("skus")
        self.sync()
        sku = self.skus().filtered(lambda s: s.unassigned_units > 0)[:1]
        self.assertTrue(sku, "the sandbox world has a SKU with free seats")
        holders = sku.assignment_ids.user_binding_id
        user = self.env["csp.user.binding"].search(
            [("csp_tenant_id", "=", self.tenant.id), ("id", "not in", holders.ids),
             ("partner_id", "!=", False)], limit=1,
        )  # fmt: skip
        Assignment = self.env["csp.licence.assignment"].with_user(self.manager)
        with self.assertRaisesRegex(UserError, "Manage licences from Odoo"):
            Assignment._csp_assign(sku, user)
        self.connection.manage_licences = True
        since = self.last_log_id()
        wizard = (
            self.env["csp.licence.assign"]
            .with_user(self.manager)
            .create({"subscribed_sku_id": sku.id, "user_binding_id": user.id})
        )
        self.assertIn(user, wizard.allowed_user_ids, "the users of the licence's tenant")
        wizard.action_assign()
        assignment = sku.assignment_ids.filtered(lambda a: a.user_binding_id == user)
        self.assertTrue(assignment)
        self.assertEqual(assignment.partner_id, user.partner_id)
        self.assertIn(sku.sku_id, user.sku_ids.split())
        logged = self.calls(since, "graph")
        self.assertTrue(any(url.endswith("/assignLicense") for url in logged.mapped("url")))
        self.assertIn(sku.sku_id, self.graph_licences(user))
        # Microsoft holds it too: the next sync keeps it
        self.sync()
        self.assertTrue(assignment.exists())
        assignment.with_user(self.manager).action_remove_licence()
        self.assertFalse(assignment.exists())
        self.assertNotIn(sku.sku_id, (user.sku_ids or "").split())
        self.assertNotIn(sku.sku_id, self.graph_licences(user))
        self.sync()
        self.assertFalse(sku.assignment_ids.filtered(lambda a: a.user_binding_id == user))

    def test_a_licence_removed_in_microsoft_is_archived_not_deleted(self):
        """A licence its user no longer holds in Microsoft: the assignment is archived
        (dated), never deleted; held again, the same row comes back (one per user and
        licence)."""
        self.set_type("skus")
        self.sync()
        sku = self.skus().filtered("assignment_ids")[:1]
        assignment = sku.assignment_ids[:1]
        user = assignment.user_binding_id
        self.assertTrue(user)
        graph = self.connection._csp_graph(self.connection._csp_http(), ASHFORD)

        def hold_again():
            if sku.sku_id not in self.graph_licences(user):
                graph.assign_license(user.microsoft_id, add=[sku.sku_id])

        self.addCleanup(hold_again)
        graph.assign_license(user.microsoft_id, remove=[sku.sku_id])  # in Microsoft
        self.connection._csp_sync(trigger="manual", modules=["users"])
        run = self.sync()
        self.assertTrue(assignment.exists(), "archived, never deleted")
        self.assertFalse(assignment.active)
        self.assertTrue(assignment.removed_date)
        self.assertNotIn(assignment, sku.assignment_ids, "no longer counted as held")
        self.assertEqual(sum(run.line_ids.mapped("deactivated")), 1)
        hold_again()
        self.connection._csp_sync(trigger="manual", modules=["users"])
        self.sync()
        self.assertTrue(assignment.active)
        self.assertFalse(assignment.removed_date)
        self.assertIn(assignment, sku.assignment_ids)
        rows = (
            self.env["csp.licence.assignment"]
            .with_context(active_test=False)
            .search([("subscribed_sku_id", "=", sku.id), ("user_binding_id", "=", user.id)])
        )
        self.assertEqual(rows, assignment, "the same row, not a second one")

    def test_a_refused_assignment_leaves_odoo_unchanged_and_explains(self):
        self.set_type("skus")
        self.connection.manage_licences = True
        self.sync()
        full = self.skus().filtered(lambda s: s.enabled_units and not s.unassigned_units)[:1]
        self.assertTrue(full, "the sandbox world has a SKU with every seat taken")
        user = self.env["csp.user.binding"].search(
            [("csp_tenant_id", "=", self.tenant.id),
             ("id", "not in", full.assignment_ids.user_binding_id.ids)], limit=1,
        )  # fmt: skip
        before = (user.sku_ids, len(full.assignment_ids))
        with self.assertRaisesRegex(UserError, "available licenses"):
            self.env["csp.licence.assignment"].with_user(self.manager)._csp_assign(full, user)
        self.assertEqual((user.sku_ids, len(full.assignment_ids)), before)

    # -- quantities ---------------------------------------------------------------------------

    def subscription(self, microsoft_id):
        self.set_type("subscriptions")
        self.connection.adjust_quantities = True
        self.sync()
        return self.subscriptions().filtered(lambda s: s.microsoft_id == microsoft_id)

    def test_quantity_increase_then_an_allowed_decrease(self):
        sub = self.subscription(ANNUAL).with_user(self.manager)
        start = sub.quantity
        sub._csp_set_quantity(start + 3)
        self.assertEqual(sub.quantity, start + 3)
        self.assertEqual(sub.refundable_quantity, 3, "the three added seats may be removed")
        sub._csp_set_quantity(start + 1)
        self.assertEqual(sub.quantity, start + 1)
        messages = sub.message_ids.mapped("body")
        self.assertTrue(any(f"from {start} to {start + 3}" in m for m in messages))
        self.assertTrue(any(f"from {start + 3} to {start + 1}" in m for m in messages))
        client = self.connection._csp_partner_center(self.connection._csp_http())
        self.assertEqual(client.subscription(ASHFORD, ANNUAL)["quantity"], start + 1)

    def test_a_decrease_outside_the_window_is_refused_before_any_call(self):
        sub = self.subscription(PLAIN).with_user(self.manager)
        since = self.last_log_id()
        before = sub.quantity
        with self.assertRaisesRegex(UserError, "168 hours"):
            sub._csp_set_quantity(1)
        self.assertFalse(self.calls(since, "partnercenter"), "no request to Partner Center")
        self.assertEqual(sub.quantity, before)
        # the form's wizard says the same
        wizard = (
            self.env["csp.subscription.quantity"]
            .with_user(self.manager)
            .create({"subscription_id": sub.id, "new_quantity": 1})
        )
        with self.assertRaisesRegex(UserError, "removed"):
            wizard.action_apply()

    def test_a_renewal_in_progress_asks_to_try_again_later(self):
        sub = self.subscription(SCHEDULED).with_user(self.manager)
        before = sub.quantity
        with self.assertRaisesRegex(UserError, "Try again in a few minutes"):
            sub._csp_set_quantity(before + 1)
        self.assertEqual(sub.quantity, before)

    def test_adjusting_is_off_unless_switched_on(self):
        sub = self.subscription(PLAIN)
        self.connection.adjust_quantities = False
        since = self.last_log_id()
        with self.assertRaisesRegex(UserError, "Adjust quantities"):
            sub.with_user(self.manager)._csp_set_quantity(3)
        self.assertFalse(self.calls(since))
