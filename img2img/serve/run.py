"""Run the application under uvicorn: :func:`serve`.

On SIGTERM (or Ctrl-C) the server stops taking connections, answers 503 to requests that
still arrive on open ones, lets the requests in flight finish, then exits. With ``workers``
above one, uvicorn starts that many processes, each loading its own copy of every model.
"""

from __future__ import annotations

import logging
import os
from types import FrameType

from img2img.serve.settings import ServeSettings

__all__ = ["GRACEFUL_SECONDS", "serve"]

log = logging.getLogger(__name__)

#: how long requests in flight may take to finish after SIGTERM
GRACEFUL_SECONDS = 60


def serve(settings: ServeSettings) -> None:
    """Serve ``settings.models`` until SIGTERM or Ctrl-C.

    Raises:
        ValueError: a setting is not valid.
        OSError, ValueError: a model cannot be loaded.
    """
    import uvicorn

    settings.check()
    common = {"host": settings.host, "port": settings.port, "log_level": "info",
              "access_log": True, "timeout_graceful_shutdown": GRACEFUL_SECONDS}
    if settings.workers > 1:
        os.environ.update(settings.to_environ())
        uvicorn.run("img2img.serve.app:app_from_environ", factory=True,
                    workers=settings.workers, **common)
        return
    from img2img.serve.app import create_app

    app = create_app(settings)  # models load before the port opens
    _draining_server(uvicorn.Config(app, **common), app.state.img2img).run()


def _draining_server(config, state):  # noqa: ANN001, ANN202 - uvicorn is imported lazily
    """uvicorn's server, telling the application (``state``) it is draining when asked to stop."""
    import uvicorn

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if not state.draining:
                log.info("stopping: finishing the requests in flight, refusing new ones")
            state.draining = True
            super().handle_exit(sig, frame)

    return DrainingServer(config)
