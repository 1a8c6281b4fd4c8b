"""What `make test` and `make demo` do before any heavy work: the one-line failures (bad
ODOO_SOURCE, an Odoo of another version, no PostgreSQL) and the reuse of a current .venv/.

Each test runs the real scripts on a copy of scripts/ and the requirement files in a
temporary folder, so nothing is built in the repository and no venv is ever made.
"""

import os
import pathlib
import shutil
import socket
import subprocess
import tarfile
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SETTINGS = ("PYTHON", "ODOO_SOURCE", "CSP_PGPORT", "CSP_PG_BINDIR", "PIP_CONSTRAINT")


@pytest.fixture
def project(tmp_path):
    """A copy of what the scripts read: scripts/, the Makefile and the requirement files."""
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copytree(ROOT / "scripts", copy / "scripts")
    shutil.copy(ROOT / "Makefile", copy)
    for requirements in ROOT.glob("requirements*.txt"):
        shutil.copy(requirements, copy)
    return copy


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fake_odoo_tree(path, version_info):
    """The smallest tree the scripts recognise as Odoo's source."""
    (path / "odoo").mkdir(parents=True)
    (path / "odoo" / "release.py").write_text(f"version_info = {version_info!r}\n")
    (path / "requirements.txt").write_text("")
    return path


def environment(**settings):
    """This process's environment without the set-up's own settings, plus `settings`."""
    env = {key: value for key, value in os.environ.items() if key not in SETTINGS}
    env.update(settings)
    return env


def run(project, script="test.sh", **settings):
    return subprocess.run(
        ["bash", str(project / "scripts" / script)],
        env=environment(**settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_line_failure(result, project, *words):
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]
    assert not (project / ".venv").exists(), "a failed check must leave no .venv/ behind"


@pytest.mark.parametrize("script", ["test.sh", "demo.sh"])
def test_missing_source_says_how_to_set_odoo_source(project, tmp_path, script):
    result = run(project, script, ODOO_SOURCE=str(tmp_path / "nowhere" / "odoo.tar.gz"))
    assert_one_line_failure(
        result, project, "no such file or directory", "set ODOO_SOURCE", "18.0 source tarball"
    )
    assert result.stderr.startswith(f"make {script.removesuffix('.sh')}: ")


def test_unreachable_url_says_how_to_set_odoo_source(project):
    url = f"http://127.0.0.1:{closed_port()}/odoo_18.0.latest.tar.gz"
    result = run(project, ODOO_SOURCE=url)
    assert_one_line_failure(result, project, "could not download", url, "set ODOO_SOURCE")


def test_file_that_is_no_archive_is_refused(project, tmp_path):
    notes = tmp_path / "odoo.tar.gz"
    notes.write_text("not an archive\n")
    result = run(project, ODOO_SOURCE=str(notes))
    assert_one_line_failure(result, project, "not a readable", "set ODOO_SOURCE")


def test_directory_without_odoo_is_refused(project, tmp_path):
    result = run(project, ODOO_SOURCE=str(tmp_path))
    assert_one_line_failure(result, project, "without odoo/release.py", "set ODOO_SOURCE")


def test_odoo_17_directory_is_refused(project, tmp_path):
    tree = fake_odoo_tree(tmp_path / "odoo-17.0", (17, 0, 0, "final", 0, ""))
    result = run(project, ODOO_SOURCE=str(tree))
    assert_one_line_failure(result, project, "holds Odoo 17.0", "need Odoo 18.0")


@pytest.mark.parametrize("kind", ["tar.gz", "tar.xz", "zip"])
def test_odoo_17_archive_is_refused_and_its_unpacked_copy_removed(project, tmp_path, kind):
    tree = fake_odoo_tree(tmp_path / "odoo-17.0", (17, 0, 0, "final", 0, ""))
    archive = tmp_path / f"odoo_17.0.latest.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zipped:
            for path in tree.rglob("*"):
                zipped.write(path, f"odoo-17.0/{path.relative_to(tree)}")
    else:
        with tarfile.open(archive, f"w:{kind.split('.')[1]}") as tar:
            tar.add(tree, arcname="odoo-17.0")
    result = run(project, ODOO_SOURCE=str(archive))
    assert_one_line_failure(result, project, "holds Odoo 17.0", "need Odoo 18.0")


@pytest.mark.parametrize("script", ["test.sh", "test_some.sh", "demo.sh"])
def test_no_postgresql_says_what_to_install(project, tmp_path, script):
    no_binaries = tmp_path / "no-postgresql-here"
    no_binaries.mkdir()
    tree = fake_odoo_tree(tmp_path / "odoo-18.0", (18, 0, 0, "final", 0, ""))
    result = run(
        project,
        script,
        CSP_PGPORT=str(closed_port()),
        CSP_PG_BINDIR=str(no_binaries),
        ODOO_SOURCE=str(tree),
    )
    assert_one_line_failure(result, project, "no PostgreSQL answers", "install PostgreSQL")


def test_make_test_t_refuses_what_is_neither_a_test_path_nor_an_addon(project):
    (project / "csp_connector" / "tests").mkdir(parents=True)
    (project / "csp_connector" / "__manifest__.py").write_text("{}\n")
    result = subprocess.run(
        ["make", "-s", "-C", str(project), "test", "T=csp_connector tests/nowhere.py"],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("make test: T=tests/nowhere.py is neither"), result.stderr
    assert "csp_connector" in lines[0]
    assert not (project / ".venv").exists() and not (project / ".test").exists()


def test_python_without_odoo_is_refused(project, tmp_path):
    no_odoo = tmp_path / "python-without-odoo"
    no_odoo.write_text("#!/bin/sh\nexit 1\n")
    no_odoo.chmod(0o755)
    result = run(project, PYTHON=str(no_odoo))
    assert_one_line_failure(result, project, "'import odoo' fails", "unset PYTHON")


def bootstrap(project, commands, **settings):
    """Run shell commands with scripts/lib.sh and scripts/bootstrap.sh loaded."""
    script = f'set -euo pipefail; ROOT="{project}"; . scripts/lib.sh; '
    return subprocess.run(
        ["bash", "-c", script + commands],
        cwd=project,
        env=environment(**settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def test_current_venv_is_reused_and_changed_requirements_make_it_stale(project, tmp_path):
    tree = fake_odoo_tree(tmp_path / "odoo-18.0", (18, 0, 0, "final", 0, ""))
    stamp = "SETUP_LABEL=t; find_base_python; psycopg2_flavour; stamp_text"
    # A .venv/ whose stamp matches: prepare_python takes it as it is (no build, no pip).
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "python").symlink_to("/bin/false")
    (project / ".venv" / ".csp-stamp").write_text(bootstrap(project, stamp, ODOO_SOURCE=str(tree)))
    out = bootstrap(project, 'prepare_python "make test"; echo "PY=$PY"', ODOO_SOURCE=str(tree))
    assert ".venv/ is current" in out
    assert f"PY={project}/.venv/bin/python" in out

    before = bootstrap(project, stamp, ODOO_SOURCE=str(tree))
    with (project / "requirements-test.txt").open("a") as requirements:
        requirements.write("msgraph-sdk\n")
    after_edit = bootstrap(project, stamp, ODOO_SOURCE=str(tree))
    (project / "requirements-extra.txt").write_text("something\n")
    after_new_file = bootstrap(project, stamp, ODOO_SOURCE=str(tree))
    other_source = bootstrap(project, stamp, ODOO_SOURCE=str(tmp_path / "other.tar.xz"))
    assert len({before, after_edit, after_new_file, other_source}) == 4


def test_a_refused_source_leaves_the_existing_venv_as_it_was(project, tmp_path):
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "python").symlink_to("/bin/false")
    (project / ".venv" / ".csp-stamp").write_text("an earlier build\n")
    tree = fake_odoo_tree(tmp_path / "odoo-17.0", (17, 0, 0, "final", 0, ""))
    archive = tmp_path / "odoo_17.0.latest.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="odoo-17.0")
    result = run(project, ODOO_SOURCE=str(archive))
    assert result.returncode == 2
    assert "holds Odoo 17.0" in result.stderr
    assert (project / ".venv" / ".csp-stamp").read_text() == "an earlier build\n"
    assert (project / ".venv" / "bin" / "python").is_symlink()
    assert [path.name for path in (project / ".venv").glob(".unpack*")] == []


def test_a_linked_venv_is_refused_and_its_target_left_alone(project, tmp_path):
    """.venv/ as a link to another clone's environment: nothing deleted through it."""
    other = tmp_path / "other-clone-venv"
    (other / "bin").mkdir(parents=True)
    (other / "bin" / "python").write_text("#!/bin/sh\nexit 1\n")
    (other / ".csp-stamp").write_text("the other clone's build\n")
    (project / ".venv").symlink_to(other)
    tree = fake_odoo_tree(tmp_path / "odoo-18.0", (18, 0, 0, "final", 0, ""))
    result = run(project, ODOO_SOURCE=str(tree))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "symbolic link" in lines[0] and "rm " in lines[0], result.stderr
    assert (project / ".venv").is_symlink()
    assert (other / ".csp-stamp").read_text() == "the other clone's build\n"
    assert (other / "bin" / "python").exists()


def test_the_stamp_follows_the_archive_content_not_its_path(project, tmp_path):
    tree = fake_odoo_tree(tmp_path / "odoo-18.0", (18, 0, 0, "final", 0, ""))
    first = tmp_path / "a" / "odoo_18.0.tar.gz"
    first.parent.mkdir()
    with tarfile.open(first, "w:gz") as tar:
        tar.add(tree, arcname="odoo-18.0")
    copy = tmp_path / "b" / "odoo.tar.gz"
    copy.parent.mkdir()
    shutil.copy(first, copy)
    os.utime(copy, (0, 0))  # another date too
    stamp = "SETUP_LABEL=t; find_base_python; psycopg2_flavour; stamp_text"
    assert bootstrap(project, stamp, ODOO_SOURCE=str(first)) == bootstrap(
        project, stamp, ODOO_SOURCE=str(copy)
    )
    with copy.open("ab") as archive:
        archive.write(b"\0")  # the same path, another content
    assert bootstrap(project, stamp, ODOO_SOURCE=str(first)) != bootstrap(
        project, stamp, ODOO_SOURCE=str(copy)
    )


def test_a_failed_pip_step_says_which_package_failed_and_why(project, tmp_path):
    """The failure names pip's error (not the last lines of a long log)."""
    output = tmp_path / "pip-output.txt"
    output.write_text(
        "Collecting cbor2==5.4.2\n  Downloading cbor2-5.4.2.tar.gz (85 kB)\n"
        "  error: subprocess-exited-with-error\n"
        "  \u00d7 Getting requirements to build wheel did not run successfully.\n"
        "  ╰─> [3 lines of output]\n"
        "      ModuleNotFoundError: No module named 'pkg_resources'\n"
        + "  noise\n"
        * 40
        + "ERROR: Failed to build installable wheels for some pyproject.toml based "
        "projects (cbor2)\n"
    )
    said = bootstrap(project, f'pip_failure "{output}"')
    assert "No module named 'pkg_resources'" in said
    assert "(cbor2)" in said
    assert "noise" not in said
    # a log without an error line: its end
    output.write_text("line\n" * 30 + "Killed\n")
    assert bootstrap(project, f'pip_failure "{output}"').strip().endswith("Killed")
