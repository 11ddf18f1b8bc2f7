"""identvae: reproduce 'Embrace the Gap' (IMA in VAEs) and the iVAE papers."""

__version__ = "0.1.0"
