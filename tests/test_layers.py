"""The layers of the code: the import-linter contracts hold, and they break when a layer is crossed."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the ``app`` package under ``root`` with the project's contracts."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "pyproject.toml"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": str(LINT_IMPORTS.parent)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def copy_of_code(tmp_path: Path) -> Path:
    """The app package and the contracts, copied where a test may break them."""
    root = ROOT
    shutil.copytree(root / "app", tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__", "translations"))
    shutil.copy(root / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_line(path: Path, line: str) -> None:
    """Put ``line`` after the module's ``from __future__`` import."""
    text = path.read_text(encoding="utf-8")
    marker = "from __future__ import annotations\n"
    assert marker in text
    path.write_text(text.replace(marker, marker + line + "\n", 1), encoding="utf-8")


def test_the_contracts_hold_on_the_code() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout
    assert "ignored" not in result.stdout  # no exception left in the contracts


def test_a_service_importing_flask_breaks_the_build(copy_of_code: Path) -> None:
    add_line(copy_of_code / "app/services/letters.py", "from flask import current_app  # noqa")
    result = lint_imports(copy_of_code)
    assert result.returncode == 1
    assert "Services and the public log know nothing of Flask" in result.stdout
    assert "app.services.letters -> flask" in result.stdout


def test_an_upward_import_breaks_the_build(copy_of_code: Path) -> None:
    add_line(copy_of_code / "app/mail/compose.py", "from app.services import letters  # noqa")
    result = lint_imports(copy_of_code)
    assert result.returncode == 1
    assert "app.mail is not allowed to import app.services" in result.stdout


def test_blueprints_are_independent(copy_of_code: Path) -> None:
    add_line(copy_of_code / "app/reports/views.py", "from app.moderation import wording  # noqa")
    result = lint_imports(copy_of_code)
    assert result.returncode == 1
    assert "app.reports is not allowed to import app.moderation" in result.stdout


def test_a_cycle_between_services_breaks_the_build(copy_of_code: Path) -> None:
    add_line(copy_of_code / "app/services/domains.py", "from app.services import counting  # noqa")
    add_line(copy_of_code / "app/services/counting.py", "from app.services import domains  # noqa")
    result = lint_imports(copy_of_code)
    assert result.returncode == 1
    assert "No import cycles between the modules of a package BROKEN" in result.stdout


def imports_inside_functions(source: str) -> list[int]:
    """Line numbers of imports made inside a function without a comment on the line before saying why."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        says_why = "imported here" in (ast.get_docstring(node) or "").lower()
        imports = [inner for inner in ast.walk(node) if isinstance(inner, ast.Import | ast.ImportFrom)]
        found += [
            inner.lineno for inner in imports if not (says_why or lines[inner.lineno - 2].strip().startswith("#"))
        ]
    return found


def test_no_unexplained_import_inside_a_function() -> None:
    unexplained = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / "app").rglob("*.py"))
        if (lines := imports_inside_functions(path.read_text(encoding="utf-8")))
    }
    assert unexplained == {}


def test_the_lazy_import_check_finds_one() -> None:
    source = 'def f():\n    """Do it."""\n    import json\n\n    return json\n'
    assert imports_inside_functions(source) == [3]
    assert imports_inside_functions(source.replace('"""Do it."""', "# json is slow to import")) == []
    assert imports_inside_functions(source.replace("Do it.", "Do it. json is imported here: it is slow.")) == []
