"""The experiments of "Embrace the Gap" (spec: ../shared/spec/embrace-the-gap.md)."""
