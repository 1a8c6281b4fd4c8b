# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The last line of defence (a sync never writes the contact of an Odoo user or of a
company of the database) follows the contacts that become protected, or stop being
protected, while a sync runs: it reads them once per transaction, not once per write."""

from odoo import SUPERUSER_ID, api
from odoo.exceptions import AccessError
from odoo.tests import tagged
from odoo.tests.common import TransactionCase

from ..models.csp_guard import code_env


@tagged("post_install", "-at_install")
class TestGuard(TransactionCase):
    def setUp(self):
        super().setUp()
        self.portal = self.env.ref("base.group_portal")
        self.customer = self.env["res.partner"].create(
            {"name": "Ashford & Pike", "is_company": True}
        )
        self.pat, self.sam = self.env["res.partner"].create(
            [
                {"name": "Pat Portal", "parent_id": self.customer.id, "email": "pat@ashford.test"},
                {"name": "Sam Spare", "parent_id": self.customer.id, "email": "sam@ashford.test"},
            ]
        )

    def portal_user(self, env, contact):
        """A portal user for `contact`, created as the sync grants portal access."""
        return env["res.users"].with_context(no_reset_password=True).create(
            {"name": contact.name, "login": contact.email, "partner_id": contact.id,
             "groups_id": [(6, 0, [self.portal.id])]}
        )  # fmt: skip

    def assertWritable(self, contact, env=None):
        partners = code_env((env or self.env)["res.partner"])  # a sync, as the superuser
        partners.browse(contact.id).write({"function": "Buyer"})
        self.assertNotIn(contact.id, partners._csp_protected_ids([contact.id]))

    def assertRefused(self, contact, env=None):
        partners = code_env((env or self.env)["res.partner"])
        # first (it reads the database: a test cursor then opens its savepoint before
        # assertRaises opens one on the test's cursor)
        self.assertIn(contact.id, partners._csp_protected_ids([contact.id]), "the sync skips it")
        with self.assertRaises(AccessError):
            partners.browse(contact.id).write({"function": "Changed by a sync"})
        with self.assertRaises(AccessError):
            partners.browse(contact.id).unlink()

    def test_a_contact_protected_during_the_sync_is_refused_at_once(self):
        self.assertWritable(self.pat)  # the guard has read the protected contacts
        # the sync grants portal access to a contact it created: that contact is now an
        # Odoo user's, in the same transaction
        user = self.portal_user(self.env, self.pat)
        self.assertRefused(self.pat)
        # a user created with a contact of its own; a company of the database
        other = self.env["res.users"].create({"name": "Ola Internal", "login": "ola"})
        self.assertRefused(other.partner_id)
        company = self.env["res.company"].create({"name": "Second MSP"})
        self.assertRefused(company.partner_id)
        # the user moved to another contact: that one is protected, the first is free
        user.partner_id = self.sam
        self.assertRefused(self.sam)
        self.assertWritable(self.pat)
        # a user deleted frees its contact (Odoo keeps the contact)
        user.unlink()
        self.assertWritable(self.sam)
        self.assertRefused(other.partner_id)

    def test_a_user_rolled_back_frees_its_contact(self):
        self.assertWritable(self.pat)
        with self.assertRaises(RuntimeError), self.env.cr.savepoint():
            self.portal_user(self.env, self.pat)
            self.assertRefused(self.pat)
            raise RuntimeError("the tenant's step failed")
        self.assertWritable(self.pat)

    def test_a_user_created_by_another_transaction_counts_once_the_sync_commits(self):
        self.registry.enter_test_mode(self.env.cr)
        self.addCleanup(self.registry.leave_test_mode)
        self.env.flush_all()
        with self.registry.cursor() as cr:  # the sync's transaction
            sync_env = api.Environment(cr, SUPERUSER_ID, {})
            self.assertWritable(self.pat, sync_env)
            self.portal_user(self.env, self.pat)  # another transaction (a person, SSO)
            self.env.flush_all()
            # the integrator commits after each tenant: from there on the sync sees it
            cr.commit()  # pylint: disable=invalid-commit
            self.assertRefused(self.pat, sync_env)
            self.assertWritable(self.sam, sync_env)
