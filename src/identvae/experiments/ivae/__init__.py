"""The experiments of the iVAE paper (docs/papers/ivae.md)."""
