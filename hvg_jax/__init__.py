"""hvg_jax: hierarchical video GANs (HVG / CVG / SSW-GAN, DVD-GAN baseline) in JAX."""
