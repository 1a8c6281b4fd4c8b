# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""A portal seat request's price: the pro-rata the customer is shown before sending it is
the one the billing step bills once the MSP approved it and Partner Center applied it."""

import datetime as dt
from decimal import Decimal

from freezegun import freeze_time

from odoo.tests import tagged

from odoo.addons.csp_connector.tests.test_portal import portal_user

from .common import BillingInvoicingCase

PLAIN = "fb695ffb-3a18-40c7-8092-b4d42b28fef0"  # monthly, started on the 14th, 2 seats
CENT = Decimal("0.01")


@tagged("post_install", "-at_install")
class TestBillingPortal(BillingInvoicingCase):
    def test_the_quoted_pro_rata_is_what_the_billing_step_bills(self):
        today = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        this_month = today.date().replace(day=1)
        last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
        self.contract.date_start = last_month
        self.connection.write({"adjust_quantities": True, "portal_responsible_id": self.manager.id})
        with freeze_time(dt.datetime.combine(last_month, dt.time(8))):
            self.sync()
        subscription = self.subscription(PLAIN)
        line = subscription.contract_line_id
        line.price_unit = 20.0  # the MSP's price
        self.invoice(last_month)
        self.invoice(this_month)
        self.env.cr.flush()
        self.connection._csp_sync(trigger="manual", modules=["users"])
        contact = (
            self.env["csp.user.binding"]
            .search([("csp_tenant_id", "=", self.tenant.id), ("partner_id", "!=", False)], limit=1)
            .partner_id
        )
        admin = portal_user(self.env, contact, "portal_billing_admin", admin=True)

        quote = subscription.with_user(admin)._csp_portal_quote(5)
        self.assertTrue(quote["allowed"], quote["reason"])
        self.assertEqual(quote["recurring"], 100.0, "5 seats at 20.00")
        self.assertGreater(quote["prorata"], 0.0)
        request = (
            self.env["csp.portal.request"]
            .with_user(admin)
            ._csp_portal_send(subscription.with_user(admin), 5)
        )
        self.assertEqual(request.quoted_prorata, quote["prorata"])
        request.with_user(self.manager).action_approve()
        self.assertEqual((request.state, subscription.quantity), ("done", 5))

        with freeze_time(today + dt.timedelta(minutes=1)):
            self.sync()
        adjustments = self.env["csp.billing.adjustment"].search(
            [("subscription_id", "=", subscription.id)]
        )
        self.assertTrue(adjustments, "the billing step billed the change")
        billed = sum(Decimal(str(a.amount)).quantize(CENT) for a in adjustments)
        self.assertEqual(Decimal(str(quote["prorata"])).quantize(CENT), billed)

    def test_no_price_yet_says_so_instead_of_an_amount(self):
        self.connection.adjust_quantities = True
        self.sync()
        subscription = self.subscription(PLAIN)
        quote = subscription._csp_portal_quote(subscription.quantity + 1)
        self.assertTrue(quote["allowed"])
        self.assertIsNone(quote["prorata"])
        self.assertIn("not set a price", quote["price_note"])

    def test_the_licence_statement_goes_with_the_invoice_email_when_turned_on(self):
        today = dt.datetime.now(dt.UTC).date()
        this_month = today.replace(day=1)
        last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
        self.contract.date_start = last_month
        with freeze_time(dt.datetime.combine(last_month, dt.time(8))):
            self.sync()
        self.subscription(PLAIN).contract_line_id.price_unit = 20.0
        move = self.invoice(this_month)[-1]
        Send = self.env["account.move.send"]
        Statement = self.env["csp.licence.statement"]
        self.assertFalse(Send._csp_statement_for(move), "off: no statement")
        self.connection.statement_on_invoice = True
        attachments = Send._get_invoice_extra_attachments(move)
        statement = Statement.search([("customer_id", "=", self.customer.id)])
        self.assertEqual(statement.month, last_month, "the month before the invoice")
        self.assertIn(statement.attachment_id, attachments)
        self.assertEqual(Send._get_invoice_extra_attachments(move), attachments, "made once")
        self.assertEqual(Statement.search_count([("customer_id", "=", self.customer.id)]), 1)
