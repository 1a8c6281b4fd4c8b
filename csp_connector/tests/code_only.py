# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The code-only fields' conventions check, for the core's tests and each add-on's:
every field a model lists in ``_csp_code_only_fields()`` exists and is refused over
JSON-RPC to a user who may otherwise write the record, even with the code's context
key sent by the client. Each module checks the models it put on the guard."""

from odoo.tests.common import JsonRpcException

GUARD = "csp.code.guard"
ACCESS_ERROR = "odoo.exceptions.AccessError"


def guard_module(model):
    """The module whose class put `model` on the code-only guard."""
    for cls in reversed(type(model).__mro__):
        if getattr(cls, "pool", None) is not None or "_inherit" not in vars(cls):
            continue  # a registry class, or a class that inherits nothing itself
        inherit = vars(cls)["_inherit"]
        if GUARD in ([inherit] if isinstance(inherit, str) else inherit):
            return cls._module
    return None


def models_guarded_by(env, module):
    """The models `module` put on the guard that list code-only fields."""
    registry = env.registry
    return {
        name
        for name in registry[GUARD]._inherit_children
        if not registry[name]._abstract
        and env[name]._csp_code_only_fields()
        and guard_module(env[name]) == module
    }


def assert_code_only_fields_refused(case, records, user):
    """`case` (an HttpCase) writes each code-only field of each of `records` ({model:
    record}) over JSON-RPC, authenticated as `user`: each write is refused, nothing is
    written. Returns how many writes were refused."""
    refused = 0
    for model, record in sorted(records.items()):
        case.assertTrue(record, model)
        names = sorted(case.env[model]._csp_code_only_fields())
        case.assertLessEqual(set(names), set(case.env[model]._fields), f"{model}: no such field")
        # the user may write the record: a refusal below is the guard's
        record.with_user(user).check_access("write")
        before = record.read(names)
        for name in names:
            with case.subTest(model=model, field=name), case.assertRaises(JsonRpcException) as c:
                case.make_jsonrpc_request(
                    f"/web/dataset/call_kw/{model}/write",
                    {"model": model, "method": "write", "args": [[record.id], {name: False}],
                     "kwargs": {"context": {"csp_code_write": True}}},
                )  # fmt: skip
            case.assertEqual(c.exception.args[0], ACCESS_ERROR, f"{model}.{name}")
            refused += 1
        case.env.invalidate_all()
        case.assertEqual(record.read(names), before, f"{model}: nothing written")
    return refused
