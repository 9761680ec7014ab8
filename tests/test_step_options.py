"""Step options change how a step runs, not what it computes: each gives eager's losses and weights, every method
gets them, they stay out of a run's identity, and the step reads nothing back from the device."""

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from harness.config import build_config, registry, training_hash
from harness.methods import step_options
from harness.methods.gan import DataInfo
from harness.parallel.accelerator import make_accelerator
from scripts.bench_step import EAGER

TINY = ["model.hidden=32", "model.d_width=8", "model.g_width=8", "model.e_width=8", "model.zn_dim=8"]
SMALL_BATCHES = ["train.batch_size=16", "train.g_batch_size=16", "codegan.e_batch_size=24"]


pytestmark = pytest.mark.usefixtures("one_thread")


NEEDS = {"infogan-cr": ["baselines.cont_dim=1"]}  # what a method needs beyond the digits preset


def _method(name: str, *overrides: str):
    more = [f"method={name}", *TINY, *SMALL_BATCHES, *NEEDS.get(name, []), *overrides]
    cfg = build_config("codegan/configs/digits.yaml", more)
    torch.manual_seed(0)
    acc = make_accelerator(cfg)
    return registry.method(name)(cfg, DataInfo(10, (1, 8, 8)), acc, torch.Generator().manual_seed(0))


def _weights(m) -> dict[str, torch.Tensor]:
    return {f"{n}.{k}": v.detach().clone() for n in m.nets for k, v in m.raw(n).named_parameters()}


def _losses(*overrides: str, steps: int = 3) -> tuple[list[dict[str, float]], dict[str, torch.Tensor]]:
    """Each step's losses and what the steps changed in every parameter, every option off but ``overrides``."""
    m = _method("codegan", *EAGER, *overrides)
    before = _weights(m)
    real = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    logs = [{k: float(v) for k, v in m.train_step(real, s).items()} for s in range(steps)]
    return logs, {k: w - before[k] for k, w in _weights(m).items()}


@pytest.fixture(scope="module")
def eager():
    return _losses()


def _assert_same(logs, updates, want_logs, want_updates) -> None:
    """Step 0's losses equal to rounding; later ones, and all weight updates together, within what Adam makes of
    rounding: it moves a weight by about lr whatever its gradient's size, so where a gradient is rounding noise (a
    critic's bias, where real and fake terms cancel) the update can differ in sign, and the next losses move a little.
    A 10% larger learning rate of D alone moves the updates by 5%."""
    for step, (got, want) in enumerate(zip(logs, want_logs, strict=True)):
        assert got.keys() == want.keys()
        rel, tol = (1e-5, 1e-6) if step == 0 else (1e-3, 1e-4)
        for k in want:
            assert got[k] == pytest.approx(want[k], rel=rel, abs=tol), f"{k} at step {step}"
    diff = torch.cat([(updates[k] - w).flatten() for k, w in want_updates.items()]).norm()
    assert diff <= 1e-2 * torch.cat([w.flatten() for w in want_updates.values()]).norm()


@pytest.mark.parametrize(
    "options",
    [
        ["train.optimizer_impl=foreach"],
        ["train.optimizer_impl=fused"],
        ["train.channels_last=true"],
        ["train.gemm_conv_transpose=true"],
        ["train.tf32=true"],  # CUDA only: accepted and ignored on CPU
        ["train.compile=default"],
        ["train.optimizer_impl=fused", "train.channels_last=true", "train.gemm_conv_transpose=true"],
    ],
    ids=lambda o: "+".join(x.split(".")[1] for x in o),
)
def test_an_option_gives_eager_losses_and_weights(eager, options):
    _assert_same(*_losses(*options), *eager)


@pytest.mark.parametrize("change", ["train.lr_g=2e-3", "train.lr_d=1.1e-3"])
def test_the_comparison_can_fail(eager, change):
    with pytest.raises(AssertionError):
        _assert_same(*_losses(change), *eager)


def test_cuda_graph_modes_compile_without_them_on_cpu():
    cpu = torch.device("cpu")
    assert step_options.compile_mode("reduce-overhead", cpu) == "default"
    assert step_options.compile_mode("max-autotune", cpu) == "max-autotune-no-cudagraphs"
    assert not step_options.uses_cuda_graphs("reduce-overhead", cpu)
    assert step_options.uses_cuda_graphs("reduce-overhead", torch.device("cuda"))


@pytest.mark.parametrize("shape", [(64, 1, 4, 2, 1, 0), (8, 3, 3, 2, 1, 1), (5, 2, 4, 1, 0, 0), (4, 4, 3, 3, 2, 2)])
def test_gemm_transposed_convolution_matches_pytorch(shape):
    cin, cout, k, stride, pad, out_pad = shape
    torch.manual_seed(0)
    ref = nn.ConvTranspose2d(cin, cout, k, stride, pad, output_padding=out_pad)
    gemm = step_options.gemm_conv_transpose(nn.Sequential(nn.ConvTranspose2d(cin, cout, k, stride, pad, out_pad)))[0]
    gemm.load_state_dict(ref.state_dict())
    assert type(gemm) is step_options.GemmConvTranspose2d and gemm.state_dict().keys() == ref.state_dict().keys()
    x = torch.randn(3, cin, 7, 6, requires_grad=True)
    grad = torch.randn_like(ref(x))
    outs = []
    for m in (ref, gemm):
        x.grad = None
        m.zero_grad()
        y = m(x)
        y.backward(grad)
        outs.append((y.detach(), x.grad.clone(), m.weight.grad.clone(), m.bias.grad.clone()))
    for a, b in zip(*outs, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=2e-5)


def test_only_few_channel_transposed_convolutions_are_replaced():
    net = step_options.gemm_conv_transpose(
        nn.Sequential(nn.ConvTranspose2d(8, 5, 4, 2, 1), nn.ConvTranspose2d(5, 1, 4, 2, 1, groups=1, dilation=2))
    )
    assert [type(m) for m in net] == [nn.ConvTranspose2d, nn.ConvTranspose2d]


@pytest.mark.parametrize("name", ["codegan", "infogan", "infogan-cr", "clustergan", "simclr"])
def test_every_method_gets_the_options(name):
    m = _method(
        name,
        "train.optimizer_impl=fused",
        "train.channels_last=true",
        "train.gemm_conv_transpose=true",
        "train.compile=default",
    )
    assert m.opts and all(o.optimizer.defaults["fused"] for o in m.opts.values())
    for n, net in m.nets.items():
        raw = m.raw(n)
        assert isinstance(net, torch._dynamo.eval_frame.OptimizedModule) and net._orig_mod is raw
        assert not isinstance(raw, torch._dynamo.eval_frame.OptimizedModule)
        convs = [p for p in raw.parameters() if p.dim() == 4 and p.shape[1] > 1 and p.shape[2] > 1]
        assert all(p.is_contiguous(memory_format=torch.channels_last) for p in convs), n
    if m.generates:
        assert isinstance(list(m.raw("G").modules())[-2], step_options.GemmConvTranspose2d)


def test_options_stay_out_of_the_run_identity_but_tf32_does_not():
    base = build_config("codegan/configs/digits.yaml")
    same = build_config(
        "codegan/configs/digits.yaml",
        [
            "train.optimizer_impl=fused",
            "train.channels_last=true",
            "train.gemm_conv_transpose=true",
            "train.compile=max-autotune",
            "train.tf32=false",
        ],
    )
    assert (
        training_hash(same) == training_hash(base) == "19399cfe"
    )  # the training hash of identity version 2 before these keys existed
    assert training_hash(build_config("codegan/configs/digits.yaml", ["train.tf32=true"])) != training_hash(base)


class DeviceReads(TorchDispatchMode):
    """Records ops that would make the host wait for the device: reading a value back (``.item()``, ``float()``,
    ``bool()``, ``.tolist()``) or an output whose shape depends on values (boolean-mask indexing, nonzero).
    The optimizers' step counters live on the host, so reading them is not a device read."""

    READS = {"aten::_local_scalar_dense", "aten::nonzero", "aten::masked_select", "aten::unique"}

    def __init__(self, host_tensors: set[int]):
        super().__init__()
        self.host, self.seen = host_tensors, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name
        first = args[0] if args else None
        if name in self.READS and not (isinstance(first, torch.Tensor) and id(first) in self.host):
            self.seen.append(name)
        if name == "aten::index" and any(i is not None and i.dtype == torch.bool for i in args[1]):
            self.seen.append("boolean-mask index")
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize(
    "name, part",
    [
        ("codegan", "d_step"),
        ("codegan", "g_step"),
        ("codegan", "e_step"),
        ("infogan", "d_step"),
        ("infogan", "g_step"),
        ("infogan-cr", "d_step"),
        ("infogan-cr", "g_step"),
        ("clustergan", "d_step"),
        ("clustergan", "g_step"),
    ],
)
def test_a_step_reads_nothing_back_from_the_device(name, part):
    m = _method(name)
    real = torch.rand(16, 1, 8, 8)
    m.train_step(real, 0)  # creates the optimizers' state
    counters = {id(s["step"]) for o in m.opts.values() for s in o.state.values()}
    fn = (lambda: m.d_step(real)) if part == "d_step" else getattr(m, part)
    with DeviceReads(counters) as reads:
        fn()
    assert reads.seen == []


def test_the_device_read_check_can_fail():
    with DeviceReads(set()) as reads:
        x = torch.randn(4)
        float(x.sum())
        _ = x[x > 0]
    assert reads.seen == ["aten::_local_scalar_dense", "boolean-mask index"]


def test_the_benchmark_names_bf16_beside_the_defaults_and_labels_each_variant_by_its_own_precision():
    from scripts.bench_step import build_variant, variant_overrides

    assert variant_overrides("defaults+bf16") == ["train.mixed_precision=bf16"]
    assert variant_overrides("bf16") == [*EAGER, "train.mixed_precision=bf16"]
    with pytest.raises(ValueError, match="unknown variant"):
        variant_overrides("defaults+nope")
    fp32 = build_variant("digits", "defaults", ["train.batch_size=8"])
    bf16 = build_variant("digits", "defaults+bf16", ["train.batch_size=8"])  # made last: Accelerate's state says bf16
    assert (fp32.precision, bf16.precision) == ("no", "bf16")
