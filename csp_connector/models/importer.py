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
"""

from collections import defaultdict
from typing import NamedTuple

from .csp_binding_mixin import differs, fingerprint

COUNTERS = ("created", "updated", "deactivated", "skipped")


class Planned(NamedTuple):
    """One Microsoft object as it should be in Odoo.

    ``values``: the binding's own fields; ``target``: the bound Odoo record's values
    (None: the model binds no record, or it is left as it is)."""

    microsoft_id: str
    values: dict
    target: dict | None = None


def _frozen(values):
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in values.items()))


def _thawed(frozen):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in frozen}


class BindingImporter:
    """Creates, updates and archives one tenant's bindings of one model, a page at a
    time: one search per page, creates in one call, one write per distinct set of
    values; an object whose fingerprint did not change is not written at all."""

    def __init__(self, model, tenant):
        self.model = model.with_context(active_test=False)
        self.tenant = tenant
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.seen = set()  # Microsoft ids this read listed
        self.written = False
        field = model._csp_target_field
        self.targets = model.env[model._fields[field].comodel_name] if field else None

    def apply(self, planned):
        """Create or update the bindings (and bound records) of one page."""
        planned = {p.microsoft_id: p for p in planned}
        if not planned:
            return
        self.seen.update(planned)
        bindings = self.model._csp_bindings(self.tenant, planned)
        creates, binding_writes, target_writes = [], defaultdict(list), defaultdict(list)
        for microsoft_id, plan in planned.items():
            digest = fingerprint(plan.values, plan.target)
            binding = bindings.get(microsoft_id)
            if binding is None:
                creates.append((plan, digest))
                continue
            if binding.fingerprint == digest and not binding.removed:
                self.counters["skipped"] += 1
                continue
            values = {**plan.values, "fingerprint": digest, "removed": False, "removed_date": False}
            binding_writes[_frozen(binding._csp_differs(values))].append(binding.id)
            target = binding[self.model._csp_target_field] if self.targets is not None else None
            if target and plan.target is not None:
                wanted = dict(plan.target)
                if binding.removed and "active" in target._fields:
                    wanted["active"] = True  # back in Microsoft
                changed = {k: v for k, v in wanted.items() if differs(target, k, v)}
                if changed:
                    target_writes[_frozen(changed)].append(target.id)
            self.counters["updated"] += 1
        for frozen, ids in target_writes.items():
            self.targets.browse(ids).write(_thawed(frozen))
        for frozen, ids in binding_writes.items():
            if frozen:
                self.model.browse(ids).write(_thawed(frozen))
        if creates:
            self._create(creates)
        self.written |= bool(creates or binding_writes or target_writes)

    def _create(self, creates):
        base = {"connection_id": self.tenant.connection_id.id, "csp_tenant_id": self.tenant.id}
        rows = [
            {**base, **plan.values, "microsoft_id": plan.microsoft_id, "fingerprint": digest}
            for plan, digest in creates
        ]
        if self.targets is not None:
            with_target = [i for i, (plan, _d) in enumerate(creates) if plan.target is not None]
            created = self.targets.create([creates[i][0].target for i in with_target])
            for i, target in zip(with_target, created, strict=True):
                rows[i][self.model._csp_target_field] = target.id
        self.model.create(rows)
        self.counters["created"] += len(rows)

    def remove(self, microsoft_ids):
        """Objects Microsoft reported deleted (delta '@removed'): archived now."""
        bindings = self.model._csp_bindings(self.tenant, microsoft_ids)
        count = self.model.union(*bindings.values())._csp_mark_removed() if bindings else 0
        self.counters["deactivated"] += count
        self.written |= bool(count)
        return count

    def archive_missing(self, complete):
        """After a full read: archive the bindings it did not list. Only when the read is
        proven complete (``complete``, see microsoft.graph.ReadCheck): a read cut short
        must never archive what it did not reach."""
        if not complete:
            return 0
        gone = [m for m in self.model._csp_bindings(self.tenant) if m not in self.seen]
        return self.remove(gone) if gone else 0
