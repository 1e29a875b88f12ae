"""``TwatGenAiCLI``: the FAL commands as a Python API (what the CLI calls, and what downstream
packages call directly). Each command expands its prompts and runs them as one batch."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twat_genai.core.config import ImageInput, ImageResult
from twat_genai.core.errors import UsageError
from twat_genai.core.sync import run_sync
from twat_genai.core.writer import check_writable
from twat_genai.engines.fal.config import ModelTypes
from twat_genai.jobs.journal import Journal, item_key
from twat_genai.jobs.runner import Item, Outcome, Summary, run_batch

DEFAULT_OUTPUT_DIR = "generated_images"


def prompt_list(
    prompts: str | list[str] | None, *, limit: int = 1000, required: bool = True
) -> list[str]:
    """Expanded prompts (empty ones dropped); one empty prompt when none is needed."""
    from twat_genai.core.prompt import expand_prompts

    if not prompts:
        if required:
            raise UsageError(
                'a prompt is required: --prompts "a red car" (or as the first argument)'
            )
        return [""]
    expanded = [p for p in expand_prompts(prompts, limit=limit) if p]
    if not expanded and required:
        raise UsageError("the prompt is empty after expansion")
    return expanded or [""]


class TwatGenAiCLI:
    """The FAL commands from Python. Methods return the saved results; a batch in which no
    item succeeded raises the first error."""

    def __init__(
        self,
        output_dir: str | Path = DEFAULT_OUTPUT_DIR,
        *,
        verbose: bool = False,
        concurrency: int | None = None,
        expand_limit: int = 1000,
        on_outcome: Callable[[Outcome], None] | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        keep_results: bool = True,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.verbose = verbose
        self.concurrency = concurrency
        self.expand_limit = expand_limit
        self.on_outcome = on_outcome
        self.keep_results = keep_results
        self._api_key = api_key
        self._base_url = base_url
        self.last_summary: Summary | None = None

    def __repr__(self) -> str:
        return f"TwatGenAiCLI(output_dir={str(self.output_dir)!r})"

    # -- commands --------------------------------------------------------------------------

    def text(self, prompts: str | list[str] | None = None, **kw: Any) -> list[ImageResult]:
        return self._command(ModelTypes.TEXT, prompts, **kw)

    def image(
        self,
        input_image: Any = None,
        prompts: str | list[str] | None = None,
        *,
        strength: float = 0.75,
        **kw: Any,
    ) -> list[ImageResult]:
        return self._command(
            ModelTypes.IMAGE, prompts, input_image=input_image, strength=strength, **kw
        )

    def canny(
        self, input_image: Any = None, prompts: str | list[str] | None = None, **kw: Any
    ) -> list[ImageResult]:
        return self._command(ModelTypes.CANNY, prompts, input_image=input_image, **kw)

    def depth(
        self, input_image: Any = None, prompts: str | list[str] | None = None, **kw: Any
    ) -> list[ImageResult]:
        return self._command(ModelTypes.DEPTH, prompts, input_image=input_image, **kw)

    def upscale(
        self,
        input_image: Any = None,
        tool: str = "esrgan",
        prompts: str | list[str] | None = None,
        **kw: Any,
    ) -> list[ImageResult]:
        from twat_genai.engines.fal.config import UPSCALE_TOOLS

        if tool not in UPSCALE_TOOLS:
            raise UsageError(
                f"unknown upscale tool {tool!r}: choose one of {', '.join(UPSCALE_TOOLS)}"
            )
        return self._command(UPSCALE_TOOLS[tool], prompts, input_image=input_image, **kw)

    def outpaint(
        self,
        input_image: Any = None,
        prompts: str | list[str] | None = None,
        *,
        target_width: int,
        target_height: int,
        tool: str = "bria",
        border: float = 5.0,
        **kw: Any,
    ) -> list[ImageResult]:
        if tool not in ("bria", "flux"):
            raise UsageError(f"unknown outpaint tool {tool!r}: choose bria or flux")
        model = ModelTypes.OUTPAINT_FLUX if tool == "flux" else ModelTypes.OUTPAINT_BRIA
        return self._command(
            model,
            prompts,
            input_image=input_image,
            target_width=target_width,
            target_height=target_height,
            border=border,
            **kw,
        )

    def _run_generation(self, prompt: str, model: ModelTypes = ModelTypes.TEXT, **kw: Any) -> Any:
        """One generation. From sync code it returns the results; inside a running event loop
        it returns a coroutine to await."""
        coro = self._abatch(model, [prompt], **kw)

        async def results() -> list[ImageResult]:
            return self._results(await coro)

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(results())
        return results()

    # -- machinery --------------------------------------------------------------------------

    def _command(
        self, model: ModelTypes, prompts: str | list[str] | None, **kw: Any
    ) -> list[ImageResult]:
        # Bria's expand takes no prompt; its GenFill border pass (--border above 0) needs one.
        required = model.operation in ("text", "image", "canny", "depth", "outpaint_flux") or (
            model.operation == "outpaint" and float(kw.get("border", 5.0) or 0) > 0
        )
        items = prompt_list(prompts, limit=self.expand_limit, required=required)
        return self._results(run_sync(lambda: self._abatch(model, items, **kw)))

    def _results(self, summary: Summary) -> list[ImageResult]:
        self.last_summary = summary
        results = [o.result for o in summary.outcomes if o.status == "ok"]
        if not results:
            errors = [o.error for o in summary.outcomes if o.error is not None]
            if errors:
                raise errors[0]
        return results

    async def _abatch(
        self,
        model: ModelTypes,
        prompts: list[str],
        *,
        input_image: Any = None,
        image_size: Any = None,
        lora: Any = None,
        negative_prompt: str | None = None,
        guidance_scale: float | None = None,
        num_inference_steps: int | None = None,
        seed: int | None = None,
        num_images: int = 1,
        output_format: str | None = None,
        enable_safety_checker: bool = False,
        filename_prefix: str | None = None,
        filename_suffix: str | None = None,
        output: str | None = None,
        output_dir: str | Path | None = None,
        strength: float = 0.75,
        scale: float | None = None,
        target_width: int | None = None,
        target_height: int | None = None,
        border: float = 5.0,
        fresh: bool = False,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        **tool_options: Any,
    ) -> Summary:
        """Run one command over ``prompts`` as a journaled batch (see :mod:`twat_genai.jobs`).

        Re-running the same command into the same folder skips items already saved and
        re-attaches to jobs already submitted; ``fresh`` forgets the journal first.
        ``on_event(name, data)`` receives batch progress (``item_finished`` carries counts).
        """
        from twat_genai.engines.base import EngineConfig
        from twat_genai.engines.fal import FALEngine
        from twat_genai.engines.fal.config import ImageToImageConfig, OutpaintConfig, UpscaleConfig

        # Only what the caller set: EngineConfig knows the defaults, and an upscaler can then
        # warn about the settings it cannot use.
        given: dict[str, Any] = {
            "guidance_scale": guidance_scale,
            "num_inference_steps": num_inference_steps,
            "seed": seed,
            "output_format": output_format,
            "enable_safety_checker": enable_safety_checker or None,
        }
        config_args = {k: v for k, v in given.items() if v is not None}
        config_args["num_images"] = num_images
        if image_size is not None:
            config_args["image_size"] = image_size
        config = _validated(EngineConfig, config_args)
        inp = await _preflight_input(input_image, model)
        if lora:
            from twat_genai.core.lora import parse_lora_spec

            parse_lora_spec(lora)  # a bad spec fails here, before any request
        op = model.operation
        kwargs: dict[str, Any] = {
            "lora_spec": lora,
            "negative_prompt": negative_prompt,
            "verbose": self.verbose,
        }
        if op in ("image", "canny", "depth"):
            kwargs["image_config"] = ImageToImageConfig(input_image=inp, strength=strength)
        elif op == "upscale":
            options = {k: v for k, v in tool_options.items() if v is not None and v is not False}
            kwargs["upscale_config"] = _validated(
                UpscaleConfig,
                {
                    "input_image": inp,
                    "scale": scale,
                    "seed": seed,
                    "negative_prompt": negative_prompt,
                    **options,
                },
            )
            kwargs.pop("negative_prompt")
        elif op.startswith("outpaint"):
            if not target_width or not target_height:
                raise UsageError("outpaint needs --target_width and --target_height")
            kwargs["outpaint_config"] = _validated(
                OutpaintConfig,
                {
                    "input_image": inp,
                    "target_width": target_width,
                    "target_height": target_height,
                    "outpaint_tool": "flux" if op == "outpaint_flux" else "bria",
                    "border_thickness_factor": border / 100.0,
                    "num_images": num_images,
                },
            )
        elif tool_options:
            raise UsageError(f"unknown option(s) for {op}: {', '.join(sorted(tool_options))}")
        out_dir = Path(output_dir) if output_dir else self.output_dir
        if output:
            out_dir = out_dir / output
        check_writable(out_dir)
        engine = FALEngine(out_dir, api_key=self._api_key, base_url=self._base_url)
        async with engine:
            run = functools.partial(
                engine.generate,
                config=config,
                model=model,
                filename_prefix=filename_prefix,
                filename_suffix=filename_suffix,
                **kwargs,
            )
            seen: dict[str, int] = {}
            items = []
            for p in prompts:
                request, _, _ = engine.build_request(p, config, model=model, **kwargs)
                parts = {
                    "command": model.name,
                    "provider": "fal",
                    "endpoint": request.model,
                    "request": request.model_dump(mode="json"),
                    "output_dir": str(out_dir.resolve()),
                    "prefix": filename_prefix,
                    "suffix": filename_suffix,
                }
                base = item_key(**parts)
                seen[base] = seen.get(base, 0) + 1
                items.append(
                    Item(
                        label=p or model.name.lower(),
                        run=functools.partial(_with_ctx, run, p),
                        key=item_key(**parts, occurrence=seen[base]),
                        takes_context=True,
                        restore=functools.partial(_restored_result, prompt=p),
                    )
                )
            concurrency = self.concurrency or engine.provider.default_concurrency
            # Filled as items finish: kept if interrupted.
            self.last_summary = Summary(keep_results=self.keep_results)
            with Journal.for_output(out_dir) as journal:
                if fresh:
                    journal.reset()
                return await run_batch(
                    items,
                    concurrency=concurrency,
                    on_outcome=self.on_outcome,
                    journal=journal,
                    on_event=on_event,
                    summary=self.last_summary,
                )


async def _with_ctx(run: Any, prompt: str, ctx: Any) -> Any:
    return await run(prompt, ctx=ctx)


def _restored_result(entry: Any, *, prompt: str) -> ImageResult:
    """The result of an item a previous run saved, rebuilt from its journal entry."""
    images = [{"path": p, "metadata_path": str(Path(p).with_suffix(".json"))} for p in entry.paths]
    return ImageResult(
        request_id=entry.request_id or "",
        timestamp="",
        image_info=images[0] if images else {},
        original_prompt=prompt,
        images=images,
    )


def _validated(model: Any, data: dict[str, Any]) -> Any:
    """Build a pydantic model; its validation errors become one-line UsageErrors."""
    from pydantic import ValidationError

    try:
        return model(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ())) or "value"
        raise UsageError(f"invalid {where}: {first.get('msg')}") from None


async def _preflight_input(value: Any, model: ModelTypes) -> ImageInput | None:
    """Check a local input image before any request: it exists and decodes."""
    if value is None:
        if model.operation != "text":
            raise UsageError(f"{model.operation} needs an input image: --input_image PATH_OR_URL")
        return None
    inp = ImageInput.from_any(value)
    if not inp.is_remote:
        from twat_genai.core.inputs import validate_local_input

        await asyncio.to_thread(validate_local_input, inp)
    return inp
