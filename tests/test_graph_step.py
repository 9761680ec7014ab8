"""``train.compile=step``: the whole iteration as one graph gives eager's losses over 20 steps (under a learning-rate
schedule, with no graph break and no recompilation past the step counter's), a checkpoint moves between the two
modes, two ranks stay identical, stopped and resumed included, and the graph is ready to be captured as a CUDA graph
(no mutated input at an address inductor may not keep). A graph break or an older torch is one line. The same tests
run on every torch the project supports (scripts/torch_matrix.sh)."""

import json

import pytest
import torch
from torch._dynamo.utils import counters

from scripts.bench_step import EAGER
from tests.launch import CPU_DDP, launch
from tests.test_step_options import _method

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS = 20


def _train(m, steps: int, start: int = 0) -> list[dict[str, float]]:
    """``steps`` iterations under a linear learning-rate decay (as ``train.lr_decay=linear`` sets it)."""
    real = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    logs = []
    for s in range(start, start + steps):
        m.set_lr_scale(1.0 - s / (2 * STEPS))
        logs.append({k: float(v) for k, v in m.train_step(real, s).items()})
    return logs


@pytest.fixture(scope="module")
def runs():
    """The eager step and the whole-step graph, 20 iterations each from the same weights and generator. The graph is
    the one inductor receives (dynamo's trace through AOTAutograd), run as traced: what it computes, not how inductor
    rounds it (inductor's kernels round differently from eager's, torch 2.11's more than 2.14's, and Adam makes a
    sign of that rounding a step of the learning rate). The two-rank launches below run it through inductor."""
    from harness.methods import graph_step

    counters.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(graph_step, "BACKEND", "aot_eager")
        eager, graph = _method("codegan", *EAGER), _method("codegan", *EAGER, "train.compile=step")
        out = {"eager": (eager, _train(eager, STEPS)), "graph": (graph, _train(graph, STEPS))}
    out["breaks"] = sum(counters["graph_break"].values())
    out["graphs"] = counters["stats"]["unique_graphs"]
    return out


def _assert_close(got: list[dict[str, float]], want: list[dict[str, float]]) -> None:
    """Step 0 to rounding; later steps within what Adam makes of rounding (tests/test_step_options.py): a critic's
    output drifts by a constant where its bias's gradient is rounding noise, so D's raw outputs get an absolute
    tolerance; its loss (their difference) and every other loss stay within 1e-3."""
    for step, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.keys() == w.keys()
        for k in w:
            rel, tol = (1e-5, 1e-6) if step == 0 else (1e-3, 1e-3 if k in ("d_real", "d_fake", "g_adv") else 1e-4)
            assert g[k] == pytest.approx(w[k], rel=rel, abs=tol), f"{k} at step {step}"


def test_the_whole_step_gives_eager_losses_for_20_steps_in_one_graph(runs):
    _assert_close(runs["graph"][1], runs["eager"][1])
    assert runs["breaks"] == 0
    assert 1 <= runs["graphs"] <= 2  # the first step's, then one with the step counter symbolic


def test_the_comparison_can_fail(runs, monkeypatch):
    from harness.methods import graph_step

    monkeypatch.setattr(graph_step, "BACKEND", "aot_eager")
    other = _method("codegan", *EAGER, "train.compile=step", "train.lr_d=1.1e-3")
    with pytest.raises(AssertionError):
        _assert_close(_train(other, 5), runs["eager"][1][:5])


def test_a_checkpoint_moves_between_eager_and_the_graph(runs):
    (eager, _), (graph, _) = runs["eager"], runs["graph"]
    fresh = _method("codegan", *EAGER)
    fresh.load_state_dict(graph.state_dict())  # a compile=step checkpoint resumed eagerly
    fresh.rng.set_state(graph.rng.get_state())
    _assert_resumed(_train(fresh, 1, STEPS)[0], _train(graph, 1, STEPS)[0])
    graph.load_state_dict(eager.state_dict())  # and an eager checkpoint resumed in the graph
    graph.rng.set_state(eager.rng.get_state())
    _assert_resumed(_train(graph, 1, STEPS)[0], _train(eager, 1, STEPS)[0])


def _assert_resumed(got: dict[str, float], want: dict[str, float]) -> None:
    """G's losses (before any update of the step) to rounding: the same weights; the rest, after one update by
    either Adam (fused eager, functional in the graph), within Adam's rounding as above."""
    for k in want:
        rel, tol = (1e-5, 1e-6) if k.startswith("g_") else (2e-3, 1e-3)
        assert got[k] == pytest.approx(want[k], rel=rel, abs=tol), k


TWO_RANKS = ["train.compile=step", "train.trace=true", "train.log_every=3", "train.ckpt_every=3",
             "eval.kmeans_seeds=1", "eval.pixel_baseline=false", "eval.fid_samples=200", "model.hidden=32",
             "model.d_width=8", "model.g_width=8", "model.e_width=8", "train.batch_size=16", "train.g_batch_size=16",
             "codegan.e_batch_size=24"]  # fmt: skip


def _two_ranks(data, root, steps: int) -> list[dict]:
    """A two-rank gloo launch of the whole-step graph to ``steps`` (resuming what ``root`` holds): each rank's trace."""
    args = [f"log.root={root}", f"data.root={data}", f"train.steps={steps}", *TWO_RANKS]
    proc = launch(args, accelerate=CPU_DDP, OMP_NUM_THREADS="1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (trace,) = {p.parent for p in root.rglob("trace/rank0.json")}
    return [json.loads((trace / f"rank{r}.json").read_text()) for r in (0, 1)]


@pytest.fixture(scope="module")
def two_ranks(digits_shards, tmp_path_factory):
    return _two_ranks(digits_shards.parent, tmp_path_factory.mktemp("ranks"), 6)


def test_two_ranks_average_their_gradients_inside_the_graph(two_ranks):
    assert [r["steps"] for r in two_ranks] == [6, 6]
    assert not set(two_ranks[0]["indices"]) & set(two_ranks[1]["indices"])  # disjoint data: unaveraged would differ
    assert two_ranks[0]["param_digest"] == two_ranks[1]["param_digest"]


def test_two_ranks_resume_the_graph_to_the_same_weights(two_ranks, digits_shards, tmp_path):
    """Stopped at step 3 (its checkpoint) and launched again to 6: the weights of the run that never stopped."""
    first = _two_ranks(digits_shards.parent, tmp_path, 3)
    assert first[0]["param_digest"] != two_ranks[0]["param_digest"]
    resumed = _two_ranks(digits_shards.parent, tmp_path, 6)
    (summary,) = tmp_path.rglob("summary.json")
    assert json.loads(summary.read_text())["resumed_from_step"] == 3  # not trained again from scratch
    assert [r["param_digest"] for r in resumed] == [r["param_digest"] for r in two_ranks]


def test_an_update_called_alone_runs_eagerly_with_the_same_adam(runs):
    """The benchmark times G, E and D updates one by one, outside the graph: the CPU form of the same Adam."""
    graph = runs["graph"][0]
    before = {k: v.clone() for k, v in graph.raw("D").state_dict().items()}
    logs = graph.d_step(torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(2)))
    assert torch.isfinite(logs["d_loss"])
    assert any(not torch.equal(before[k], v) for k, v in graph.raw("D").state_dict().items())


class _Inspect:
    """A compiler backend that keeps what inductor checks before it captures a graph as a CUDA graph: the inputs the
    graph mutates in place that are not static addresses (inductor's ``check_for_mutation``; any there and it skips
    CUDA graphs for the whole step). The graph itself runs as traced."""

    def __init__(self):
        from torch._dynamo.backends.common import aot_autograd

        self.graphs: list[tuple[int, int, int]] = []  # (inputs, mutated, mutated and not static)
        self.backend = aot_autograd(fw_compiler=self._forward, keep_inference_input_mutations=True)

    def _forward(self, gm, example_inputs):
        meta = torch._guards.TracingContext.try_get().fw_metadata
        mutated = {i for i, info in enumerate(meta.input_info) if info.mutates_data}
        self.graphs.append((len(meta.input_info), len(mutated), len(mutated - set(meta.static_input_indices))))
        return gm


@pytest.mark.parametrize("name", ["codegan", "infogan", "infogan-cr", "clustergan"])
def test_the_step_graph_is_ready_for_cuda_graphs_fresh_and_after_a_resume(name, monkeypatch):
    """No input the graph mutates (weights, Adam's moments and steps, the learning rates) is left at an address
    inductor may not keep, fresh and after a checkpoint is loaded; the learning-rate tensors are rebuilt on the
    parameters' device and never saved."""
    from harness.methods import graph_step

    inspect = _Inspect()
    monkeypatch.setattr(graph_step, "BACKEND", inspect.backend)
    real = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    first = _method(name, *EAGER, "train.compile=step")
    first.train_step(real, 0)
    state = first.state_dict()
    assert not any("lr_tensor" in g for o in state["opts"].values() for g in o["param_groups"])
    resumed = _method(name, *EAGER, "train.compile=step")
    resumed.load_state_dict(state)
    resumed.train_step(real, 1)
    assert len(inspect.graphs) == 2 and all(mutated > 0 for _, mutated, _ in inspect.graphs)
    assert [bad for _, _, bad in inspect.graphs] == [0, 0], inspect.graphs
    for opt in resumed._inner.values():
        for group in opt.param_groups:
            assert group["lr_tensor"].device == group["params"][0].device


def test_a_graph_break_is_one_line_not_a_silent_second_graph(monkeypatch):
    from harness.config import ConfigError
    from harness.methods import graph_step

    monkeypatch.setattr(graph_step, "BACKEND", "eager")
    m = _method("codegan", *EAGER, "train.compile=step")
    d_step = m.d_step

    def breaking(real):
        torch._dynamo.graph_break()
        return d_step(real)

    m.d_step = breaking
    with pytest.raises(ConfigError, match=r"train.compile=step: torch .* cannot run this step as one graph at step 0"):
        m.train_step(torch.rand(16, 1, 8, 8), 0)


def test_an_older_torch_is_refused_with_one_line(monkeypatch):
    from harness.config import ConfigError
    from harness.methods import graph_step

    monkeypatch.setattr(graph_step.torch, "__version__", "2.10.1+cu128")
    with pytest.raises(ConfigError, match=r"needs torch >= 2.11 \(this is torch 2.10.1\+cu128\)"):
        _method("codegan", *EAGER, "train.compile=step")
