import pytest

from harness.commands.train import main
from harness.config import ConfigError, all_keys, build_config, help_text, parse_override, training_hash
from harness.config.presets import preset_names, preset_path


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


def test_hash_ignores_schedule_logging_and_evaluation_keys():
    base = build_config()
    same = ["train.steps=5", "log.wandb=disabled", "name=x", "eval.fid_samples=50", "eval.quality=[]"]
    assert training_hash(base) == training_hash(build_config(None, same))
    assert training_hash(base) != training_hash(build_config(None, ["codegan.beta_c=1"]))


def test_help_lists_every_key_with_the_values_of_the_preset_that_will_run(capsys):
    text = help_text()
    for key in all_keys():
        assert f"{key} = " in text
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "codegan.beta_c = 10.0" in capsys.readouterr().out  # the digits preset runs by default
    with pytest.raises(SystemExit):
        main(["--config", "fashion-mnist", "--help"])
    out = capsys.readouterr().out
    assert "codegan.beta_c = 100.0" in out and "values of fashion-mnist" in out


def test_cli_rejects_bad_key_with_exit_2(capsys):
    assert main(["codegan.beta=3"]) == 2
    assert "did you mean 'codegan.beta_" in capsys.readouterr().err


def test_every_preset_loads_by_name_and_by_path():
    names = preset_names()
    assert {"digits", "fashion-mnist", "infogan/fashion-mnist", "clustergan/digits"} <= set(names)
    for name in names:
        cfg = build_config(name)
        assert build_config(preset_path(name)) == cfg
    assert build_config("infogan/fashion-mnist").method == "infogan"
    with pytest.raises(ConfigError, match="preset not found: infogan/nope.*presets: cars3d, chairs3d, cifar10"):
        build_config("infogan/nope")


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("train.lr_g=nan", "train.lr_g: must be a finite number, got nan"),
        ("codegan.tau=.nan", "codegan.tau: must be a finite number"),
        ("codegan.beta_c=.inf", "codegan.beta_c: must be a finite number, got inf"),
        ("train.betas=[0.5, .nan]", "train.betas: must be a finite number"),
        ("method=bogus", "method: unknown method 'bogus'; registered: clustergan, codegan"),
        ("model.arch=vit", "model.arch: unknown model.arch 'vit'"),
        ("eval.quality=[clip]", "eval.quality: unknown eval.quality extractor 'clip'"),
        ("data.dataset=imagenet", "data.dataset: no dataset card 'imagenet'"),
        ("eval.fid_samples=1", "eval.fid_samples: FID needs at least 2 samples"),
    ],
)
def test_non_finite_floats_and_unknown_names_are_configuration_errors(override, needle, capsys):
    with pytest.raises(ConfigError) as err:
        build_config(None, [override])
    assert needle in str(err.value)
    assert main([override]) == 2
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert len(err_lines) == 1 and needle in err_lines[0]


def test_non_utf8_and_unreadable_yaml_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert main(["--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"config error: {bad}: not UTF-8 text (byte 9)"]
    assert main(["--config", str(tmp_path)]) == 2  # a folder
    assert "config error" in capsys.readouterr().err


def test_pipe_roots_are_taken_only_from_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CODEGAN_ALLOW_PIPE", raising=False)  # restored to unset afterwards (--allow-pipe sets it)
    preset = tmp_path / "sent-to-you.yaml"
    preset.write_text("data:\n  root: 'pipe:touch /tmp/owned; cat {}'\n")
    with pytest.raises(ConfigError, match="would run a shell command; configs are code"):
        build_config(preset)
    with pytest.raises(ConfigError, match="would run a shell command"):
        build_config(None, values={"data.root": "pipe:cat {}"})
    assert build_config(None, ["data.root=pipe:cat {}"]).data.root == "pipe:cat {}"  # typed by the user
    assert build_config(preset, ["data.root=/shards"]).data.root == "/shards"
    assert main(["--config", str(preset), "--print-config"]) == 2
    assert "CODEGAN_ALLOW_PIPE" in capsys.readouterr().err
    assert main(["--config", str(preset), "--allow-pipe", "--print-config"]) == 0
    monkeypatch.setenv("CODEGAN_ALLOW_PIPE", "1")
    assert build_config(preset).data.root.startswith("pipe:")


def test_parse_override_types():
    assert parse_override("a=3") == ("a", 3)
    assert parse_override("a=true") == ("a", True)
    assert parse_override("a=") == ("a", "")


def test_a_bare_no_is_the_choice_not_a_boolean(tmp_path):
    assert build_config(None, ["train.mixed_precision=no"]).train.mixed_precision == "no"
    preset = tmp_path / "p.yaml"
    preset.write_text("train:\n  mixed_precision: no\n")
    assert build_config(preset).train.mixed_precision == "no"
    with pytest.raises(ConfigError, match="name: expected str, got False"):
        build_config(None, ["name=no"])


def test_print_config_names_the_run_folder_its_hash_and_the_keys_off_the_preset(tmp_path, capsys):
    import yaml

    from harness.runs.folder import run_dir_for, write_config

    overrides = ["train.steps=10", f"log.root={tmp_path}"]
    assert main(["--print-config", "--config", "infogan/digits", *overrides]) == 0
    out = capsys.readouterr().out
    folder = run_dir_for(build_config("infogan/digits", overrides))
    assert out.startswith(f"# run folder: {folder} (new)\n# run hash:   {folder.name.rsplit('-', 1)[1]} (")
    assert "# keys that differ from the preset infogan/digits:\n#   train.steps: 10 (preset: 4000)\n" in out
    assert f'#   log.root: "{tmp_path}" (preset: "runs")' in out
    assert yaml.safe_load(out)["train"]["steps"] == 10  # still the YAML of the resolved config
    write_config(folder, build_config("infogan/digits", overrides))
    assert main(["--print-config", "--resume", str(folder), "eval.fid_samples=50"]) == 0
    out = capsys.readouterr().out
    assert f"# run folder: {folder} (exists)" in out
    assert "# keys that differ from the run's saved config.yaml:\n#   eval.fid_samples: 50 (saved: 10000)\n" in out


def test_a_config_file_past_the_size_cap_is_refused_unread(tmp_path, capsys):
    from harness.config import MAX_YAML_BYTES
    from sweeps.spec import load_spec

    big = tmp_path / "big.yaml"
    big.write_text("train:\n  steps: 7\n" + "# a comment line of padding\n" * (MAX_YAML_BYTES // 28 + 1))
    assert main(["--config", str(big), "--print-config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"config error: {big}: {big.stat().st_size} bytes, more than a config file may hold"
                   f" ({MAX_YAML_BYTES}); not read"]  # fmt: skip
    with pytest.raises(ConfigError, match="more than a config file may hold"):
        load_spec(big)


@pytest.mark.parametrize(("name", "value"), [("WORLD_SIZE", "abc"), ("WORLD_SIZE", "0"), ("RANK", "-1"),
                                             ("LOCAL_RANK", "x"), ("MASTER_PORT", "http")])  # fmt: skip
def test_a_malformed_launcher_variable_is_one_line_and_exit_2(monkeypatch, capsys, name, value):
    monkeypatch.setenv(name, value)
    assert main(["--print-config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"config error: environment: {name}={value!r} is not an integer")


def test_a_malformed_world_size_stops_a_training_run_with_one_line(digits_shards, tmp_path):
    from tests.launch import launch, tiny_run

    proc = launch(tiny_run(digits_shards.parent, tmp_path), WORLD_SIZE="abc")
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("config error: environment: WORLD_SIZE='abc' is not an integer >= 1"), line


def test_a_reader_that_goes_away_ends_the_command_quietly(monkeypatch, capsys):
    """``codegan-run --help | head``: the write that finds the pipe closed ends the command, exit 0, no error line."""
    from harness.core.exits import run_cli

    class ClosedPipe:
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None: ...

        def fileno(self) -> int:
            raise OSError("not a file")

    def prints(argv: list[str]) -> int:
        print("usage: ...")
        return 0

    monkeypatch.setattr("sys.stdout", ClosedPipe())
    assert run_cli(prints, []) == 0
    assert capsys.readouterr().err == ""


def test_overrides_may_come_before_the_options():
    from harness.commands.train import parse_args

    args = parse_args(["train.steps=8", "--resume", "runs/x", "eval.kmeans_seeds=2"])
    assert args.overrides == ["train.steps=8", "eval.kmeans_seeds=2"] and str(args.resume) == "runs/x"
