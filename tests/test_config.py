import pytest

from harness.config import ConfigError, all_keys, build_config, config_hash, help_text, parse_override
from harness.run import DEFAULT_CONFIG, main


def test_defaults_yaml_and_overrides_merge(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("train:\n  steps: 7\ncodegan:\n  beta_z: 5e-4\n")
    cfg = build_config(preset, ["codegan.beta_c=50", "train.betas=[0, 0.9]"])
    assert cfg.train.steps == 7
    assert cfg.codegan.beta_z == pytest.approx(5e-4)  # PyYAML reads 5e-4 as a string; the schema coerces it
    assert cfg.codegan.beta_c == 50.0 and isinstance(cfg.codegan.beta_c, float)
    assert cfg.train.betas == [0.0, 0.9]


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("codegan.bta_c=1", "did you mean 'codegan.beta_c'"),
        ("trian.steps=3", "did you mean 'train.steps'"),
        ("train.steps=abc", "train.steps: expected int"),
        ("train.steps=1.5", "train.steps: expected int"),
        ("train.steps=0", "train.steps: must be > 0"),
        ("codegan.tau=-0.1", "codegan.tau: must be > 0"),
        ("log.wandb=onlin", "log.wandb: 'onlin' is not one of"),
        ("codegan.crop_scale=[0.9, 0.5]", "codegan.crop_scale"),
        ("data.num_workers=3", "data.num_workers: 3 does not divide data.streams=4"),
        ("steps", "not of the form key=value"),
    ],
)
def test_bad_values_name_the_key(override, needle):
    with pytest.raises(ConfigError, match=None) as err:
        build_config(None, [override])
    assert needle in str(err.value)


def test_yaml_unknown_section_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("codegn:\n  beta_c: 1\n")
    with pytest.raises(ConfigError, match="did you mean 'codegan'"):
        build_config(bad)
    bad.write_text("codegan:\n  betac: 1\n")
    with pytest.raises(ConfigError, match="bad.yaml.*codegan.betac.*did you mean 'codegan.beta_c'"):
        build_config(bad)


def test_hash_ignores_schedule_and_logging_keys():
    base = build_config()
    assert config_hash(base) == config_hash(build_config(None, ["train.steps=5", "log.wandb=disabled", "name=x"]))
    assert config_hash(base) != config_hash(build_config(None, ["codegan.beta_c=1"]))


def test_help_lists_every_key_with_default(capsys):
    text = help_text()
    for key in all_keys():
        assert f"{key} = " in text
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "codegan.beta_c = 100.0" in capsys.readouterr().out


def test_cli_rejects_bad_key_with_exit_2(capsys):
    assert main(["codegan.beta=3"]) == 2
    assert "did you mean 'codegan.beta_" in capsys.readouterr().err


def test_every_preset_loads():
    from pathlib import Path

    presets = sorted(Path(DEFAULT_CONFIG).parent.glob("*.yaml"))
    assert len(presets) >= 3
    for p in presets:
        build_config(p)


def test_parse_override_types():
    assert parse_override("a=3") == ("a", 3)
    assert parse_override("a=true") == ("a", True)
    assert parse_override("a=") == ("a", "")
