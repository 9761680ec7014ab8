"""CoDeGAN (meta): MAML pre-training of E_c on the few labelled images. It learns to adapt (held-out classes of a
synthetic task), its second-order meta-gradient is MAML's by plain autograd, and the stage runs, caches, is reused
and refused as SimCLR's, on one rank and on two."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from codegan.artifacts import ARTIFACT, cached_path
from codegan.maml import MAML, Episode, Inner, adapted_accuracy, draw_episode, meta_gradient
from codegan.method import encoder_signature
from codegan.stage import maml_config, pretrain_config
from harness.config import ConfigError, build_config
from harness.methods.gan import DataInfo
from harness.parallel.accelerator import make_accelerator
from harness.runs.results import method_label
from harness.training.trainer import Trainer, train
from tests.launch import CPU_DDP, launch

pytestmark = pytest.mark.usefixtures("one_thread")

DIGITS = "codegan/configs/digits.yaml"
SMALL = ["model.e_width=8", "model.hidden=32", "model.zn_dim=4", "codegan.fc_dim=16"]


def _blobs(classes: int, per: int, gen: torch.Generator, noise: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """8x8 images of two Gaussian blobs whose centres a class fixes, jittered per image, plus pixel noise."""
    centres = torch.rand(classes, 1, 2, 2, generator=gen) * 5 + 1.5
    centres = centres + 0.6 * torch.randn(classes, per, 2, 2, generator=gen)
    grid = torch.arange(8.0)
    dy = (grid[:, None] - centres[..., 0, None, None]) ** 2
    dx = (grid[None, :] - centres[..., 1, None, None]) ** 2
    images = torch.exp(-(dy + dx) / 2).sum(2) + noise * torch.randn(classes, per, 8, 8, generator=gen)
    return images.reshape(-1, 1, 8, 8), torch.arange(classes).repeat_interleave(per)


def _maml(*overrides: str, classes: int = 10, seed: int = 0) -> MAML:
    cfg = build_config(DIGITS, ["method=maml", "codegan.few_labels=20", *SMALL, *overrides])
    torch.manual_seed(seed)
    return MAML(cfg, DataInfo(classes, (1, 8, 8)), make_accelerator(cfg), torch.Generator().manual_seed(seed))


# (1) it learns to adapt --------------------------------------------------------------------------------------------
META = ["codegan.maml_way=5", "codegan.maml_shot=1", "codegan.maml_query=5", "codegan.maml_tasks=4"]
META += ["codegan.maml_inner_steps=1", "codegan.maml_inner_lr=2", "codegan.maml_lr=3e-3"]


def test_a_meta_learned_encoder_adapts_to_unseen_classes_better_than_its_initialisation():
    """64 blob classes to meta-learn on, 20 others held out (their images never seen): after the same inner step,
    5-way 1-shot query accuracy on held-out episodes rises well above the initialisation's. Measured: 0.289 ->
    0.499 at this seed; gains 0.09 to 0.21 over seeds 0-4, hence the margin 0.08."""
    gen = torch.Generator().manual_seed(0)
    seen, unseen = _blobs(64, 10, gen), _blobs(20, 10, gen)
    m = _maml(*META, classes=64)
    m.set_labelled(*seen)
    init = copy.deepcopy(m.raw("E"))
    held = [draw_episode(*unseen, torch.arange(20), (5, 1, 5), gen) for _ in range(100)]
    for step in range(100):
        logs = m.train_step(torch.empty(0), step)
    assert torch.isfinite(logs["query_loss"])
    before, after = (adapted_accuracy(net, held, 5, 16, m.inner) for net in (init, m.raw("E")))
    print(f"held-out 5-way 1-shot query accuracy: init {before:.3f}, meta-learned {after:.3f}")
    assert after > before + 0.08, (before, after)


# (2) the meta-gradient ----------------------------------------------------------------------------------------------
def _by_hand(net: torch.nn.Module, ep: Episode, inner: Inner) -> dict[str, torch.Tensor]:
    """MAML's meta-gradient with plain autograd (create_graph unless first order), as Finn et al. write it."""
    params = {k: v.detach().clone().requires_grad_(True) for k, v in net.named_parameters()}
    fast = {**params, "w": torch.zeros(5, 16, requires_grad=True), "b": torch.zeros(5, requires_grad=True)}

    def loss(p: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        feats = functional_call(net, {k: v for k, v in p.items() if k not in "wb"}, (x,))[0]
        return F.cross_entropy(feats @ p["w"].T + p["b"], y)

    for _ in range(inner.steps):
        grads = torch.autograd.grad(loss(fast, ep.support, ep.support_y), list(fast.values()),
                                    create_graph=not inner.first_order)  # fmt: skip
        fast = {k: v - inner.lr * g for (k, v), g in zip(fast.items(), grads, strict=True)}
    out = torch.autograd.grad(loss(fast, ep.query, ep.query_y), list(params.values()))
    return dict(zip(params, out, strict=True))


def test_second_and_first_order_are_maml_and_fomaml_and_differ():
    m = _maml()
    net = m.raw("E")
    gen = torch.Generator().manual_seed(3)
    images, labels = _blobs(10, 6, gen)
    ep = draw_episode(images, labels, torch.arange(10), (5, 2, 2), gen)
    got = {}
    for first in (False, True):
        inner = Inner(3, 0.5, first)
        got[first], loss, _ = meta_gradient(net, dict(net.named_parameters()), [ep], 5, 16, inner)
        want = _by_hand(net, ep, inner)
        assert torch.isfinite(loss) and all(torch.allclose(got[first][k], want[k], atol=1e-6) for k in want)
    second, first = (torch.cat([g.flatten() for g in got[o].values()]) for o in (False, True))
    assert (second - first).norm() > 0.05 * second.norm()

    trained = {}
    for first in ("false", "true"):  # both run as a stage's steps, from the same start, to other weights
        m = _maml(f"codegan.maml_first_order={first}", "codegan.maml_shot=1", "codegan.maml_query=1")
        m.set_labelled(images, labels)
        for step in range(2):
            m.train_step(torch.empty(0), step)
        trained[first] = torch.cat([p.detach().flatten() for p in m.raw("E").parameters()])
    assert not torch.allclose(trained["false"], trained["true"])


def test_separate_encoders_with_batch_norm_meta_learn_and_keep_running_statistics():
    """The 32x32 family (ResNet E_c with batch norm): episodes use batch statistics, and after each step the running
    statistics follow the updated initialisation (what evaluation and CoDeGAN see)."""
    cfg = build_config("cifar10", ["method=maml", "codegan.few_labels=40", "model.e_width=4", "model.hidden=16",
                                   "codegan.fc_dim=8", "codegan.maml_shot=2", "codegan.maml_query=2",
                                   "codegan.maml_tasks=1", "codegan.maml_inner_steps=1"])  # fmt: skip
    m = MAML(cfg, DataInfo(10, (3, 8, 8)), make_accelerator(cfg), torch.Generator().manual_seed(0))
    m.set_labelled(torch.rand(40, 3, 8, 8, generator=torch.Generator().manual_seed(1)), torch.arange(10).repeat(4))
    net = m.raw("Ec")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    logs = m.train_step(torch.empty(0), 0)
    after = net.state_dict()
    assert torch.isfinite(logs["query_loss"]) and net.training
    assert not torch.equal(before["backbone.backbone.1.running_mean"], after["backbone.backbone.1.running_mean"])
    assert int(after["backbone.backbone.1.num_batches_tracked"]) == 1
    assert set(m.artifact()["state"]) == set(after) and m.artifact()["signature"]["codegan.encoders"] == "separate"


def test_episodes_are_balanced_disjoint_and_too_few_labels_are_refused():
    labels = torch.arange(4).repeat_interleave(3)
    images = torch.arange(12.0)[:, None, None, None].expand(12, 1, 8, 8)
    ep = draw_episode(images, labels, torch.arange(4), (3, 1, 2), torch.Generator().manual_seed(0))
    picked = torch.cat([ep.support, ep.query])[:, 0, 0, 0].long()
    assert len(set(picked.tolist())) == 9 and ep.query_y.tolist() == [0, 0, 1, 1, 2, 2]
    assert (labels[picked[:3]][:, None] == labels[picked[3:]].view(3, 2)).all()  # support and query share classes
    m = _maml()  # 5-way, 5 + 5 per class by default; 20 labels give 2 per class
    with pytest.raises(ConfigError, match=r"maml_query=5: an episode needs 5 classes of 10 .* the smallest with 2$"):
        m.set_labelled(torch.zeros(20, 1, 8, 8), torch.arange(10).repeat(2))


def test_maml_is_a_sweep_value_and_its_keys_sweep(tmp_path):
    from sweeps.space import expand
    from sweeps.spec import load_spec
    from sweeps.trainable import TrialContext, trial_config

    space = {"codegan.pretrain": ["none", "simclr", "maml"], "codegan.maml_first_order": [False, True]}
    sweep = {"name": "meta", "presets": {"codegan": "digits"}, "space": space,
             "overrides": {"codegan.few_labels": 20, "codegan.maml_shot": 1, "codegan.maml_query": 1}}  # fmt: skip
    (tmp_path / "meta.yaml").write_text(json.dumps(sweep))
    spec = load_spec(tmp_path / "meta.yaml")
    ctx = TrialContext(spec.name, {m: str(p) for m, p in spec.presets.items()}, spec.overrides, "runs", "disabled", "x")
    cfgs = [trial_config(ctx, trial, str(i)) for i, trial in enumerate(expand(spec))]
    pairs = {(c.codegan.pretrain, c.codegan.maml_first_order) for c in cfgs}
    assert len(cfgs) == 6 and pairs == {(p, o) for p in space["codegan.pretrain"] for o in (False, True)}
    bare = TrialContext(spec.name, ctx.presets, {}, "runs", "disabled", "x")
    with pytest.raises(ConfigError, match="codegan.pretrain=maml meta-learns E_c on labelled images"):
        trial_config(bare, {"method": "codegan", "codegan.pretrain": "maml"}, "0")


# (3) the stage through the entry point -------------------------------------------------------------------------------
def _overrides(digits_shards, tmp_path, *extra: str) -> list[str]:
    return [
        f"data.root={digits_shards.parent}",
        f"log.root={tmp_path / 'runs'}",
        "log.wandb=disabled",
        "log.progress=false",
        "eval.kmeans_seeds=1",
        "eval.kmeans_n_init=1",
        "eval.quality=[]",
        "eval.pixel_baseline=false",
        "codegan.few_labels=20",
        "codegan.maml_shot=1",
        "codegan.maml_query=1",
        "codegan.maml_tasks=2",
        "codegan.maml_inner_steps=1",
        "codegan.maml_steps=3",
        "train.steps=2",
        *extra,
    ]


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEGAN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_pretrain_maml_runs_the_stage_once_caches_it_and_refuses_another_architecture(
    digits_shards, tmp_path, own_cache, capsys
):
    cfg = build_config(DIGITS, _overrides(digits_shards, tmp_path, "codegan.pretrain=maml"))
    train(cfg)
    out = capsys.readouterr().out
    assert out.count("codegan.pretrain=maml: no cached encoder digits-maml-") == 1 and "E_c initialised from" in out
    runs = {p.name.rsplit("-", 1)[0]: p for p in (tmp_path / "runs").iterdir()}
    assert sorted(runs) == ["codegan-digits", "codegan-digits-maml"]
    art = torch.load(runs["codegan-digits-maml"] / ARTIFACT, weights_only=True)
    assert set(art) >= {"state", "signature", "config_hash", "metrics"} and 0 <= art["metrics"]["eval/acc"] <= 1
    assert json.loads((runs["codegan-digits-maml"] / "summary.json").read_text())["step"] == 3
    (cached,) = own_cache.glob("encoders/digits-maml-*.pt")
    assert cached == cached_path(maml_config(cfg), art["signature"])
    seed1 = build_config(DIGITS, _overrides(digits_shards, tmp_path, "codegan.pretrain=maml", "seed=1"))
    assert cached != cached_path(maml_config(seed1), art["signature"])  # other labels drawn: a stage of its own

    again = build_config(DIGITS, _overrides(digits_shards, tmp_path, "codegan.pretrain=maml", "codegan.beta_c=3"))
    trainer = Trainer(again)  # another CoDeGAN config of the same seed and encoder: no retraining
    assert "running the pre-training stage" not in capsys.readouterr().out
    loaded = trainer.method.raw("E").state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in art["state"].items())
    trainer.tracker.finish()
    assert len(list((tmp_path / "runs").iterdir())) == 3

    wrong = _overrides(digits_shards, tmp_path, f"codegan.pretrain={cached}", "model.e_width=16")
    with pytest.raises(ConfigError, match=r"another E_c architecture; model.e_width: artifact 32, this run 16"):
        Trainer(build_config(DIGITS, wrong))


def test_maml_needs_labels_and_has_its_own_stage_label_and_key():
    with pytest.raises(ConfigError, match=r"codegan.pretrain=maml meta-learns E_c on labelled images: set codegan.few"):
        build_config(DIGITS, ["codegan.pretrain=maml"])
    cfg = build_config("fashion-mnist-meta")
    assert (cfg.codegan.pretrain, cfg.codegan.few_labels) == ("maml", 100)
    stage = maml_config(cfg)
    assert (stage.method, stage.stage, stage.seed, stage.train.steps) == ("maml", "pretrain", cfg.seed, 2000)
    sig = encoder_signature(cfg, (1, 28, 28))
    assert cached_path(stage, sig) != cached_path(maml_config(build_config("fashion-mnist-meta", [
        "codegan.maml_inner_lr=0.1"])), sig)  # fmt: skip
    assert not cached_path(pretrain_config(cfg), sig).name.startswith("fashion-mnist-maml-")
    assert method_label({"method": "codegan", "codegan.pretrain": "maml", "codegan.few_labels": 100}) == (
        "CoDeGAN (meta) (100 labels)"
    )


# (4) two ranks from an empty cache ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_maml_stage_runs_on_two_ranks_from_an_empty_cache_in_step(digits_shards, tmp_path):
    """Both ranks meta-learn (on their own episodes, one averaged meta-gradient), rank 0 writes the artifact and
    hands it over; the two ranks' weights are the same after every step."""
    args = [*_overrides(digits_shards, tmp_path, "codegan.pretrain=maml"), f"log.root={tmp_path}", "name=meta",
            "train.batch_size=16", "train.g_batch_size=16", "codegan.e_batch_size=32", "train.trace=true"]  # fmt: skip
    proc = launch(args, accelerate=CPU_DDP, OMP_NUM_THREADS="1", CODEGAN_CACHE=str(tmp_path / "cache"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("running the pre-training stage first") == 1
    folders = {p.name.rsplit("-", 1)[0]: p for p in tmp_path.iterdir() if (p / "summary.json").is_file()}
    assert set(folders) == {"meta", "meta-maml"} and (folders["meta-maml"] / ARTIFACT).is_file()
    assert [json.loads((folders[f] / "summary.json").read_text())["world_size"] for f in folders] == [2, 2]
    ranks = [json.loads((folders["meta-maml"] / "trace" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["steps"] == ranks[1]["steps"] == 3 and ranks[0]["param_digest"] == ranks[1]["param_digest"]
