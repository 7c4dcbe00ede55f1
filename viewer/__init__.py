"""ichview: a head-CT viewer with an AI assist for intracranial hemorrhage.

Research and triage aid only; not a diagnosis.
"""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("ichview")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
