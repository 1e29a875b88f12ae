"""``ChutesClient``: Chutes image, edit, background removal and video from Python, each call
saved (files and sidecars) on the one execution path (:mod:`twat_genai.jobs.pipeline`)."""

from __future__ import annotations

from typing import Any

from twat_genai.clients.facade import ProviderFacade, sync_twin
from twat_genai.core.errors import validated
from twat_genai.core.inputs import ImageInput, ImageSizeWH
from twat_genai.core.models import (
    BackgroundRemovalRequest,
    ImageEditRequest,
    ImageGenerationRequest,
    ProviderResponse,
    Request,
    VideoGenerationRequest,
)
from twat_genai.providers.chutes.endpoints import DEFAULT_IMAGE_MODEL
from twat_genai.providers.chutes.provider import ChutesProvider

#: Request fields by this client's names for them.
_NAMES = {"num_inference_steps": "steps"}


class ChutesClient(ProviderFacade):
    """Chutes image, edit, background removal and video: each call saves files + sidecars.

    The key comes from ``api_key``, ``CHUTES_API_KEY``/``CHUTES_API_TOKEN`` or ``./.env``; a
    missing key fails here, before anything is written. Sync methods run on a fresh connection
    pool each (an httpx pool belongs to one event loop).
    """

    provider_class = ChutesProvider

    # -- running any request

    async def arun(self, request: Request) -> ProviderResponse:
        """Run any neutral request on Chutes and save its outputs; the first input image's
        name starts the file names."""
        images = getattr(request, "images", None) or [getattr(request, "image", None)]
        stem = images[0].stem if isinstance(images[0], ImageInput) else None
        return await self.run_request(request, prefix=stem, client="ChutesClient")

    def run(self, request: Request) -> ProviderResponse:
        """Sync :meth:`arun`."""
        return self._run_sync(lambda client: client.arun(request))

    # -- requests

    @staticmethod
    def image_request(
        prompt: str,
        *,
        model: str = DEFAULT_IMAGE_MODEL,
        width: int = 1024,
        height: int = 1024,
        seed: int | None = None,
        guidance_scale: float | None = None,
        steps: int | None = None,
        negative_prompt: str | None = None,
    ) -> ImageGenerationRequest:
        """Text to image; ``model="hidream"`` goes to HiDream (size mapped to its resolutions)."""
        return validated(
            ImageGenerationRequest,
            {
                "prompt": prompt,
                "model": model,
                "size": validated(ImageSizeWH, {"width": width, "height": height}),
                "seed": seed,
                "guidance_scale": guidance_scale,
                "num_inference_steps": steps,
                "negative_prompt": negative_prompt,
            },
            names=_NAMES,
        )

    @staticmethod
    def edit_request(
        prompt: str,
        image: Any,
        *,
        seed: int | None = None,
        guidance_scale: float | None = None,
        image_guidance_scale: float | None = None,
        steps: int | None = None,
        negative_prompt: str | None = None,
    ) -> ImageEditRequest:
        """HiDream edit of one image (path, URL, data URI, bytes or PIL image)."""
        options = (
            {} if image_guidance_scale is None else {"image_guidance_scale": image_guidance_scale}
        )
        return validated(
            ImageEditRequest,
            {
                "prompt": prompt,
                "images": [ImageInput.from_any(image)],
                "seed": seed,
                "guidance_scale": guidance_scale,
                "num_inference_steps": steps,
                "negative_prompt": negative_prompt,
                "options": options,
            },
            names=_NAMES,
        )

    @staticmethod
    def video_request(
        prompt: str,
        *,
        first_frame: Any = None,
        last_frame: Any = None,
        resolution: str | None = None,
        fps: int | None = None,
        num_frames: int | None = None,
        seed: int | None = None,
        guidance_scale: float | None = None,
        steps: int | None = None,
        negative_prompt: str | None = None,
    ) -> VideoGenerationRequest:
        """Text, first-frame or first+last-frame video (routed by the frames given).

        ``resolution``: ``540P`` (the default when None) or ``720P``; first+last-frame video
        takes Wan sizes (``1280*720``, ``832*480`` …) and maps the tiers to them, warning
        only when 540P was asked for explicitly (it has no twin there)."""
        return validated(
            VideoGenerationRequest,
            {
                "prompt": prompt,
                "first_frame": None if first_frame is None else ImageInput.from_any(first_frame),
                "last_frame": None if last_frame is None else ImageInput.from_any(last_frame),
                "resolution": resolution,
                "fps": fps,
                "num_frames": num_frames,
                "seed": seed,
                "guidance_scale": guidance_scale,
                "num_inference_steps": steps,
                "negative_prompt": negative_prompt,
            },
            names=_NAMES,
        )

    # -- async

    async def agenerate_image(
        self,
        prompt: str,
        *,
        model: str = DEFAULT_IMAGE_MODEL,
        width: int = 1024,
        height: int = 1024,
        seed: int | None = None,
        guidance_scale: float | None = None,
        steps: int | None = None,
        negative_prompt: str | None = None,
    ) -> ProviderResponse:
        """Text to image (see :meth:`image_request`)."""
        return await self.arun(
            self.image_request(
                prompt,
                model=model,
                width=width,
                height=height,
                seed=seed,
                guidance_scale=guidance_scale,
                steps=steps,
                negative_prompt=negative_prompt,
            )
        )

    async def aedit_image(
        self,
        prompt: str,
        image: Any,
        *,
        seed: int | None = None,
        guidance_scale: float | None = None,
        image_guidance_scale: float | None = None,
        steps: int | None = None,
        negative_prompt: str | None = None,
    ) -> ProviderResponse:
        """HiDream edit (see :meth:`edit_request`)."""
        return await self.arun(
            self.edit_request(
                prompt,
                image,
                seed=seed,
                guidance_scale=guidance_scale,
                image_guidance_scale=image_guidance_scale,
                steps=steps,
                negative_prompt=negative_prompt,
            )
        )

    async def aremove_background(self, image: Any) -> ProviderResponse:
        """Cut the subject out: an RGBA PNG."""
        return await self.arun(
            validated(BackgroundRemovalRequest, {"image": ImageInput.from_any(image)})
        )

    async def agenerate_video(
        self,
        prompt: str,
        *,
        first_frame: Any = None,
        last_frame: Any = None,
        resolution: str | None = None,
        fps: int | None = None,
        num_frames: int | None = None,
        seed: int | None = None,
        guidance_scale: float | None = None,
        steps: int | None = None,
        negative_prompt: str | None = None,
    ) -> ProviderResponse:
        """Video (see :meth:`video_request`); waits as long as the chute renders."""
        return await self.arun(
            self.video_request(
                prompt,
                first_frame=first_frame,
                last_frame=last_frame,
                resolution=resolution,
                fps=fps,
                num_frames=num_frames,
                seed=seed,
                guidance_scale=guidance_scale,
                steps=steps,
                negative_prompt=negative_prompt,
            )
        )

    # -- sync twins

    generate_image = sync_twin(agenerate_image)
    edit_image = sync_twin(aedit_image)
    remove_background = sync_twin(aremove_background)
    generate_video = sync_twin(agenerate_video)


__all__ = ["ChutesClient"]
