"""CoDeGAN: contrastive disentanglement in GANs (Zhao et al., arXiv 2103.03636)."""
