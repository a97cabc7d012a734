"""Sphinx configuration of the hostapi reference: ``make docs`` builds it into build/reference.

The pages are generated from hostapi's docstrings by autodoc. The build is nitpicky and turns
warnings into errors (``make docs``), so a cross-reference that leads nowhere fails it, and so
does a name of a hostapi module's ``__all__`` that no page documents (``_ext/hostapi_reference``).
No network: there is no intersphinx, and only references to the standard library and the
third-party libraries hostapi builds on are left unlinked (``nitpick_ignore_regex``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent), str(HERE / "_ext")]

import hostapi  # noqa: E402  (the repository root is on the path only from here)

project = "deskhost hostapi"
author = "deskhost"
copyright = "deskhost contributors"
version = release = hostapi.HOSTAPI_VERSION

extensions = ["sphinx.ext.autodoc", "hostapi_reference"]

root_doc = "index"
exclude_patterns = ["_build"]
default_role = "any"
nitpicky = True
html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"hostapi {release} reference"

autodoc_default_options = {
    "members": True,
    "undoc-members": True,
    "member-order": "bysource",
}
autoclass_content = "class"
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
# An inherited docstring (SQLAlchemy's, pluggy's) is the library's, not hostapi's contract.
autodoc_inherit_docstrings = False
autodoc_preserve_defaults = True

#: Targets outside hostapi that no page here defines: the standard library and the libraries
#: hostapi's signatures name. Never a hostapi name: a broken hostapi reference must fail.
_EXTERNAL = (
    r"(collections\.abc|datetime|gettext|importlib\.resources\.abc|pathlib|types"
    r"|flask|werkzeug|sqlalchemy|marshmallow|pytest)(\.\w+)*\.\w+"
)
nitpick_ignore_regex = [(r"py:(class|exc|obj|func|meth|attr|data)", _EXTERNAL)]
