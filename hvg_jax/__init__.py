"""hvg_jax: hierarchical video GANs (HVG / CVG / SSW-GAN, DVD-GAN baseline) in JAX."""

import os

# imageio-ffmpeg starts ffmpeg with preexec_fn=os.setpgrp unless this is set: Python code
# in the child between fork and exec, which can hang forever in a multithreaded process
# (JAX's and the data loader's threads). Seen here: a training run stuck at its step-6
# sample, the forked child waiting on a lock (imageio-ffmpeg's issue #58 is the same hang).
# Without it ffmpeg shares our process group: a Ctrl-C stops it with the run.
os.environ.setdefault("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")
