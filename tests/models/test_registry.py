"""Prior networks by name and size (DESIGN.md section 2)."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from deepwas_dist import InputError
from deepwas_dist.models import MODELS, SIZES, build_prior, parameter_table

A, T, K_TRACKS, WINDOW, M_SNPS = 5, 3, 4, 16, 7
INIT = math.log(0.3 / 1e6)


def inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(M_SNPS, A, generator=g), torch.randn(M_SNPS, K_TRACKS, WINDOW, generator=g))


def build(name: str, size: str, **kw):
    return build_prior(name, size, n_features=A, n_traits=T, n_tracks=K_TRACKS, window=WINDOW, **kw)


ALL = [(n, s) for n in MODELS for s in (SIZES if n in ("mlp", "conv") else ("small",))]


@pytest.mark.parametrize("name,size", ALL)
def test_shapes_and_initial_output(name, size):
    net = build(name, size, init_log_f=INIT)
    ann, tracks = inputs()
    out = net(ann, tracks)
    assert out.shape == (M_SNPS, T)
    assert net.log_sigma.shape == (T,) and net.n_traits == T
    assert torch.allclose(out, torch.full((M_SNPS, T), INIT), rtol=0, atol=1e-6)
    assert float(net.log_sigma.detach().abs().max()) == 0.0


def test_exact_parameter_counts():
    assert build("constant", "small").num_parameters() == 2 * T                    # bias + log sigma
    # linear: head weight A*T + head bias T + trait bias T + log sigma T
    assert build("linear", "small").num_parameters() == A * T + 3 * T
    # mlp tiny = (16 wide, 1 deep): Linear(A, 16) + head Linear(16, T) + bias + log sigma
    assert build("mlp", "tiny").num_parameters() == (A * 16 + 16) + (16 * T + T) + 2 * T
    # conv tiny = (8 channels, 1 conv layer, kernel 5; mlp 16 x 1 on [max, mean] pool + annotations)
    conv = K_TRACKS * 8 * 5 + 8
    mlp = (2 * 8 + A) * 16 + 16
    assert build("conv", "tiny").num_parameters() == conv + mlp + (16 * T + T) + 2 * T
    # the table reports the same counts
    rows = {(r["model"], r["size"]): r["parameters"] for r in parameter_table(A, T, K_TRACKS, WINDOW)}
    assert rows[("linear", "-")] == A * T + 3 * T
    assert rows[("mlp", "tiny")] == build("mlp", "tiny").num_parameters()


def test_presets_span_orders_of_magnitude_and_grow():
    rows = parameter_table(50, 1, K_TRACKS, WINDOW)
    for name in ("mlp", "conv"):
        counts = [next(r["parameters"] for r in rows if r["model"] == name and r["size"] == s) for s in SIZES]
        assert all(a < b for a, b in zip(counts, counts[1:])), (name, counts)
        assert counts[-1] / counts[0] >= 1000, (name, counts)


def test_conv_requires_tracks():
    with pytest.raises(InputError, match="track"):
        build_prior("conv", "tiny", n_features=A)
    with pytest.raises(InputError, match="track"):
        build_prior("conv", "tiny", n_features=A, n_tracks=4, window=0)
    net = build("conv", "tiny")
    with pytest.raises(InputError, match="track"):
        net(inputs()[0], None)


def test_unknown_name_or_size():
    with pytest.raises(InputError, match="unknown prior model 'transformer'"):
        build_prior("transformer", n_features=A)
    with pytest.raises(InputError, match="unknown size preset 'huge'"):
        build_prior("mlp", "huge", n_features=A)


@pytest.mark.parametrize("name", ["linear", "mlp", "conv"])
def test_gradients_reach_every_parameter(name):
    torch.manual_seed(0)
    net = build(name, "small")
    ann, tracks = inputs(1)
    # at initialisation the head is zero: it still gets a gradient, so training can start
    net(ann, tracks).sin().sum().backward()
    assert float(net.head.weight.grad.abs().max()) > 0
    net.zero_grad(set_to_none=True)
    with torch.no_grad():
        torch.nn.init.normal_(net.head.weight, std=0.5)
    out = net(ann, tracks)
    loss = (out - 1.0).square().mean() + net.log_sigma.exp().sum()
    loss.backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None, pname
        assert float(p.grad.abs().max()) > 0, pname


def test_cli_prints_parameter_table():
    root = Path(__file__).resolve().parents[2]
    res = subprocess.run([sys.executable, "-m", "deepwas_dist.models", "--features", "20"], cwd=root,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "parameters" in res.stdout and "mlp" in res.stdout and "large" in res.stdout
    assert "conv" in res.stdout and "constant" in res.stdout
    expected = build_prior("mlp", "tiny", n_features=20).num_parameters()
    assert f"{expected:,}" in res.stdout
