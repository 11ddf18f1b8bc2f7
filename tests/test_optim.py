"""Per-run learning rates: the per-row Adam against torch's Adam, and the per-run plateau
schedule against torch's ReduceLROnPlateau run once per run."""

import pytest
import torch

from identvae.train.optim import FlatAdam, RowAdam, RowCosine, RowPlateau

SHAPES = [(3, 4, 5), (3, 1, 5), (3,)]  # stacked tensors [R, ...] of three runs


def quadratic_losses(tensors, targets):
    """A per-run loss [R] whose gradient differs between rows and over steps."""
    loss = 0
    for p, t in zip(tensors, targets, strict=True):
        d = (p - t).reshape(len(p), -1)
        loss = loss + (d**2 * (1 + d.abs())).sum(1)
    return loss


def start(seed=0):
    gen = torch.Generator().manual_seed(seed)
    params = [torch.randn(*s, generator=gen, dtype=torch.float64) for s in SHAPES]
    targets = [torch.randn(*s, generator=gen, dtype=torch.float64) for s in SHAPES]
    return params, targets


def run(opt_factory, params, targets, steps=30):
    params = [p.clone().requires_grad_() for p in params]
    opt = opt_factory(params)
    for _ in range(steps):
        loss = quadratic_losses(params, targets)
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
    return [p.detach() for p in params]


@pytest.mark.parametrize("foreach", [True, False])
def test_row_adam_at_a_shared_rate_is_torch_adam(foreach):
    params, targets = start()
    ours = run(lambda ps: RowAdam(ps, torch.full((3,), 1e-2, dtype=torch.float64)), params, targets)
    torch_adam = run(lambda ps: torch.optim.Adam(ps, lr=1e-2, foreach=foreach), params, targets)
    for a, b, p0 in zip(ours, torch_adam, params, strict=True):
        assert not torch.allclose(a, p0)  # it moved
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_each_row_at_its_own_rate_is_a_single_row_adam_at_that_rate():
    params, targets = start(1)
    lrs = torch.tensor([1e-1, 3e-3, 1e-2], dtype=torch.float64)
    together = run(lambda ps: RowAdam(ps, lrs), params, targets)
    for r, lr in enumerate(lrs.tolist()):
        alone = run(
            lambda ps, lr=lr: torch.optim.Adam(ps, lr=lr),
            [p[r : r + 1] for p in params],
            [t[r : r + 1] for t in targets],
        )
        for a, b in zip(together, alone, strict=True):
            torch.testing.assert_close(a[r : r + 1], b, rtol=1e-12, atol=1e-12)
    # and the rates matter: rows at different rates end elsewhere than at a shared one
    shared = run(
        lambda ps: RowAdam(ps, torch.full((3,), 1e-2, dtype=torch.float64)), params, targets
    )
    assert not torch.allclose(together[0][0], shared[0][0])


def test_set_lr_changes_the_step_size():
    params, targets = start(2)
    lrs = torch.tensor([1e-2, 1e-2, 1e-2], dtype=torch.float64)

    def halved_after_ten(ps):
        opt = RowAdam(ps, lrs)
        opt.steps_done = 0
        real_step = opt.step

        def step():
            opt.steps_done += 1
            if opt.steps_done == 11:
                opt.set_lr(torch.tensor([5e-3, 1e-2, 1e-2], dtype=torch.float64))
            return real_step()

        opt.step = step
        return opt

    changed = run(halved_after_ten, params, targets, steps=20)
    plain = run(lambda ps: RowAdam(ps, lrs), params, targets, steps=20)
    assert not torch.allclose(changed[0][0], plain[0][0])
    torch.testing.assert_close(changed[0][1:], plain[0][1:], rtol=0, atol=0)


LOSSES = [  # per-epoch losses of three runs: improving, plateauing, noisy, with a NaN
    [5.0, 4.0, 4.0, 4.0, 3.9999, 3.0, 3.0, 3.0, 3.0, 2.0, 2.0, 2.0, 2.0, 2.0],
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    [3.0, 2.0, 2.5, float("nan"), 1.9, 2.1, 2.0, 1.99999, 1.5, 1.6, 1.7, 1.8, 1.4, 1.45],
]


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"patience": 1, "factor": 0.5}, {"patience": 2, "cooldown": 2, "min_lr": 1e-3}],
    ids=["torch-defaults", "patience1", "cooldown-minlr"],
)
def test_row_plateau_is_torch_reduce_lr_on_plateau_per_run(kwargs):
    lr0 = [1e-2, 3e-2, 1e-1]
    expected = []
    for r, lr in enumerate(lr0):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
        seq = []
        for loss in LOSSES[r]:
            sched.step(loss)
            seq.append(opt.param_groups[0]["lr"])
        expected.append(seq)

    plateau = RowPlateau(**kwargs)
    lr = torch.tensor(lr0, dtype=torch.float64)
    state = plateau.init_state(lr)
    got = [[] for _ in lr0]
    for epoch in range(len(LOSSES[0])):
        loss = torch.tensor([LOSSES[r][epoch] for r in range(3)], dtype=torch.float32)
        lr = plateau.step(state, lr, loss)
        for r in range(3):
            got[r].append(float(lr[r]))
    for r in range(3):
        assert got[r] == pytest.approx(expected[r], rel=1e-12), r
    assert any(seq[-1] < seq[0] for seq in expected)  # the sequences do reduce the rate


def test_row_cosine_is_torch_cosine_annealing_per_run_and_ends_at_zero():
    lr0, epochs = [1e-3, 3e-2], 7
    expected = []
    for lr in lr0:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
        seq = []
        for _ in range(epochs):
            opt.step()
            sched.step()
            seq.append(opt.param_groups[0]["lr"])
        expected.append(seq)
    cosine = RowCosine(epochs)
    lr = torch.tensor(lr0, dtype=torch.float64)
    state = cosine.init_state(lr)
    got = [[], []]
    for _ in range(epochs):
        lr = cosine.step(state, lr, torch.zeros(2))
        for r in range(2):
            got[r].append(float(lr[r]))
    for r in range(2):
        assert got[r] == pytest.approx(expected[r], rel=1e-9, abs=1e-15), r
        assert got[r][-1] == pytest.approx(0.0, abs=1e-15) and got[r][0] < lr0[r]
    # a dropped row keeps the others' schedule: state is per run
    kept = {k: v[1:] for k, v in state.items()}
    assert kept["initial"].tolist() == [3e-2]


def float32_start(seed=0):
    params, targets = start(seed)
    return [p.float() for p in params], [t.float() for t in targets]


def test_flat_adam_is_torch_foreach_adam_bit_for_bit():
    params, targets = float32_start()
    ours = run(lambda ps: FlatAdam(ps, lr=1e-2), params, targets, steps=200)
    torch_adam = run(lambda ps: torch.optim.Adam(ps, lr=1e-2, foreach=True), params, targets, 200)
    for a, b, p0 in zip(ours, torch_adam, params, strict=True):
        assert not torch.equal(a, p0)  # it moved
        assert torch.equal(a, b)


def test_flat_adam_state_reads_and_restores_like_torch_adam():
    """Moments read per tensor, installed into a fresh optimiser over a subset of rows (what the
    trainer does when runs stop), continue as torch's Adam given the same state."""
    params, targets = float32_start(2)
    ours = [p.clone().requires_grad_() for p in params]
    theirs = [p.clone().requires_grad_() for p in params]
    opts = [FlatAdam(ours, lr=1e-2), torch.optim.Adam(theirs, lr=1e-2, foreach=True)]
    for rounds in (1, 2):
        for ps, opt in zip((ours, theirs), opts, strict=True):
            for _ in range(20):
                opt.zero_grad()
                quadratic_losses(ps, targets).sum().backward()
                opt.step()
        keep = torch.arange(1, len(ours[0]))  # drop row 0: new tensors, new optimisers
        new_opts = []
        for ps, opt, cls in zip((ours, theirs), opts, (FlatAdam, torch.optim.Adam), strict=True):
            states = [{k: v.clone() for k, v in opt.state[p].items()} for p in ps]
            ps[:] = [p.detach()[keep].clone().requires_grad_() for p in ps]
            new = cls(ps, lr=1e-2)
            for p, st in zip(ps, states, strict=True):
                new.state[p] = {k: v if v.dim() == 0 else v[keep].clone() for k, v in st.items()}
            new_opts.append(new)
        opts = new_opts
        targets = [t[keep] for t in targets]
        for a, b in zip(ours, theirs, strict=True):
            assert torch.equal(a, b)
        assert float(opts[0].state[ours[0]]["step"]) == 20.0 * rounds


def test_flat_adam_refuses_a_tensor_without_gradient():
    a, b = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    opt = FlatAdam([a, b], lr=1e-2)
    (a**2).sum().backward()
    with pytest.raises(ValueError, match="gradient for every tensor"):
        opt.step()


def test_flat_adam_takes_a_state_installed_after_it_has_stepped():
    """As a resumed Stack installs it: torch Adam's per-tensor state, copied into ``state``."""
    params, targets = float32_start(3)
    ours = [p.clone().requires_grad_() for p in params]
    theirs = [p.clone().requires_grad_() for p in params]
    flat, ref = FlatAdam(ours, lr=1e-2), torch.optim.Adam(theirs, lr=1e-2, foreach=True)
    for ps, opt, steps in ((ours, flat, 5), (theirs, ref, 12)):
        for _ in range(steps):
            opt.zero_grad()
            quadratic_losses(ps, targets).sum().backward()
            opt.step()
    for a, b in zip(ours, theirs, strict=True):
        flat.state[a] = {k: v.clone() for k, v in ref.state[b].items()}
    with torch.no_grad():
        for a, b in zip(ours, theirs, strict=True):
            a.copy_(b)
    for ps, opt in ((ours, flat), (theirs, ref)):
        for _ in range(10):
            opt.zero_grad()
            quadratic_losses(ps, targets).sum().backward()
            opt.step()
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)
