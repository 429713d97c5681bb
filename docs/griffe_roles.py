"""A griffe extension for the API pages: the Sphinx roles in alignrec's docstrings (:func:`train`,
:class:`~alignrec.data.Dataset`) become Markdown code spans, as the rest of each docstring is Markdown already."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj|exc):`~?([^`]+)`")


class SphinxRolesToCode(griffe.Extension):
    """Rewrite each object's docstring once, when griffe has read it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(lambda m: f"``{m.group(1)}``", obj.docstring.value)
