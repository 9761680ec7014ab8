"""The one registry and what it decides: every kind of entry loads, labels, sweep weights, progress keys, and which
config keys are a run's identity (only its own method's, beside data, model and train)."""

import subprocess
import sys

import pytest

from harness.config import ConfigError, build_config, registry, training_config
from harness.config.registry import MethodEntry, PluginError
from harness.runs.identity import run_hash
from harness.runs.results import method_label
from sweeps.spec import default_weight_keys
from tests.launch import REPO


def test_every_builtin_method_loads_and_subclasses_the_contract():
    from harness.methods.contract import Method

    for name, entry in registry.entries().items():
        if entry.origin != "built-in":
            continue
        cls = registry.method(name)
        assert issubclass(cls, Method) and cls.name == name
        assert all(k.split("/")[-1] == k for k in entry.progress)


def test_every_builtin_entry_of_every_kind_names_what_it_says():
    from harness.config.registry import load
    from harness.metrics.features import Extractor
    from harness.nets.families import Family

    for kind in registry.KINDS:
        for name, entry in registry.entries(kind).items():
            if entry.origin != "built-in" or kind == "section":
                continue
            obj = load(name, kind)
            if kind == "arch":
                assert isinstance(obj, Family)
            elif kind == "extractor":
                assert issubclass(obj, Extractor) and obj.name == name
            else:
                assert callable(obj), (kind, name)
    # one mechanism: the built-in packages register as a plugin would, each through its ENTRIES
    assert registry.BUILTIN == ("codegan", "baselines", "harness.nets", "harness.metrics", "harness.data.sources")
    assert {"codegan", "pretrain", "baselines"} <= set(registry.sections())
    assert registry.lower_is_better("best/eval/kid_inception") and not registry.lower_is_better("eval/acc")


def test_another_methods_key_leaves_a_runs_identity_alone():
    codegan = build_config("digits")
    infogan = build_config("infogan/digits")
    assert not any(k.startswith(("baselines.",)) for k in training_config(codegan))
    assert not any(k.startswith(("codegan.", "pretrain.")) for k in training_config(infogan))
    assert "baselines.cr_weight" not in training_config(infogan)
    assert "baselines.cr_weight" in training_config(build_config("infogan-cr/digits"))
    assert run_hash(build_config("digits", ["baselines.lambda_mi=2"]), 1, "no") == run_hash(codegan, 1, "no")
    assert run_hash(build_config("infogan/digits", ["codegan.beta_c=3"]), 1, "no") == run_hash(infogan, 1, "no")
    assert run_hash(build_config("infogan/digits", ["baselines.lambda_mi=2"]), 1, "no") != run_hash(infogan, 1, "no")
    assert run_hash(build_config("digits", ["train.lr_g=0.00123"]), 1, "no") != run_hash(codegan, 1, "no")


def test_labels_weights_and_refusals():
    assert method_label({"method": "codegan", "codegan.pretrain": "simclr"}) == "CoDeGAN (self)"
    assert method_label({"method": "infogan", "train.gan_loss": "hinge"}) == "InfoGAN (hinge)"
    assert method_label({"method": "someone-elses"}) == "someone-elses"
    assert default_weight_keys()["infogan-cr"] == "baselines.lambda_mi"
    with pytest.raises(PluginError, match="already codegan.method:CoDeGAN"):
        registry.add(MethodEntry("codegan", "elsewhere:Other", "Other"))
    with pytest.raises(PluginError, match="is not module:attr"):
        registry.add(MethodEntry("nocolon", "elsewhere.Other", "Other"))
    with pytest.raises(ConfigError, match="method: unknown method 'nope'; registered: clustergan, codegan"):
        build_config("digits", ["method=nope"])


@pytest.mark.parametrize("module", ["no_such_plugin_module", "json"])
def test_a_bad_plugin_is_one_line_and_exit_2(module):
    proc = subprocess.run([sys.executable, "-m", "harness.run", "--plugin", module, "--print-config"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"config error: --plugin {module}"), line


def test_a_config_is_built_without_importing_torch():
    code = ("import sys; from harness.config import build_config, training_config; from harness.config.registry import"
            " entries; cfg = build_config('infogan/digits'); training_config(cfg); entries();"
            " print(sorted(m for m in ('torch', 'accelerate', 'ray', 'wandb') if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr[-2000:]


def test_modules_that_moved_are_found_under_their_old_names_with_a_warning():
    """A plugin written against the flat layout keeps working for a release: the old name stands for the new module
    (the very classes), and says where to import it from."""
    import importlib
    import sys

    from harness import MOVED
    from harness.methods.gan import GANMethod

    for old in ("harness.gan", "harness.catalogue"):
        sys.modules.pop(old, None)
    with pytest.warns(FutureWarning, match="harness.gan moved to harness.methods.gan"):
        gan = importlib.import_module("harness.gan")
    assert gan.GANMethod is GANMethod
    with pytest.warns(FutureWarning, match="harness.catalogue moved to harness.config.registry"):
        from harness.catalogue import MethodEntry as Old
    assert Old is MethodEntry
    for old, new in MOVED.items():
        importlib.import_module(new)  # every new home exists
        assert not (REPO / (old.replace(".", "/") + ".py")).exists(), f"{old} is both moved and present"
