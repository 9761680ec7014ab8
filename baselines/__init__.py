"""Baselines scored against CoDeGAN on the same trainer, data and evaluation: InfoGAN, ClusterGAN, k-means on pixels."""
