"""Statistics shared by figures and claims: what counts as a finished run, log scales, bins,
fits, rank correlations, chance levels, and the caption phrases several experiments use.

Figures and claims both import this package and never each other, so a figure and the claim
judged on it read the very same numbers. It imports neither figures, claims nor experiments
(checked by ``lint-imports``)."""
