"""The import rule: the folders are the layers (docs/architecture.md). Every module imports only from its own layer
or those below it, and no modules import each other in a circle, function-level imports included (they hide
circles, not remove them).

    core < config < data, nets, parallel < methods, metrics (+ codegan, baselines) < runs < training < commands
    < entry points (harness/run.py, sweeps, scripts)
"""

import ast
from pathlib import Path

from tests.launch import REPO

PACKAGES = ("harness", "codegan", "baselines", "sweeps", "scripts")

# one line per folder: package -> layer, the most specific prefix winning
LAYERS = {
    "harness": 0,  # the package's own __init__: the finder of moved modules
    "harness.core": 0,
    "harness.config": 1,
    "harness.data": 2,
    "harness.nets": 2,
    "harness.parallel": 2,
    "harness.methods": 3,
    "harness.metrics": 3,
    "codegan": 3,
    "baselines": 3,
    "harness.runs": 4,
    "harness.training": 5,
    "harness.commands": 6,
    "harness.run": 7,
    "sweeps": 7,
    "scripts": 7,
}
NAMES = {0: "core", 1: "config", 2: "data/nets/parallel", 3: "methods/metrics", 4: "runs", 5: "training",
         6: "commands", 7: "entry points"}  # fmt: skip
# a method imports no other method's package; results (what tables pool) need no torch
ONLY = {"baselines": ("harness", "baselines"), "codegan": ("harness", "codegan"),
        "harness.runs.results": ("harness.core", "harness.config")}  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}


def _runtime_nodes(tree: ast.AST):
    """Every node but those under ``if TYPE_CHECKING:`` (annotations only: never imported at run time)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)
            else:
                stack.append(child)


def imports(path: Path, known: set[str]) -> set[str]:
    """The project modules ``path`` imports anywhere in it (``from harness import x`` as ``harness.x``)."""
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                out.add(name)
    return out


def layer(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    assert best is not None, f"{module} has no layer: add it to LAYERS"
    return LAYERS[best]


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {m: imports(p, known) - {m} - _parents(m) for m, p in mods.items()}


def _parents(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def test_every_import_runs_down_the_layers():
    upward = [
        f"{m} ({NAMES[layer(m)]}) imports {d} ({NAMES[layer(d)]})"
        for m, deps in graph().items()
        for d in deps
        if layer(d) > layer(m)
    ]
    assert not upward, "\n".join(sorted(upward))


def test_the_narrow_rules():
    wrong = []
    for m, deps in graph().items():
        for prefix, allowed in ONLY.items():
            if m == prefix or m.startswith(prefix + "."):
                wrong += [f"{m} imports {d}" for d in deps if not any(d == a or d.startswith(a + ".") for a in allowed)]
    assert not wrong, "\n".join(sorted(wrong))


def test_no_modules_import_each_other_in_a_circle():
    deps = graph()
    circles, state = [], dict.fromkeys(deps, 0)  # 0 new, 1 on the path, 2 done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(deps[m]):
            if state[d] == 1:
                circles.append(" -> ".join([*path[path.index(d) :], d]))
            elif state[d] == 0:
                visit(d, [*path, d])
        state[m] = 2

    for m in sorted(deps):
        if state[m] == 0:
            visit(m, [m])
    assert not circles, "\n".join(circles)


def test_nothing_but_the_entry_point_is_flat_in_harness():
    flat = sorted(p.name for p in (REPO / "harness").glob("*.py"))
    assert flat == ["__init__.py", "run.py"], f"modules outside a layer's folder: {flat}"


def test_function_level_imports_of_the_project_are_commands_start_up_with_a_reason():
    """Below the commands every project import is at the top of its module (a function-level one would only hide an
    arrow); a command defers the modules that import torch, so its --help stays fast, and says so beside them."""
    wrong = []
    for name, path in modules().items():
        if not name.startswith(("harness", "codegan", "baselines")):
            continue
        lines = path.read_text().splitlines()
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body_imports = [n for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))]
            project = [n for n in body_imports if _project_module(n)]
            for node in project:
                where = f"{path.relative_to(REPO)}:{node.lineno}"
                if not name.startswith("harness.commands"):
                    wrong.append(f"{where}: below the commands")
                    continue
                block = [node.lineno - 1, *(n.lineno - 1 for n in project if n.lineno < node.lineno)]
                first = min(i for i in block if all(j in block for j in range(i, node.lineno)))
                if "#" not in lines[first] and "#" not in lines[first - 1]:
                    wrong.append(f"{where}: no reason given")
    assert not wrong, "\n".join(wrong)


def _project_module(node: ast.AST) -> bool:
    names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
    return any(n.split(".")[0] in PACKAGES for n in names) and getattr(node, "level", 0) == 0
