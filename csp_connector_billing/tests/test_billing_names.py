# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The billing records named for what they are (never "model,id"), and the tenant
form's Contracts button in its row of smart buttons, pressed by an accountant."""

import datetime as dt

from lxml import etree

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from odoo.addons.csp_connector.models.csp_guard import code_env
from odoo.addons.csp_connector.tests.display_names import assert_named

from .common import BillingSandboxCase


@tagged("post_install", "-at_install")
class TestBillingNames(BillingSandboxCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_contracts(dt.date(2026, 11, 1))
        cls.connection.write({"licence_import_type": "subscriptions", "billing_mode": "lines"})
        run = cls.connection._csp_sync(trigger="manual", modules=["users", "licences"])
        assert run.state == "done", run.message
        cls.accountant = new_test_user(
            cls.env, login="csp_accountant_names",
            groups="csp_connector.group_csp_user,account.group_account_invoice",
        )  # fmt: skip

    def test_billing_records_are_named_for_what_they_are(self):
        subscription = self.env["csp.subscription"].search(
            [("csp_tenant_id", "=", self.tenant.id)], limit=1
        )
        report = self.env["csp.billing.reconciliation"].sudo().create(
            {"connection_id": self.connection.id, "csp_tenant_id": self.tenant.id,
             "month": dt.date(2026, 11, 1)}
        )  # fmt: skip
        line = self.env["csp.billing.reconciliation.line"].sudo().create(
            {"reconciliation_id": report.id, "subscription_id": subscription.id,
             "microsoft_subscription_id": subscription.microsoft_id, "charge_type": "new"}
        )  # fmt: skip
        self.env["csp.billing.adjustment"].with_user(self.accountant).create({
            "key": "names-1", "subscription_id": subscription.id, "name": "Seat added by hand",
            "quantity": 1, "currency_id": self.env.company.currency_id.id, "cost_amount": 1.0,
            "amount": 1.0,
        })  # fmt: skip
        self.env["csp.create.contracts"].sudo().create(
            {"connection_id": self.connection.id, "tenant_id": self.tenant.id}
        )
        # prices and Azure usage (written by their steps only)
        code = code_env(self.env["csp.price"]).env
        code["csp.price"].create({
            "connection_id": self.connection.id, "key": "names-price",
            "title": "Microsoft 365 Business Basic", "market": "GB",
        })  # fmt: skip
        change = code["csp.price.change"].create({
            "subscription_id": subscription.id, "effective_date": dt.date(2026, 12, 1),
            "state": "upcoming",
        })  # fmt: skip
        product = self.env["product.product"].create({"name": "Azure compute"})
        self.env["csp.meter.rule"].sudo().create(
            {"meter_category": "Virtual Machines", "product_id": product.id}
        )
        usage = code["csp.azure.usage"].create({
            "connection_id": self.connection.id, "key": "names-usage",
            "meter_name": "D2s v5", "subscription_name": "Contoso Production",
            "period_start": dt.date(2026, 11, 1),
        })  # fmt: skip
        assert_named(self, "csp_connector_billing")
        self.assertIn("1 Dec 2026", change.display_name)
        self.assertEqual(usage.display_name, "D2s v5, Contoso Production, November 2026")
        self.assertIn(subscription.display_name, line.display_name)
        self.assertIn("2026-11", line.display_name)

    def test_the_contracts_button_sits_with_the_other_smart_buttons(self):
        tenant = self.tenant.with_user(self.accountant)
        arch = etree.fromstring(tenant.get_views([(False, "form")])["views"]["form"]["arch"])
        boxes = arch.xpath("//div[hasclass('oe_button_box')]")
        self.assertEqual(len(boxes), 1)
        self.assertIn("action_open_contracts", boxes[0].xpath(".//button/@name"))
        self.assertEqual(tenant.contract_count, 2)
        action = tenant.action_open_contracts()
        contracts = (
            self.env["contract.contract"].with_user(self.accountant).search(action["domain"])
        )
        self.assertEqual(contracts, self.contract | self.yearly)
        # a CSP manager without accounting rights: no count, and the button refuses
        manager = self.tenant.with_user(self.manager)
        self.assertEqual(manager.contract_count, 0)
        with self.assertRaises(AccessError):
            manager.action_open_contracts()
