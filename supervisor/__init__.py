"""政务服务电子监察: electronic supervision of government service centers.

`__version__` is the installed distribution's version (pyproject.toml's `version`), read
from its metadata so that the number is written in one place only; `supervisor
--version` prints it, and a bug report or a deployment names the release it runs.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("supervisor")
except PackageNotFoundError:  # the sources on sys.path without any install: no metadata
    __version__ = "0+unknown"
