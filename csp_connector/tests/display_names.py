# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Every csp.* model of an add-on has a display name that says what a record is: never
Odoo's fallback "csp.site.mapping,4" (the model's name and the record's id). Each add-on's
test makes a record of each of its models and calls :func:`assert_named`; a new model
without a record in that test fails it, so its display name is checked too."""


def csp_models(env, module):
    """The concrete csp.* models `module` defines (not those it only extends)."""
    data = env["ir.model.data"].sudo().search([("model", "=", "ir.model"), ("module", "=", module)])
    names = env["ir.model"].sudo().browse(data.mapped("res_id")).mapped("model")
    return sorted(
        name for name in names
        if name.startswith("csp.") and not env[name]._abstract
        and env[name]._original_module == module
    )  # fmt: skip


def assert_named(case, module, per_model=20):
    """Each csp.* model of `module` has records here, each named without the model's name
    and id. Returns the names checked, by model."""
    env = case.env
    shown = {}
    missing = []
    for name in csp_models(env, module):
        records = env[name].sudo().with_context(active_test=False).search([], limit=per_model)
        if not records:
            missing.append(name)
            continue
        for record in records:
            text = record.display_name
            case.assertTrue(text, f"{name} {record.id}: no display name")
            case.assertNotIn(name, text, f"{name} {record.id} is shown as {text!r}")
            case.assertNotRegex(
                text, rf",\s*{record.id}$", f"{name} {record.id} is shown as {text!r}"
            )
        shown[name] = records.mapped("display_name")
    case.assertFalse(missing, f"the test makes no record of {missing}: add one to check its name")
    return shown
