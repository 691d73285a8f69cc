"""gitml: Git-native, declarative MLOps. Git is the control plane; DVC versions data and models."""

__version__ = "0.1.0"
