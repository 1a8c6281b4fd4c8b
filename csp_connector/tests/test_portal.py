# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The customer portal (/my/microsoft) against the sandbox: what each portal user sees
(pages and JSON-RPC), seat requests from the quote to Partner Center, and refusals."""

import re
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tests.common import JsonRpcException

from .common import CspSandboxHttpCase

ASHFORD = "7af027bc-08d6-4f57-9a71-144896c8da19"  # seed 1: reseller, consent, subscriptions
AUSTRALIA = "5b569643-d037-4dff-bc24-0d4969d495dd"  # the same company's second tenant
PLAIN = "fb695ffb-3a18-40c7-8092-b4d42b28fef0"  # 2 seats, every window closed
REFUNDABLE = "3328ad08-8ded-4c96-91eb-79fa5d5f576c"  # 3 seats inside their 168 h window
ANNUAL = "d8f33418-f3d4-4711-9804-f92283868a29"  # 1 seat, no window


def portal_user(env, partner, login, admin=False):
    if admin:
        partner.csp_licence_admin = True
    return (
        env["res.users"]
        .with_context(no_reset_password=True)
        .create(
            {
                "login": login,
                "password": login * 2,
                "partner_id": partner.id,
                "groups_id": [(6, 0, env.ref("base.group_portal").ids)],
            }
        )
    )


@tagged("post_install", "-at_install")
class TestPortal(CspSandboxHttpCase):
    sandbox_tenants = 8

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_customer_tenant(ASHFORD)
        cls.customer_b = cls.env["res.partner"].create({"name": "Brook & Vale", "is_company": True})
        cls.tenant_b = cls.connection.tenant_ids.filtered(lambda t: t.tenant_id == AUSTRALIA)
        cls.map_users_to(cls.tenant_b, cls.customer_b)
        cls.connection.licence_import_type = "both"
        cls.connection.adjust_quantities = True
        cls.connection.portal_responsible_id = cls.manager
        run = cls.connection._csp_sync(trigger="manual", modules=["users", "licences"])
        assert run.state not in ("failed", "partial"), run.message
        Binding = cls.env["csp.user.binding"]
        licensed = Binding.search(
            [("csp_tenant_id", "=", cls.tenant.id), ("sku_ids", "!=", False),
             ("partner_id", "!=", False)], order="upn",
        )  # fmt: skip
        cls.admin_binding, cls.plain_binding = licensed[0], licensed[1]
        cls.admin_a = portal_user(cls.env, cls.admin_binding.partner_id, "portal_admin_a", True)
        cls.plain_a = portal_user(cls.env, cls.plain_binding.partner_id, "portal_plain_a")
        cls.subs_a = cls.env["csp.subscription"].search([("csp_tenant_id", "=", cls.tenant.id)])
        cls.subs_b = cls.env["csp.subscription"].search([("csp_tenant_id", "=", cls.tenant_b.id)])
        cls.skus_b = cls.env["csp.subscribed.sku"].search([("csp_tenant_id", "=", cls.tenant_b.id)])

    def login(self, user):
        self.authenticate(user.login, user.login * 2)

    def page(self, url):
        response = self.url_open(url)
        self.assertEqual(response.status_code, 200, url)
        return response.text

    def post(self, url, **data):
        """A form's POST, with the CSRF token the page gives its scripts."""
        token = re.search(r'csrf_token: "([^"]+)"', self.page("/my/microsoft")).group(1)
        return self.url_open(url, data={**data, "csrf_token": token})

    def rpc(self, model, method, *args, **kwargs):
        return self.make_jsonrpc_request(
            "/web/dataset/call_kw",
            {"model": model, "method": method, "args": list(args), "kwargs": kwargs},
        )

    def subscription(self, microsoft_id, fresh=False):
        """(``fresh``: read again first; the sandbox keeps earlier tests' changes)"""
        if fresh:
            run = self.connection._csp_sync(trigger="manual", modules=["licences"])
            self.assertEqual(run.state, "done", run.message)
        return self.subs_a.filtered(lambda s: s.microsoft_id == microsoft_id)

    def last_mail(self, request):
        """The last message sent to who asked."""
        partner = request.requested_by_id.partner_id
        return request.message_ids.filtered(lambda m: partner in m.partner_ids)[:1].body

    # -- who sees what ----------------------------------------------------------------------

    def test_the_administrator_sees_their_customer_and_nothing_of_another(self):
        self.assertTrue(self.subs_b or self.skus_b, "customer B has Microsoft records")
        self.login(self.admin_a)
        text = self.page("/my/microsoft/subscriptions")
        for sub in self.subs_a.filtered(lambda s: not s.removed):
            self.assertIn(sub.friendly_name, text)
            self.assertNotIn(sub.microsoft_id, text, "no Microsoft id on the page")
        for sub in self.subs_b:
            self.assertNotIn(f'/my/microsoft/subscriptions/{sub.id}"', text)
        if self.subs_b:
            response = self.url_open(f"/my/microsoft/subscriptions/{self.subs_b[0].id}")
            self.assertEqual(response.status_code, 404, "another customer's subscription")
        licences = self.page("/my/microsoft/licences")
        users = self.page("/my/microsoft/users")
        self.assertIn(self.plain_binding.upn, users, "the administrator sees every user")
        b_users = self.env["csp.user.binding"].search([("csp_tenant_id", "=", self.tenant_b.id)])
        for binding in b_users:
            self.assertNotIn(binding.upn, users)
        self.assertIn("Available", licences)
        # over JSON-RPC: the same records, and no Microsoft id
        found = self.rpc("csp.subscription", "search_read", [], fields=["partner_id", "quantity"])
        self.assertEqual({row["id"] for row in found}, set(self.subs_a.filtered(
            lambda s: not s.removed).ids))  # fmt: skip
        skus = self.rpc("csp.subscribed.sku", "search_read", [], fields=["product_name"])
        self.assertFalse({row["id"] for row in skus} & set(self.skus_b.ids))
        self.assertTrue(skus)
        rows = self.rpc("csp.subscription", "read", self.subs_a[:1].ids, ["microsoft_id"])
        self.assertEqual(rows, [{"id": self.subs_a[0].id}], "no Microsoft id over RPC either")
        rows = self.rpc("csp.user.binding", "read", [self.plain_binding.id], [])
        self.assertNotIn("microsoft_id", rows[0])
        self.assertNotIn("graph_values", rows[0])
        if self.subs_b:
            with self.assertRaises(JsonRpcException):
                self.rpc("csp.subscription", "read", self.subs_b[:1].ids, ["quantity"])
        with self.assertRaises(JsonRpcException):
            self.rpc("csp.subscription", "write", self.subs_a[:1].ids, {"note": "x"})
        with self.assertRaises(JsonRpcException):
            self.rpc("csp.tenant", "search_read", [], fields=["name"])

    def test_another_portal_user_sees_only_their_own_licences(self):
        self.login(self.plain_a)
        text = self.page("/my/microsoft")
        held = self.env["csp.licence.assignment"].search(
            [("user_binding_id", "=", self.plain_binding.id)]
        )
        self.assertTrue(held)
        for name in held.mapped("product_name"):
            self.assertIn(name, text)
        self.assertNotIn('/my/microsoft/subscriptions"', text, "no subscription link")
        self.assertEqual(self.rpc("csp.subscription", "search_count", []), 0)
        self.assertEqual(self.rpc("csp.subscribed.sku", "search_count", []), 0)
        rows = self.rpc("csp.licence.assignment", "search_read", [], fields=["partner_id"])
        self.assertEqual({row["partner_id"][0] for row in rows}, {self.plain_binding.partner_id.id})
        users = self.rpc("csp.user.binding", "search_read", [], fields=["upn"])
        self.assertEqual([row["upn"] for row in users], [self.plain_binding.upn])
        sub = self.subs_a[:1]
        response = self.url_open(f"/my/microsoft/subscriptions/{sub.id}")
        self.assertEqual(response.status_code, 404)
        with self.assertRaises(AccessError):
            self.env["csp.portal.request"].with_user(self.plain_a)._csp_portal_send(
                sub.with_user(self.plain_a), sub.quantity + 1
            )

    def test_only_a_csp_manager_makes_a_licence_administrator(self):
        contact = self.plain_binding.partner_id
        with self.assertRaises(AccessError):
            contact.with_user(self.admin_a).write({"csp_licence_admin": True})
        employee = self.env["res.users"].create(
            {"login": "portal_employee", "name": "Employee",
             "groups_id": [(6, 0, self.env.ref("base.group_partner_manager").ids +
                            self.env.ref("base.group_user").ids)]}
        )  # fmt: skip
        with self.assertRaises(AccessError):
            contact.with_user(employee).write({"csp_licence_admin": True})
        contact.with_user(self.manager).write({"csp_licence_admin": True})
        self.assertTrue(contact.csp_licence_admin)

    # -- seat requests -------------------------------------------------------------------------

    def test_a_seat_increase_is_quoted_requested_approved_and_carried_out(self):
        sub = self.subscription(ANNUAL)
        start = sub.quantity
        self.login(self.admin_a)
        text = self.page(f"/my/microsoft/subscriptions/{sub.id}?seats={start + 2}")
        self.assertIn("csp_send_request", text, "the quote offers to send the request")
        self.post(f"/my/microsoft/subscriptions/{sub.id}/request", seats=start + 2)
        request = self.env["csp.portal.request"].search([("subscription_id", "=", sub.id)])
        self.assertEqual((request.state, request.new_quantity), ("requested", start + 2))
        self.assertEqual(request.requested_by_id, self.admin_a)
        activity = request.activity_ids
        self.assertEqual(activity.user_id, self.manager, "the CSP manager is asked to decide")
        self.assertIn("Requested", self.page(f"/my/microsoft/subscriptions/{sub.id}"))
        with self.assertRaises(UserError):  # one open request per subscription
            self.env["csp.portal.request"].with_user(self.admin_a)._csp_portal_send(
                sub.with_user(self.admin_a), start + 3
            )
        with self.assertRaises(AccessError):  # the customer cannot approve their request
            request.with_user(self.admin_a).action_approve()
        request.with_user(self.manager).action_approve()
        self.assertEqual(request.state, "done")
        self.assertEqual(request.decided_by_id, self.manager)
        self.assertEqual(sub.quantity, start + 2)
        self.assertFalse(request.activity_ids, "the to-do is done")
        client = self.connection._csp_partner_center(self.connection._csp_http())
        self.assertEqual(client.subscription(ASHFORD, ANNUAL)["quantity"], start + 2)
        self.assertTrue(
            any(f"by {self.manager.name}" in body for body in sub.message_ids.mapped("body")),
            "carried out as the back office's Adjust quantity, by the approver",
        )
        mail = request.message_ids.filtered(lambda m: self.admin_a.partner_id in m.partner_ids)
        self.assertIn("approved and is done", mail[:1].body)
        text = self.page(f"/my/microsoft/subscriptions/{sub.id}")
        self.assertIn("Done", text)
        self.assertRegex(text, rf'csp_seats">\s*{start + 2}\b')

    def test_a_change_partner_center_is_still_applying_is_done_once_read(self):
        sub = self.subscription(REFUNDABLE, fresh=True)
        request = (
            self.env["csp.portal.request"]
            .with_user(self.admin_a)
            ._csp_portal_send(sub.with_user(self.admin_a), sub.quantity + 1)
        )
        self.sandbox.fault(service="partnercenter", method="PATCH", body="accepted", times=1)
        request.with_user(self.manager).action_approve()
        self.assertEqual(request.state, "approved", "Partner Center still applies it")
        self.assertIn("still applying", self.last_mail(request))
        run = self.connection._csp_sync(trigger="manual", modules=["licences"])
        self.assertEqual(run.state, "done", run.message)
        self.assertEqual(request.state, "done")
        self.assertEqual(sub.quantity, request.new_quantity)
        self.assertIn("approved and is done", self.last_mail(request))

    def test_a_decrease_outside_the_window_is_refused_with_the_date(self):
        sub = self.subscription(PLAIN)
        self.login(self.admin_a)
        text = self.page(f"/my/microsoft/subscriptions/{sub.id}?seats=1")
        self.assertIn("csp_quote_refused", text)
        self.assertNotIn("csp_send_request", text)
        if sub.commitment_end_date:
            self.assertIn(f"{sub.commitment_end_date:%Y-%m-%d}", text)
        response = self.post(f"/my/microsoft/subscriptions/{sub.id}/request", seats=1)
        self.assertIn("csp_request_error", response.text)
        self.assertFalse(self.env["csp.portal.request"].search([("subscription_id", "=", sub.id)]))

    def test_a_refused_request_tells_the_customer_why(self):
        sub = self.subscription(PLAIN)
        request = (
            self.env["csp.portal.request"]
            .with_user(self.admin_a)
            ._csp_portal_send(sub.with_user(self.admin_a), sub.quantity + 1)
        )
        request = request.with_user(self.manager)
        with self.assertRaisesRegex(UserError, "reason"):
            request.action_refuse()
        request.refuse_reason = "Your contract ends this month."
        request.action_refuse()
        self.assertEqual(request.state, "refused")
        self.assertEqual(sub.quantity, self.subscription(PLAIN).quantity)
        self.login(self.admin_a)
        text = self.page(f"/my/microsoft/subscriptions/{sub.id}")
        self.assertIn("Your contract ends this month.", text)
        self.assertIn("Refused", text)

    # -- the monthly licence statement ---------------------------------------------------------

    def test_the_monthly_statement_lists_the_right_counts_and_users(self):
        sub = self.subscription(REFUNDABLE, fresh=True)
        before = sub.quantity
        sub.with_user(self.manager)._csp_set_quantity(sub.quantity + 1)
        today = fields.Date.context_today(self.env["res.partner"])
        Statement = self.env["csp.licence.statement"]
        statement = Statement._csp_generate(self.customer, today)
        skus = self.env["csp.subscribed.sku"].search(
            [("csp_tenant_id", "=", self.tenant.id), ("removed", "=", False)]
        )
        licensed = (
            self.env["csp.licence.assignment"]
            .search([("csp_tenant_id", "=", self.tenant.id)])
            .user_binding_id
        )
        html = (
            self.env["ir.actions.report"]
            ._render_qweb_html("csp_connector.action_report_csp_licence_statement", statement.ids)[
                0
            ]
            .decode()
        )
        self.assertEqual(html.count('class="text-end csp_paid"'), len(skus))
        self.assertIn(f'csp_total_paid">{sum(skus.mapped("enabled_units"))}<', html)
        self.assertIn(f'csp_total_assigned">{sum(skus.mapped("consumed_units"))}<', html)
        self.assertIn(f'csp_user_count">{len(licensed)}<', html)
        self.assertEqual(html.count('csp_statement_user"'), len(licensed))
        for user in licensed:
            self.assertIn(user.upn, html)
        self.assertIn(f"{before} → {before + 1}", html, "the month's seat change")
        self.assertIn(str(today), html)
        for sku in skus:
            self.assertNotIn(sku.sku_id, html, "no Microsoft id")
        self.assertTrue(statement.attachment_id, "its PDF is kept")
        # again the same month: the same statement, made anew
        self.assertEqual(Statement._csp_generate(self.customer, today), statement)

        # on the portal: the administrator downloads it, nobody else reaches it
        self.login(self.admin_a)
        self.assertIn(f"/my/microsoft/statements/{statement.id}/pdf",
                      self.page("/my/microsoft/statements"))  # fmt: skip
        response = self.url_open(f"/my/microsoft/statements/{statement.id}/pdf")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, statement.attachment_id.raw)
        self.login(self.plain_a)
        response = self.url_open(f"/my/microsoft/statements/{statement.id}/pdf")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(self.rpc("csp.licence.statement", "search_count", []), 0)

    def test_the_statement_is_printed_from_the_customer_and_made_by_the_schedule(self):
        action = self.customer.with_user(self.manager).action_csp_licence_statement()
        self.assertEqual(action["report_name"], "csp_connector.report_csp_licence_statement")
        employee = self.env["res.users"].create(
            {"login": "portal_no_csp", "name": "No CSP",
             "groups_id": [(6, 0, self.env.ref("base.group_user").ids)]}
        )  # fmt: skip
        with self.assertRaises(AccessError):
            self.customer.with_user(employee).action_csp_licence_statement()
        Statement = self.env["csp.licence.statement"]
        today = fields.Date.context_today(Statement)
        self.connection.statement_day = 0
        Statement.search([]).unlink()
        Statement._cron_csp_statements()
        self.assertFalse(Statement.search([]), "no statement day: none made")
        if today.day <= 28:
            self.connection.statement_day = today.day
            Statement._cron_csp_statements()
            made = Statement.search([])
            self.assertIn(self.customer, made.customer_id)
            self.assertIn(self.customer_b, made.customer_id)
            last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
            self.assertEqual(set(made.mapped("month")), {last_month})

    # -- the browser tour ---------------------------------------------------------------------

    def test_the_portal_tour_as_the_customers_administrator(self):
        """Skipped by Odoo's test runner when no Chrome or Chromium is installed."""
        self.admin_a.password = self.admin_a.login  # the tour signs in with login = password
        self.start_tour("/my/microsoft", "csp_portal_tour", login=self.admin_a.login)
