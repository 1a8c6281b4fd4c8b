"""`make demo`'s set-up (scripts/demo_setup.py), run against a sandbox in the test
database through Odoo's real HTTP stack: it ends with draft invoices holding recurring
and pro-rata lines, the costs come from the sandbox's price sheet, a portal user signs in
with Microsoft, and a quantity changed in Partner Center reaches Odoo by its webhook.

Needs the database of `make test` (pytest-odoo's --odoo-database); skipped without it.
"""

import html
import importlib.util
import pathlib
import re
import time
from decimal import Decimal
from urllib.parse import quote

import pytest

import odoo

from sandbox_connection.partner import price_sheet, set_quantity

if not odoo.tools.config.get("db_name"):
    pytest.skip("needs the Odoo database of `make test`", allow_module_level=True)

from odoo.tests import tagged

from odoo.addons.csp_connector.tests.common import CspSandboxHttpCase

SETUP = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "demo_setup.py"


def load_demo():
    spec = importlib.util.spec_from_file_location("demo_setup", SETUP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@tagged("post_install", "-at_install")
class TestDemo(CspSandboxHttpCase):
    sandbox_tenants = 8

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.demo = load_demo()
        cls.result = cls.demo.setup(cls.env, cls.sandbox.info, cls.base_url())
        cls.connection = cls.result["connection"]

    def test_the_demo_ends_with_draft_invoices_of_recurring_and_pro_rata_lines(self):
        demo, result = self.demo, self.result
        if result.get("blocked"):
            self.skipTest(f"the demo's billing is blocked: {result['blocked']}")
        connection, customers = self.connection, result["customers"]
        self.assertEqual(len(customers), demo.CUSTOMERS)
        self.assertEqual(result["contracts"].partner_id, customers)

        # Microsoft's cost from the price sheet, the offer's sales price above it
        sheet = price_sheet(self.sandbox.info, "US")
        changed = result["changed"]
        product_id, _, sku_id = changed.offer_id.partition(":")
        self.assertEqual(
            Decimal(str(changed.cost_price)),
            Decimal(sheet[(product_id, sku_id, changed.term_duration, "Monthly")]),
        )
        self.assertGreater(changed.product_id.list_price, changed.cost_price)

        # this month: recurring lines only; next month: recurring and pro-rata lines
        first, following = result["invoices"], result["next_invoices"]
        self.assertEqual(first.partner_id, customers)
        recurring, prorata = demo.invoice_lines(first)
        self.assertTrue(recurring)
        self.assertFalse(prorata)
        self.assertTrue(all(line.price_unit > 0 for line in recurring))
        recurring, prorata = demo.invoice_lines(following)
        self.assertTrue(recurring)
        self.assertTrue(prorata)
        self.assertEqual(set((first | following).mapped("state")), {"draft"})
        # a contract invoiced every year is not invoiced again next month
        self.assertEqual(
            set(following.invoice_line_ids.contract_line_id.contract_id.mapped(
                "recurring_rule_type")), {"monthly"},
        )  # fmt: skip
        self.assertEqual(prorata.contract_line_id, changed.billing_adjustment_ids.contract_line_id)
        self.assertGreater(sum(prorata.mapped("price_subtotal")), 0)  # seats were added
        self.assertEqual(changed.contract_line_id.quantity, changed.quantity)
        # the sandbox's own faulty tenants fail on their own, never the billed customers'
        billed = connection.tenant_ids.filtered(lambda t: t.partner_id in customers)
        self.assertFalse(billed.filtered("last_error").mapped("last_error"))
        reports = self.env["csp.billing.reconciliation"].search(
            [("partner_id", "in", customers.ids)]
        )
        self.assertEqual(reports.partner_id, customers)

        text = "\n".join(demo.summary(result, self.base_url(), "sandbox.json"))
        for words in ("Invoicing", "Pro-rata Adjustments", "Reconciliation with Microsoft",
                      "login_hint=", "set-quantity", changed.microsoft_id):  # fmt: skip
            self.assertIn(words, text)

    def test_a_portal_user_signs_in_with_microsoft(self):
        user, binding = self.result["portal_user"], self.result["portal_binding"]
        self.assertTrue(user._is_portal())
        self.assertIn(f"login_hint={binding.upn}", "\n".join(
            self.demo.summary(self.result, self.base_url(), "sandbox.json")))  # fmt: skip
        page = self.url_open("/web/login")
        provider = user.oauth_provider_id
        (link,) = [
            html.unescape(href)
            for href in re.findall(r'href="([^"]+)"', page.text)
            if html.unescape(href).startswith(provider.auth_endpoint)
        ]
        callback = self.sandbox.browse(f"{link}&login_hint={quote(binding.upn)}")
        answer = self.url_open(callback, allow_redirects=False)
        self.assertEqual(answer.status_code, 303, answer.text)
        self.assertNotIn("oauth_error", answer.headers["Location"])
        info = self.make_jsonrpc_request("/web/session/get_session_info")
        self.assertEqual(info["uid"], user.id)

    def test_a_quantity_changed_in_partner_center_arrives_by_webhook(self):
        connection = self.connection
        self.assertIn(connection.webhook_url, connection.webhook_registration)
        subscription = self.result["changed"] or self.env["csp.subscription"].search(
            [("connection_id", "=", connection.id), ("status", "=", "active"),
             ("billing_cycle", "=", "monthly"), ("next_term_instructions", "=", False)],
            limit=1,
        )  # fmt: skip
        wanted = subscription.quantity + 1
        set_quantity(
            self.sandbox.info, subscription.csp_tenant_id.tenant_id, subscription.microsoft_id,
            wanted,
        )  # fmt: skip
        Event = self.env["csp.webhook.event"]
        domain = [("connection_id", "=", connection.id), ("state", "=", "pending"),
                  ("subscription_ref", "=ilike", subscription.microsoft_id)]  # fmt: skip

        def pending():  # between two requests: the server's requests share this cursor
            with self.registry.test_lock:
                return Event.search(domain)

        deadline = time.monotonic() + 20
        while not pending() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertTrue(pending(), "Partner Center's event reached Odoo")
        self.assertEqual(subscription.quantity, wanted - 1, "nothing read before the job")
        Event._cron_apply_webhook_events()  # the job the event wakes
        self.assertEqual(subscription.quantity, wanted)
