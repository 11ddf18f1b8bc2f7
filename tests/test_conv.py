"""The stacked convolutional encoder and decoder of E5 (identvae.models.conv)."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from identvae.models.conv import (
    AUTO,
    STACKINGS,
    check_resolution,
    conv_decode,
    conv_decoder_jacobian,
    conv_encode,
    flat_size,
    init_conv_decoder,
    init_conv_encoder,
    resolve_stacking,
)
from identvae.train.ensemble import full_float32

RES = 16  # D = 768
N_LAT = 3
TOL = {"rtol": 1e-5, "atol": 1e-6}


def assert_grad_close(actual: torch.Tensor, expected: torch.Tensor, msg: str) -> None:
    """Within float32 round-off for a gradient: a bias's is a sum over B * H * W terms that
    cancel, so its absolute round-off scales with the tensor's largest entries, not each entry."""
    atol = max(TOL["atol"], 1e-6 * expected.abs().max().item())
    torch.testing.assert_close(actual, expected, rtol=TOL["rtol"], atol=atol, msg=msg)


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: these tensors are small, and on a loaded machine two OpenMP threads
    contending for two busy cores made one reverse-mode Jacobian take minutes instead of 0.3 s."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def gens(seeds) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


def models(seeds, res: int = RES, n: int = N_LAT) -> dict[str, torch.Tensor]:
    g = gens(seeds)
    return init_conv_encoder("enc", res, 2 * n, g) | init_conv_decoder("dec", res, n, g)


def row(params: dict[str, torch.Tensor], r: int) -> dict[str, torch.Tensor]:
    """Run r as an ensemble of one."""
    return {k: v[r : r + 1] for k, v in params.items()}


# --- the reference: torch's own layers, loaded with one run's weights -----------------------


def _load(layer: nn.Module, params, name: str, r: int) -> nn.Module:
    w, b = params[f"{name}.weight"][r], params[f"{name}.bias"][r]
    if isinstance(layer, nn.Linear):  # ours: weight [in, out], bias [1, out]
        w, b = w.T, b[0]
    layer.weight.data, layer.bias.data = w.clone(), b.clone()
    return layer


def torch_encoder(params, r: int, res: int) -> tuple[nn.Sequential, dict[str, nn.Module]]:
    """Run r's encoder as an nn.Sequential, and its layers by our parameter names."""
    named: dict[str, nn.Module] = {}
    layers: list[nn.Module] = []
    for i, c_in in enumerate((3, 32, 32, 32)):
        named[f"enc.conv{i}"] = nn.Conv2d(c_in, 32, kernel_size=4, stride=2, padding=1)
        layers += [named[f"enc.conv{i}"], nn.ReLU()]
    layers.append(nn.Flatten())
    for i, (a, b) in enumerate([(32 * (res // 16) ** 2, 256), (256, 256), (256, 2 * N_LAT)]):
        named[f"enc.fc{i}"] = nn.Linear(a, b)
        layers += [named[f"enc.fc{i}"], nn.ReLU()] if i < 2 else [named[f"enc.fc{i}"]]
    for name, layer in named.items():
        _load(layer, params, name, r)
    return nn.Sequential(*layers), named


def torch_decoder(params, r: int, res: int) -> tuple[nn.Sequential, dict[str, nn.Module]]:
    named: dict[str, nn.Module] = {}
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate([(N_LAT, 256), (256, 256), (256, 32 * (res // 16) ** 2)]):
        named[f"dec.fc{i}"] = nn.Linear(a, b)
        layers += [named[f"dec.fc{i}"], nn.ReLU()]
    layers.append(nn.Unflatten(1, (32, res // 16, res // 16)))
    for i, c_out in enumerate((32, 32, 32, 3)):
        named[f"dec.deconv{i}"] = nn.ConvTranspose2d(32, c_out, kernel_size=4, stride=2, padding=1)
        layers += [named[f"dec.deconv{i}"], nn.ReLU()] if i < 3 else [named[f"dec.deconv{i}"]]
    layers.append(nn.Flatten())
    for name, layer in named.items():
        _load(layer, params, name, r)
    return nn.Sequential(*layers), named


def as_param(module_param: torch.Tensor, name: str) -> torch.Tensor:
    """A torch layer's parameter in the stacked layout of one run (linear: [in, out], [1, out])."""
    if ".fc" in name:
        return module_param.T if name.endswith("weight") else module_param[None]
    return module_param


# --- shapes and resolution ------------------------------------------------------------------


@pytest.mark.parametrize("res", [16, 32])
def test_shapes(res):
    p = models([0, 1], res)
    flat = 32 * (res // 16) ** 2
    assert flat_size(res) == flat
    assert flat_size(64) == 512
    assert p["enc.fc0.weight"].shape == (2, flat, 256)
    assert p["dec.fc2.weight"].shape == (2, 256, flat)
    assert p["enc.conv0.weight"].shape == (2, 32, 3, 4, 4)
    assert p["dec.deconv3.weight"].shape == (2, 32, 3, 4, 4)
    assert p["dec.deconv3.bias"].shape == (2, 3)
    assert all(v.dtype == torch.float32 for v in p.values())
    x = torch.rand(2, 5, 3 * res * res)
    for stacking in STACKINGS:
        assert conv_encode(p, "enc", res, x, stacking).shape == (2, 5, 2 * N_LAT)
        assert conv_decode(p, "dec", res, torch.randn(2, 5, N_LAT), stacking).shape == x.shape


@pytest.mark.parametrize("bad", [0, -16, 8, 24, 33, 16.0, "64", True])
def test_bad_resolution_refused(bad):
    with pytest.raises(ValueError, match=repr(bad).replace(".", r"\.")):
        check_resolution(bad)
    with pytest.raises(ValueError, match="multiple of 16"):
        init_conv_encoder("enc", bad, 4, gens([0]))


def test_good_resolutions_pass():
    for res in (16, 32, 48, 64):
        check_resolution(res)


def test_wrong_input_size_refused():
    p = models([0])
    with pytest.raises(ValueError, match="768"):
        conv_encode(p, "enc", RES, torch.rand(1, 2, 3 * 32 * 32))
    with pytest.raises(ValueError, match="R=1"):
        conv_decode(p, "dec", RES, torch.rand(2, 2, N_LAT))


# --- together = alone = torch's layers --------------------------------------------------------


def _outputs_and_grads(params, x, z, stacking, weights_enc, weights_dec):
    p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    h = conv_encode(p, "enc", RES, x, stacking)
    x_hat = conv_decode(p, "dec", RES, z, stacking)
    ((h * weights_enc).sum() + (x_hat * weights_dec).sum()).backward()
    return h.detach(), x_hat.detach(), {k: v.grad for k, v in p.items()}


@pytest.mark.parametrize("stacking", STACKINGS)
def test_together_equals_alone_and_torch_layers(stacking):
    seeds = [3, 7, 11]
    params = models(seeds)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 4, 3 * RES * RES, generator=g)
    z = torch.randn(3, 4, N_LAT, generator=g)
    w_enc = torch.randn(3, 4, 2 * N_LAT, generator=g)
    w_dec = torch.randn(3, 4, 3 * RES * RES, generator=g)
    h, x_hat, grads = _outputs_and_grads(params, x, z, stacking, w_enc, w_dec)
    for r, seed in enumerate(seeds):
        alone = models([seed])
        sl = slice(r, r + 1)
        h1, x1, g1 = _outputs_and_grads(alone, x[sl], z[sl], stacking, w_enc[sl], w_dec[sl])
        torch.testing.assert_close(h[r], h1[0], **TOL)
        torch.testing.assert_close(x_hat[r], x1[0], **TOL)
        for k in params:
            assert_grad_close(grads[k][r], g1[k][0], k)

        # the same run as torch's own layers: pins stride, padding, ReLUs and linear outputs
        enc, enc_layers = torch_encoder(params, r, RES)
        dec, dec_layers = torch_decoder(params, r, RES)
        h_t = enc(x[r].view(4, 3, RES, RES))
        x_t = dec(z[r])
        ((h_t * w_enc[r]).sum() + (x_t * w_dec[r]).sum()).backward()
        torch.testing.assert_close(h[r], h_t.detach(), **TOL)
        torch.testing.assert_close(x_hat[r], x_t.detach(), **TOL)
        named = enc_layers | dec_layers
        assert {f"{n}.{s}" for n in named for s in ("weight", "bias")} == set(params)
        for name, layer in named.items():
            for kind in ("weight", "bias"):
                k = f"{name}.{kind}"
                assert_grad_close(grads[k][r], as_param(getattr(layer, kind).grad, k), k)


def test_stackings_agree():
    params = models([0, 1, 2])
    x = torch.rand(3, 2, 3 * RES * RES)
    z = torch.randn(3, 2, N_LAT)
    torch.testing.assert_close(
        conv_encode(params, "enc", RES, x, "grouped"),
        conv_encode(params, "enc", RES, x, "vmap"),
        **TOL,
    )
    torch.testing.assert_close(
        conv_decode(params, "dec", RES, z, "grouped"),
        conv_decode(params, "dec", RES, z, "vmap"),
        **TOL,
    )
    for stacking in (*STACKINGS, AUTO):
        torch.testing.assert_close(
            conv_decode(params, "dec", RES, z, stacking),
            conv_decode(params, "dec", RES, z, "grouped"),
            **TOL,
        )
    with pytest.raises(ValueError, match="bogus"):
        conv_encode(params, "enc", RES, x, "bogus")


def test_auto_stacking():
    assert resolve_stacking(AUTO, "cpu") == "loop"
    assert resolve_stacking(AUTO, torch.device("cuda", 0)) == "grouped"
    assert resolve_stacking("vmap", "cpu") == "vmap"
    with pytest.raises(ValueError, match="bogus"):
        resolve_stacking("bogus", "cpu")


@pytest.mark.parametrize("stacking", STACKINGS)
def test_rows_independent(stacking):
    """Changing run 0's input or weights leaves the other runs' outputs untouched."""
    params = models([0, 1, 2])
    z = torch.randn(3, 2, N_LAT)
    base = conv_decode(params, "dec", RES, z, stacking)
    z2 = z.clone()
    z2[0] += 1.0
    p2 = {k: v.clone() for k, v in params.items()}
    p2["dec.deconv1.weight"][0] *= 2.0
    out = conv_decode(p2, "dec", RES, z2, stacking)
    assert not torch.allclose(out[0], base[0])
    assert torch.equal(out[1:], base[1:])


# --- initialisation -------------------------------------------------------------------------


def test_init_same_alone_or_in_ensemble():
    together = models([5, 6, 7], res=32)
    for r, seed in enumerate([5, 6, 7]):
        alone = models([seed], res=32)
        for k in together:
            assert torch.equal(together[k][r], alone[k][0]), k
    assert not torch.equal(together["dec.fc1.weight"][0], together["dec.fc1.weight"][1])


def test_init_bounds_are_torch_defaults():
    params = models(range(6), res=32)
    side = 32 // 16
    reference = {
        **{f"enc.conv{i}": nn.Conv2d(c, 32, 4, 2, 1) for i, c in enumerate((3, 32, 32, 32))},
        "enc.fc0": nn.Linear(32 * side * side, 256),
        "enc.fc1": nn.Linear(256, 256),
        "enc.fc2": nn.Linear(256, 2 * N_LAT),
        "dec.fc0": nn.Linear(N_LAT, 256),
        "dec.fc1": nn.Linear(256, 256),
        "dec.fc2": nn.Linear(256, 32 * side * side),
        **{f"dec.deconv{i}": nn.ConvTranspose2d(32, c, 4, 2, 1) for i, c in enumerate((32,) * 3)},
        "dec.deconv3": nn.ConvTranspose2d(32, 3, 4, 2, 1),
    }
    assert {f"{k}.{s}" for k in reference for s in ("weight", "bias")} == set(params)
    for name, layer in reference.items():
        # torch's fan_in rule (ConvTranspose2d: weight.size(1) * k * k, i.e. out channels)
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(layer.weight)
        bound = fan_in**-0.5
        for kind in ("weight", "bias"):
            ours = params[f"{name}.{kind}"]
            assert ours.shape[1:] == as_param(getattr(layer, kind).data, f"{name}.{kind}").shape
            m = ours[0].numel() * 6
            assert ours.abs().max() <= bound * (1 + 1e-6), (name, kind)
            # the extremes of m uniform draws lie within ~20/m of the bound (a miss: e^-10)
            assert ours.max() >= bound * (1 - 20 / m), (name, kind, ours.max().item(), bound)
            assert ours.min() <= -bound * (1 - 20 / m), (name, kind)
            # and torch's own draw has the same bound
            assert getattr(layer, kind).abs().max() <= bound * (1 + 1e-6)
    assert nn.init._calculate_fan_in_and_fan_out(reference["dec.deconv3"].weight)[0] == 48


# --- the decoder Jacobian -------------------------------------------------------------------


@pytest.mark.parametrize("stacking", STACKINGS)
def test_jacobian_forward_equals_reverse(stacking):
    params = models([0, 1, 2])
    z = torch.randn(3, 2, N_LAT, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        jac = conv_decoder_jacobian(params, "dec", RES, z, stacking=stacking)
    assert jac.shape == (3, 2, 3 * RES * RES, N_LAT)
    for r in range(3):
        one = row(params, r)
        for i in range(2):

            def f(zz, one=one):
                return conv_decode(one, "dec", RES, zz[None, None])[0, 0]

            ref = torch.autograd.functional.jacobian(f, z[r, i], vectorize=True)
            assert ref.shape == (3 * RES * RES, N_LAT)
            torch.testing.assert_close(jac[r, i], ref, **TOL)


def test_jacobian_chunked_equals_unchunked():
    params = models([0, 1])
    z = torch.randn(2, 5, N_LAT)
    with torch.no_grad():
        full = conv_decoder_jacobian(params, "dec", RES, z)
        for chunk in (1, 2, 5, 8):
            torch.testing.assert_close(
                conv_decoder_jacobian(params, "dec", RES, z, chunk=chunk), full, **TOL
            )
    with pytest.raises(ValueError, match="chunk"):
        conv_decoder_jacobian(params, "dec", RES, z, chunk=0)


# --- a few training steps on another stacking or device ---------------------------------------


def sgd_steps(device: str, stacking: str, steps: int = 4) -> tuple[list[float], dict]:
    """Plain SGD steps of two stacked conv VAEs (squared error + KL to N(0, I)) from the same
    weights, images and reparameterisation noise: the per-step losses and the final weights, on
    the CPU. SGD, not Adam: Adam's update has the same size for any tiny gradient, so rounding
    differences in near-zero gradients would become whole steps."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 8, 3 * RES * RES, generator=g).to(device)
    noise = torch.randn(steps, 2, 8, N_LAT, generator=g).to(device)
    params = {k: v.to(device).requires_grad_() for k, v in models([0, 1]).items()}
    optimiser = torch.optim.SGD(list(params.values()), lr=1e-3)
    losses = []
    for eps in noise:
        h = conv_encode(params, "enc", RES, x, stacking)
        mu, logvar = h[..., :N_LAT], h[..., N_LAT:]
        x_hat = conv_decode(params, "dec", RES, mu + torch.exp(0.5 * logvar) * eps, stacking)
        kl = 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(-1)
        loss = (((x - x_hat) ** 2).sum(-1) + kl).mean(-1).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return losses, {k: v.detach().cpu() for k, v in params.items()}


def assert_same_training(a: tuple[list[float], dict], b: tuple[list[float], dict]) -> None:
    (losses_a, params_a), (losses_b, params_b) = a, b
    assert losses_a[-1] < losses_a[0]  # the steps train
    torch.testing.assert_close(losses_b, losses_a, rtol=1e-4, atol=0)
    for k in params_a:
        torch.testing.assert_close(params_b[k], params_a[k], rtol=1e-4, atol=1e-5, msg=k)


def test_training_steps_agree_across_stackings():
    reference = sgd_steps("cpu", "loop")
    for stacking in ("grouped", "vmap"):
        assert_same_training(reference, sgd_steps("cpu", stacking))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_training_steps_on_cuda_match_the_cpu():
    """The GPU path (auto stacking: grouped convolutions) trains as the CPU does, with TF32 off
    so that CUDA computes in full float32."""
    with full_float32():
        assert_same_training(sgd_steps("cpu", AUTO), sgd_steps("cuda", AUTO))
