"""Buttons answer something: Odoo's XML-RPC cannot send None ("cannot marshal None"), so a
button method that ends without a value fails for every integration calling it over RPC."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ADDONS = ("csp_connector", "csp_connector_billing", "csp_connector_assets", "csp_connector_queue")


def button_methods():
    for addon in ADDONS:
        for path in sorted((ROOT / addon).rglob("*.py")):
            if "tests" in path.relative_to(ROOT / addon).parts:
                continue
            tree = ast.parse(path.read_text(), str(path))
            for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
                for node in cls.body:
                    if isinstance(node, ast.FunctionDef) and node.name.startswith(
                        ("action_", "button_")
                    ):
                        yield f"{path.relative_to(ROOT)}:{node.lineno} {cls.name}.{node.name}", node


def ends_with_a_value(function):
    last = function.body[-1]
    return isinstance(last, ast.Raise) or (isinstance(last, ast.Return) and last.value is not None)


def test_there_are_buttons_to_check():
    assert sum(1 for _ in button_methods()) > 20


@pytest.mark.parametrize(
    "name,function", list(button_methods()), ids=lambda v: getattr(v, "name", "")
)
def test_button_methods_return_a_value(name, function):
    assert ends_with_a_value(function), f"{name} ends without returning a value (return True)"
