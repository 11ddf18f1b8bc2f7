"""Tests for the HSIC independence test and the NonSENS bivariate rule: the low-rank statistic
against brute-force HSIC, the level and power of the permutation test, the stratified
(within-segment) permutations, the stratified subsample and every branch of the rule."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import binom, kstest

from identvae.metrics.independence import (
    DECISIONS,
    P_KEYS,
    _permutations,
    bivariate_decision,
    bivariate_tests,
    decision_reason,
    hsic_test,
    median_bandwidth,
    standardise,
    subsample,
)


def brute_force_hsic(x: np.ndarray, y: np.ndarray) -> float:
    """HSIC V-statistic tr(K H L H) / n² from explicit n × n matrices (the definition)."""
    x, y = standardise(x), standardise(y)
    n = x.shape[0]
    k = np.exp(-cdist(x, x, "sqeuclidean") / (2 * median_bandwidth(x) ** 2))
    m = np.exp(-cdist(y, y, "sqeuclidean") / (2 * median_bandwidth(y) ** 2))
    h = np.eye(n) - np.full((n, n), 1 / n)
    return float(np.trace(k @ h @ m @ h) / n**2)


def max_rejections(trials: int, level: float = 0.05, tail: float = 1e-3) -> int:
    """The most rejections a level-``level`` test may show in ``trials`` independent null
    trials before the binomial tail probability drops below ``tail``."""
    return int(binom.ppf(1 - tail, trials, level))


def test_standardise_z_scores_and_keeps_constant_columns_finite():
    rng = np.random.default_rng(0)
    a = np.column_stack([rng.normal(3.0, 5.0, 200), np.full(200, 7.0)])
    z = standardise(a)
    np.testing.assert_allclose(z[:, 0].mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(z[:, 0].std(), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(z[:, 1], 0.0)
    assert standardise(a[:, 0]).shape == (200, 1)


def test_median_bandwidth_known_values():
    # pairwise distances of 0, 1, 10 are 1, 10 and 9: the median is 9 (the mean would be 6.7,
    # and counting the zero self-distances would give 1)
    assert median_bandwidth(np.array([0.0, 1.0, 10.0])) == pytest.approx(9.0)
    # 2-D: the sides are 1, 10 and sqrt(101)
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 10.0]])
    assert median_bandwidth(points) == pytest.approx(10.0)
    assert median_bandwidth(np.zeros(10)) == 1.0


@pytest.mark.parametrize(
    "case", ["square", "independent", "2d_x", "heavy_tails", "discrete", "constant"]
)
def test_low_rank_statistic_equals_brute_force_hsic(case):
    rng = np.random.default_rng(1)
    n = 150
    x = rng.standard_normal(n)
    y = {
        "square": lambda: x**2 + 0.1 * rng.standard_normal(n),
        "independent": lambda: rng.laplace(size=n),
        "2d_x": lambda: np.sin(x) + 0.3 * rng.standard_normal(n),
        "heavy_tails": lambda: rng.standard_cauchy(n),
        "discrete": lambda: rng.integers(0, 3, n).astype(float),
        "constant": lambda: np.full(n, 2.0),
    }[case]()
    if case == "2d_x":
        x = np.column_stack([x, rng.standard_normal(n)])
    statistic, _ = hsic_test(x, y, permutations=9, rng=rng)
    expected = brute_force_hsic(x, y)
    assert statistic == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_independent_pairs_give_uniform_p_values():
    pvals = []
    for seed in range(100):
        rng = np.random.default_rng(seed)
        x, y = rng.laplace(size=200), rng.standard_normal(200)
        pvals.append(hsic_test(x, y, permutations=199, rng=rng)[1])
    pvals = np.array(pvals)
    assert kstest(pvals, "uniform").pvalue > 1e-3
    assert np.sum(pvals <= 0.05) <= max_rejections(100)


@pytest.mark.parametrize("relation", ["square", "sine"])
def test_dependent_pairs_are_rejected(relation):
    rng = np.random.default_rng(2)
    x = rng.uniform(-3, 3, 300)
    y = x**2 + 0.3 * rng.standard_normal(300) if relation == "square" else np.sin(x)
    # x² is uncorrelated with x, so this also checks the test sees beyond correlation
    _, p = hsic_test(x, y, permutations=199, rng=rng)
    assert p == pytest.approx(1 / 200)


def test_within_group_permutations_keep_the_level_where_pooled_ones_reject():
    """x and y independent given the segment, but both scaled by the segment's standard
    deviation, so they are marginally dependent (through their magnitudes)."""
    trials, pooled, within = 40, 0, 0
    scales = np.geomspace(0.1, 10, 8)
    for seed in range(trials):
        rng = np.random.default_rng(100 + seed)
        seg = np.repeat(np.arange(8), 50)
        x = scales[seg] * rng.standard_normal(400)
        y = scales[seg] * rng.standard_normal(400)
        kwargs = dict(groups=seg, permutations=199, rng=rng)
        pooled += hsic_test(x, y, within_groups=False, **kwargs)[1] <= 0.05
        within += hsic_test(x, y, within_groups=True, **kwargs)[1] <= 0.05
    assert pooled >= 0.8 * trials
    assert within <= max_rejections(trials)


def test_within_group_test_still_has_power():
    rng = np.random.default_rng(3)
    seg = np.repeat(np.arange(5), 80)
    x = rng.standard_normal(400) * (1 + seg)
    y = np.tanh(x) + 0.2 * rng.standard_normal(400)
    assert hsic_test(x, y, groups=seg, permutations=199, rng=rng)[1] == pytest.approx(1 / 200)


def test_permutations_equal_to_the_identity_count_as_ties():
    """With one point per group every permutation is the identity, and a constant y makes every
    statistic 0: both must give p = 1, whatever rounding the batched products do."""
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal(200), rng.standard_normal(200)
    y = x + 0.1 * y  # strongly dependent, yet no permutation can break the pairing
    _, p = hsic_test(x, y, groups=np.arange(200), permutations=99, rng=rng)
    assert p == 1.0
    assert hsic_test(x, np.full(200, 3.0), permutations=99, rng=rng) == (0.0, 1.0)


def test_permutations_stay_within_groups():
    rng = np.random.default_rng(4)
    groups = rng.integers(0, 5, 300)
    perms = _permutations(groups, 300, 50, rng)
    for perm in perms:
        np.testing.assert_array_equal(np.sort(perm), np.arange(300))
        np.testing.assert_array_equal(groups[perm], groups)
    pooled = _permutations(None, 300, 50, rng)
    assert any((groups[perm] != groups).any() for perm in pooled)


def test_same_seed_same_result():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal(300), rng.standard_normal(300)
    seg = np.repeat(np.arange(3), 100)
    first = hsic_test(x, y, groups=seg, permutations=99, rng=np.random.default_rng(7))
    again = hsic_test(x, y, groups=seg, permutations=99, rng=np.random.default_rng(7))
    other = hsic_test(x, y, groups=seg, permutations=99, rng=np.random.default_rng(8))
    assert first == again
    assert first[0] == other[0] and first[1] != other[1]


def test_hsic_test_rejects_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="different lengths"):
        hsic_test(np.zeros(5), np.zeros(6), rng=rng)
    with pytest.raises(ValueError, match="groups"):
        hsic_test(np.arange(5.0), np.arange(5.0), groups=np.zeros(4), rng=rng)


def test_subsample_keeps_everything_when_small():
    groups = np.repeat([0, 1], 10)
    np.testing.assert_array_equal(subsample(groups, 20, np.random.default_rng(0)), np.arange(20))


def test_subsample_is_proportional_sorted_and_deterministic():
    groups = np.repeat(np.array(["a", "b", "c"]), [600, 300, 100])
    rng = np.random.default_rng(9)
    groups = groups[rng.permutation(groups.size)]
    idx = subsample(groups, 100, np.random.default_rng(1))
    assert idx.size == 100 and np.unique(idx).size == 100
    np.testing.assert_array_equal(idx, np.sort(idx))
    labels, counts = np.unique(groups[idx], return_counts=True)
    np.testing.assert_array_equal(labels, ["a", "b", "c"])
    np.testing.assert_array_equal(counts, [60, 30, 10])
    np.testing.assert_array_equal(idx, subsample(groups, 100, np.random.default_rng(1)))
    assert not np.array_equal(idx, subsample(groups, 100, np.random.default_rng(2)))


def test_subsample_gives_every_group_a_point():
    # quotas 9.98, 0.01, 0.01: the two tiny groups get one point each, the big one the rest
    groups = np.concatenate([np.zeros(998, int), [1], [2]])
    idx = subsample(groups, 10, np.random.default_rng(0))
    np.testing.assert_array_equal(np.bincount(groups[idx]), [8, 1, 1])
    # uneven quotas with remainders: 7 groups of 3 points, 10 to draw
    groups = np.repeat(np.arange(7), 3)
    counts = np.bincount(groups[subsample(groups, 10, np.random.default_rng(0))], minlength=7)
    assert counts.sum() == 10 and counts.min() >= 1 and counts.max() <= 2


def p_matrix(independent: list[list[bool]]) -> np.ndarray:
    """p-values that are clearly independent (0.5) or clearly dependent (0.001)."""
    return np.where(np.array(independent), 0.5, 0.001)


@pytest.mark.parametrize(
    ("independent", "expected"),
    [
        ([[False, True], [False, False]], "forward"),  # x1 ⟂ n2: x1 → x2
        ([[True, False], [False, False]], "forward"),  # only x1 independent of some n̂
        ([[False, False], [True, False]], "backward"),  # x2 ⟂ n1: x2 → x1
        ([[False, False], [False, True]], "backward"),
        ([[True, False], [False, True]], "no_edge"),  # each x independent of a different n̂
        ([[False, True], [True, False]], "no_edge"),
        ([[False, False], [False, False]], "undecided"),  # nothing independent
        ([[True, True], [False, False]], "undecided"),  # x1 independent of both n̂
        ([[True, False], [True, False]], "undecided"),  # both x independent of the same n̂
        ([[True, True], [True, False]], "undecided"),
        ([[True, True], [True, True]], "undecided"),
    ],
)
def test_bivariate_decision_branches(independent, expected):
    assert bivariate_decision(p_matrix(independent)) == expected
    assert expected in DECISIONS


@pytest.mark.parametrize(
    ("independent", "words"),
    [
        ([[False, True], [False, False]], "only x1 ⟂ n̂2: x1 is the cause"),
        ([[False, False], [True, False]], "only x2 ⟂ n̂1: x2 is the cause"),
        ([[False, True], [True, False]], "x1 ⟂ n̂2 and x2 ⟂ n̂1: each variable independent"),
        ([[False, False], [False, False]], "every x depends on both n̂: the fit"),
        ([[True, True], [False, False]], "x1 ⟂ n̂1 and x1 ⟂ n̂2 share a variable"),
        ([[True, True], [True, False]], "3 of 4 tests independent"),
    ],
)
def test_the_reason_names_the_independent_tests_and_the_case(independent, words):
    assert decision_reason(p_matrix(independent)).startswith(words)


def test_the_reason_says_when_every_p_value_is_at_its_floor():
    floor = np.full((2, 2), 1 / 301)
    assert "(all four p-values at their floor)" in decision_reason(floor, permutations=300)
    assert "floor" not in decision_reason(floor * 2, permutations=300)  # above 1/301: not said
    assert "floor" not in decision_reason(floor)  # the count unknown: not said


def test_bivariate_decision_uses_bonferroni_threshold():
    p = np.array([[0.001, 0.02], [0.001, 0.001]])
    assert bivariate_decision(p) == "forward"  # 0.02 > 0.05 / 4 = 0.0125
    p[0, 1] = 0.0125  # not strictly above the threshold: dependent
    assert bivariate_decision(p) == "undecided"
    p[0, 1] = 0.04
    assert bivariate_decision(p, alpha=0.2) == "undecided"  # 0.04 <= 0.2 / 4
    assert bivariate_decision(p, alpha=0.1) == "forward"  # 0.04 > 0.025


def segment_sem(seed: int, n_seg: int = 10, per_seg: int = 150):
    """x1 = n1, x2 = tanh(x1) + n2 with Laplace disturbances whose scales depend on the segment.

    The scales of n1 and n2 share the segment, so the disturbances are independent only given
    the segment."""
    rng = np.random.default_rng(seed)
    seg = np.repeat(np.arange(n_seg), per_seg)
    scales = rng.uniform(0.5, 3.0, (n_seg, 2))
    n = rng.laplace(size=(seg.size, 2)) / np.sqrt(2) * scales[seg]
    x = np.column_stack([n[:, 0], np.tanh(n[:, 0]) + n[:, 1]])
    return x, n, seg


# x1 ⟂ n2 holds, so its test still rejects wrongly at rate alpha / 4 (seed 0 is such a case): the
# seeds are fixed, and a level check over many seeds is the test above
@pytest.mark.parametrize("seed", [1, 2])
def test_bivariate_tests_orient_a_simulated_sem(seed):
    x, n, seg = segment_sem(seed)
    kwargs = dict(permutations=199, max_points=800)
    result = bivariate_tests(x, n, seg, rng=np.random.default_rng(seed), **kwargs)
    assert set(result) == {*P_KEYS, "decision"}
    assert result["decision"] == "forward", result
    assert result["p_x1_n2"] > 0.0125 > max(result["p_x1_n1"], result["p_x2_n1"])
    swapped = bivariate_tests(
        x[:, ::-1], n[:, ::-1], seg, rng=np.random.default_rng(seed), **kwargs
    )
    assert swapped["decision"] == "backward", swapped
    again = bivariate_tests(x, n, seg, rng=np.random.default_rng(seed), **kwargs)
    assert again == result


def test_bivariate_tests_share_one_stratified_subsample():
    """The documented composition: one subsample, then the tests in P_KEYS order, one rng."""
    x, n, seg = segment_sem(3, n_seg=4, per_seg=100)
    result = bivariate_tests(
        x, n, seg, permutations=49, max_points=120, rng=np.random.default_rng(4)
    )
    rng = np.random.default_rng(4)
    idx = subsample(seg, 120, rng)
    assert np.bincount(seg[idx]).tolist() == [30, 30, 30, 30]
    expected = [
        hsic_test(x[idx, i], n[idx, k], groups=seg[idx], permutations=49, rng=rng)[1]
        for i in range(2)
        for k in range(2)
    ]
    assert [result[key] for key in P_KEYS] == expected
