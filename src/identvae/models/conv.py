"""The convolutional encoder and decoder of "Embrace the Gap"'s image experiment (E5, Sprites),
stacked along a leading run axis like :mod:`identvae.models.ensemble`.

Images are 3 x H x W with H = W = ``resolution``, a multiple of 16, and travel flattened in the C
order of [3, H, W] (x [R, B, D], D = 3 H W), so that the VAE's loss, which sums squared errors
over the last axis, works unchanged.

- Encoder: 4 x [Conv2d 4x4, stride 2, padding 1, 32 channels, ReLU] (H -> H/16), flatten
  (32 (H/16)^2 features), Linear 256, ReLU, Linear 256, ReLU, Linear ``out_dim`` (linear output).
- Decoder: Linear 256, ReLU, Linear 256, ReLU, Linear 32 (H/16)^2, ReLU, reshape to
  (32, H/16, H/16), 3 x [ConvTranspose2d 4x4 s2 p1, 32 channels, ReLU], ConvTranspose2d 4x4 s2 p1
  to 3 channels (linear output).

Parameters live in a flat dict ``name -> Tensor[R, ...]`` (float32): convolutions keep torch's
weight layouts behind the run axis (Conv2d [R, out, in, 4, 4], ConvTranspose2d [R, in, out, 4,
4], bias [R, out]); linear layers are stored like :func:`identvae.models.ensemble.init_mlp`'s,
weight [R, in, out] and bias [R, 1, out]. Each run draws its weights from its own generator, as
torch's layers draw by default (weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in by
torch's rule, which for a ConvTranspose2d is out_channels * 4 * 4), layer by layer, weight then
bias, so a run starts from the same weights alone or in an ensemble.

How runs are stacked is the ``stacking`` argument; every choice keeps the rows independent (run
r's output depends only on row r's weights and inputs) and gives the same numbers to float32
round-off:

- ``"grouped"``: the runs folded into the channels, each convolution one call with ``groups=R``;
- ``"vmap"``: torch.func.vmap over the run axis of one run's functional forward (torch's batching
  rule turns it into the same grouped calls);
- ``"loop"``: one run's functional forward per run, outputs stacked (R dense convolutions);
- ``"auto"`` (the default): ``"loop"`` on the CPU, ``"grouped"`` elsewhere (CUDA).

By ``benchmarks/conv_stacking.py`` (one Adam training step, 2 CPU cores shared with other work,
so the numbers swing with the load): with one thread, the configured E5 job (R = 3, batch 64,
32 x 32) ran loop ~125-150 ms, grouped ~150-175 ms, vmap ~160-185 ms, R plain ``nn.Module``s
~125-145 ms per step (torch's CPU grouped transposed convolution misses the oneDNN path; at
64 x 64 grouped took twice the plain time), and the loop's Jacobian was also the fastest.
Launch-bound sizes favour grouping (R = 10, batch 8: grouped and vmap ~2x faster than the loop and
the plain models), as did R = 10, batch 64 with two threads on a loaded machine (~1.5x). On a GPU
the many small convolutions of a loop are launch-bound, hence ``"grouped"`` there: expected, not
measured here."""

from __future__ import annotations

import math
import operator

import torch
import torch.nn.functional as F

Params = dict[str, torch.Tensor]

CHANNELS = 32  # channels of every hidden convolution
HIDDEN = 256  # width of the hidden linear layers
KERNEL, STRIDE, PADDING = 4, 2, 1
N_CONV = 4  # convolutions in the encoder, transposed convolutions in the decoder
IMAGE_CHANNELS = 3
#: The factor by which the convolutions shrink (encoder) or grow (decoder) the image side.
DOWNSAMPLING = STRIDE**N_CONV
STACKINGS = ("grouped", "vmap", "loop")
AUTO = "auto"  # "loop" on the CPU, "grouped" elsewhere, see the module docstring


def check_resolution(resolution: int) -> None:
    """Refuse a resolution that is not a positive multiple of 16 (the four stride-2 convs)."""
    try:
        value = operator.index(resolution)
    except TypeError:
        value = None
    if isinstance(resolution, bool) or value is None or value <= 0 or value % DOWNSAMPLING:
        raise ValueError(
            f"resolution must be a positive multiple of {DOWNSAMPLING}, got {resolution!r}"
        )


def obs_dim(resolution: int) -> int:
    """D = 3 H W, the length of a flattened image."""
    check_resolution(resolution)
    return IMAGE_CHANNELS * resolution * resolution


def flat_size(resolution: int) -> int:
    """Features between the convolutions and the linear layers: 32 (H/16)^2 (512 at 64 x 64)."""
    check_resolution(resolution)
    return CHANNELS * (resolution // DOWNSAMPLING) ** 2


def _conv_channels(transpose: bool) -> list[tuple[int, int]]:
    """(in, out) channels of the encoder's convolutions or the decoder's transposed ones."""
    if transpose:
        return [(CHANNELS, CHANNELS)] * (N_CONV - 1) + [(CHANNELS, IMAGE_CHANNELS)]
    return [(IMAGE_CHANNELS, CHANNELS)] + [(CHANNELS, CHANNELS)] * (N_CONV - 1)


def _uniform(shape: tuple[int, ...], bound: float, g: torch.Generator) -> torch.Tensor:
    return (torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1) * bound


# A layer: (kind, name, weight shape of one run, fan_in); kind is "conv", "deconv" or "linear".
Layer = tuple[str, str, tuple[int, ...], int]


def _encoder_layers(resolution: int, out_dim: int) -> list[Layer]:
    layers: list[Layer] = []
    for i, (c_in, c_out) in enumerate(_conv_channels(transpose=False)):
        # Conv2d's weight [out, in, k, k]: fan_in = in * k * k
        layers.append(("conv", f"conv{i}", (c_out, c_in, KERNEL, KERNEL), c_in * KERNEL**2))
    sizes = [flat_size(resolution), HIDDEN, HIDDEN, out_dim]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(("linear", f"fc{i}", (a, b), a))
    return layers


def _decoder_layers(resolution: int, in_dim: int) -> list[Layer]:
    layers: list[Layer] = []
    sizes = [in_dim, HIDDEN, HIDDEN, flat_size(resolution)]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(("linear", f"fc{i}", (a, b), a))
    for i, (c_in, c_out) in enumerate(_conv_channels(transpose=True)):
        # ConvTranspose2d's weight [in, out, k, k]: torch's fan_in is size(1) * k * k = out * k * k
        layers.append(("deconv", f"deconv{i}", (c_in, c_out, KERNEL, KERNEL), c_out * KERNEL**2))
    return layers


def _init(
    prefix: str, layers: list[Layer], generators: list[torch.Generator], dtype: torch.dtype
) -> Params:
    if not generators:
        raise ValueError("need one generator per run, got none")
    params: Params = {}
    for kind, name, shape, fan_in in layers:
        bound = 1.0 / math.sqrt(fan_in)
        # linear [in, out] -> bias [1, out]; conv [out, in, k, k] -> [out]; deconv [in, out, k, k]
        bias_shape = {"linear": (1, shape[1]), "conv": (shape[0],), "deconv": (shape[1],)}[kind]
        ws, bs = [], []
        for g in generators:  # weight then bias, from the run's own generator
            ws.append(_uniform(shape, bound, g))
            bs.append(_uniform(bias_shape, bound, g))
        params[f"{prefix}.{name}.weight"] = torch.stack(ws).to(dtype)
        params[f"{prefix}.{name}.bias"] = torch.stack(bs).to(dtype)
    return params


def init_conv_encoder(
    prefix: str,
    resolution: int,
    out_dim: int,
    generators: list[torch.Generator],
    dtype: torch.dtype = torch.float32,
) -> Params:
    """Initial encoder weights of R = len(generators) runs (out_dim: 2n for mean and log-variance),
    torch's default draws, each run from its own generator."""
    return _init(prefix, _encoder_layers(resolution, out_dim), generators, dtype)


def init_conv_decoder(
    prefix: str,
    resolution: int,
    in_dim: int,
    generators: list[torch.Generator],
    dtype: torch.dtype = torch.float32,
) -> Params:
    """Initial decoder weights of R = len(generators) runs, in_dim latents; see
    :func:`init_conv_encoder`."""
    return _init(prefix, _decoder_layers(resolution, in_dim), generators, dtype)


# ---------------------------------------------------------------------------------------------
# Forward passes. Grouped: the activations of all runs travel as [B, R * C, H, W] (run-major
# channels), each convolution one call with groups=R.


def _linear_stack(params: Params, names: list[str], h: torch.Tensor, relu_last: bool):
    """h [R, B, in] through the stacked linear layers ``names`` (ReLU between them)."""
    for i, name in enumerate(names):
        h = torch.baddbmm(params[f"{name}.bias"], h, params[f"{name}.weight"])
        if relu_last or i < len(names) - 1:
            h = F.relu(h)
    return h


def _grouped_convs(
    params: Params, names: list[str], h: torch.Tensor, runs: int, transpose: bool
) -> torch.Tensor:
    """h [B, R * C, H, W] through the convolutions ``names``, ReLU after all but a transposed
    stack's last (the decoder's linear output)."""
    conv = F.conv_transpose2d if transpose else F.conv2d
    for i, name in enumerate(names):
        # Conv2d [R, out, in, k, k] -> [R out, in, k, k]; ConvTranspose2d [R, in, out, k, k] ->
        # [R in, out, k, k]: both are the layouts torch's grouped calls take, group r = run r
        w = params[f"{name}.weight"].flatten(0, 1)
        b = params[f"{name}.bias"].flatten(0, 1)
        h = conv(h, w, b, stride=STRIDE, padding=PADDING, groups=runs)
        if not transpose or i < len(names) - 1:
            h = F.relu(h)
    return h


def _names(prefix: str, layers: list[Layer], kind: str) -> list[str]:
    return [f"{prefix}.{name}" for k, name, _, _ in layers if k == kind]


def _check_input(x: torch.Tensor, runs: int, last: int, what: str) -> None:
    if x.dim() != 3 or x.shape[0] != runs or x.shape[-1] != last:
        raise ValueError(f"{what} must be [R={runs}, B, {last}], got {tuple(x.shape)}")


def _encode_grouped(params: Params, prefix: str, resolution: int, x: torch.Tensor):
    runs, batch, _ = x.shape
    h = x.reshape(runs, batch, IMAGE_CHANNELS, resolution, resolution)
    h = h.transpose(0, 1).reshape(batch, runs * IMAGE_CHANNELS, resolution, resolution)
    layers = _encoder_layers(resolution, 1)
    h = _grouped_convs(params, _names(prefix, layers, "conv"), h, runs, transpose=False)
    h = h.reshape(batch, runs, -1).transpose(0, 1)  # [R, B, 32 (H/16)^2], C order per run
    return _linear_stack(params, _names(prefix, layers, "linear"), h, relu_last=False)


def _decode_grouped(params: Params, prefix: str, resolution: int, z: torch.Tensor):
    runs, batch, _ = z.shape
    layers = _decoder_layers(resolution, 1)
    h = _linear_stack(params, _names(prefix, layers, "linear"), z, relu_last=True)
    side = resolution // DOWNSAMPLING
    h = h.transpose(0, 1).reshape(batch, runs * CHANNELS, side, side)
    h = _grouped_convs(params, _names(prefix, layers, "deconv"), h, runs, transpose=True)
    return h.reshape(batch, runs, -1).transpose(0, 1)  # [R, B, 3 H W]


# vmap: one run's forward (weights without the run axis, x [B, ...]) vmapped over the run axis.


def _single_linear(params: Params, names: list[str], h: torch.Tensor, relu_last: bool):
    for i, name in enumerate(names):
        h = h @ params[f"{name}.weight"] + params[f"{name}.bias"]
        if relu_last or i < len(names) - 1:
            h = F.relu(h)
    return h


def _single_convs(params: Params, names: list[str], h: torch.Tensor, transpose: bool):
    conv = F.conv_transpose2d if transpose else F.conv2d
    for i, name in enumerate(names):
        h = conv(
            h, params[f"{name}.weight"], params[f"{name}.bias"], stride=STRIDE, padding=PADDING
        )
        if not transpose or i < len(names) - 1:
            h = F.relu(h)
    return h


def _encode_single(params: Params, prefix: str, resolution: int, x: torch.Tensor):
    h = x.reshape(x.shape[0], IMAGE_CHANNELS, resolution, resolution)
    layers = _encoder_layers(resolution, 1)
    h = _single_convs(params, _names(prefix, layers, "conv"), h, transpose=False)
    h = h.reshape(h.shape[0], -1)
    return _single_linear(params, _names(prefix, layers, "linear"), h, relu_last=False)


def _decode_single(params: Params, prefix: str, resolution: int, z: torch.Tensor):
    layers = _decoder_layers(resolution, 1)
    h = _single_linear(params, _names(prefix, layers, "linear"), z, relu_last=True)
    side = resolution // DOWNSAMPLING
    h = h.reshape(h.shape[0], CHANNELS, side, side)
    h = _single_convs(params, _names(prefix, layers, "deconv"), h, transpose=True)
    return h.reshape(h.shape[0], -1)


def _own(params: Params, prefix: str) -> Params:
    return {k: v for k, v in params.items() if k.startswith(f"{prefix}.")}


def _rows(params: Params, prefix: str, x: torch.Tensor):
    """(run r's weights, run r's inputs) for each run, for ``stacking="loop"``."""
    own = _own(params, prefix)
    return [({k: v[r] for k, v in own.items()}, x[r]) for r in range(x.shape[0])]


def resolve_stacking(stacking: str, device: torch.device | str) -> str:
    """The stacking used for tensors on ``device``: ``stacking`` itself, or for ``"auto"``
    ``"loop"`` on the CPU and ``"grouped"`` elsewhere."""
    if stacking == AUTO:
        return "loop" if torch.device(device).type == "cpu" else "grouped"
    if stacking not in STACKINGS:
        raise ValueError(f"unknown stacking {stacking!r}; known: {(AUTO, *STACKINGS)}")
    return stacking


def conv_encode(
    params: Params, prefix: str, resolution: int, x: torch.Tensor, stacking: str = AUTO
) -> torch.Tensor:
    """x [R, B, 3 H W] (images flattened in the C order of [3, H, W]) -> [R, B, out_dim]."""
    check_resolution(resolution)
    stacking = resolve_stacking(stacking, x.device)
    _check_input(x, params[f"{prefix}.fc0.weight"].shape[0], obs_dim(resolution), "x")
    if stacking == "grouped":
        return _encode_grouped(params, prefix, resolution, x)
    if stacking == "loop":
        return torch.stack(
            [_encode_single(p, prefix, resolution, xr) for p, xr in _rows(params, prefix, x)]
        )
    single = torch.func.vmap(lambda p, xr: _encode_single(p, prefix, resolution, xr))
    return single(_own(params, prefix), x)


def conv_decode(
    params: Params, prefix: str, resolution: int, z: torch.Tensor, stacking: str = AUTO
) -> torch.Tensor:
    """z [R, B, n] -> [R, B, 3 H W] (flattened like :func:`conv_encode`'s input)."""
    check_resolution(resolution)
    stacking = resolve_stacking(stacking, z.device)
    _check_input(z, *params[f"{prefix}.fc0.weight"].shape[:2], "z")
    if stacking == "grouped":
        return _decode_grouped(params, prefix, resolution, z)
    if stacking == "loop":
        return torch.stack(
            [_decode_single(p, prefix, resolution, zr) for p, zr in _rows(params, prefix, z)]
        )
    single = torch.func.vmap(lambda p, zr: _decode_single(p, prefix, resolution, zr))
    return single(_own(params, prefix), z)


def conv_decoder_jacobian(
    params: Params,
    prefix: str,
    resolution: int,
    z: torch.Tensor,
    chunk: int | None = None,
    stacking: str = AUTO,
) -> torch.Tensor:
    """Each run's decoder Jacobian at latents z [R, N, n] -> [R, N, 3 H W, n], in forward mode.

    A sample's output depends only on its own latent (no batch statistics), so column j of every
    sample's Jacobian is one Jacobian-vector product of the whole stacked decoder with the tangent
    e_j at every (run, sample): torch.func.jvp, vmapped over the n one-hot tangents, over ``chunk``
    samples at a time (all at once if None). Memory: the result, plus about n times a chunk's
    decoder activations and n [R, chunk, D] tangent outputs. Call it under torch.no_grad() unless
    gradients through the Jacobian are wanted."""
    check_resolution(resolution)
    stacking = resolve_stacking(stacking, z.device)
    _check_input(z, *params[f"{prefix}.fc0.weight"].shape[:2], "z")
    runs, n_samples, n = z.shape
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk must be a positive number of samples or None, got {chunk}")
    dec = _own(params, prefix)

    def column(zc: torch.Tensor, tangent: torch.Tensor) -> torch.Tensor:
        def f(zz: torch.Tensor) -> torch.Tensor:
            return conv_decode(dec, prefix, resolution, zz, stacking)

        return torch.func.jvp(f, (zc,), (tangent,))[1]

    columns = torch.func.vmap(column, in_dims=(None, 0))
    eye = torch.eye(n, dtype=z.dtype, device=z.device)
    d = obs_dim(resolution)
    out = z.new_empty(runs, n_samples, d, n)
    step = n_samples if chunk is None else chunk
    for start in range(0, n_samples, max(step, 1)):
        zc = z[:, start : start + step]
        tangents = eye[:, None, None, :].expand(n, *zc.shape)
        out[:, start : start + step] = columns(zc, tangents).permute(1, 2, 3, 0)  # [R, Nc, D, n]
    return out
