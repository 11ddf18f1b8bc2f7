"""The experiments of the iVAE paper (spec: ../shared/spec/ivae.md); none yet."""
