"""``FALEngine``: the README's fal API. It turns the README's settings into a neutral request
(:meth:`FALEngine.build_request`) and runs it on the one execution path
(:func:`twat_genai.jobs.pipeline.run_one`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twat_genai.core.errors import UsageError, validated
from twat_genai.core.inputs import ImageInput, ImageSizeWH
from twat_genai.core.models import ImageEditRequest, ImageGenerationRequest, ProviderResponse
from twat_genai.core.results import ImageResult
from twat_genai.core.settings import load_dotenv_once
from twat_genai.engines.base import EngineConfig, ImageGenerationEngine
from twat_genai.engines.fal.operations import ModelTypes
from twat_genai.engines.fal.settings import (
    ImageToImageConfig,
    OutpaintConfig,
    UpscaleConfig,
    upscale_arguments,
)

if TYPE_CHECKING:
    from twat_genai.providers.fal import FalProvider

DEFAULT_OUTPUT_DIR = Path("generated_images")
#: Request fields by the README's names for them.
_NAMES = {"n": "num_images", "size": "image_size"}

__all__ = ["FALEngine"]


class FALEngine(ImageGenerationEngine):
    """Generate with fal.ai and save every image plus a metadata sidecar.

    ``FAL_KEY`` comes from the environment or ``./.env``; a missing key raises
    :class:`~twat_genai.core.errors.MissingKeyError` before anything touches the disk.
    ``base_url`` (or ``TWAT_GENAI_FAL_BASE_URL``) points everything at another host.
    """

    def __init__(
        self,
        output_dir: Path | str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        transport: Any = None,
        provider: Any = None,
    ) -> None:
        from twat_genai.providers.fal import FalProvider

        load_dotenv_once()
        self.output_dir = Path(output_dir) if output_dir is not None else DEFAULT_OUTPUT_DIR
        self.provider: FalProvider = provider or FalProvider(
            api_key=api_key, base_url=base_url, transport=transport
        )

    async def shutdown(self) -> None:
        await self.provider.aclose()

    async def __aenter__(self) -> FALEngine:
        await self.initialize()
        return self

    def build_request(
        self,
        prompt: str,
        config: EngineConfig,
        *,
        model: ModelTypes = ModelTypes.TEXT,
        image_config: ImageToImageConfig | None = None,
        upscale_config: UpscaleConfig | None = None,
        outpaint_config: OutpaintConfig | None = None,
        lora_spec: Any = None,
        negative_prompt: str | None = None,
        verbose: bool = False,
    ) -> tuple[ImageGenerationRequest, list[str], ImageInput | None]:
        """The neutral request for one generation, the mapping warnings, and the input image.
        Midjourney-style parameters in the prompt (``--ar 16:9 --no text``) become fields."""
        from twat_genai.core.prompt import apply_prompt_parameters

        request, warnings, inp = self._build_request(
            prompt,
            _engine_config(config),
            model=model,
            image_config=image_config,
            upscale_config=upscale_config,
            outpaint_config=outpaint_config,
            lora_spec=lora_spec,
            negative_prompt=negative_prompt,
            verbose=verbose,
        )
        op = ModelTypes.parse(model).operation
        if op == "upscale":
            endpoint = ModelTypes.parse(model).value
            unused = [
                f"{endpoint} does not use {name}; ignored"
                for name in _NOT_FOR_UPSCALERS
                if name in config.model_fields_set
            ]
            return request, [*warnings, *unused], inp  # its prompt is a description, not a job
        fields = self.provider.model_info(request.model).fields
        if op.startswith("outpaint"):
            fields = fields - {"size", "aspect_ratio"}  # the canvas is the target size
        request, more = apply_prompt_parameters(request, fields)
        return request, [*warnings, *more], inp

    def _build_request(
        self,
        prompt: str,
        config: EngineConfig,
        *,
        model: ModelTypes,
        image_config: ImageToImageConfig | None,
        upscale_config: UpscaleConfig | None,
        outpaint_config: OutpaintConfig | None,
        lora_spec: Any,
        negative_prompt: str | None,
        verbose: bool,
    ) -> tuple[ImageGenerationRequest, list[str], ImageInput | None]:
        from twat_genai.core.lora import parse_lora_spec

        model = ModelTypes.parse(model)
        op = model.operation
        selection = parse_lora_spec(lora_spec)
        if selection.loras and op not in ("text", "image", "canny", "depth", "outpaint_flux"):
            raise UsageError(f"LoRAs cannot be used with {op} ({model.value}); drop the LoRA")
        final_prompt = selection.apply_to_prompt(prompt) if selection.loras else prompt
        options: dict[str, Any] = {"enable_safety_checker": config.enable_safety_checker}
        if config.output_format:
            options["output_format"] = config.output_format
        base: dict[str, Any] = {
            "model": model.value,
            "prompt": final_prompt,
            "negative_prompt": negative_prompt,
            "guidance_scale": config.guidance_scale,
            "num_inference_steps": config.num_inference_steps,
            "seed": config.seed,
            "n": config.num_images,
            "loras": selection.loras,
        }
        if op == "text":
            fields = {**base, **config.size_fields(), "options": options}
            return validated(ImageGenerationRequest, fields, names=_NAMES), [], None
        if op in ("image", "canny", "depth"):
            cfg = image_config or ImageToImageConfig()
            inp = _need_input(cfg.input_image, model)
            base["negative_prompt"] = negative_prompt or cfg.negative_prompt
            # The input's own size unless the caller chose one explicitly.
            sized = config.size_fields() if "image_size" in config.model_fields_set else {}
            strength = cfg.strength if op == "image" else None
            request = validated(
                ImageEditRequest,
                {
                    **base,
                    **sized,
                    "images": [inp],
                    "operation": op,
                    "strength": strength,
                    "options": options,
                },
                names=_NAMES,
            )
            return request, [], inp
        if op == "upscale":
            cfg_u = upscale_config or UpscaleConfig(
                input_image=image_config.input_image if image_config else None
            )
            inp = _need_input(cfg_u.input_image, model)
            args, warnings = upscale_arguments(model, cfg_u, prompt or None)
            request = validated(
                ImageEditRequest,
                {
                    "model": model.value,
                    "prompt": args.get("prompt", ""),
                    "images": [inp],
                    "operation": "upscale",
                    "options": args,
                },
                names=_NAMES,
            )
            return request, warnings, inp
        cfg_o = outpaint_config
        if cfg_o is None:
            raise UsageError(f"{model.name} needs an OutpaintConfig (target size and input image)")
        inp = _need_input(cfg_o.input_image, model)
        flux = model is ModelTypes.OUTPAINT_FLUX
        if not flux and cfg_o.outpaint_tool == "flux":
            model, flux = ModelTypes.OUTPAINT_FLUX, True
        base.update(
            model=model.value,
            prompt=final_prompt or cfg_o.prompt,
            negative_prompt=negative_prompt or cfg_o.negative_prompt,
            n=cfg_o.num_images,
            size=validated(
                ImageSizeWH, {"width": cfg_o.target_width, "height": cfg_o.target_height}
            ),
        )
        if flux:
            request = validated(
                ImageEditRequest,
                {**base, "images": [inp], "operation": "outpaint_flux", "options": options},
                names=_NAMES,
            )
        else:
            for key in ("guidance_scale", "num_inference_steps", "loras"):
                base.pop(key)
            options = {
                "border_thickness_factor": cfg_o.border_thickness_factor,
                "save_mask": verbose,
            }
            request = validated(
                ImageEditRequest,
                {**base, "images": [inp], "operation": "outpaint", "options": options},
                names=_NAMES,
            )
        return request, [], inp

    async def generate(  # type: ignore[override]
        self,
        prompt: str,
        config: EngineConfig | None = None,
        *,
        model: ModelTypes = ModelTypes.TEXT,
        image_config: ImageToImageConfig | None = None,
        upscale_config: UpscaleConfig | None = None,
        outpaint_config: OutpaintConfig | None = None,
        lora_spec: Any = None,
        filename_prefix: str | None = None,
        filename_suffix: str | None = None,
        negative_prompt: str | None = None,
        verbose: bool = False,
        output_dir: Path | None = None,
        timeout: float | None = None,
    ) -> ImageResult:
        """Run one operation and save its images; see the README for examples. ``timeout``
        bounds the whole job in seconds (default 600)."""
        from twat_genai.jobs.pipeline import Job, RunOptions, run_one

        config = _engine_config(config)
        request, warnings, inp = self.build_request(
            prompt,
            config,
            model=model,
            image_config=image_config,
            upscale_config=upscale_config,
            outpaint_config=outpaint_config,
            lora_spec=lora_spec,
            negative_prompt=negative_prompt,
            verbose=verbose,
        )
        prefix = filename_prefix if filename_prefix is not None else (inp.stem if inp else None)
        job = Job(
            request,
            label=prompt,
            meta=self.job_record(prompt, config, model, lora_spec),
            warnings=warnings,
        )
        options = RunOptions(
            output_dir=output_dir or self.output_dir,
            prefix=prefix,
            suffix=filename_suffix,
            command=ModelTypes.parse(model).name,
            timeout=timeout,
        )
        response = await run_one(self.provider, job, options)
        return to_image_result(response, original_prompt=prompt, job_params=job.meta)

    @staticmethod
    def job_record(
        prompt: str, config: EngineConfig, model: ModelTypes, lora_spec: Any
    ) -> dict[str, Any]:
        """What the sidecar's ``job`` records of the README's settings: the operation, the
        prompt as given and the LoRA spec (the values sent are in ``parameters``, so the two
        can never disagree)."""
        del config  # its effective values (seed chosen, size from --ar) are in the request
        return {
            "operation": ModelTypes.parse(model).name,
            "original_prompt": prompt,
            "lora_spec": lora_spec if isinstance(lora_spec, (str, type(None))) else str(lora_spec),
        }


#: Generation settings an upscaler has no use for: set explicitly, they are warned about.
_NOT_FOR_UPSCALERS = (
    "guidance_scale",
    "num_inference_steps",
    "output_format",
    "enable_safety_checker",
    "image_size",
)


def _engine_config(config: Any) -> EngineConfig:
    """The caller's EngineConfig; None is the defaults, a mapping is validated into one."""
    if config is None:
        return EngineConfig()
    if isinstance(config, EngineConfig):
        return config
    if isinstance(config, Mapping):
        return validated(EngineConfig, config)
    raise UsageError(f"invalid config {config!r}: pass an EngineConfig(...) or None")


def _need_input(inp: ImageInput | None, model: ModelTypes) -> ImageInput:
    if inp is None:
        raise UsageError(f"{model.name} needs an input image (--input_image)")
    return ImageInput.from_any(inp)


def to_image_result(
    response: ProviderResponse, *, original_prompt: str | None, job_params: dict[str, Any]
) -> ImageResult:
    """The README's ImageResult from a saved provider response."""
    from datetime import datetime, timezone

    images = [
        {
            "url": f.url if f.url and not f.url.startswith("data:") else None,
            "path": str(f.path) if f.path else None,
            "metadata_path": str(f.metadata_path) if f.metadata_path else None,
            "width": f.width,
            "height": f.height,
            "content_type": f.content_type,
            "seed": f.seed,
            "role": f.role or "main",
        }
        for f in response.files
        if f.path is not None
    ]
    return ImageResult(
        request_id=response.request_id,
        timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        result=response.raw,
        image_info=images[0] if images else {},
        original_prompt=original_prompt,
        job_params=job_params,
        images=images,
        warnings=response.warnings,
    )
