"""The import rule: every module belongs to a layer and imports only from its own layer or those below it, and
no modules import each other in a circle, function-level imports included (they hide circles, not remove them).

    core  <-  config  <-  data, nets  <-  methods, evaluate  <-  run  <-  entry points (cli, sweeps, scripts)
"""

import ast
from pathlib import Path

from tests.launch import REPO

PACKAGES = ("harness", "codegan", "baselines", "sweeps", "scripts")

# module (or package prefix) -> layer, the most specific prefix winning
LAYERS = {
    "harness": 0, "harness.errors": 0, "harness.atomic": 0, "harness.cache": 0, "harness.progress": 0,
    "harness.seeding": 0, "harness.launch_env": 0,
    "harness.catalogue": 1, "harness.config": 1, "harness.presets": 1, "harness.registry": 1,
    "harness.data.cards": 1, "harness.data.shard_urls": 1,
    "harness.results": 1, "harness.cli": 1,
    "harness.data": 2, "harness.nets": 2, "harness.adversarial": 2, "harness.augment": 2, "harness.ema": 2,
    "harness.step_options": 2, "harness.graph_step": 2, "harness.determinism": 2, "harness.threads": 2,
    "harness.distributed": 2,
    "harness.method": 3, "harness.gan": 3, "codegan": 3, "baselines": 3, "harness.evaluate": 3,
    "harness.identity": 4, "harness.identity_versions": 4, "harness.runtime": 4, "harness.checkpoint": 4,
    "harness.guard": 4, "harness.runlock": 4, "harness.rundir": 4, "harness.result_files": 4, "harness.track": 4,
    "harness.train": 4, "harness.cadence": 4, "harness.start_results": 4,
    "harness.run": 5, "harness.evaluate.rescore": 5, "harness.evaluate.score": 5, "harness.evaluate.__main__": 5,
    "harness.data.__main__": 5, "sweeps": 5, "scripts": 5,
}  # fmt: skip
NAMES = {0: "core", 1: "config", 2: "data/nets", 3: "methods/evaluate", 4: "run", 5: "entry points"}
# results depends only on core and config; a method imports no other method's package
ONLY = {"harness.results": ("harness.errors", "harness.catalogue", "harness.config"),
        "baselines": ("harness", "baselines"), "codegan": ("harness", "codegan")}  # fmt: skip


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
