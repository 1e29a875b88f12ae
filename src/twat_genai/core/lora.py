"""LoRA library (trigger phrase -> LoRA records) and the ``--lora`` spec parser (SPEC §5.3).

The library is the bundled ``twat_genai/data/loras.json`` plus the user's library: the file
named by ``TWAT_GENAI_LORA_LIB`` (which must exist), else ``loras.json`` in the user config
directory (``platformdirs``). User entries add to the bundled ones and win on the same key, so a
personal file need not copy the built-ins. Nothing is read until a library is needed; each file
is parsed once per modification time.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    TypeAdapter,
    ValidationError,
)

from twat_genai.core.errors import UsageError
from twat_genai.core.models import LoraWeight
from twat_genai.core.urls import check_http_url, url_scheme

ENV_VAR = "TWAT_GENAI_LORA_LIB"
USER_FILE_NAME = "loras.json"
_REPO_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(?:/[\w.-]+)*$")


class LoraRecord(BaseModel):
    """One LoRA in the library: a Hugging Face repo id or URL (``path`` also accepted) and scale."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(min_length=1, validation_alias=AliasChoices("url", "path"))
    scale: float = 1.0


Library = dict[str, list[LoraRecord]]


class LoraLib(RootModel[dict[str, list[LoraRecord]]]):
    """A whole library: ``{"<trigger phrase>": [LoraRecord, ...]}`` (the JSON file's shape)."""


class LoraSpecEntry(BaseModel):
    """One LoRA as a caller specifies it: a repo id or URL, a scale, and the trigger phrase the
    prompt should start with (``""`` for none)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(min_length=1)
    scale: float = 1.0
    prompt: str = ""


class CombinedLoraSpecEntry(BaseModel):
    """Several LoRAs used together (a library key's records), their scales multiplied by
    ``factor``, with one trigger phrase for the group."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entries: list[LoraSpecEntry]
    factor: float = 1.0
    prompt: str = ""


_LIBRARY_ADAPTER: TypeAdapter[dict[str, list[LoraRecord]]] = TypeAdapter(
    dict[str, list[LoraRecord]]
)


def _parse_library(text: str, name: str) -> tuple[tuple[str, tuple[LoraRecord, ...]], ...]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"LoRA library {name}: invalid JSON at line {exc.lineno} column {exc.colno} "
            f"({exc.msg}); fix the file"
        ) from None
    try:
        data = _LIBRARY_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "top level"
        raise UsageError(
            f"LoRA library {name}: {where}: {err['msg']}; expected "
            '{"<trigger phrase>": [{"url": "<repo id or URL>", "scale": 1.0}, ...]}'
        ) from None
    return tuple((key, tuple(records)) for key, records in data.items())


@lru_cache(maxsize=16)
def _read_file(
    path: str, mtime_ns: int, size: int
) -> tuple[tuple[str, tuple[LoraRecord, ...]], ...]:
    """Parse a library file; the mtime and size in the key make an edited file reload."""
    del mtime_ns, size
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"LoRA library {path}: cannot read it ({exc.strerror})") from None
    return _parse_library(text, path)


@lru_cache(maxsize=1)
def _read_bundled() -> tuple[tuple[str, tuple[LoraRecord, ...]], ...]:
    from importlib.resources import files

    text = files("twat_genai.data").joinpath(USER_FILE_NAME).read_text(encoding="utf-8")
    return _parse_library(text, "bundled loras.json")


def _load_path(path: Path) -> tuple[tuple[str, tuple[LoraRecord, ...]], ...]:
    resolved = path.expanduser().resolve()
    stat = resolved.stat()
    return _read_file(str(resolved), stat.st_mtime_ns, stat.st_size)


def library_path() -> Path | None:
    """The user's library file, or None when there is none (checks ``TWAT_GENAI_LORA_LIB``)."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise UsageError(
                f"{ENV_VAR} points to {path}, which is not a file: fix the path or unset {ENV_VAR}"
            )
        return path
    from twat_genai.core.settings import user_config_dir

    user = user_config_dir() / USER_FILE_NAME
    return user if user.is_file() else None


def library_layers() -> list[tuple[Path | None, Library]]:
    """The files making up the library, in merge order: the bundled one (``None``) first, then
    the user's (:func:`library_path`) if any. Later layers win on the same key."""
    layers: list[tuple[Path | None, Library]] = [(None, _as_library(_read_bundled()))]
    user = library_path()
    if user is not None:
        layers.append((user, _as_library(_load_path(user))))
    return layers


def _as_library(entries: tuple[tuple[str, tuple[LoraRecord, ...]], ...]) -> Library:
    return {key: list(records) for key, records in entries}


def load_lora_library(path: Path | None = None) -> Library:
    """The LoRA library as ``{trigger phrase: [LoraRecord, ...]}`` (a fresh copy each call).

    By default the bundled entries plus the user's (module docstring); ``path`` reads exactly
    that file instead, and a missing one is a UsageError.
    """
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise UsageError(f"LoRA library {path} does not exist: check the path")
        return _as_library(_load_path(path))
    merged: Library = {}
    for _origin, entries in library_layers():
        merged.update(entries)
    return merged


@dataclass
class LoraSelection:
    """LoRAs to send, and the trigger phrases (each once, in order) to put before the prompt."""

    loras: list[LoraWeight] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.loras)

    def add(self, loras: Sequence[LoraWeight], trigger: str | None = None) -> None:
        self.loras.extend(loras)
        if trigger and trigger not in self.triggers:
            self.triggers.append(trigger)

    def apply_to_prompt(self, prompt: str) -> str:
        """``"<trigger1>, <trigger2>, <prompt>"``, skipping triggers the prompt already starts with.

        A trigger counts as present when the prompt (after other leading triggers and commas)
        begins with it, case-insensitively, followed by a non-word character or the end.
        """
        head = prompt.lstrip()
        present: set[str] = set()
        progress = True
        while progress:
            progress = False
            for trigger in sorted(self.triggers, key=len, reverse=True):
                if trigger in present:
                    continue
                if re.match(re.escape(trigger) + r"(?!\w)", head, re.IGNORECASE):
                    present.add(trigger)
                    head = head[len(trigger) :].lstrip(" ,")
                    progress = True
        missing = [t for t in self.triggers if t not in present]
        return ", ".join([*missing, prompt.strip()] if prompt.strip() else missing)

    def records(self) -> list[dict[str, Any]]:
        """The LoRAs as plain ``{"path", "scale"}`` records (sidecars, dry runs)."""
        return [lw.model_dump() for lw in self.loras]


def _find_key(ident: str, library: Mapping[str, Sequence[LoraRecord]]) -> str | None:
    if ident in library:
        return ident
    folded = ident.casefold()
    for key in library:
        if key.casefold() == folded:
            return key
    return None


def _authority_end(text: str) -> int:
    """Where the path of a ``scheme://host:port/path`` URL starts (0 for text with no scheme)."""
    scheme = url_scheme(text)
    if scheme is None:
        return 0
    start = len(scheme) + 3
    path = re.search(r"[/?#]", text[start:])
    return start + path.start() if path else len(text)


def _split_scale(phrase: str) -> tuple[str, float | None]:
    """``ident:scale`` -> (ident, scale); no colon -> (phrase, None).

    The scale is the text after the last colon, unless that colon belongs to a URL's
    ``scheme://host:port`` (so ``https://host:8080/x.safetensors`` has no scale and
    ``https://host:8080/x.safetensors:0.7`` has 0.7). It must then be a finite number.
    """
    cut = phrase.rfind(":")
    if cut < 0 or cut < _authority_end(phrase):
        return phrase, None  # no colon, or the colon of scheme:// or host:port
    head, tail = phrase[:cut].strip(), phrase[cut + 1 :].strip()
    if not head:
        raise UsageError(
            f"LoRA entry {phrase!r} has a scale but no name: write NAME:SCALE such as shou_xin:0.8"
        )
    try:
        scale = float(tail)
    except ValueError:
        scale = math.nan
    if not math.isfinite(scale):
        raise UsageError(
            f"invalid LoRA scale {tail!r} in {phrase!r}: what follows the last ':' must be a "
            "number such as 0.8 (write a ':' inside a URL path as %3A)"
        )
    return head, scale


def _unknown(ident: str, library: Mapping[str, Sequence[LoraRecord]]) -> UsageError:
    keys = list(library)
    by_fold = {k.casefold(): k for k in keys}
    close = [by_fold[m] for m in difflib.get_close_matches(ident.casefold(), by_fold, n=3)]
    hint = (
        "did you mean " + " or ".join(repr(k) for k in close) + "?"
        if close
        else "library keys: "
        + ", ".join(repr(k) for k in keys[:10])
        + (", ..." if len(keys) > 10 else "")
    )
    return UsageError(
        f"unknown LoRA {ident!r}: not in the LoRA library and not a URL or owner/name repo id; "
        f"{hint}"
    )


class _Parser:
    def __init__(self, library: Mapping[str, Sequence[LoraRecord]] | None) -> None:
        self._library = library

    @property
    def library(self) -> Mapping[str, Sequence[LoraRecord]]:
        if self._library is None:
            self._library = load_lora_library()
        return self._library

    def key_records(self, key: str, factor: float, out: LoraSelection) -> None:
        records = self.library[key]
        out.add([LoraWeight(path=r.url, scale=round(r.scale * factor, 6)) for r in records], key)

    def phrase(self, phrase: str, out: LoraSelection) -> None:
        phrase = phrase.strip()
        key = _find_key(phrase, self.library)
        if key is not None:
            self.key_records(key, 1.0, out)
            return
        ident, scale = _split_scale(phrase)
        if scale is not None:
            key = _find_key(ident, self.library)
            if key is not None:
                self.key_records(key, scale, out)
                return
        if url_scheme(ident) is not None:
            check_http_url(ident, "LoRA URL", other="an owner/name repo id or a library key")
            if any(c.isspace() for c in ident):
                raise UsageError(f"LoRA URL {ident!r} has a space in it: write it as %20")
            if ":" in ident[_authority_end(ident) :]:
                raise UsageError(
                    f"LoRA URL {ident!r} has a ':' in its path: write it as %3A "
                    "(a ':' there would be read as the start of a scale)"
                )
        elif not _REPO_ID_RE.match(ident):
            raise _unknown(ident, self.library)
        out.add([LoraWeight(path=ident, scale=1.0 if scale is None else scale)])

    def string(self, spec: str, out: LoraSelection) -> None:
        whole = _find_key(spec.strip(), self.library) if spec.strip() else None
        if whole is not None:
            self.key_records(whole, 1.0, out)
            return
        phrases = spec.split(";")
        for n, phrase in enumerate(phrases, 1):
            if not phrase.strip():
                several = len(phrases) > 1
                raise UsageError(
                    f"empty LoRA entry {f'{n} of {len(phrases)} in {spec!r}' if several else repr(spec)}"
                    ": put a library key, URL or owner/name repo id there, or "
                    + ("remove the extra ';'" if several else "drop it")
                )
        for phrase in phrases:
            self.phrase(phrase, out)

    def mapping(self, spec: Mapping[str, Any], out: LoraSelection) -> None:
        extra = set(spec) - {"path", "url", "scale", "prompt"}
        path = spec.get("path", spec.get("url"))
        if extra or not isinstance(path, str) or not path.strip():
            raise UsageError(
                f"invalid LoRA {dict(spec)!r}: use {{'path': '<repo id or URL>', "
                "'scale': 1.0, 'prompt': '<trigger>'}"
            )
        scale = spec.get("scale", 1.0)
        if (
            isinstance(scale, bool)
            or not isinstance(scale, int | float)
            or not math.isfinite(scale)
        ):
            raise UsageError(f"invalid LoRA scale {scale!r} for {path!r}: use a number such as 0.8")
        trigger = spec.get("prompt")
        if trigger is not None and not isinstance(trigger, str):
            raise UsageError(f"invalid LoRA prompt {trigger!r} for {path!r}: use a string")
        out.add([LoraWeight(path=path.strip(), scale=float(scale))], (trigger or "").strip())

    def item(self, spec: Any, out: LoraSelection) -> None:
        if isinstance(spec, LoraWeight):
            out.add([spec])
        elif isinstance(spec, LoraSpecEntry):
            out.add([LoraWeight(path=spec.path, scale=spec.scale)], spec.prompt)
        elif isinstance(spec, CombinedLoraSpecEntry):
            loras = [
                LoraWeight(path=e.path, scale=round(e.scale * spec.factor, 6)) for e in spec.entries
            ]
            out.add(loras, spec.prompt or None)
            for entry in spec.entries:
                if entry.prompt:
                    out.add([], entry.prompt)
        elif isinstance(spec, LoraSelection):
            out.add(spec.loras)
            for trigger in spec.triggers:
                out.add([], trigger)
        elif isinstance(spec, str):
            self.string(spec, out)
        elif isinstance(spec, Mapping):
            self.mapping(spec, out)
        else:
            raise UsageError(
                f"invalid LoRA spec {spec!r}: use a library key, URL, repo id, "
                "'name:scale', or a list of them"
            )


def parse_lora_spec(
    spec: str | LoraWeight | Mapping[str, Any] | Sequence[Any] | LoraSelection | None,
    library: Mapping[str, Sequence[LoraRecord]] | None = None,
) -> LoraSelection:
    """Turn a ``--lora`` value into LoRAs plus trigger phrases.

    * None or a blank string: nothing.
    * A string equal to a library key (case-sensitive first, then case-insensitive): that entry.
    * Otherwise ``;``-separated phrases, each ``ident`` or ``ident:scale``; an empty phrase
      (``"a;;b"``, ``";"``) is a :class:`UsageError`. The scale is what follows the last colon,
      unless that colon is a URL's ``scheme://`` or ``host:port`` one, and it must be a number:
      ``https://host:8080/x.safetensors:0.7`` is that URL at 0.7, ``https://host:8080/x`` has no
      scale, ``x.safetensors:abc`` is an error. A library key with a scale multiplies that
      entry's scales and still adds its trigger; an http(s) URL (checked like input URLs) or an
      ``owner/name`` repo id is used as is, with no trigger; anything else is a
      :class:`UsageError` suggesting the closest library keys.
    * A list of the above, ``{"path"|"url", "scale", "prompt"}`` dicts (``prompt`` is the
      trigger) or :class:`LoraWeight` objects.

    ``library`` defaults to :func:`load_lora_library`, read only when a string needs it.
    """
    out = LoraSelection()
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return out
    parser = _Parser(library)
    if isinstance(spec, str | LoraWeight | LoraSelection | Mapping | BaseModel):
        parser.item(spec, out)
    elif isinstance(spec, Sequence):
        for item in spec:
            parser.item(item, out)
    else:
        parser.item(spec, out)
    return out
