"""``TwatGenAiCLI``: the CLI's fal commands as a Python API (what the CLI calls, and what
downstream packages call directly). Each command expands its prompts, builds one neutral request
per prompt with :class:`~twat_genai.engines.fal.FALEngine`, and runs them as one journaled batch
on the one execution path (:mod:`twat_genai.jobs.pipeline`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twat_genai.core.errors import UsageError, validated
from twat_genai.core.inputs import ImageInput
from twat_genai.core.results import ImageResult
from twat_genai.core.sync import run_sync
from twat_genai.engines.fal.operations import UPSCALE_TOOLS, ModelTypes
from twat_genai.jobs.pipeline import (
    DEFAULT_OUTPUT_DIR,
    Job,
    LazyJobs,
    RunOptions,
    expand_prompts,
    run_jobs,
)
from twat_genai.jobs.runner import Outcome, Summary


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
        for name, value in (("concurrency", concurrency), ("expand_limit", expand_limit)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise UsageError(
                    f"invalid {name}: use a whole number of at least 1 (got {value!r})"
                )
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
        coro = self._abatch(ModelTypes.parse(model), [prompt], **kw)

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
        items = expand_prompts(prompts, limit=self.expand_limit, required=required)
        template = prompts if isinstance(prompts, str) else None
        return self._results(run_sync(lambda: self._abatch(model, items, template=template, **kw)))

    def _results(self, summary: Summary) -> list[ImageResult]:
        self.last_summary = summary
        return list(summary.results())

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
        allow_retired: bool = False,
        name: str | None = None,
        dry_run: bool = False,
        budget: float | None = None,
        timeout: float | None = None,
        retry_lost: bool = False,
        template: str | None = None,
        command_line: str | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        **tool_options: Any,
    ) -> Summary:
        """Run one command over ``prompts`` as a journaled batch (see :mod:`twat_genai.jobs`).

        Re-running the same command into the same folder skips items already saved and
        re-attaches to jobs already submitted; ``fresh`` forgets the journal first.
        ``on_event(name, data)`` receives batch progress (``item_finished`` carries counts).
        """
        from twat_genai.engines.base import EngineConfig
        from twat_genai.engines.fal import FALEngine, to_image_result
        from twat_genai.engines.fal.settings import (
            ImageToImageConfig,
            OutpaintConfig,
            UpscaleConfig,
        )

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
        config = validated(EngineConfig, config_args)
        inp = await _preflight_input(input_image, model)
        selection: Any = lora
        if lora:
            from twat_genai.core.lora import parse_lora_spec

            # A bad spec fails here, before any request; the library is read once, so every
            # job (each is made twice: checked, then run) sends what was checked.
            selection = parse_lora_spec(lora)
        op = model.operation
        kwargs: dict[str, Any] = {
            "lora_spec": selection,
            "negative_prompt": negative_prompt,
            "verbose": self.verbose,
        }
        if op in ("image", "canny", "depth"):
            kwargs["image_config"] = validated(
                ImageToImageConfig, {"input_image": inp, "strength": strength}
            )
        elif op == "upscale":
            options = {k: v for k, v in tool_options.items() if v is not None and v is not False}
            kwargs["upscale_config"] = validated(
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
            kwargs["outpaint_config"] = validated(
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
        engine = FALEngine(
            out_dir,
            api_key=self._api_key or (_placeholder_key() if dry_run else None),
            base_url=self._base_url,
        )
        async with engine:

            def job_for(p: str) -> Job:
                request, warnings, source = engine.build_request(p, config, model=model, **kwargs)
                prefix = filename_prefix
                if prefix is None and source is not None:
                    prefix = source.stem
                return Job(
                    request,
                    # An upscale (or any prompt-less item) is known by its input file.
                    label=p or (source.describe() if source is not None else model.name.lower()),
                    meta={**engine.job_record(p, config, model, lora), "prompt_template": template},
                    warnings=warnings,
                    prefix=prefix,
                )

            # Each job is made from its prompt when checked and again when it runs.
            jobs = LazyJobs(prompts, job_for)
            user_hook = self.on_outcome

            def as_image_result(outcome: Outcome) -> None:
                # The README's result type, made from the one result type underneath.
                if outcome.status == "ok" and outcome.result is not None:
                    outcome.result = to_image_result(
                        outcome.result,
                        original_prompt=outcome.item.label,
                        job_params=engine.job_record(outcome.item.label, config, model, lora),
                    )
                if user_hook is not None:
                    user_hook(outcome)

            # Filled as items finish: kept if interrupted.
            self.last_summary = Summary(keep_results=self.keep_results)
            run = RunOptions(
                output_dir=out_dir,
                suffix=filename_suffix,
                command=model.name,
                journal=True,
                fresh=fresh,
                allow_retired=allow_retired,
                name_template=name,
                dry_run=dry_run,
                budget=budget,
                timeout=timeout,
                retry_lost=retry_lost,
                record={"command_line": command_line} if command_line else {},
                concurrency=self.concurrency,
                on_outcome=as_image_result,
                on_event=on_event,
                summary=self.last_summary,
            )
            return await run_jobs(engine.provider, jobs, run)


def _placeholder_key() -> str | None:
    """A dry run sends nothing: it needs no key, but uses a real one when set."""
    from twat_genai.core.settings import first_env

    return None if first_env(("FAL_KEY",)) else "dry-run"


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
