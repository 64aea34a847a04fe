"""The installed version of lazytrain (a leaf module: any layer may import it)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lazytrain")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"
