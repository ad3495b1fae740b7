"""`cleverward serve`: the reward model over HTTP, loopback by default (engine/serve/)."""

from __future__ import annotations

import typer

from cleverward.cli.common import DEVICE_HELP, config_error, err, fail


def serve(
    model: str = typer.Option("default", "--model", help="Named model or checkpoint folder."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback default)."),
    port: int = typer.Option(8000, "--port"),
    token_file: str = typer.Option(None, "--token-file",
                                   help="File holding the bearer token every request needs."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    max_batch: int = typer.Option(16, "--max-batch", help="Clips per model call."),
    max_wait_ms: float = typer.Option(10.0, "--max-wait-ms",
                                      help="How long a batch waits to fill."),
    max_queue: int = typer.Option(64, "--max-queue", help="Waiting requests before 503."),
    max_uploads: int = typer.Option(64, "--max-uploads",
                                    help="Connections at once before 503 (bounds memory)."),
    max_clips: int = typer.Option(16, "--max-clips", help="Clips a request."),
    max_body_mb: float = typer.Option(64.0, "--max-body-mb", help="Request body limit (413)."),
    max_frames: int = typer.Option(512, "--max-frames", help="Frames a clip."),
    max_side: int = typer.Option(4096, "--max-side", help="Pixels a side."),
    read_timeout_s: float = typer.Option(10.0, "--read-timeout",
                                         help="Seconds without body data before 408."),
) -> None:
    """Serve POST /score (JSON meta + frames or a video), /healthz and /metrics."""
    from cleverward.engine.serve import ServeConfig, load_model
    from cleverward.engine.serve import serve as run
    from cleverward.engine.serve.app import bind_socket

    try:
        cfg = ServeConfig(model=model, host=host, port=port, token_file=token_file,
                          device=device, max_batch=max_batch, max_wait_ms=max_wait_ms,
                          max_queue=max_queue, max_uploads=max_uploads, max_clips=max_clips,
                          max_body_mb=max_body_mb, max_frames=max_frames,
                          max_side=max_side, read_timeout_s=read_timeout_s)
        if token_file:
            from cleverward.engine.serve.config import read_token

            read_token(token_file)  # fail before loading the model
        sock = bind_socket(cfg)  # a port in use: said before the model loads
        loaded = load_model(cfg)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        fail(config_error(exc, {"read_timeout_s": "--read-timeout"}, ServeConfig))
    if host not in ("127.0.0.1", "localhost", "::1") and not token_file:
        err(f"warning: serving on {host} without --token-file: anyone who reaches the port "
            "can use the model")
    bound = sock.getsockname()[1]  # --port 0: the port the system chose
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address in a URL
    err(f"serving {model} on http://{shown}:{bound} (POST /score, GET /healthz, GET /metrics)")
    run(cfg, model=loaded, sock=sock)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
