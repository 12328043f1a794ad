"""The installed version of chatkit-server."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chatkit-server")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
