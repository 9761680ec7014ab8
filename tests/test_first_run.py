"""The one-time work of a first run is announced in one line before it starts: which jobs this run will pay (read
from the data root and the cache), with the time measured for them where a measurement exists."""

import json

from harness.config import build_config
from harness.core import places
from harness.training.first_run import announcement


def test_the_jobs_a_run_will_pay_and_their_measured_time(tmp_path, monkeypatch):
    monkeypatch.setenv(places.CACHE_ENV, str(tmp_path / "cache"))
    cfg = build_config("digits", values={"data.root": str(tmp_path / "data")})
    measured = tmp_path / "bench"
    measured.mkdir()
    line = announcement(cfg, measured)  # no measurement: the jobs, without a time
    assert line == ("one-time work before training (digits): building the shards, training the domain classifier,"
                    " reference statistics, k-means on raw pixels; each is cached for later runs")  # fmt: skip
    seconds = {"shards_s": 0.3, "domain_classifier_s": 80.0, "reference_statistics_s": 35.0, "pixel_baseline_s": 4.0}
    (measured / "first-run-digits.json").write_text(json.dumps({"cpu": "x86_64", "threads": 2, "seconds": seconds}))
    line = announcement(cfg, measured)
    assert line.startswith("one-time work before training (digits): about 2.0 min (building the shards <1 s,")
    assert "training the domain classifier 80 s" in line and "(first-run-digits.json;" in line
    # what the cache and data root already hold is not announced again
    (tmp_path / "cache" / "extractors").mkdir(parents=True, exist_ok=True)
    (tmp_path / "cache" / "extractors" / "domain-digits-8px-0123.pt").write_bytes(b"")
    assert "domain classifier" not in announcement(cfg, measured) and "k-means on raw pixels 4 s" in line
    (tmp_path / "cache" / "pixels").mkdir(exist_ok=True)
    (tmp_path / "cache" / "pixels" / "digits-test-0123.json").write_text("{}")
    (tmp_path / "data" / "digits").mkdir(parents=True)
    (tmp_path / "data" / "digits" / "manifest.json").write_text("{}")
    assert announcement(cfg, measured) == ""
    no_pixels = build_config("digits", values={"data.root": str(tmp_path / "x"), "eval.pixel_baseline": False,
                                               "eval.quality": []})  # fmt: skip
    assert announcement(no_pixels, measured).endswith("(building the shards <1 s), as measured with 2 threads on a"
                                                      " x86_64 (first-run-digits.json; this machine and its load may"
                                                      " differ); each is cached for later runs")  # fmt: skip
