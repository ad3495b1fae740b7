"""`cleverward serve`: the reward model over HTTP (FastAPI + uvicorn, the `serve` extra).

    serve(ServeConfig(model="default"))          # blocks; see engine/serve/app.py
    with RunningServer(model, cfg) as srv: ...   # on a thread, for tests and benchmarks
"""

from cleverward.engine.serve.app import RunningServer, create_app, load_model, serve
from cleverward.engine.serve.config import ServeConfig

__all__ = ["RunningServer", "ServeConfig", "create_app", "load_model", "serve"]
