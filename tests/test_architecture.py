"""The layout rules of docs/architecture.md, checked against the code itself.

- Every churnlab file a stage runs (its `python -m churnlab.<stage>` and, transitively, everything that imports;
  for `report` also what the notebooks import) is covered by a code dependency the stage declares in dvc.yaml, so a
  change to it reruns the stage. DVC does not follow Python imports, so this test does.
- A stage package imports `core`, `contract` and `model`, never another stage; `core` imports no other churnlab
  package, `contract` only `core`, `model` only `core` and `contract`.
- Stage name == package name == params section, and dvc.yaml lists the stages in pipeline order.
"""

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

SRC = ROOT / "src"
PACKAGE = SRC / "churnlab"
SHARED = {"core": set(), "contract": {"core"}, "model": {"core", "contract"}}
ORDER = ["data", "features", "survival", "train", "evaluate", "register", "segment", "score", "retention", "monitor",
         "report"]


def stages(dvc_yaml: Path = ROOT / "dvc.yaml") -> dict:
    return yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))["stages"]


def module_file(name: str, src: Path = SRC) -> Path | None:
    """The file a dotted churnlab module name runs from, or None when the name is not a module (a symbol)."""
    path = src / name.replace(".", "/")
    if (path / "__init__.py").exists():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").exists() else None


def imported_names(code: str) -> set[str]:
    """Dotted churnlab names that `code` imports, at any depth (lazy imports inside functions count too).

    `from churnlab.a import b` yields both `churnlab.a` and `churnlab.a.b` (b may be a module or a symbol).
    """
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "churnlab":
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == "churnlab")
    return names


def notebook_code(notebook: Path) -> str:
    """The code cells of a notebook as one script, IPython magics and shell lines commented out."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return re.sub(r"(?m)^(\s*)([%!])", r"\1# \2", code)


def closure(names: set[str], src: Path = SRC) -> set[Path]:
    """Every churnlab file that importing `names` runs: the modules and each package `__init__` on the way."""
    seen: set[Path] = set()
    todo = list(names)
    while todo:
        parts = todo.pop().split(".")
        for depth in range(1, len(parts) + 1):
            path = module_file(".".join(parts[:depth]), src)
            if path is not None and path not in seen:
                seen.add(path)
                todo.extend(imported_names(path.read_text(encoding="utf-8")))
    return seen


def stage_roots(name: str, stage: dict, root: Path = ROOT) -> set[str]:
    """What a stage's command runs: `python -m churnlab.<x>` is churnlab.<x>.__main__; report adds the notebooks."""
    modules = re.findall(r"python -m (churnlab[\w.]*)", stage["cmd"])
    assert modules, f"stage {name!r}: cmd {stage['cmd']!r} runs no `python -m churnlab...` module"
    roots = {f"{m}.__main__" for m in modules}
    for dep in stage.get("deps", []):
        folder = root / dep
        notebooks = sorted(folder.glob("*.ipynb")) if folder.is_dir() else [folder] if folder.suffix == ".ipynb" else []
        for notebook in notebooks:
            roots |= imported_names(notebook_code(notebook))
    return roots


def uncovered(name: str, stage: dict, root: Path = ROOT) -> list[str]:
    """The churnlab files stage `name` runs that none of its declared deps covers (paths relative to `root`)."""
    deps = [d.rstrip("/") for d in stage.get("deps", [])]
    files = sorted(str(f.relative_to(root)) for f in closure(stage_roots(name, stage, root), root / "src"))
    return [f for f in files if not any(f == d or f.startswith(d + "/") for d in deps)]


def package_imports(package: str) -> set[str]:
    """The churnlab packages (second name) that the files of `package` import, itself excluded."""
    found = set()
    for path in (PACKAGE / package).rglob("*.py"):
        for name in imported_names(path.read_text(encoding="utf-8")):
            parts = name.split(".")
            if len(parts) > 1 and (PACKAGE / parts[1]).is_dir():
                found.add(parts[1])
    return found - {package}


def test_every_file_a_stage_runs_is_a_declared_dependency():
    problems = {name: files for name, stage in stages().items() if (files := uncovered(name, stage))}
    assert not problems, "\n".join(f"stage {name!r} imports {f}, which no dep in dvc.yaml covers"
                                   for name, files in problems.items() for f in files)


def test_the_check_fails_when_a_dependency_is_removed():
    """Take `src/churnlab/core` out of the score stage's deps: the check names the stage and the files it misses."""
    score = stages()["score"]
    trimmed = {**score, "deps": [d for d in score["deps"] if d != "src/churnlab/core"]}
    missing = uncovered("score", trimmed)
    assert "src/churnlab/core/privacy.py" in missing and "src/churnlab/core/io.py" in missing
    assert all(f.startswith("src/churnlab/core/") for f in missing)


def test_the_report_stage_covers_what_its_notebooks_import():
    report = stages()["report"]
    roots = stage_roots("report", report)
    assert "churnlab.report.pipeline_outputs" in roots  # imported by the notebooks, not by report's main
    trimmed = {**report, "deps": [d for d in report["deps"] if d != "src/churnlab/model"]}
    assert "src/churnlab/model/split.py" in uncovered("report", trimmed)  # notebook 3.0 reads the split


def test_stages_import_shared_packages_only():
    for name in ORDER:
        others = package_imports(name) - set(SHARED)
        assert not others, f"stage package {name!r} imports stage package(s) {sorted(others)}: move the shared code " \
                           "into core, contract or model"


@pytest.mark.parametrize("package", sorted(SHARED))
def test_shared_packages_are_layered(package):
    extra = package_imports(package) - SHARED[package]
    assert not extra, f"{package} imports {sorted(extra)}; it may import only {sorted(SHARED[package]) or 'nothing'}"


def test_stage_name_is_package_name_and_params_section():
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    for name, stage in stages().items():
        assert stage["cmd"].endswith(f"python -m churnlab.{name}"), f"stage {name!r} runs {stage['cmd']!r}"
        assert (PACKAGE / name / "__main__.py").exists(), f"src/churnlab/{name}/__main__.py is missing"
        assert name in stage.get("params", []) and name in params, f"stage {name!r} lacks its params section"


def test_stages_are_listed_in_pipeline_order():
    listed = list(stages())
    assert listed == ORDER
    produced = {}
    for name, stage in stages().items():
        for out in [*stage.get("outs", []), *stage.get("metrics", []), *stage.get("plots", [])]:
            produced[next(iter(out)) if isinstance(out, dict) else out] = name
    for position, (name, stage) in enumerate(stages().items()):
        for dep in stage.get("deps", []):
            producer = produced.get(dep)
            assert producer is None or listed.index(producer) < position, \
                f"stage {name!r} reads {dep}, written by {producer!r}, which is listed after it"


@pytest.mark.slow
def test_dvc_status_reruns_every_stage_that_imports_a_changed_helper(tmp_path):
    """A real DVC project whose stages keep only their code deps (cmd `true`): after `dvc repro` records the
    hashes, a one-line change to a shared helper must make `dvc status` list every stage that imports it."""
    shutil.copytree(SRC, tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copy(ROOT / ".dvcignore", tmp_path / ".dvcignore")
    code_only = {name: {"cmd": "true", "deps": [d for d in stage["deps"] if d.startswith(("src/", "notebooks"))]}
                 for name, stage in stages().items()}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": code_only}), encoding="utf-8")
    dvc = [sys.executable, "-m", "dvc"]
    for cmd in (["git", "init", "-q"], [*dvc, "init", "-q"], [*dvc, "config", "core.analytics", "false"],
                [*dvc, "repro", "-q"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)

    def changed_after_editing(relative: str) -> set[str]:
        path = tmp_path / relative
        original = path.read_text(encoding="utf-8")
        path.write_text(original + "\n# edited by the test\n", encoding="utf-8")
        status = subprocess.run([*dvc, "status", "--json"], cwd=tmp_path, check=True, capture_output=True, text=True)
        path.write_text(original, encoding="utf-8")
        return set(json.loads(status.stdout))

    assert changed_after_editing("src/churnlab/core/checks.py") - set(ORDER) == set()  # sanity: names are stages
    for helper in ("src/churnlab/core/privacy.py", "src/churnlab/contract/tables.py", "src/churnlab/model/metrics.py",
                   "src/churnlab/survival/design.py"):
        importers = {name for name, stage in stages().items()
                     if ROOT / helper in closure(stage_roots(name, stage))}
        assert importers, f"no stage imports {helper}: pick a helper that is used"
        changed = changed_after_editing(helper)
        assert importers <= changed, f"editing {helper} leaves {sorted(importers - changed)} up to date in dvc status"
