"""keras_transfer: how transferable are features in deep neural networks (Yosinski et al. 2014)."""

__version__ = "0.1.0"
