"""The documented import path of the input and result models (``from twat_genai.core.config
import ImageInput, ImageResult, ImageSizeWH``); they live in :mod:`twat_genai.core.inputs` and
:mod:`twat_genai.core.results`."""

from twat_genai.core.inputs import ImageInput, ImageSizeWH, Prompts
from twat_genai.core.results import ImageResult

__all__ = ["ImageInput", "ImageResult", "ImageSizeWH", "Prompts"]
