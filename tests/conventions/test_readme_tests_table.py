"""README's table "feature -> its test files" names every test module there is, and only
those: a newcomer aims `make test T=` with it."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEST_DIRS = (
    "csp_connector/tests",
    "csp_connector_billing/tests",
    "csp_connector_assets/tests",
    "csp_connector_queue/tests",
)


def table_rows(readme):
    """The table's rows after the "feature" header, as lists of cells."""
    lines = readme.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| feature |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def named_paths(cell):
    """The files and directories a cell names: a name without a directory is in the same
    directory as the cell's previous one."""
    paths, directory = [], None
    for name in re.findall(r"`([^`]+\.py|[^`]+/)`", cell):
        if "/" in name.rstrip("/"):
            directory = name if name.endswith("/") else name.rsplit("/", 1)[0] + "/"
            paths.append(name)
        elif directory:
            paths.append(directory + name)
    return paths


def all_test_modules():
    found = set()
    for path in ROOT.glob("tests/*/test_*.py"):
        found.add(str(path.relative_to(ROOT)))
    for directory in TEST_DIRS:
        for path in (ROOT / directory).glob("test_*.py"):
            found.add(str(path.relative_to(ROOT)))
    return found


def covered(paths):
    files = {p for p in paths if p.endswith(".py")}
    directories = [p for p in paths if p.endswith("/")]
    return files | {m for m in all_test_modules() if any(m.startswith(d) for d in directories)}


def test_the_table_names_every_test_module_and_only_existing_ones():
    rows = table_rows((ROOT / "README.md").read_text())
    assert len(rows) > 10
    paths = [path for row in rows for cell in row[1:] for path in named_paths(cell)]
    missing = sorted(all_test_modules() - covered(paths))
    assert not missing, f"README's tests table does not name {', '.join(missing)}"
    gone = sorted(path for path in paths if not (ROOT / path).exists())
    assert not gone, f"README's tests table names files that do not exist: {', '.join(gone)}"


def test_a_name_without_directory_is_in_the_previous_ones():
    cell = "`csp_connector/tests/test_a.py`, `test_b.py` and `tests/sandbox/`, `test_c.py`"
    assert named_paths(cell) == [
        "csp_connector/tests/test_a.py",
        "csp_connector/tests/test_b.py",
        "tests/sandbox/",
        "tests/sandbox/test_c.py",
    ]
