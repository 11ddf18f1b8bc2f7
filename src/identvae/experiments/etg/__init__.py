"""The experiments of "Embrace the Gap" (docs/papers/embrace-the-gap.md)."""
