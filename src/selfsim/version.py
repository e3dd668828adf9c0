"""The version string; modules inside the package import it from here, never from the package root."""

__version__ = "0.1.0"
