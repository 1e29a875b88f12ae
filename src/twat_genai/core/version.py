"""The package version: one source for the package, the CLI and every sidecar."""

__version__ = "3.0.0"
