"""The reproduction report: a per-claim scorecard (``results/scorecard.md``) and one HTML page
(``results/report/index.html``) built from the workflow's artifacts: claims, figures with their
captions and provenance records, tables, merged settings and benchmark files.

It reads artifacts only; nothing else in identvae imports it (a contract in ``pyproject.toml``).
:mod:`~identvae.report.scorecard` counts and lists the claims per paper,
:mod:`~identvae.report.html` renders the page from a Jinja template shipped with the package."""
