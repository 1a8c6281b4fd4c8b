# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Company walls: every record the add-ons keep names a tenant, a customer or a
connection of one company, and another company's users never see it."""

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import CspSandboxCase

ASHFORD = "7af027bc-08d6-4f57-9a71-144896c8da19"
# models that hold nothing of a company's, and why
COMPANY_FREE = {
    "csp.sku.name": "Microsoft's published product names, the same for every company",
}


def stored_csp_models(env):
    return sorted(
        name
        for name, model in env.registry.items()
        if name.startswith("csp.") and not model._abstract and not model._transient
        and model._auto
    )  # fmt: skip


@tagged("post_install", "-at_install")
class TestCompanyWalls(CspSandboxCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_customer_tenant(ASHFORD)
        cls.connection.licence_import_type = "both"
        cls.connection._csp_sync(trigger="manual")
        mapping = cls.env["csp.site.mapping"].search([("connection_id", "=", cls.connection.id)])
        cls.env["csp.site.mapping.filter"].create(
            {"mapping_id": mapping[:1].id, "azure_field": "department", "value": "Sales"}
        )
        cls.other = cls.env["res.company"].create({"name": "Other MSP"})
        cls.outsider = new_test_user(
            cls.env, "other-msp-manager", groups="csp_connector.group_csp_manager",
            company_id=cls.other.id, company_ids=[cls.other.id],
        )  # fmt: skip

    def test_every_stored_csp_model_has_a_company_rule(self):
        missing = []
        for name in stored_csp_models(self.env):
            rules = self.env["ir.rule"].sudo().search([("model_id.model", "=", name)])
            if name not in COMPANY_FREE and not any(
                "company_ids" in (rule.domain_force or "") for rule in rules
            ):
                missing.append(name)
        self.assertEqual(missing, [], "models without a company rule")

    def test_another_companys_manager_sees_none_of_its_records(self):
        checked = []
        for name in stored_csp_models(self.env):
            if name in COMPANY_FREE:
                continue
            ours = self.env[name].sudo().with_context(active_test=False).search([])
            if not ours:
                continue
            theirs = self.env[name].with_user(self.outsider).with_context(active_test=False)
            try:
                seen = theirs.search([])
            except AccessError:
                continue  # no access to the model at all
            self.assertFalse(seen & ours, f"{name}: company A's records seen from company B")
            with self.assertRaises(AccessError, msg=name):
                theirs.browse(ours[:1].id).read(["display_name"])
            checked.append(name)
        # the sync above made records of every kind that matters here
        for name in ("csp.tenant", "csp.sync.run", "csp.sync.run.line", "csp.request.log",
                     "csp.subscription", "csp.site.mapping.filter"):  # fmt: skip
            self.assertIn(name, checked)
