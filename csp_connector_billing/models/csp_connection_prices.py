# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The prices step: Microsoft's price sheet of the connection's market into
``csp.price`` (weekly, and on demand), next month's on request, and each subscription's
Microsoft Cost and list price from it, its contract line following the price policy."""

import datetime as dt
import logging

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from odoo.addons.csp_connector.models.csp_guard import code_env
from odoo.addons.csp_connector.models.csp_sync_step import CspStep

from ..billing import prices as price_rules
from ..microsoft.price_sheets import PRICING_SCOPES, PriceSheets
from .csp_connection import check_invoicing_rights
from .csp_price_change import POLICIES

_logger = logging.getLogger(__name__)


class CspConnection(models.Model):
    _inherit = "csp.connection"

    sync_prices = fields.Boolean(
        string="Prices",
        default=False,
        help="Run the prices step: Microsoft's price sheet of the market, every "
        "'Price Sheet Every' days (weekly by default), and the subscriptions' Microsoft "
        "Cost and list price from it.",
    )
    price_market = fields.Char(
        size=2,
        default="US",
        help="The two-letter market whose price sheet prices your subscriptions (GB, US, "
        "AU, CA, NZ...): the one of your Partner Center billing profile.",
    )
    price_currency_id = fields.Many2one(
        "res.currency",
        compute="_compute_price_currency_id",
        store=True,
        readonly=False,
        help="The currency of the market's price sheet.",
    )
    price_policy = fields.Selection(
        POLICIES,
        string="When Microsoft's Price Changes",
        default=price_rules.KEEP,
        required=True,
        help="What happens to a contract line's price when Microsoft's price changes: "
        "keep the line's price; keep the margin % (the price moves with the cost); or "
        "follow Microsoft's list price. A product can say otherwise.",
    )
    price_interval_days = fields.Integer(
        string="Price Sheet Every (days)", default=7,
        help="The prices step reads the price sheet when the last import is this old.",
    )  # fmt: skip
    price_last_import = fields.Datetime(string="Prices Imported On", readonly=True, copy=False)
    price_import_requested = fields.Boolean(readonly=True, copy=False)
    price_future_requested = fields.Boolean(readonly=True, copy=False)

    @api.model
    def _csp_code_only_fields(self):
        return super()._csp_code_only_fields() | {
            "price_last_import", "price_import_requested", "price_future_requested",
        }  # fmt: skip

    @api.depends("price_market")
    def _compute_price_currency_id(self):
        for connection in self:
            code = price_rules.MARKET_CURRENCIES.get((connection.price_market or "").upper())
            currency = (
                self.env["res.currency"].with_context(active_test=False).search(
                    [("name", "=", code)], limit=1
                )
                if code
                else False
            )  # fmt: skip
            connection.price_currency_id = currency or connection.price_currency_id

    @api.constrains("price_market")
    def _check_price_market(self):
        for connection in self:
            if connection.price_market and not price_rules.valid_market(connection.price_market):
                raise ValidationError(
                    self.env._(
                        "The price market %(market)s is not a two-letter market code in "
                        "capitals (e.g. US, GB, AU).",
                        market=connection.price_market,
                    )
                )

    def write(self, vals):
        if "price_policy" in vals and any(c.price_policy != vals["price_policy"] for c in self):
            check_invoicing_rights(self.env, self.env._("Changing the price policy"))
        if vals.get("price_market"):
            vals = {**vals, "price_market": vals["price_market"].strip().upper()}
        return super().write(vals)

    def _csp_sync_steps(self):
        return [
            *super()._csp_sync_steps(),
            CspStep("prices", self.env._("Prices"), "connection", 40, "_csp_sync_prices"),
        ]

    # -- buttons ------------------------------------------------------------------

    def action_import_prices(self):
        """Import this month's price sheet now (a run of the prices step)."""
        return self._csp_request_prices({"price_import_requested": True})

    def action_import_future_prices(self):
        """Import next month's price sheet now and list the upcoming price changes."""
        return self._csp_request_prices({"price_future_requested": True})

    def _csp_request_prices(self, flags):
        self.ensure_one()
        self._csp_check_can_sync()
        if not self.price_market:
            raise UserError(self.env._("Set the connection's Price Market first (e.g. US)."))
        code_env(self).write(flags)
        return self.env["csp.sync.run"]._csp_queue(self, ["prices"])._csp_open()

    def action_view_upcoming_prices(self):
        self.ensure_one()
        return self.env["ir.actions.act_window"]._csp_action(
            "csp_connector_billing.csp_price_change_upcoming_action",
            domain=[("connection_id", "=", self.id), ("state", "=", "upcoming")],
        )

    # -- the step -----------------------------------------------------------------

    def _csp_prices_due(self, now=None):
        if self.price_import_requested or not self.price_last_import:
            return True
        now = now or fields.Datetime.now()
        days = max(self.price_interval_days or 7, 1)
        return now - self.price_last_import >= dt.timedelta(days=days)

    def _csp_sync_prices(self, http):
        """The prices step: the current sheet when due, next month's when asked, then the
        subscriptions' prices (and the waiting contract lines)."""
        self.ensure_one()
        if not self.price_market:
            return {"skipped": 1, "message": self.env._("No price market on the connection.")}
        counters = {"created": 0, "updated": 0, "deactivated": 0, "skipped": 0}
        messages = []
        today = fields.Date.context_today(self)
        sheets = PriceSheets(http, self._csp_delegated_token(http, PRICING_SCOPES))
        if self._csp_prices_due():
            self._csp_import_sheet(sheets, "current", counters, messages)
            code_env(self).write(
                {"price_last_import": fields.Datetime.now(), "price_import_requested": False}
            )
        if self.price_future_requested:
            self._csp_import_sheet(sheets, "future", counters, messages)
            upcoming = self._csp_upcoming_prices(price_rules.next_month(today))
            messages.append(self.env._("%s subscription(s) change price next month.", upcoming))
            code_env(self).write({"price_future_requested": False})
        subscriptions = self.env["csp.subscription"].search(
            [("connection_id", "=", self.id), ("removed", "=", False)]
        )
        priced, lines = subscriptions._csp_apply_prices(today)
        counters["updated"] += priced + lines
        if priced or lines:
            messages.append(
                self.env._(
                    "%(priced)s subscription(s) took a new price, %(lines)s contract "
                    "line(s) changed price.",
                    priced=priced,
                    lines=lines,
                )
            )
        company_currency = self.company_id.currency_id
        if self.price_currency_id and self.price_currency_id != company_currency:
            messages.append(
                self.env._(
                    "The %(market)s price sheet is in %(sheet)s while %(company)s keeps its "
                    "books in %(books)s: costs and list prices are taken as they are, not "
                    "converted. Choose the market of your Partner Center billing profile.",
                    market=self.price_market,
                    sheet=self.price_currency_id.name,
                    company=self.company_id.name,
                    books=company_currency.name,
                )
            )
        if messages:
            counters["message"] = "\n".join(messages)
        return counters

    def _csp_import_sheet(self, sheets, timeline, counters, messages):
        # a benchmark follows the import batch by batch (its memory, see bench_prices)
        progress = self.env.context.get("csp_price_progress")
        found, bad = self.env["csp.price"]._csp_import(
            self, sheets.rows(self.price_market, timeline), progress=progress
        )
        for name in ("created", "updated", "deactivated"):
            counters[name] += found[name]
        counters["skipped"] += found["unchanged"]
        label = self.env._("next month's") if timeline == "future" else self.env._("this month's")
        text = self.env._(
            "Price sheet %(market)s (%(which)s): %(rows)s rows, %(created)s new, "
            "%(updated)s changed, %(unchanged)s unchanged, %(removed)s removed by "
            "Microsoft.",
            market=self.price_market, which=label, rows=found["rows"],
            created=found["created"], updated=found["updated"],
            unchanged=found["unchanged"], removed=found["deactivated"],
        )  # fmt: skip
        messages.append(text)
        if bad:
            counters["errors"] = counters.get("errors", 0) + len(bad)
            text = price_rules.explain_bad_rows(bad, found["rows"])
            _logger.warning("CSP connection %s: %s", self.id, text)
            messages.append(text)

    def _csp_upcoming_prices(self, start):
        """The upcoming changes of next month (effective ``start``) from the future sheet:
        one per subscription whose cost or list price then differs; stale ones dropped
        (they are previews, computed again at each import). Returns their count."""
        Change = self.env["csp.price.change"].sudo()
        subscriptions = self.env["csp.subscription"].search(
            [("connection_id", "=", self.id), ("removed", "=", False),
             ("status", "not in", ("deleted", "expired"))]
        )  # fmt: skip
        keys = {s.id: s._csp_price_key() for s in subscriptions}
        wanted = set(filter(None, keys.values()))
        rows = self.env["csp.price"]._csp_rows_for(self, wanted, start=start)
        previous = Change.search(
            [("connection_id", "=", self.id), ("state", "=", "upcoming"),
             ("effective_date", "=", start)]
        )  # fmt: skip
        by_subscription = {c.subscription_id.id: c for c in previous}
        kept = Change
        for subscription in subscriptions:
            row = rows.get(keys[subscription.id])
            if row is None or not subscription._csp_price_differs(row):
                continue
            line = subscription.contract_line_id
            old_line = line.price_unit if line else 0.0
            policy = subscription._csp_price_policy()
            new_line, why = price_rules.line_price(
                policy, old_line, subscription.cost_price, row.unit_price, row.erp_price
            )
            values = {
                "subscription_id": subscription.id,
                "partner_id": subscription.partner_id.commercial_partner_id.id,
                "contract_line_id": line.id,
                "effective_date": start,
                "state": "upcoming",
                "policy": policy,
                "quantity": line.quantity if line else subscription.quantity,
                "old_cost": subscription.cost_price,
                "new_cost": row.unit_price,
                "old_list": subscription.csp_list_price,
                "new_list": row.erp_price,
                "old_line_price": old_line,
                "new_line_price": float(new_line) if line else 0.0,
            }
            change = by_subscription.get(subscription.id)
            if change:
                change.write(
                    {k: v for k, v in values.items() if change[k] != v and k != "partner_id"}
                )
            else:
                change = Change.create(values)
            change.reason = change._csp_reason(why)
            kept |= change
        (previous - kept).unlink()
        return len(kept)


class ProductTemplate(models.Model):
    _inherit = "product.template"

    csp_price_policy = fields.Selection(
        POLICIES,
        string="When Microsoft's Price Changes",
        help="This product's own price policy for Microsoft price changes; empty: the "
        "connection's.",
    )

    def write(self, vals):
        if "csp_price_policy" in vals and any(
            p.csp_price_policy != (vals["csp_price_policy"] or False) for p in self
        ):
            check_invoicing_rights(self.env, self.env._("Changing a product's price policy"))
        return super().write(vals)


class CspSubscription(models.Model):
    _inherit = "csp.subscription"

    csp_list_price = fields.Float(
        string="Microsoft List Price",
        digits="Product Price",
        readonly=True,
        help="Microsoft's estimated retail (ERP) price per seat and billing period, from "
        "the price sheet.",
    )
    price_change_ids = fields.One2many(
        "csp.price.change", "subscription_id", string="Price Changes", readonly=True
    )

    @api.model
    def _csp_code_only_fields(self):
        return super()._csp_code_only_fields() | {"csp_list_price"}

    def _csp_price_key(self):
        self.ensure_one()
        return price_rules.price_key(self.offer_id, self.term_duration, self.billing_cycle)

    def _csp_price_policy(self):
        self.ensure_one()
        product_policy = self.product_id.product_tmpl_id.sudo().csp_price_policy
        return product_policy or self.connection_id.price_policy or price_rules.KEEP

    def _csp_price_differs(self, row):
        return price_rules.to_cents(self.cost_price) != price_rules.to_cents(
            row.unit_price
        ) or price_rules.to_cents(self.csp_list_price) != price_rules.to_cents(row.erp_price)

    def _csp_apply_prices(self, day):
        """Each subscription's Microsoft Cost and list price from the row in force on
        ``day`` (a change recorded: old, new, date), then the waiting contract lines.
        Returns (subscriptions priced anew, contract lines whose price changed)."""
        Change = self.env["csp.price.change"].sudo()
        priced = 0
        for connection in self.connection_id:
            subscriptions = self.filtered(lambda s, c=connection: s.connection_id == c)
            if not connection.price_market:
                continue
            keys = {s.id: s._csp_price_key() for s in subscriptions}
            rows = self.env["csp.price"]._csp_rows_for(
                connection, set(filter(None, keys.values())), day=day
            )
            for subscription in subscriptions:
                row = rows.get(keys[subscription.id])
                if row is None or not subscription._csp_price_differs(row):
                    continue
                line = subscription.contract_line_id
                values = {
                    "state": "waiting" if line else "done",
                    "contract_line_id": line.id,
                    "partner_id": subscription.partner_id.commercial_partner_id.id,
                    "quantity": line.quantity if line else subscription.quantity,
                    "old_cost": subscription.cost_price,
                    "new_cost": row.unit_price,
                    "old_list": subscription.csp_list_price,
                    "new_list": row.erp_price,
                    "old_line_price": line.price_unit if line else 0.0,
                    "new_line_price": line.price_unit if line else 0.0,
                }
                upcoming = Change.search(
                    [("subscription_id", "=", subscription.id), ("state", "=", "upcoming"),
                     ("effective_date", "=", row.date_start)], limit=1,
                )  # fmt: skip
                if upcoming:
                    upcoming.write(values)
                else:
                    Change.create(
                        {"subscription_id": subscription.id, "effective_date": row.date_start,
                         **values}
                    )  # fmt: skip
                code_env(subscription).write(
                    {"cost_price": row.unit_price, "csp_list_price": row.erp_price}
                )
                priced += 1
        waiting = Change.search([("subscription_id", "in", self.ids), ("state", "=", "waiting")])
        lines = waiting._csp_apply_to_line()
        return priced, len(lines)
