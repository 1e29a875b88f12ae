"""Top-level convenience functions for sibling packages that want one call, not a client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twat_genai.core.errors import UsageError
from twat_genai.core.models import ProviderResponse

#: Keywords that configure the client rather than the video.
_CLIENT_KEYS = ("api_key", "base_url", "transport", "retry")


def generate_video(
    prompt: str,
    image: Any = None,
    output_dir: str | Path | None = None,
    **kw: Any,
) -> ProviderResponse:
    """Make a video on Chutes and save it (with its sidecar); blocks until it is done.

    ``image`` is the first frame (path, URL, data URI, bytes or PIL image); ``last_frame=``
    adds a last one. Other keywords: ``resolution`` (540P), ``fps``, ``num_frames``, ``seed``,
    ``guidance_scale``, ``steps``, ``negative_prompt``, and ``api_key``/``base_url`` for the
    client. The saved file is ``result.files[0].path``.
    """
    from twat_genai.clients.chutes import ChutesClient

    client_kw = {k: kw.pop(k) for k in _CLIENT_KEYS if k in kw}
    if image is not None:
        if kw.get("first_frame") is not None:
            raise UsageError(
                "generate_video: give the first frame as image= or first_frame=, not both"
            )
        kw["first_frame"] = image
    client = ChutesClient(output_dir=output_dir or "generated_images", **client_kw)
    return client.generate_video(prompt, **kw)


__all__ = ["generate_video"]
