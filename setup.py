"""Packaging for the fastreid toolbox and its project packages (MSINet, UnsupReID).

The MSINet project lives in ``projects/MSINet/msinet`` (the fast-reid ``projects/`` layout) but is
installed as the top-level package ``msinet`` (and ``projects/UnsupReID/unsupreid`` as ``unsupreid``) by
this one setup.py, and announced to the toolbox through two entry-point groups: ``fastreid.plugins``
(modules imported at start so their registrations run) and ``fastreid.config`` (functions
``add_xxx_config(cfg)``); ``get_cfg(plugins=True)``, which the entry points ask for, loads both (plain
``get_cfg()`` gives the core's defaults only).
"""

from setuptools import find_packages, setup

setup(
    name="fastreid-msinet",
    version="0.1.0",
    description="A fast-reid-style ReID toolbox with the MSINet architecture-search project (CVPR 2023)",
    python_requires=">=3.9",
    packages=find_packages(include=["fastreid", "fastreid.*"]) + ["msinet", "unsupreid"],
    package_dir={"msinet": "projects/MSINet/msinet", "unsupreid": "projects/UnsupReID/unsupreid"},
    install_requires=[
        "torch>=2.6,<=2.14.1",
        "torchvision>=0.21,<=0.29.1",
        "numpy>=1.22",
        "fvcore>=0.1.5",
        "yacs>=0.1.8",
        "termcolor>=1.1",
        "tabulate>=0.8",
        "Pillow>=9.0",
        "matplotlib>=3.5",
        "PyYAML>=5.4",
        "scipy>=1.7",
        "scikit-learn>=1.0",
    ],
    extras_require={
        "faiss": ["faiss-cpu>=1.7"],
        "onnx": ["onnx>=1.14", "onnxruntime>=1.16", "onnxscript>=0.1"],
        "tensorboard": ["tensorboard>=2.10"],
        "dev": [
            "faiss-cpu>=1.7",
            "onnx>=1.14",
            "onnxruntime>=1.16",
            "onnxscript>=0.1",
            "tensorboard>=2.10",
            "pytest>=7.0",
            "ruff==0.17.6",
        ],
    },
    entry_points={
        "fastreid.plugins": ["msinet = msinet", "unsupreid = unsupreid"],
        "fastreid.config": ["msinet = msinet.config:add_msinet_config",
                            "unsupreid = unsupreid.config:add_unsupreid_config"],
    },
)
