# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
""" "Create contracts": the sale contracts the billing step will put the mapped
customers' subscriptions on (billing/contracts.py decides which)."""

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from odoo.addons.csp_connector.models.csp_guard import is_code

from ..billing import contracts as contract_rules
from .csp_connection import INVOICING_GROUP, check_invoicing_rights

# what a template gives the contracts made from it (when it has a value); its recurrence,
# type, lines and dates do not: each contract gets the recurrence its subscriptions need
TEMPLATE_FIELDS = ("journal_id", "pricelist_id", "recurring_invoicing_type", "generation_type")


def check_contract_rights(env):
    """Creating customers' contracts: a CSP manager with invoicing rights (the
    connector's own code may)."""
    if not is_code(env) and not env.user.has_group("csp_connector.group_csp_manager"):
        raise AccessError(
            env._(
                "Creating contracts for Microsoft customers needs the Microsoft CSP "
                "Manager right (and invoicing rights)."
            )
        )
    check_invoicing_rights(env, env._("Creating contracts"))


class CspConnection(models.Model):
    _inherit = "csp.connection"

    billing_contract_template_id = fields.Many2one(
        "contract.template",
        string="Contract Template",
        domain="[('contract_type', '=', 'sale'), ('company_id', 'in', [company_id, False])]",
        groups=INVOICING_GROUP,
        help="What 'Create contracts' proposes: the journal, pricelist and invoicing type "
        "(pre-paid or post-paid) of the contracts it creates. Its recurrence and lines "
        "are not used: each contract gets the recurrence its subscriptions need.",
    )

    def action_create_contracts(self):
        """The 'Create contracts' wizard for every mapped customer of the connection."""
        self.ensure_one()
        check_contract_rights(self.env)
        return self.env["csp.create.contracts"]._csp_open({"default_connection_id": self.id})

    def _csp_create_contracts(self, partners=None, template=None, start=None):
        """The sale contracts the mapped customers (of ``partners`` only, when given)
        need for their billable subscriptions and do not have yet: one per recurrence,
        from ``template`` (the connection's Contract Template by default), starting and
        first invoiced on ``start`` (the first day of next month by default), in the
        connection's company. Run again, it creates nothing more. Returns the contracts
        created."""
        check_contract_rights(self.env)
        start = start or contract_rules.first_of_next_month(fields.Date.context_today(self))
        created = self.env["contract.contract"]
        for connection in self:
            created |= connection._csp_create_contracts_one(
                partners, template or connection.sudo().billing_contract_template_id, start
            )
        return created

    def _csp_create_contracts_one(self, partners, template, start):
        self.ensure_one()
        company = self.company_id or self.env.company
        tenants = self.tenant_ids.filtered("partner_id")
        if partners is not None:
            customers = partners.commercial_partner_id
            tenants = tenants.filtered(lambda t: t.partner_id.commercial_partner_id in customers)
        subscriptions = self.env["csp.subscription"].search(
            [
                ("csp_tenant_id", "in", tenants.ids),
                ("removed", "=", False),
                ("status", "=", "active"),
                ("contract_line_id", "=", False),
            ]
        )
        wanted = contract_rules.needed(
            [(s, s.partner_id.commercial_partner_id, s.billing_cycle) for s in subscriptions],
            lambda s: bool(s._csp_contract_for()),
        )
        if not wanted:
            return self.env["contract.contract"]
        values = self._csp_contract_values(template, company, start)
        # the rights were checked (CSP manager with invoicing rights): OCA contract lets
        # only accounting managers create contracts, so they are created as superuser
        Contract = self.env["contract.contract"].sudo().with_company(company)
        created = Contract
        for (customer, recurrence), needing in wanted.items():
            rule, interval = recurrence
            every = contract_rules.every(recurrence)
            contract = Contract.create(
                {
                    **self._csp_customer_values(customer, company),
                    **values,
                    "name": self.env._("Microsoft subscriptions, invoiced %(every)s", every=every),
                    "partner_id": customer.id,
                    "recurring_rule_type": rule,
                    "recurring_interval": interval,
                }
            )
            contract.message_post(
                body=self.env._(
                    "Created by 'Create contracts' of the Microsoft CSP connection "
                    "%(connection)s, for %(subscriptions)s, invoiced %(every)s from %(start)s.",
                    connection=self.name,
                    subscriptions=", ".join(
                        s.friendly_name or s.offer_name or s.microsoft_id for s in needing
                    ),
                    every=every,
                    start=start,
                ),
                author_id=self.env.user.partner_id.id,
                subtype_xmlid="mail.mt_note",
            )
            created |= contract
        return created.sudo(False)

    def _csp_contract_values(self, template, company, start):
        """What every contract of this run gets: the template's settings, the sale
        journal, the dates. A template or company that cannot give a usable contract is
        refused, before anything is created."""
        if template and template.contract_type != "sale":
            raise UserError(
                self.env._(
                    "The contract template %(template)s is for suppliers: choose a "
                    "customer contract template.",
                    template=template.display_name,
                )
            )
        if template and template.company_id and template.company_id != company:
            raise UserError(
                self.env._(
                    "The contract template %(template)s belongs to %(other)s, not to "
                    "%(company)s (the connection's company): choose one of %(company)s.",
                    template=template.display_name,
                    other=template.company_id.display_name,
                    company=company.display_name,
                )
            )
        values = {
            "company_id": company.id,
            "contract_type": "sale",
            "line_recurrence": False,
            "date_start": start,
            "contract_template_id": template.id if template else False,
        }
        template = template.sudo() if template else template
        for name in TEMPLATE_FIELDS:
            value = template[name] if template else False
            if value:
                values[name] = value.id if isinstance(value, models.BaseModel) else value
        if not values.get("journal_id"):
            journal = self.env["account.journal"].sudo().search(
                [*self.env["account.journal"]._check_company_domain(company),
                 ("type", "=", "sale")],
                limit=1,
            )  # fmt: skip
            if not journal:
                raise UserError(
                    self.env._(
                        "%(company)s has no sales journal, so its contracts could not be "
                        "invoiced: create one (Invoicing → Configuration → Journals), or "
                        "choose a contract template that has one.",
                        company=company.display_name,
                    )
                )
            values["journal_id"] = journal.id
        return values

    def _csp_customer_values(self, customer, company):
        """What OCA contract's form takes from the customer: pricelist, fiscal position,
        payment terms (the template's pricelist wins)."""
        customer = customer.sudo().with_company(company)
        fiscal_position = (
            self.env["account.fiscal.position"]
            .sudo()
            .with_company(company)
            ._get_fiscal_position(customer)
        )
        return {
            "pricelist_id": customer.property_product_pricelist.id,
            "fiscal_position_id": fiscal_position.id,
            "payment_term_id": customer.property_payment_term_id.id,
        }


class CspTenant(models.Model):
    _inherit = "csp.tenant"

    contract_count = fields.Integer(compute="_compute_contract_count")

    def _csp_contract_domain(self):
        return [
            ("contract_type", "=", "sale"),
            ("partner_id", "child_of", self.partner_id.commercial_partner_id.ids),
        ]

    @api.depends_context("uid")
    def _compute_contract_count(self):
        Contract = self.env["contract.contract"]
        allowed = Contract.has_access("read")
        for tenant in self:
            tenant.contract_count = (
                Contract.search_count(tenant._csp_contract_domain())
                if allowed and tenant.partner_id
                else 0
            )

    def action_open_contracts(self):
        """The customer's sale contracts (the button of the tenant form)."""
        self.ensure_one()
        self.env["contract.contract"].check_access("read")
        return self.env["ir.actions.act_window"]._csp_action(
            "contract.action_customer_contract",
            domain=self._csp_contract_domain(),
            context={
                "default_partner_id": self.partner_id.commercial_partner_id.id,
                "default_contract_type": "sale",
            },
        )

    def action_create_contracts(self):
        """The 'Create contracts' wizard for this tenant's customer."""
        self.ensure_one()
        check_contract_rights(self.env)
        if not self.partner_id:
            raise UserError(
                self.env._(
                    "%(tenant)s has no customer yet: map it to a customer first, then "
                    "create its contracts.",
                    tenant=self.name,
                )
            )
        return self.env["csp.create.contracts"]._csp_open(
            {"default_connection_id": self.connection_id.id, "default_tenant_id": self.id}
        )
