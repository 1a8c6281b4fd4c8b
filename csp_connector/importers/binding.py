# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The one create/update/archive routine for bindings (models on csp.binding.mixin).

ORM-aware, not a model: a feature's step reads Microsoft (microsoft/), decides with
plain rules (sync/) and hands each page of planned records to a BindingImporter:

    importer = BindingImporter(env["csp.my.binding"], tenant)
    for page in graph.some_pages():
        importer.apply(Planned(item["id"], binding_values, target_values) for item in page)
    importer.archive_missing(complete=check_finished)  # only after a complete read
    return importer.counters

Users, groups, SKUs, subscriptions, tenants (importers/tenants.py) and the feature
add-ons' bindings (Intune devices among them) all go through it. What a feature needs
beyond that is a subclass overriding the hooks below (the user import, importers/users.py: contacts
matched by e-mail, created with a built name, archives held by the safety valve until
the round ends; the device import: values computed against the equipment as it is).
"""

import json
from collections import defaultdict
from typing import NamedTuple

from odoo import fields
from odoo.tools import SQL

from ..models.csp_binding_mixin import differs, fingerprint

COUNTERS = ("created", "updated", "deactivated", "skipped")


class Current(NamedTuple):
    """An object that already has an Odoo record: its plan, its binding (None, or a
    binding whose record was deleted, when ``matched``) and that record (None when the
    model binds none). ``matched``: an existing record found by _match, bound now."""

    plan: "Planned"
    binding: object
    record: object
    matched: bool


class Planned(NamedTuple):
    """One Microsoft object as it should be in Odoo.

    ``values``: the binding's own fields; ``target``: the bound Odoo record's values
    (None: the model binds no record, or it is left as it is). ``digest``: the
    feature's own fingerprint of what decides the target (None: a digest of values and
    target); with one, an equal digest skips the target only, and the binding's values
    are still compared and written when they differ (e.g. a user's last sign-in)."""

    microsoft_id: str
    values: dict
    target: dict | None = None
    digest: str | None = None


class _Grouped:
    """Records to write grouped by the values written: one write per distinct set."""

    def __init__(self):
        self.groups = {}  # key -> (values, ids)

    def add(self, record_id, values):
        key = json.dumps(values, sort_keys=True, default=str)
        self.groups.setdefault(key, (values, []))[1].append(record_id)

    def __iter__(self):
        return iter(self.groups.values())

    def __bool__(self):
        return bool(self.groups)


class BindingImporter:
    """Creates, updates and archives one tenant's bindings of one model, a page at a
    time: one search per page, creates in one call, one write per distinct set of
    values; an object whose fingerprint did not change is not written at all.

    The bound records (``model._csp_target_field``) are created, or matched to
    existing ones (``_match``), with their bindings; contacts of Odoo users and
    companies (res.partner._csp_protected_ids) are never bound, written or archived:
    such an object is skipped and counted (``skipped_protected``)."""

    # target fields written before the others, grouped by value (res.partner copies a
    # new parent's address to the contact: the values written next are the ones kept)
    target_first = ()
    # context of the target writes (e.g. no chatter tracking for imported contacts)
    target_context = {}
    # archives wait for archive_pending() (the end of a round), then _archive decides
    defer_archives = False
    # the field holding the Microsoft id (a binding's microsoft_id)
    key_field = "microsoft_id"
    # what a binding back in Microsoft (or bound again) is written besides its values
    restore = {"removed": False, "removed_date": False}
    # whether objects with an unchanged fingerprint count as "skipped" (the device
    # import never counted them)
    count_unchanged = True

    def __init__(self, model, tenant):
        self.model = model.with_context(active_test=False)
        self.tenant = tenant  # the scope: the tenant whose bindings these are
        # without a fingerprint column, an object is unchanged when no value differs
        self.fingerprints = "fingerprint" in model._fields
        self.created_ids = []  # bindings created (ids), e.g. to act on new ones after
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.seen = set()  # Microsoft ids this read listed
        self.present = set()  # ids of the bindings this read listed
        self.pending = set()  # ids of the bindings to archive at archive_pending()
        self.written = False
        field = getattr(model, "_csp_target_field", None)
        self.targets = None
        self.protected = frozenset()
        if field:
            self.targets = model.env[model._fields[field].comodel_name].with_context(
                active_test=False, **self.target_context
            )
            if self.targets._name == "res.partner":
                self.protected = self.targets._csp_protected_ids()

    # -- hooks ------------------------------------------------------------------------

    def _match(self, microsoft_ids):
        """{microsoft id: id of an existing record} for objects no binding (or a binding
        without its record) stands for yet: they are bound to it instead of creating
        one. Default: none."""
        return {}

    def _new_target(self, plan):
        """The values of a record created for `plan` (the target, by default)."""
        return plan.target

    def _target_of(self, binding):
        """The record `binding` stands for now (empty: none, e.g. deleted in Odoo; the
        object is then bound again, to a match or a new record)."""
        return binding[self.model._csp_target_field]

    def _new_targets(self, plans):
        """The values of the records created for `plans` (one list, so that a feature
        can look up what a page needs at once); None for a plan left out (counted
        skipped, nothing created nor bound). Default: _new_target of each."""
        return [self._new_target(plan) for plan in plans]

    def _target_values(self, items):
        """The values to write to records that exist (bound, or matched), computed
        against each record as it is: [Current] -> [values, or None to leave the object
        out (counted skipped, its binding not written)]. Only what differs from the
        record is written. Default: the plan's target values; a record whose binding
        comes back in Microsoft is made active again."""
        result = []
        for item in items:
            wanted = dict(item.plan.target or {})
            back = item.binding is not None and not item.matched and self._removed(item.binding)
            record = item.record
            if back and item.plan.target is not None and record and "active" in record._fields:
                wanted.setdefault("active", True)  # back in Microsoft
            result.append(wanted)
        return result

    def _archive(self, bindings):
        """Archive `bindings` (all listed gone, none removed yet); returns whether
        anything was written. The user import holds them past the safety valve."""
        count = bindings._csp_mark_removed()
        self.counters["deactivated"] += count
        return bool(count)

    # the scope and the binding's state: a model that is no csp.binding.mixin (the
    # tenants of a connection, importers/tenants.py) says them its own way

    def _existing(self, microsoft_ids=None):
        """{Microsoft id: binding} of the scope (all, or those of the ids)."""
        return self.model._csp_bindings(self.tenant, microsoft_ids)

    def _scope_domain(self):
        return [("csp_tenant_id", "=", self.tenant.id)]

    def _scope_values(self):
        """What every binding created here holds besides its own values."""
        return {"connection_id": self.tenant.connection_id.id, "csp_tenant_id": self.tenant.id}

    def _removed(self, binding):
        return binding.removed

    def _live_domain(self):
        return [("removed", "=", False)]

    # -- create and update ------------------------------------------------------------

    def apply(self, planned, bindings=None):
        """Create or update the bindings (and bound records) of one page. `bindings`:
        {microsoft id: binding} of the page when the caller read them already."""
        planned = {p.microsoft_id: p for p in planned}
        if not planned:
            return
        self.seen.update(planned)
        if bindings is None:
            bindings = self._existing(planned)
        unbound = dict.fromkeys(
            m for m, plan in planned.items()
            if self.targets is not None and plan.target is not None
            and not (bindings.get(m) and self._target_of(bindings[m]))
        )  # fmt: skip
        matches = self._match(list(unbound)) if unbound else {}
        matched = self.targets.browse(set(matches.values())) if matches else None
        creates, binding_writes, target_writes = [], [], defaultdict(_Grouped)
        existing = []  # [(Current, binding values)]
        for microsoft_id, plan in planned.items():
            binding = bindings.get(microsoft_id)
            if binding:
                self.present.add(binding.id)
                self.pending.discard(binding.id)
            match = matches.get(microsoft_id)
            target = self._target_of(binding) if binding and self.targets is not None else None
            if (target.id if target else match) in self.protected:
                self._skip_protected(binding, binding_writes)
                continue
            values = self._binding_values(plan)
            if binding is None or microsoft_id in unbound:
                if binding:  # bound to no record (deleted in Odoo): bound again
                    values.update(self.restore)
                if match:  # an existing record stands for it: bound, and brought up to date
                    record = matched.browse(match).with_prefetch(matched._prefetch_ids)
                    existing.append((Current(plan, binding, record, True), values))
                else:
                    creates.append((plan, values, None, binding))
                continue
            if self._unchanged(binding, values):
                self._skip_unchanged(binding, plan, values, binding_writes)
                continue
            existing.append((Current(plan, binding, target, False), values))
        if existing:
            self._plan_existing(existing, creates, binding_writes, target_writes)
        self._write_targets(target_writes)
        self.write_bindings(binding_writes)
        if creates:
            self._create(creates)

    def _skip_protected(self, binding, binding_writes):
        """An object bound to a protected contact: counted, never written (but its
        binding back in Microsoft says so)."""
        self.counters["skipped"] += 1
        self.counters["skipped_protected"] = self.counters.get("skipped_protected", 0) + 1
        if binding and self._removed(binding):
            binding_writes.append((binding, self._differs(binding, self.restore)))

    def _skip_unchanged(self, binding, plan, values, binding_writes):
        """An object whose fingerprint is equal: its record is not written (but the
        binding's values its digest does not cover are)."""
        if self.count_unchanged:
            self.counters["skipped"] += 1
        if plan.digest:
            binding_writes.append((binding, self._differs(binding, values)))

    def _binding_values(self, plan):
        """The binding's values as written, with its fingerprint (when it has one)."""
        values = dict(plan.values)
        if self.fingerprints:
            values["fingerprint"] = plan.digest or fingerprint(plan.values, plan.target)
        return values

    def _plan_existing(self, existing, creates, binding_writes, target_writes):
        """Queue the writes of objects that have a record ([(Current, binding values)]):
        the values _target_values computes against each record; a matched record is
        bound with the creates."""
        wanted = self._target_values([item for item, _values in existing])
        for (item, values), target_values in zip(existing, wanted, strict=True):
            if target_values is None:  # the feature leaves it out
                self.counters["skipped"] += 1
                continue
            if item.record is not None:
                self._plan_target(item.record, target_values, target_writes)
            if item.matched:
                creates.append((item.plan, values, item.record.id, item.binding))
                continue
            values.update(self.restore)
            binding_writes.append((item.binding, self._differs(item.binding, values)))
            self.counters["updated"] += 1

    def _unchanged(self, binding, values):
        """Whether `binding` stands for `values` already (its fingerprint, or else its
        values) and is not removed: then nothing of its record is written."""
        if self._removed(binding):
            return False
        if self.fingerprints:
            return binding.fingerprint == values["fingerprint"]
        return not self._differs(binding, values)

    def _differs(self, binding, values):
        """The part of `values` (as written) that differs from what `binding` holds."""
        return {name: value for name, value in values.items() if differs(binding, name, value)}

    def _plan_target(self, target, wanted, target_writes):
        """Queue the part of `wanted` that differs from `target` (first fields apart)."""
        changed = {k: v for k, v in wanted.items() if differs(target, k, v)}
        for name in self.target_first:
            if name in changed:
                target_writes[name].add(target.id, {name: changed.pop(name)})
        if changed:
            target_writes[None].add(target.id, changed)

    def _write_targets(self, target_writes):
        """First fields (target_first, in order), then the rest: one write per distinct
        set of values, all sharing one prefetch set (what the target's write reads of
        each record comes in one query for all of them)."""
        groups = [target_writes[k] for k in (*self.target_first, None) if k in target_writes]
        ids = {i for group in groups for _values, ids in group for i in ids}
        if not ids:
            return
        touched = self.targets.browse(ids)
        for group in groups:
            for values, group_ids in group:
                touched.browse(group_ids).with_prefetch(touched._prefetch_ids).write(values)
        self.written = True

    def _create(self, creates):
        """[(plan, binding values, matched record id, existing binding or None)]."""
        base = self._scope_values()
        field = getattr(self.model, "_csp_target_field", None)
        made_for = {}
        if self.targets is not None:
            new = [c for c in creates if c[0].target is not None and not c[2]]
            wanted = self._new_targets([c[0] for c in new]) if new else []
            left_out = {c[0].microsoft_id for c, values in zip(new, wanted, strict=True)
                        if values is None}  # fmt: skip
            if left_out:  # the feature leaves them out: nothing created nor bound
                self.counters["skipped"] += len(left_out)
                creates = [c for c in creates if c[0].microsoft_id not in left_out]
                new = [c for c in new if c[0].microsoft_id not in left_out]
                wanted = [values for values in wanted if values is not None]
            made = self.targets.create(wanted) if wanted else self.targets
            made_for = {c[0].microsoft_id: t.id for c, t in zip(new, made, strict=True)}
            self.counters["created"] += len(made)
        rows = []
        for plan, values, match, binding in creates:
            row = dict(values)
            if self.targets is not None and plan.target is not None:
                row[field] = match or made_for[plan.microsoft_id]
                self.counters["updated"] += bool(match)
            if binding:
                binding.write(row)
            else:
                rows.append({**base, **row, self.key_field: plan.microsoft_id})
        if rows:
            if getattr(self.model, "_csp_raw_insert", False):
                self.created_ids += self._insert_rows(rows)
            else:
                self.created_ids += self.model.create(rows).ids
            if self.targets is None:
                self.counters["created"] += len(rows)
        self.written = True

    def write_bindings(self, updates):
        """[(binding, changed values)]: one write() per distinct set of values. Values
        unique to one binding (a fingerprint, the user's last Microsoft values) would
        not group: those go in one SQL UPDATE per set of columns, when the model lists
        the columns as safe for it (``_csp_raw_update_fields``: no stored computed field
        depends on them, no write() override must see them; test_binding_base checks)."""
        grouped = _Grouped()
        for binding, changes in updates:
            if changes:
                grouped.add(binding.id, changes)
        raw = defaultdict(list)
        safe = getattr(self.model, "_csp_raw_update_fields", frozenset())
        for values, ids in grouped:
            if len(ids) == 1 and safe.issuperset(values):
                raw[tuple(sorted(values))].append((ids[0], values))
            else:
                self.model.browse(ids).write(values)
        for columns, rows in raw.items():
            if len(rows) == 1:
                self.model.browse(rows[0][0]).write(rows[0][1])
            else:
                self._update_rows(columns, rows)
        self.written |= bool(grouped)

    def _update_rows(self, columns, rows):
        model = self.model
        model.flush_model(columns)
        types = {name: model._fields[name].column_type[1] for name in columns}
        rows_sql = SQL(", ").join(
            SQL("%s", (record_id, *[values[n] if values[n] is not False else None
                                    for n in columns]))
            for record_id, values in rows
        )  # fmt: skip
        model.env.cr.execute(
            SQL(
                "UPDATE %s AS b SET %s, write_date = %s, write_uid = %s"
                " FROM (VALUES %s) AS v(%s) WHERE b.id = v.id",
                SQL.identifier(model._table),
                SQL(", ").join(
                    SQL("%s = v.%s::%s", SQL.identifier(n), SQL.identifier(n), SQL(types[n]))
                    for n in columns
                ),
                fields.Datetime.now(),
                model.env.uid,
                rows_sql,
                SQL(", ").join([SQL("id"), *(SQL.identifier(n) for n in columns)]),
            )
        )
        model.invalidate_model([*columns, "write_date", "write_uid"])

    def _insert_rows(self, rows):
        """New bindings in one SQL INSERT per page, as the ORM would write them (their
        stored company, create and write stamps): for a model that opts in with
        ``_csp_raw_insert`` (its rows are plain: no stored computed field but the
        company, no default, no create() override; test_binding_base checks), where
        the ORM's create of thousands of rows costs as much as the records they bind.
        Returns the new ids."""
        model = self.model
        model.flush_model()
        connections = model.env["csp.connection"].browse({row["connection_id"] for row in rows})
        company = {c.id: c.company_id.id for c in connections}
        names = sorted({name for row in rows for name in row} | {"company_id"})
        fields_ = [model._fields[name] for name in names]
        now, uid = model.env.cr.now(), model.env.uid  # as the ORM stamps rows
        values = [
            SQL("(%s)", SQL(", ").join([
                *(field.convert_to_column_insert(
                    company[row["connection_id"]] if field.name == "company_id"
                    else row.get(field.name, False), model, row)
                  for field in fields_),
                uid, now, uid, now,
            ]))
            for row in rows
        ]  # fmt: skip
        model.env.cr.execute(
            SQL(
                "INSERT INTO %s (%s, create_uid, create_date, write_uid, write_date)"
                " VALUES %s RETURNING id",
                SQL.identifier(model._table),
                SQL(", ").join(SQL.identifier(name) for name in names),
                SQL(", ").join(values),
            )
        )
        ids = [row[0] for row in model.env.cr.fetchall()]
        field = getattr(model, "_csp_target_field", None)
        if field:  # the bound records' one2many to their bindings
            comodel = model.env[model._fields[field].comodel_name]
            inverses = [f.name for f in comodel._fields.values()
                        if f.type == "one2many" and f.comodel_name == model._name
                        and f.inverse_name == field]  # fmt: skip
            if inverses:
                comodel.invalidate_model(inverses)
        return ids

    # -- archive ----------------------------------------------------------------------

    def remove(self, microsoft_ids):
        """Objects Microsoft reported deleted (delta '@removed'): archived now (or at
        archive_pending(), when archives are deferred)."""
        bindings = self._existing(microsoft_ids)
        return self._gone(self.model.union(*bindings.values()))

    def archive_missing(self, complete):
        """After a full read: archive the bindings it did not list. Only when the read is
        proven complete (``complete``, see microsoft.graph.ReadCheck): a read cut short
        must never archive what it did not reach."""
        if not complete:
            return 0
        gone = self.model.search(
            [*self._scope_domain(), *self._live_domain(),
             (self.key_field, "not in", list(self.seen))]
        )  # fmt: skip
        return self._gone(gone)

    def _gone(self, bindings):
        bindings = bindings.filtered(lambda b: not self._removed(b))
        if self.defer_archives:
            self.pending.update(bindings.ids)
            return 0
        before = self.counters["deactivated"]
        self.written |= bool(bindings) and self._archive(bindings)
        return self.counters["deactivated"] - before

    def archive_pending(self):
        """Deferred archives (defer_archives): the bindings still gone, through _archive.
        Returns whether anything was written."""
        bindings = self.model.browse(sorted(self.pending)).exists()
        written = self._archive(bindings.filtered(lambda b: not self._removed(b)))
        self.written |= written
        return written
