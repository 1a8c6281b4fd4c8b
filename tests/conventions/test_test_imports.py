"""Every test module of an add-on is imported by its ``tests/__init__.py``: Odoo's own test
runner (``--test-enable``, what OCA CI and runboat use) runs only the modules that package
imports and silently skips the others, while pytest finds them all."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ADDONS = ("csp_connector", "csp_connector_billing", "csp_connector_assets", "csp_connector_queue")


def imported_modules(init):
    """The sibling modules ``init`` imports (``from . import name``)."""
    tree = ast.parse(init.read_text(), str(init))
    return {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module is None
        for alias in node.names
    }


def test_each_addon_has_tests():
    for addon in ADDONS:
        assert sorted((ROOT / addon / "tests").glob("test_*.py")), f"{addon} has no tests"


@pytest.mark.parametrize("addon", ADDONS)
def test_every_test_module_is_imported_by_the_tests_package(addon):
    tests = ROOT / addon / "tests"
    modules = {path.stem for path in tests.glob("test_*.py")}
    missing = sorted(modules - imported_modules(tests / "__init__.py"))
    assert not missing, (
        f"{addon}/tests/__init__.py does not import {', '.join(missing)}: Odoo's test "
        f"runner would skip them (add `from . import <module>`)"
    )


def test_the_check_sees_a_missing_import(tmp_path):
    (tmp_path / "__init__.py").write_text("from . import test_a\nfrom . import common\n")
    assert imported_modules(tmp_path / "__init__.py") == {"test_a", "common"}
