# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The billing step and its settings on the connection."""

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY

from odoo.addons.csp_connector.models.csp_guard import is_code
from odoo.addons.csp_connector.models.csp_sync_step import CspStep

from ..billing import lines as line_rules
from ..billing.prorata import RoundingRule
from .contract import lock_contracts
from .csp_subscription import ContractUnusable

ROUNDING_RULES = [
    (RoundingRule.RECONCILIATION_FILE.value, "Reconciliation file (unit price cut to cents)"),
    (RoundingRule.TRUNCATE_LINE.value, "Line amount cut to cents"),
    (RoundingRule.HALF_UP.value, "Line amount rounded half up"),
]
ENDED = ("deleted", "expired")  # Microsoft no longer bills them
# the tenant's error step for a contract the billing step cannot use (not a failed step:
# its other subscriptions are billed; the step's success does not clear it, its next
# run without such a contract does)
CONTRACT_ERROR = "billing_contracts"
# what a customer's invoice carries follows these: set by users with invoicing rights
INVOICING_GROUP = "account.group_account_invoice"
INVOICING_FIELDS = ("billing_quantity_basis", "billing_rounding")


def check_invoicing_rights(env, what):
    """Raise unless ``env``'s user may decide what the customers' invoices carry
    (invoicing rights); the connector's own code may."""
    if is_code(env) or env.user.has_group(INVOICING_GROUP):
        return
    raise AccessError(
        env._(
            "%(what)s decides what your customers are invoiced, so it needs invoicing rights "
            "(Invoicing: Billing or more), not only Microsoft CSP Manager. Ask an accountant "
            "to do it, or to give you those rights.",
            what=what,
        )
    )


BILLING_MODES = [
    ("none", "Do not import products"),
    ("products", "Import products"),
    ("lines", "Import products and add invoice lines"),
]


class CspConnection(models.Model):
    _inherit = "csp.connection"

    sync_billing = fields.Boolean(
        string="Billing",
        compute="_compute_sync_billing",
        store=True,
        readonly=False,
        help="Run the billing step: products from subscriptions and, when chosen, lines on "
        "the customers' recurring contracts. On once the Billing tab says what to do.",
    )
    billing_mode = fields.Selection(
        BILLING_MODES,
        string="Products and Invoice Lines",
        default="none",
        required=True,
        help="Import products: one service product per Microsoft offer (internal reference "
        "= offer id), linked with its subscriptions. Add invoice lines: each subscription "
        "also becomes a line of the customer's newest active sale contract whose "
        "recurrence matches its billing cycle (monthly or yearly).",
    )
    billing_rounding = fields.Selection(
        ROUNDING_RULES,
        string="Pro-rata Rounding",
        default=RoundingRule.RECONCILIATION_FILE.value,
        required=True,
        help="Where pro-rata adjustments are rounded to the currency: Microsoft's "
        "reconciliation file cuts the effective unit price to cents before multiplying by "
        "the quantity (default); Microsoft's seat-change examples cut the line amount; "
        "'half up' rounds the line amount the usual way. Used for Microsoft's cost and "
        "for the customer's amount alike.",
    )
    billing_quantity_basis = fields.Selection(
        [(line_rules.PURCHASED, "Purchased seats"), (line_rules.ASSIGNED, "Assigned seats")],
        string="Line Quantity",
        default=line_rules.PURCHASED,
        required=True,
        help="The quantity of a subscription's contract line: the seats bought in Partner "
        "Center, or the seats assigned to users (the licence's assigned seats shared over "
        "its subscriptions).",
    )
    billing_user_id = fields.Many2one(
        "res.users",
        string="Billing Contact",
        default=lambda self: self.env.user,
        help="Gets the activity when a subscription finds no contract to go on.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        if any(vals.get("billing_mode") == "lines" for vals in vals_list):
            check_invoicing_rights(self.env, self.env._("Adding invoice lines to contracts"))
        return super().create(vals_list)

    def write(self, vals):
        if vals.get("billing_mode") == "lines" and any(c.billing_mode != "lines" for c in self):
            check_invoicing_rights(self.env, self.env._("Adding invoice lines to contracts"))
        changed = [f for f in INVOICING_FIELDS if f in vals and any(c[f] != vals[f] for c in self)]
        if changed:
            names = ", ".join(self._fields[f].get_description(self.env)["string"] for f in changed)
            check_invoicing_rights(self.env, self.env._("Changing %(fields)s", fields=names))
        return super().write(vals)

    @api.depends("billing_mode")
    def _compute_sync_billing(self):
        for connection in self:
            connection.sync_billing = connection.billing_mode != "none"

    def _csp_sync_steps(self):
        return [
            *super()._csp_sync_steps(),
            CspStep("billing", self.env._("Billing"), "tenant", 50, "_csp_sync_billing"),
        ]


class CspTenant(models.Model):
    _inherit = "csp.tenant"

    def write(self, vals):
        """A tenant's customer decides whose contracts its subscriptions are invoiced on:
        changing it on a connection that adds invoice lines needs invoicing rights, and
        the lines already on the former customer's contracts move to the new customer's
        (or end there), both contracts saying so."""
        moved = self.env["csp.tenant"]
        if "partner_id" in vals:
            moved = self.filtered(
                lambda t: (
                    t.partner_id.id != (vals["partner_id"] or False)
                    and t.connection_id.billing_mode == "lines"
                )
            )
            if moved:
                check_invoicing_rights(
                    self.env, self.env._("Changing the customer of a tenant billed on contracts")
                )
        result = super().write(vals)
        if moved:
            subscriptions = self.env["csp.subscription"].search(
                [("csp_tenant_id", "in", moved.ids), ("contract_line_id", "!=", False)]
            )
            # the rights were checked: moving the lines is the billing step's own work
            author = self.env.user.partner_id
            for subscription in subscriptions.sudo():
                subscription._csp_move_contract_line(author)
        return result

    def _csp_sync_billing(self, http):
        """The billing step for one tenant: products, then contract lines."""
        connection = self.connection_id
        if connection.billing_mode == "none":
            return {}
        subscriptions = self.env["csp.subscription"].search(
            [("csp_tenant_id", "=", self.id), ("removed", "=", False)]
        )
        counters = {"created": 0, "updated": 0, "skipped": 0}
        messages = []
        for subscription in subscriptions:
            if subscription._csp_link_product():
                counters["updated"] += 1
        # Microsoft's cost and list price from the stored price sheet (the prices step)
        subscriptions._csp_apply_prices(fields.Date.context_today(self))
        if connection.billing_mode == "lines":
            self._csp_billing_lines(subscriptions, counters, messages)
        elif self.last_error_step == CONTRACT_ERROR:  # no line added: no contract used
            self._csp_code().write({"last_error": False, "last_error_step": False})
        if messages:  # every subscription that failed is named, not only the last one
            counters["message"] = "\n".join(messages)
        return counters

    def _csp_billing_lines(self, subscriptions, counters, messages):
        """The contract lines of ``subscriptions`` and their pro-rata adjustments; those
        whose contract is being invoiced at the same moment wait for the next run."""
        quantities = subscriptions._csp_line_quantities()
        # contracts being invoiced now: their subscriptions wait for the next run
        waiting = self._csp_billing_waiting(subscriptions)
        missing = []
        unusable = {}  # {ContractUnusable's text: subscriptions}
        billed = (subscriptions - waiting).filtered(
            lambda s: s.status == "active" and line_rules.is_billed(s.billing_cycle)
        )
        for subscription in billed:
            try:
                with self.env.cr.savepoint():
                    outcome = subscription._csp_sync_contract_line(quantities[subscription.id])
            except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:  # its contract was just invoiced
                waiting |= subscription
                continue
            except ContractUnusable as exc:  # the others go on
                unusable.setdefault(str(exc), []).append(subscription)
                continue
            if outcome == "missing":
                missing.append(subscription)
            elif outcome:
                counters[outcome] += 1
        self._csp_billing_missing_contracts(missing)
        self._csp_billing_unusable_contracts(unusable, counters, messages)
        self._csp_billing_unpriced(billed - waiting, messages)
        # cancelled ones too: a cancellation within 7 days is refunded
        on_lines = subscriptions.filtered("contract_line_id") - waiting
        self._csp_bill_adjustments(on_lines, counters, messages)
        # then the recurring lines of the cancelled ones stop (after their refunds)
        for subscription in on_lines.filtered(lambda s: s.status in ENDED):
            if subscription._csp_end_contract_line():
                counters["updated"] += 1
        if waiting:
            counters["skipped"] += len(waiting)
            messages.append(
                self.env._(
                    "%(count)s subscription(s) wait for the next run: their contract "
                    "(%(contracts)s) was being invoiced at the same moment.",
                    count=len(waiting),
                    contracts=", ".join(
                        waiting.contract_line_id.contract_id.sudo().mapped("display_name")
                    )
                    or self.partner_id.display_name,
                )
            )
        if missing:
            counters["skipped"] += len(missing)
            messages.append(
                self.env._(
                    "%s subscription(s) found no matching contract (see the customer's "
                    "activity): click Create contracts on the tenant or the connection.",
                    len(missing),
                )
            )

    def _csp_billing_unusable_contracts(self, unusable, counters, messages):
        """The contracts the step picked but could not use, named on the run line and on
        the tenant (its error, until a run finds none: another step's error stays)."""
        if not unusable:
            if self.last_error_step == CONTRACT_ERROR:
                self._csp_code().write({"last_error": False, "last_error_step": False})
            return
        texts = [
            self.env._(
                "%(problem)s Not invoiced until then: %(subscriptions)s.",
                problem=problem,
                subscriptions=", ".join(
                    s.friendly_name or s.offer_name or s.microsoft_id for s in failed
                ),
            )
            for problem, failed in unusable.items()
        ]
        counters["errors"] = counters.get("errors", 0) + sum(map(len, unusable.values()))
        messages.extend(texts)
        if self.last_error_step not in (False, CONTRACT_ERROR) and self.last_error:
            return  # another step's failure is the tenant's error
        message = "\n".join(texts)
        if self.last_error != message:
            self._csp_code().write({"last_error": message, "last_error_step": CONTRACT_ERROR})
            self.message_post(body=message)

    def _csp_billing_unpriced(self, subscriptions, messages):
        """Name, on the run line, the products of ``subscriptions`` without a sales
        price: their contract lines bill 0.00."""
        unpriced = subscriptions.product_id.filtered(lambda p: not p.lst_price)
        if not unpriced:
            return
        messages.append(
            self.env._(
                "%(count)s product(s) have no sales price, so their contract lines bill "
                "0.00: %(products)s. Set their price under Microsoft CSP → Billing → "
                "Products without a price (a line added at 0.00 keeps it: change its price "
                "on the contract too).",
                count=len(unpriced),
                products=", ".join(unpriced.mapped("display_name")),
            )
        )

    def _csp_billing_waiting(self, subscriptions):
        """The contracts the step may write for ``subscriptions`` (their lines' and the
        customer's sale contracts), each locked for this transaction when free
        (contract.lock_contracts); returns the subscriptions whose contract is being
        invoiced (held by the invoicing job, or invoiced since this run's transaction
        began): the next run bills them."""
        Contract = self.env["contract.contract"]
        on_lines = subscriptions.contract_line_id.contract_id
        partner = self.partner_id.commercial_partner_id
        customers = (
            Contract.search(
                [("commercial_partner_id", "=", partner.id), ("contract_type", "=", "sale")]
            )
            if partner
            else Contract
        )
        self.env.flush_all()
        contracts = on_lines | customers
        busy = contracts - Contract.browse(lock_contracts(self.env.cr, contracts.ids))
        if not busy:
            return subscriptions.browse()

        def waits(subscription):
            line = subscription.contract_line_id
            if line and line.contract_id in busy:
                return True
            # a new line (or a moved one) goes on one of the customer's contracts
            return bool((not line or subscription._csp_line_elsewhere(line)) and busy & customers)

        return subscriptions.filtered(waits)

    def _csp_bill_adjustments(self, subscriptions, counters, messages):
        """The pro-rata adjustments of each subscription on a contract line; one whose
        history the rule cannot bill is counted and named, the others go on."""
        for subscription in subscriptions:
            try:
                with self.env.cr.savepoint():
                    counters["created"] += subscription._csp_sync_adjustments()
            except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:  # its contract was just invoiced
                counters["skipped"] += 1
                messages.append(
                    self.env._(
                        "Pro-rata of %(name)s waits for the next run: its contract was being "
                        "invoiced at the same moment.",
                        name=subscription.friendly_name,
                    )
                )
            except ValueError as exc:  # a history the rule cannot bill
                counters["errors"] = counters.get("errors", 0) + 1
                messages.append(
                    self.env._(
                        "Pro-rata of %(name)s not billed: %(reason)s",
                        name=subscription.friendly_name,
                        reason=exc,
                    )
                )

    def _csp_billing_missing_contracts(self, subscriptions):
        """One activity on the customer naming what has no contract (never one per run);
        marked done once nothing is missing any more."""
        partner = self.partner_id.commercial_partner_id
        if not partner:
            return
        summary = self.env._("Microsoft subscriptions without a contract")
        if not subscriptions:
            partner._csp_open_activities(summary).action_feedback(
                self.env._("Every subscription is on a contract.")
            )
            return
        # Microsoft's names and the customer's are text: escaped into the note's HTML
        names = Markup("").join(
            Markup("<li>%s</li>")
            % self.env._(
                "%(name)s (%(cycle)s billing): %(needed)s",
                name=s.friendly_name or s.offer_name,
                cycle=s.billing_cycle or "?",
                needed=line_rules.recurrence_text(s.billing_cycle),
            )
            for s in subscriptions
        )
        note = Markup("<p>%s</p><ul>%s</ul>") % (
            self.env._(
                "These subscriptions of %(customer)s found no matching recurring contract, "
                "so they are not invoiced yet. Click Create contracts on the tenant (or "
                "create the contract by hand, or set its recurrence); the next billing run "
                "adds the lines.",
                customer=partner.display_name,
            ),
            names,
        )
        partner._csp_activity_once(
            summary, note, self.connection_id.billing_user_id or self.env.user
        )
