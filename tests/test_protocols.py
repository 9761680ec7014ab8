"""Evaluation protocols by name. The paper's (``eval.protocol=paper``) measures FID, KID and IS with the TF-ported
Inception resizing inside the network: with a stand-in TorchScript network of that very interface (the real weights
cannot be fetched here), its features and FID equal clean-fid's own ``compute_fid(mode="legacy_tensorflow")`` on the
same images, and its IS equals an independent exp(E[KL(p(y|x) || p(y))]) over the same class probabilities."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from harness.config import ConfigError, build_config
from harness.metrics.extractors import ExtractorContext, TFInceptionExtractor
from harness.metrics.features import moments, run_batched
from harness.metrics.fid import fid
from harness.metrics.inception_score import inception_score


class StandIn(nn.Module):
    """The interface of inception-2015-12-05.pt: uint8-range images of any size, resized inside to 299x299;
    ``return_features`` gives the 2048 pool features, else the class probabilities (``no_output_bias`` as IS uses)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 5, stride=4)
        self.fc = nn.Linear(8, 2048)
        self.out = nn.Linear(2048, 1008)

    def forward(self, img: torch.Tensor, return_features: bool = False, use_fp16: bool = False,
                no_output_bias: bool = False) -> torch.Tensor:  # fmt: skip
        x = F.interpolate(img.to(torch.float32), size=(299, 299), mode="bilinear", align_corners=False)
        f = self.fc(F.adaptive_avg_pool2d(torch.tanh(self.conv((x - 128) / 128)), 1).flatten(1))
        if return_features:
            return f
        logits = F.linear(f, self.out.weight) if no_output_bias else self.out(f)
        return F.softmax(logits * 20, dim=1)


@pytest.fixture(scope="module")
def standin(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("inception")
    torch.jit.script(StandIn()).save(str(folder / "inception-2015-12-05.pt"))
    return folder / "inception-2015-12-05.pt"


def _folder(path: Path, seed: int, n: int = 20) -> np.ndarray:
    path.mkdir()
    images = np.random.default_rng(seed).integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)
    for i, im in enumerate(images):
        Image.fromarray(im).save(path / f"{i:03d}.png")
    return images


def test_the_paper_protocol_measures_fid_as_clean_fid_legacy_tensorflow_and_is_as_salimans(standin, tmp_path):
    from cleanfid import fid as cleanfid

    a, b = _folder(tmp_path / "a", 0), _folder(tmp_path / "b", 1)
    ext = TFInceptionExtractor(ExtractorContext("", 16, torch.device("cpu"), str(standin)))
    fa, pa = run_batched(ext, torch.from_numpy(a).permute(0, 3, 1, 2), 16, torch.device("cpu"))
    fb, _ = run_batched(ext, torch.from_numpy(b).permute(0, 3, 1, 2), 16, torch.device("cpu"))
    net = torch.jit.load(str(standin))
    theirs = cleanfid.get_folder_features(str(tmp_path / "a"), lambda x: net(x, return_features=True), num_workers=0,
                                          batch_size=16, device=torch.device("cpu"), mode="legacy_tensorflow",
                                          verbose=False)  # fmt: skip
    assert np.allclose(fa.numpy(), theirs, rtol=1e-5, atol=1e-6)
    ours = fid(fa.numpy().astype(np.float64), *moments(fb.numpy().astype(np.float64)))
    expected = cleanfid.compute_fid(str(tmp_path / "a"), str(tmp_path / "b"), mode="legacy_tensorflow",
                                    custom_feat_extractor=lambda x: net(x, return_features=True), num_workers=0,
                                    batch_size=16, device=torch.device("cpu"), verbose=False)  # fmt: skip
    assert ours == pytest.approx(expected, rel=1e-5)
    probs = pa.exp().numpy()  # the extractor hands IS the log of the network's probabilities
    with torch.no_grad():
        direct = net(torch.from_numpy(a).permute(0, 3, 1, 2), no_output_bias=True).numpy()
    assert np.allclose(probs, direct, atol=1e-6)
    parts = np.array_split(probs[: len(probs) // 10 * 10], 10)
    independent = [np.exp(np.mean(np.sum(p * (np.log(p) - np.log(p.mean(0, keepdims=True))), axis=1))) for p in parts]
    mean, std = inception_score(pa.numpy())
    assert mean == pytest.approx(np.mean(independent), abs=1e-6) and std == pytest.approx(np.std(independent), abs=1e-6)


def test_a_protocol_sets_its_keys_and_refuses_a_contradiction():
    cfg = build_config("digits", ["eval.protocol=paper"])
    assert (cfg.eval.quality, cfg.eval.fid_samples, cfg.eval.fid_split) == (["inception_tf"], 50000, "train")
    assert build_config("digits", ["eval.protocol=clean"]).eval.quality == ["inception"]
    both = build_config("digits", ["eval.protocol=paper", "eval.quality=[inception_tf, domain]"])
    assert both.eval.quality == ["inception_tf", "domain"]  # beside others
    with pytest.raises(ConfigError, match=r"eval.fid_samples=1000 contradicts eval.protocol=paper"):
        build_config("digits", ["eval.protocol=paper", "eval.fid_samples=1000"])
    with pytest.raises(ConfigError, match=r"leaves out inception_tf, which eval.protocol=paper measures with"):
        build_config("digits", ["eval.protocol=paper", "eval.quality=[domain]"])


def test_the_paper_protocol_scores_coil20_on_generated_images():
    """The reference scores COIL-20 (and the 3D sets) by a classifier's labels of generated images: the paper protocol
    adds the dataset's classifier for them, and the paper's scores stand beside the generated-image ones."""
    from harness.config.protocols import clustering_keys

    cfg = build_config("coil20", ["eval.protocol=paper"])
    assert cfg.eval.quality == ["inception_tf", "domain"]
    assert build_config("digits", ["eval.protocol=paper"]).eval.quality == ["inception_tf"]
    with pytest.raises(ConfigError, match=r"leaves out domain, the classifier whose labels of generated images"):
        build_config("coil20", ["eval.protocol=paper", "eval.quality=[inception_tf]"])
    assert clustering_keys("coil20", "paper")[0] == "eval/acc_gen_domain"
    assert clustering_keys("datasets/cards/coil20.yaml", "paper")[1] == "eval/purity_gen_domain"
    assert clustering_keys("coil20", "domain")[0] == clustering_keys("fashion-mnist", "paper")[0] == "eval/acc"
