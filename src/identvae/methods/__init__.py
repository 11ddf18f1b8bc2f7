"""Training methods: what plugs into the one ensemble training loop (``identvae.train``)."""
