"""REST serving of registered models (FastAPI + uvicorn). See docs/serving.md.

``mlops serve churn@production`` / ``%mlops serve churn@production``; in code::

    from mlops_jupyter.serving import BackgroundServer
    srv = BackgroundServer(["churn@production"], port=0).start()
"""

from mlops_jupyter.serving.app import DEFAULT_MAX_BODY, create_app
from mlops_jupyter.serving.server import BackgroundServer, build, check_bind, is_loopback, serve

__all__ = ["BackgroundServer", "DEFAULT_MAX_BODY", "build", "check_bind", "create_app", "is_loopback", "serve"]
