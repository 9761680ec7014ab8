"""Every console script answers ``--help`` at once: its usage named as the user typed it, ``--plugin`` listed, and
neither torch nor scipy.stats imported (the seconds a --help used to take)."""

import subprocess
import sys

import pytest

from tests.launch import REPO

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
SCRIPTS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
PROBE = """
import sys
sys.argv[0] = {name!r}
from {module} import {func}
try:
    {func}(["--help"])
except SystemExit:
    pass
print("HEAVY", sorted(m for m in ("torch", "scipy.stats", "ray", "wandb", "matplotlib") if m in sys.modules))
"""


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_help_is_light_and_lists_plugin(name):
    module, func = SCRIPTS[name].split(":")
    code = PROBE.format(name=name, module=module, func=func)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120).stdout
    assert out.splitlines()[-1] == "HEAVY []", out[-600:]
    assert f"usage: {name} " in out and "--plugin MODULE" in out, out[:600]
