"""The leaderboard and the variant comparison on real run folders: one row per result identity.

Tiny digits runs made with ``scripts.compare`` differ from a two-seed base only in the step count, the
precision (bf16) or the evaluation settings (a re-scoring: ``eval-<hash>.json``); each lands in its own
row, the differing parts are columns, the seeds of one identity pool with the sample std.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
from html.parser import HTMLParser

import pytest

from harness.config import build_config
from harness.runs.identity import eval_hash, result_identity, result_key, run_hash
from harness.runs.results import PIXELS_LABEL, STD_NOTE, Record, group, load_records, select
from harness.training.trainer import train
from scripts import compare, sortable_table
from scripts.leaderboard import NOT_APPLICABLE, PAPER_COLUMN, html_page, markdown, table, wandb_record
from scripts.leaderboard import main as leaderboard
from tests.launch import REPO, tiny_run
from tests.wandb_files import offline_runs, read_records

PRESET = REPO / "codegan" / "configs" / "digits.yaml"
PRESETS = {"codegan": PRESET, "infogan": REPO / "baselines" / "configs" / "infogan" / "digits.yaml"}
FAST = ["train.steps=2", "eval.kmeans_seeds=2", "eval.quality=[]"]


@pytest.fixture(scope="module")
def runs(digits_shards, tmp_path_factory):
    """base (seeds 0, 1), 4 steps, bf16 (seed 0 each), and base seed 0 re-scored with 3 k-means seeds."""
    root = tmp_path_factory.mktemp("board")
    common = ["--common", *tiny_run(digits_shards.parent, root, *FAST), "--log-root", str(root)]
    base = ["--seeds", "0", "1", "--variant", "base:", "--out", str(root / "base.json")]
    assert compare.main(["--config", str(PRESET), *base, *common]) == 0
    variants = ["--variant", "4 steps: train.steps=4", "--variant", "bf16: train.mixed_precision=bf16"]
    assert (
        compare.main(["--config", str(PRESET), "--seeds", "0", *variants, "--out", str(root / "more.json"), *common])
        == 0
    )
    rescore = tiny_run(digits_shards.parent, root / "base", *FAST, "eval.kmeans_seeds=3", "log.wandb=offline")
    train(build_config(PRESET, rescore))
    yield root


def _summaries(root, folder):
    return {p.parent.name: json.loads(p.read_text()) for p in (root / folder).glob("*/summary.json")}


def _rows(root, which="all"):
    (rows,) = table(select(load_records([root]), which)).values()
    return rows


def _find(rows, **cells):
    found = [r for r in rows if all(r.get(k) == v for k, v in cells.items())]
    assert len(found) == 1, (cells, rows)
    return found[0]


def test_runs_that_differ_in_steps_precision_or_eval_settings_are_different_rows(runs):
    rows = _rows(runs)
    assert {"step", "precision", "kmeans_seeds"} <= set(rows[0]), list(rows[0])
    assert "fid_samples" not in rows[0]  # the same everywhere: not a column
    ours = [r for r in rows if r["method"] == "CoDeGAN"]
    assert len(ours) == 4 and len({r["result"] for r in ours}) == 4
    base = _find(ours, step="2", precision="no", kmeans_seeds="2")
    assert base["n"] == "2"
    acc = [s["metrics"]["eval/acc"] for s in _summaries(runs, "base").values()]
    assert base["ACC"] == f"{statistics.fmean(acc):.3f} ± {statistics.stdev(acc):.3f}"  # sample std, ddof = 1
    for one in (
        _find(ours, step="4", precision="no"),
        _find(ours, step="2", precision="bf16"),
        _find(ours, step="2", kmeans_seeds="3"),
    ):
        assert one["n"] == "1" and one["ACC"].endswith("(n=1)") and "±" not in one["ACC"]


def test_the_pixel_baseline_is_its_own_row_once_per_computation(runs):
    rows = _rows(runs)
    pixels = _find(rows, method=PIXELS_LABEL, kmeans_seeds="2")  # shared by every training run here
    base = next(iter(_summaries(runs, "base").values()))["metrics"]
    assert pixels["n"] == "1" and pixels["step"] == NOT_APPLICABLE  # a baseline trains nothing: no step
    assert pixels["ACC"] == f"{base['baseline/pixels_acc']:.3f} ± {base['baseline/pixels_acc_std']:.3f} (k-means)"
    assert _find(rows, method=PIXELS_LABEL, kmeans_seeds="3")["n"] == "1"  # the re-scoring's own k-means setting


def test_latest_or_one_chosen_evaluation(runs):
    latest = [r for r in _rows(runs, "latest") if r["method"] == "CoDeGAN"]
    assert _find(latest, step="2", precision="no", kmeans_seeds="2")["n"] == "1"  # seed 0 now counts as re-scored
    assert _find(latest, step="2", kmeans_seeds="3")["n"] == "1"
    (rescored,) = (runs / "base").glob("*/eval-*.json")
    chosen = select(load_records([runs]), rescored.stem.removeprefix("eval-")[:6])  # by its file's tag
    assert [r.source for r in chosen] == [str(rescored)]
    by_hash = select(load_records([runs]), json.loads(rescored.read_text())["eval_hash"])  # by its settings
    assert [r.source for r in by_hash] == [str(rescored)]


def test_one_trained_model_counts_once_and_legacy_folders_are_skipped(runs, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(runs / "base", copy / "base", ignore=shutil.ignore_patterns("checkpoints", "wandb", "samples"))
    legacy = tmp_path / "old" / "codegan-digits-0000"
    legacy.mkdir(parents=True)
    summary = next(iter(_summaries(runs, "base").values()))
    (legacy / "summary.json").write_text(json.dumps({k: v for k, v in summary.items() if k != "identity"}))
    unfinished = copy / "base" / "codegan-digits-ffff0000"
    unfinished.mkdir()
    (unfinished / "run.json").write_text("{}")  # a run folder whose run never wrote its summary
    records = load_records([runs, copy, tmp_path / "old"])
    err = capsys.readouterr().err
    assert "skipped 1 run folder(s) without a result identity" in err
    said = f"left out 1 unfinished run folder(s) (no complete summary.json: running, stopped or failed): {unfinished}"
    assert said in err
    counts = {key: len(g) for key, g in group(records).items()}
    assert sorted(counts.values()) == [1, 1, 1, 2]


def test_leaderboard_files_and_its_wandb_run(runs, tmp_path):
    out = tmp_path / "lb"
    assert leaderboard([str(runs), "--out", str(out), "--project", "board-test", "--log-wandb", "offline"]) == 0
    md = (out / "leaderboard.md").read_text()
    assert STD_NOTE in md and "## digits" in md and "| step |" in md
    page = (out / "leaderboard.html").read_text()
    assert page.count("<tr>") == 7  # header, 4 results, 2 pixel baselines
    rows = _rows(runs)
    ours = [r for r in rows if r["method"] == "CoDeGAN"]
    acc = [float(r["ACC"].split()[0]) for r in ours]
    assert acc == sorted(acc, reverse=True) and rows[-1]["method"] == PIXELS_LABEL  # best ACC first, baselines last
    # no two of these rows share a budget and evaluation (step, precision, k-means seeds): none is marked best
    assert not any(r["_best"] for r in rows) and "**" not in md and "class='best'" not in page
    links = re.findall(r"<a href='([^']+)'>(\d+)</a>", page)
    assert len(links) == 5  # a link per seed: 2 + 1 + 1 + 1
    assert all((out / href / "summary.json").is_file() for href, _ in links)  # each resolves to its run folder
    assert "[0](" in md and "[1](" in md
    (run,) = [r["run"] for r in read_records(next((out / "wandb").glob("offline-run-*"))) if r.get("type") == "run"]
    assert run["project"] == "board-test" and run["job_type"] == "leaderboard"


def test_a_leaderboard_of_nothing_is_an_error(tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    assert leaderboard([str(tmp_path / "runs"), "--out", str(tmp_path / "lb"), "--log-wandb", "disabled"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "no finished results in" in line and "nothing to rank" in line and not (tmp_path / "lb").exists()


def test_a_wandb_run_becomes_the_same_result(runs):
    """A finished W&B run (here the re-scoring's offline run) read back as a leaderboard record."""
    (folder,) = [p.parent for p in (runs / "base").glob("*/eval-*.json")]
    records = [r for w in offline_runs(folder) for r in read_records(w)]
    run = next(r["run"] for r in records if r.get("type") == "run")
    config = {k: v for k, v in run["config"]["update"].items() if k != "_wandb"}
    summary: dict = {}
    for r in records:
        if r.get("type") == "summary":
            summary.update(r["summary"]["update"])
    (job_type,) = {r["run"].get("job_type") for r in records if r.get("type") == "run"}
    record = wandb_record(config, summary, "wandb", job_type)
    (rescored,) = folder.glob("eval-*.json")
    truth = json.loads(rescored.read_text())
    assert record is not None and record.kind == "eval" and record.eval_hash == truth["eval_hash"]
    assert record.metrics["eval/acc"] == pytest.approx(truth["metrics"]["eval/acc"])
    assert {k: v for k, v in record.identity.items() if k != "data"} == {
        k: v for k, v in truth["identity"].items() if k != "data"
    }


def test_compare_pools_by_identity_with_the_same_std(runs):
    rows = [*json.loads((runs / "base.json").read_text()), *json.loads((runs / "more.json").read_text())]
    md = compare.table(rows)
    assert STD_NOTE in md
    by_label = {line.split(" | ")[0].strip("| "): line for line in md.splitlines() if line.startswith("| ")}
    for label in ("4 steps", "bf16"):  # one seed: that run's k-means spread, said so
        (one,) = [r["metrics"] for r in rows if r["variant"] == label]
        assert f"| {one['eval/acc']:.3f} ± {one['eval/acc_std']:.3f} (k-means) |" in by_label[label]
    base = [r["metrics"]["eval/acc"] for r in rows if r["variant"] == "base"]
    assert f"{statistics.fmean(base):.3f} ± {statistics.stdev(base):.3f} |" in by_label["base"]
    assert by_label["base"].split(" | ")[1] == "2"
    twice = compare.table(rows + [dict(rows[0], variant="again")])  # the same run under another label
    assert "| base = again | 2 |" in twice


def _record(method: str, acc: float, fid: float, step: int = 200, unrecorded: str = "", **values) -> Record:
    """A result as a run of ``method`` at ``step`` with ``values`` would record it (identity from the harness's own
    functions; ``unrecorded``: a training key left out, as a harness that did not record it yet wrote it), with the
    k-means-on-pixels baseline beside it."""
    cfg = build_config(PRESETS[method], values={"train.steps": step, **values})
    identity, run, seed = result_identity(cfg, 1, "no", step, "d1g3st"), run_hash(cfg, 1, "no"), cfg.seed
    identity["train"].pop(unrecorded, None)
    return Record(source=f"/runs/{run}/summary.json", kind="summary", dataset="digits", seed=seed, run=f"/runs/{run}",
                  run_hash=run, eval_hash=eval_hash(cfg), identity=identity, key=result_key(identity),
                  metrics={"eval/acc": acc, "eval/fid_domain": fid, "baseline/pixels_acc": 0.3})  # fmt: skip


def test_the_best_is_marked_only_among_rows_of_one_budget_and_evaluation():
    records = [
        _record("codegan", 0.90, 5.0, step=200, **{"eval.fid_samples": 10000}),
        _record("infogan", 0.50, 4.0, step=200, **{"eval.fid_samples": 10000}),
        _record("codegan", 0.60, 30.0, step=60, **{"eval.fid_samples": 1000}),
        _record("infogan", 0.70, 40.0, step=60, **{"eval.fid_samples": 1000}),
        _record("codegan", 0.99, 1.0, step=60, **{"eval.fid_samples": 10000}),  # alone in its budget: never marked
    ]
    tables = table(records)
    best = {(r["method"], r["step"], r["fid_samples"]): r.get("_best", set()) for r in tables["digits"]}
    assert best == {
        ("CoDeGAN", "200", "10000"): {"ACC"}, ("InfoGAN", "200", "10000"): {"FID (domain)"},
        ("CoDeGAN", "60", "1000"): {"FID (domain)"}, ("InfoGAN", "60", "1000"): {"ACC"},
        ("CoDeGAN", "60", "10000"): set(), (PIXELS_LABEL, NOT_APPLICABLE, NOT_APPLICABLE): set(),
    }  # fmt: skip
    md = markdown(tables)
    assert "**0.900 (n=1)**" in md and "**0.700 (n=1)**" in md and "**0.990" not in md and "**1.00" not in md


def test_every_setting_cell_holds_the_rows_own_value_or_its_default():
    """data.streams varies within CoDeGAN only: InfoGAN's cell still reads its value, a run that did not record it
    (an older harness) reads its default, and the pixel baseline, which trains nothing, reads "not applicable"."""
    records = [
        _record("codegan", 0.8, 5.0, **{"data.streams": 2}),
        _record("codegan", 0.7, 6.0, **{"data.streams": 8}),
        _record("infogan", 0.6, 7.0, **{"data.streams": 2}),
        _record("codegan", 0.5, 8.0, unrecorded="data.streams"),
    ]
    rows = table(records)["digits"]
    assert [(r["method"], r["streams"]) for r in rows] == [
        ("CoDeGAN", "2"), ("CoDeGAN", "8"), ("InfoGAN", "2"), ("CoDeGAN", "4"), (PIXELS_LABEL, NOT_APPLICABLE),
    ]  # fmt: skip
    assert "beta_c" not in rows[0]  # the same for every CoDeGAN row: the preset, no column


class _Tables(HTMLParser):
    """The sortable tables of a page: header names, and each row's cells as (text, sort value)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.cell: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("class") == "sortable":
            self.tables.append({"head": [], "rows": []})
        elif tag == "tr" and self.tables:
            self.row: list = []
        elif tag in ("td", "th") and self.tables:
            self.cell = {"text": "", "v": attrs.get("data-v"), "head": tag == "th"}

    def handle_data(self, data):
        if self.cell is not None:
            self.cell["text"] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell)
            self.cell = None
        elif tag == "tr" and self.tables:
            if self.row and self.row[0]["head"]:
                self.tables[-1]["head"] = [c["text"] for c in self.row]
            else:
                self.tables[-1]["rows"].append([{"text": c["text"], "v": c["v"]} for c in self.row])


# the page's own script on the least DOM it uses: tables, header cells that take a click, rows that move
CLICKS = """
const spec = JSON.parse(require("fs").readFileSync(0, "utf8"));
function node(text, attrs) {
  return {textContent: text, attrs: Object.assign({}, attrs), listeners: {},
    getAttribute(n) { return n in this.attrs ? this.attrs[n] : null; },
    setAttribute(n, v) { this.attrs[n] = String(v); }, removeAttribute(n) { delete this.attrs[n]; },
    addEventListener(type, f) { this.listeners[type] = f; }};
}
const tables = spec.tables.map((t) => {
  const cell = (c) => node(c.text, c.v === null ? {} : {"data-v": c.v});
  const rows = t.rows.map((cells, i) => ({id: i, cells: cells.map(cell)}));
  const body = {rows: rows, appendChild(r) { this.rows.splice(this.rows.indexOf(r), 1); this.rows.push(r); }};
  return {tHead: {rows: [{cells: t.head.map((h) => node(h, {}))}]}, tBodies: [body]};
});
global.document = {querySelectorAll: (selector) => (selector === "table.sortable" ? tables : [])};
eval(spec.script);
console.log(JSON.stringify(spec.clicks.map((col) => {
  tables[0].tHead.rows[0].cells[col].listeners.click();
  return tables[0].tBodies[0].rows.map((r) => r.id);
})));
"""


def test_the_html_leaderboard_sorts_by_a_clicked_column_with_its_own_script():
    node = shutil.which("node")
    if node is None:
        pytest.skip("needs node to run the page's script")
    records = [
        _record("codegan", 0.8, 9.0, **{"data.streams": 2}),
        _record("codegan", 0.6, 5.0, **{"data.streams": 4}),
        _record("infogan", 0.7, 7.0, **{"data.streams": 4}),
    ]
    page = html_page(table(records), [])
    assert f"<script>{sortable_table.SCRIPT}</script>" in page and "src=" not in page  # inline, nothing fetched
    parser = _Tables()
    parser.feed(page)
    (found,) = parser.tables
    head, rows = found["head"], found["rows"]
    acc, streams, method = head.index("ACC"), head.index("streams"), head.index("method")
    clicks = [acc, acc, streams, streams, method]
    spec = {"script": sortable_table.SCRIPT, "tables": [found], "clicks": clicks}
    done = subprocess.run([node, "-e", CLICKS], input=json.dumps(spec), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    orders = [[rows[i][c]["text"] for i in order] for order, c in zip(json.loads(done.stdout), clicks, strict=True)]
    pixels = "0.300 (n=1)"  # the pixel baseline's ACC
    assert orders[0] == [pixels, "0.600 (n=1)", "0.700 (n=1)", "0.800 (n=1)"]  # by the mean, not as text
    assert orders[1] == ["0.800 (n=1)", "0.700 (n=1)", "0.600 (n=1)", pixels]  # clicked again: the other way
    assert orders[2] == ["2", "4", "4", NOT_APPLICABLE] and orders[3] == ["4", "4", "2", NOT_APPLICABLE]  # – last
    assert orders[4] == ["CoDeGAN", "CoDeGAN", "InfoGAN", PIXELS_LABEL]
    assert [sortable_table.sort_value(t) for t in ("0.812 ± 0.010", "3 (n=1)", "3e4f12ab", "–", "1e-05")] == [
        "0.812", "3", None, None, "1e-05"
    ]  # fmt: skip


def test_coil20s_paper_scores_stand_beside_generated_image_scores_of_the_paper_protocol():
    """The paper scored COIL-20 on generated images: its row shows the (gen) columns, and the paper's numbers are
    said comparable only beside a result of eval.protocol=paper."""
    records = []
    for protocol, acc in (("paper", 0.8), ("", 0.6)):
        cfg = build_config("coil20", values={"eval.protocol": protocol} if protocol else {})
        identity = result_identity(cfg, 1, "no", cfg.train.steps, "d1g3st")
        metrics = {"eval/acc": acc, "eval/acc_gen_domain": acc + 0.1, "eval/purity_gen_domain": acc + 0.15}
        records.append(Record(source=f"/runs/{protocol}/summary.json", kind="summary", dataset="coil20", seed=0,
                              run=f"/runs/{protocol}", run_hash=protocol, eval_hash=eval_hash(cfg), identity=identity,
                              key=result_key(identity), metrics=metrics))  # fmt: skip
    rows = {r["protocol"]: r for r in table(records)["coil20"] if r["method"] == "CoDeGAN"}
    assert rows["paper"]["ACC (gen)"] == "0.900 (n=1)" and rows["paper"]["purity (gen)"] == "0.950 (n=1)"
    assert rows["paper"][PAPER_COLUMN].endswith("(generated images: the (gen) columns)")
    other = next(r for k, r in rows.items() if k != "paper")
    assert other[PAPER_COLUMN].endswith("(generated images: another protocol than this row, not comparable)")
    assert "compare them only with rows measured with eval.protocol=paper" in markdown(table(records))
