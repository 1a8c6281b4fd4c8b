# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Microsoft's price sheet rows, one per product, SKU, term, billing plan, market and
effective dates; imported streamed, batch by batch, unchanged rows never written and rows
Microsoft removed marked, never deleted."""

import datetime as dt
from collections import namedtuple

from odoo import api, fields, models

from ..billing import prices as price_rules

BATCH = 1000
# the columns _csp_values gives, in the order _csp_insert writes them
INSERTED = (
    "market", "currency_code", "product_code", "sku_code", "title", "term", "billing_plan",
    "unit_price", "erp_price", "date_start", "date_end", "change_indicator", "fingerprint",
    "removed", "removed_date",
)  # fmt: skip
Candidate = namedtuple("Candidate", "start end removed record")  # what in_force reads


class CspPrice(models.Model):
    _name = "csp.price"
    _description = "Microsoft Price Sheet Row"
    _order = "market, product_code, sku_code, term, billing_plan, date_start desc, id"
    _rec_name = "title"

    connection_id = fields.Many2one(
        "csp.connection", required=True, index=True, ondelete="cascade", readonly=True
    )
    company_id = fields.Many2one(
        "res.company", related="connection_id.company_id", store=True, index=True
    )
    key = fields.Char(required=True, readonly=True, index=True)
    market = fields.Char(readonly=True)
    currency_code = fields.Char(string="Currency", readonly=True)
    product_code = fields.Char(string="Product Id", readonly=True, index=True)
    sku_code = fields.Char(string="SKU Id", readonly=True)
    title = fields.Char(readonly=True)
    term = fields.Char(readonly=True, help="ISO 8601 duration: P1M, P1Y, P3Y.")
    billing_plan = fields.Char(readonly=True)
    unit_price = fields.Float(
        string="Microsoft Cost", digits="Product Price", readonly=True,
        help="The sheet's UnitPrice: what Microsoft charges you per licence and billing "
        "period of the plan (an Annual plan's price is the year's).",
    )  # fmt: skip
    erp_price = fields.Float(
        string="List Price", digits="Product Price", readonly=True,
        help="The sheet's ERP Price: Microsoft's estimated retail price.",
    )  # fmt: skip
    date_start = fields.Date(string="Effective From", readonly=True, index=True)
    date_end = fields.Date(string="Effective To", readonly=True)
    change_indicator = fields.Char(readonly=True)
    fingerprint = fields.Char(readonly=True)
    removed = fields.Boolean(readonly=True, index=True)
    removed_date = fields.Datetime(readonly=True)

    _sql_constraints = [
        ("key_unique", "unique(connection_id, key)", "A price sheet row is stored once."),
    ]

    @api.model
    def _csp_import(self, connection, rows, progress=None):
        """Store the parsed ``rows`` (``(line, PriceRow or RowError)``, a stream) of one
        sheet of ``connection``; returns counters and the rows that did not parse. Rows
        go in batches; the environment's cache is emptied after each, so memory stays
        flat whatever the file's size. When the whole sheet was read, the stored rows of
        its market and months it no longer lists are marked removed."""
        counters = {"created": 0, "updated": 0, "unchanged": 0, "deactivated": 0, "rows": 0}
        bad = []
        seen = set()  # ids of the stored rows the sheet lists (ints: small)
        months = set()
        markets = set()
        bad_products = set()
        batch = []
        for _line, row in rows:
            counters["rows"] += 1
            if isinstance(row, price_rules.RowError):
                bad.append(row)
                if row.product:
                    bad_products.add(row.product)
                continue
            batch.append(row)
            months.add(row.start)
            markets.add(row.market)
            if len(batch) >= BATCH:
                self._csp_import_batch(connection, batch, counters, seen)
                batch = []
                if progress:
                    progress(counters)
        if batch:
            self._csp_import_batch(connection, batch, counters, seen)
        counters["deactivated"] = self._csp_mark_missing(
            connection, markets, months, seen, bad_products
        )
        return counters, bad

    def _csp_import_batch(self, connection, batch, counters, seen):
        by_key = {}
        for row in batch:
            by_key[row.key] = row  # a key listed twice: its last row
        cr = self.env.cr
        cr.execute(
            "SELECT key, id, fingerprint, removed FROM csp_price "
            "WHERE connection_id = %s AND key = ANY(%s)",
            [connection.id, list(by_key)],
        )
        existing = {key: (rid, fp, removed) for key, rid, fp, removed in cr.fetchall()}
        Price = self.sudo().with_context(tracking_disable=True)
        new = []
        for key, row in by_key.items():
            found = existing.get(key)
            values = self._csp_values(row)
            if found is None:
                new.append({"connection_id": connection.id, "key": key, **values})
                continue
            rid, fingerprint, removed = found
            seen.add(rid)
            if fingerprint == values["fingerprint"] and removed == values["removed"]:
                counters["unchanged"] += 1
                continue
            Price.browse(rid).write(values)
            counters["updated"] += 1
        if new:
            self.env.flush_all()
            created = self._csp_insert(connection, new)
            seen.update(created)
            counters["created"] += len(created)
        self.env.flush_all()
        self.env.invalidate_all()  # a 100,000-row sheet must not fill the cache

    @api.model
    def _csp_insert(self, connection, values_list):
        """New rows with one SQL ``INSERT`` per batch, as the ORM would write them (plain
        rows: no computed field but the company, no default, no ``create()`` override;
        the create and write stamps); returns their ids. The ORM's create of 100,000
        rows, and even its per-value conversion (a decimal precision looked up for each
        price), cost several times the whole import otherwise: the values here are
        plain already (text, prices rounded to cents by Microsoft, dates, booleans)."""
        names = ["connection_id", "key", *INSERTED]
        now, uid = self.env.cr.now(), self.env.uid
        stamps = (connection.company_id.id, uid, now, uid, now)
        params = []
        for values in values_list:
            params.extend(
                None if values[name] is False and name != "removed" else values[name]
                for name in names
            )
            params.extend(stamps)
        width = len(names) + len(stamps)
        row = "(" + ", ".join(["%s"] * width) + ")"
        columns = ", ".join(f'"{name}"' for name in names)  # our own field names
        query = (
            f"INSERT INTO csp_price ({columns}, company_id, create_uid, create_date, "
            f"write_uid, write_date) VALUES {', '.join([row] * len(values_list))} RETURNING id"
        )
        self.env.cr.execute(query, params)  # pylint: disable=sql-injection
        return [found[0] for found in self.env.cr.fetchall()]

    @api.model
    def _csp_values(self, row):
        removed = row.removed
        return {
            "market": row.market,
            "currency_code": row.currency,
            "product_code": row.product,
            "sku_code": row.sku,
            "title": row.title,
            "term": row.term,
            "billing_plan": row.plan,
            "unit_price": float(row.unit_price),
            "erp_price": float(row.erp_price),
            "date_start": row.start,
            "date_end": row.end,
            "change_indicator": row.change,
            "fingerprint": row.fingerprint,
            "removed": removed,
            "removed_date": fields.Datetime.now() if removed else False,
        }

    def _csp_mark_missing(self, connection, markets, months, seen, bad_products):
        """Mark removed the stored rows of ``markets`` and ``months`` the sheet no longer
        lists (a row that did not parse keeps its product's rows as they are)."""
        if not markets or not months:
            return 0
        self.env.cr.execute(
            "SELECT id, product_code FROM csp_price WHERE connection_id = %s "
            "AND market = ANY(%s) AND date_start = ANY(%s) AND NOT COALESCE(removed, FALSE)",
            [connection.id, list(markets), list(months)],
        )
        gone = [rid for rid, product in self.env.cr.fetchall()
                if rid not in seen and product not in bad_products]  # fmt: skip
        if gone:
            self.sudo().browse(gone).write({"removed": True, "removed_date": fields.Datetime.now()})
        return len(gone)

    @api.model
    def _csp_rows_for(self, connection, keys, day=None, start=None):
        """{(product, SKU, term, plan): price row} of ``connection``'s market for ``keys``:
        the row in force on ``day`` (or the row starting exactly on ``start``)."""
        products = {key[0] for key in keys}
        if not products:
            return {}
        domain = [
            ("connection_id", "=", connection.id),
            ("market", "=", connection.price_market),
            ("product_code", "in", list(products)),
        ]
        if start:
            domain.append(("date_start", "=", start))
        else:
            day = day or dt.date.today()
            domain += [
                ("date_start", "<=", day),
                "|", ("date_end", "=", False), ("date_end", ">=", day),
            ]  # fmt: skip
        found = {}
        for price in self.sudo().search(domain):
            key = (price.product_code, price.sku_code, price.term, price.billing_plan)
            if key in keys:
                found.setdefault(key, []).append(
                    Candidate(price.date_start, price.date_end, price.removed, price)
                )
        day = start or day
        return {
            key: best.record
            for key, rows in found.items()
            if (best := price_rules.in_force(rows, day)) is not None
        }
