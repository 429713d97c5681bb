"""Serving: recommendations from a trained run.

* :func:`recommend` ranks with a loaded run's model (``alignrec recommend``);
* the service (``alignrec serve``) reads only the run's export (:mod:`alignrec.runs.export`): :mod:`.bundle` loads
  it, :mod:`.index` does FAISS top-k, :mod:`.service` answers (fold-in, similar items, cold start with
  :mod:`.newitem`), :mod:`.app` is the FastAPI layer with :mod:`.middleware` and :mod:`.metrics`, ``static/`` the
  web page. The service modules need the ``serve`` extra and are not imported here.
"""

from alignrec.runs import LoadedRun, load_run
from alignrec.serving.recommend import recommend

__all__ = ["LoadedRun", "load_run", "recommend"]
