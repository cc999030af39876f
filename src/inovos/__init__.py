"""inovos: In-N-Out generative learning for dense unsupervised video segmentation."""

__version__ = "0.1.0"
