"""The model catalog: what each model takes and returns, where each fact comes from, and the one
alias namespace.

Every provider ships its own ``models.toml`` beside its module (built-ins and plugins alike:
:attr:`Provider.catalog_file`); users add or override entries in their own file
(``TWAT_GENAI_MODELS``, else ``models.toml`` in the user config folder) and aliases in
``aliases.json`` there. Nothing is read until a model is looked up.

An entry (one ``[[model]]`` table) holds the wire id, its provider and kind, the neutral fields it
takes and their wire names (``map``), how a size reaches it (``size``), where input images go
(``inputs``), its documented parameters with types and ranges (``params``), the most images one
call returns, whether it honours a seed, its price basis, retirement, and the ``source`` and
``checked`` date of those facts (``unconfirmed`` lists the ones no document confirmed).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from twat_genai.core.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ENV_VAR = "TWAT_GENAI_MODELS"
USER_MODELS = "models.toml"
USER_ALIASES = "aliases.json"

#: What a model does; the CLI's ``--kind`` takes these.
KINDS = ("text-to-image", "edit", "upscale", "outpaint", "video", "background-removal")

#: Neutral request fields a catalog entry may map to wire names (``map``).
NEUTRAL_FIELDS = (
    "prompt",
    "negative_prompt",
    "seed",
    "n",
    "guidance_scale",
    "num_inference_steps",
    "strength",
    "loras",
    "resolution",
    "fps",
    "num_frames",
)


@dataclass(frozen=True)
class ParamSpec:
    """One documented wire parameter: its type and the values it accepts."""

    type: str = "string"
    required: bool = False
    min: float | None = None
    max: float | None = None
    values: tuple[Any, ...] = ()
    default: Any = None

    def check(self, model: str, name: str, value: Any, *, flag: str | None = None) -> None:
        """Refuse ``value`` when the model documents it as out of range, not one of its
        values, or of the wrong type: one line naming the limit (``flag`` is how the user
        wrote the setting)."""
        said = flag or name
        if self.values:
            if value not in self.values and str(value) not in {str(v) for v in self.values}:
                allowed = ", ".join(str(v) for v in self.values)
                raise UsageError(f"{model} takes {said} {allowed}, not {value!r}")
            return
        if self.type in ("integer", "number"):
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not numeric or (self.type == "integer" and not float(value).is_integer()):
                kind = "a whole number" if self.type == "integer" else "a number"
                raise UsageError(f"{model}: {said} must be {kind} (got {value!r})")
            low = self.min is not None and value < self.min
            high = self.max is not None and value > self.max
            if low or high:
                raise UsageError(
                    f"{model}: {said} must be {_bounds(self.min, self.max)} (got {value!r})"
                )
        elif self.type == "boolean" and not isinstance(value, bool):
            raise UsageError(f"{model}: {said} must be true or false (got {value!r})")


def _bounds(low: float | None, high: float | None) -> str:
    def num(x: float) -> str:
        return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"

    if low is not None and high is not None:
        return f"between {num(low)} and {num(high)}"
    return f"at least {num(low)}" if low is not None else f"at most {num(high or 0)}"


@dataclass(frozen=True)
class SizeSpec:
    """How a requested size reaches the model: ``preset`` (a named size or ``{width, height}``),
    ``wh`` (``{width, height}`` only), ``aspect_ratio`` (one of ``values``), ``size_string``
    (``"WxH"``), ``fields`` (top-level ``width``/``height``), ``resolution`` (one of ``values``),
    or ``none`` (the model picks; a requested size is warned about)."""

    form: str = "none"
    param: str | None = None
    values: tuple[str, ...] = ()
    min_pixels: int | None = None
    max_pixels: int | None = None
    multiple_of: int | None = None


@dataclass(frozen=True)
class Price:
    """What one call costs: ``usd`` per ``image``, ``megapixel``, ``second`` or ``call``."""

    usd: float | None = None
    per: str = "image"
    notes: str = ""


@dataclass(frozen=True)
class ModelInfo:
    """One catalog entry. ``known`` is False for an id the catalog does not hold (its
    capabilities are then the provider's defaults)."""

    id: str
    provider: str
    kind: str = "text-to-image"
    title: str = ""
    aliases: tuple[str, ...] = ()
    endpoint: str | None = None
    #: How the provider runs it when it needs more than one call (e.g. fal ``bria-outpaint``).
    flow: str | None = None
    max_images: int = 1
    seed: bool | None = None
    size: SizeSpec = field(default_factory=SizeSpec)
    #: Neutral field -> wire name, for every neutral field the model takes.
    map: Mapping[str, str] = field(default_factory=dict)
    #: ``image``, ``images``, ``mask``, ``first_frame``, ``last_frame`` -> wire name.
    inputs: Mapping[str, str] = field(default_factory=dict)
    max_inputs: int | None = None
    input_formats: tuple[str, ...] = ()
    #: Longer input sides are resized down to this first.
    max_input_side: int | None = None
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    #: Parameters the service refuses for this model (a 400, not a silent ignore).
    unsupported: tuple[str, ...] = ()
    outputs: str = ""
    price: Price | None = None
    retired: str | None = None
    deprecated: str | None = None
    replacement: str | None = None
    source: str = ""
    checked: str = ""
    unconfirmed: tuple[str, ...] = ()
    notes: str = ""
    known: bool = True

    @property
    def fields(self) -> frozenset[str]:
        """The neutral request fields this model honours."""
        names = set(self.map)
        if self.size.form != "none":
            names |= {"size", "aspect_ratio"}
        return frozenset(names)

    def wire(self, neutral: str, default: str | None = None) -> str | None:
        """The wire name of a neutral field, or ``default`` when the model does not take it."""
        return self.map.get(neutral, default)

    @property
    def ref(self) -> str:
        return f"{self.provider}:{self.id}"


def _tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _entry(raw: Mapping[str, Any], provider: str | None, source: str) -> ModelInfo:
    """A :class:`ModelInfo` from one ``[[model]]`` table; a bad table is a UsageError naming it."""
    try:
        model_id = str(raw["id"])
        owner = str(raw.get("provider") or provider or "")
        if not owner:
            raise KeyError("provider")
        kind = str(raw.get("kind", "text-to-image"))
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
        size = raw.get("size") or {}
        params = {
            str(name): ParamSpec(
                type=str(spec.get("type", "string")),
                required=bool(spec.get("required", False)),
                min=spec.get("min"),
                max=spec.get("max"),
                values=_tuple(spec.get("values")),
                default=spec.get("default"),
            )
            for name, spec in (raw.get("params") or {}).items()
        }
        price = raw.get("price")
        return ModelInfo(
            id=model_id,
            provider=owner,
            kind=kind,
            title=str(raw.get("title", "")),
            aliases=tuple(str(a) for a in _tuple(raw.get("aliases"))),
            endpoint=raw.get("endpoint"),
            flow=raw.get("flow"),
            max_images=int(raw.get("max_images", 1)),
            seed=raw.get("seed"),
            size=SizeSpec(
                form=str(size.get("form", "none")),
                param=size.get("param"),
                values=tuple(str(v) for v in _tuple(size.get("values"))),
                min_pixels=size.get("min_pixels"),
                max_pixels=size.get("max_pixels"),
                multiple_of=size.get("multiple_of"),
            ),
            map={str(k): str(v) for k, v in (raw.get("map") or {}).items()},
            inputs={str(k): str(v) for k, v in (raw.get("inputs") or {}).items()},
            max_inputs=raw.get("max_inputs"),
            input_formats=tuple(str(f) for f in _tuple(raw.get("input_formats"))),
            max_input_side=raw.get("max_input_side"),
            params=params,
            unsupported=tuple(str(u) for u in _tuple(raw.get("unsupported"))),
            outputs=str(raw.get("outputs", "")),
            price=None
            if price is None
            else Price(
                usd=price.get("usd"),
                per=str(price.get("per", "image")),
                notes=str(price.get("notes", "")),
            ),
            retired=_date(raw.get("retired")),
            deprecated=_date(raw.get("deprecated")),
            replacement=raw.get("replacement"),
            source=str(raw.get("source", "")),
            checked=_date(raw.get("checked")) or "",
            unconfirmed=tuple(str(u) for u in _tuple(raw.get("unconfirmed"))),
            notes=str(raw.get("notes", "")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        name = raw.get("id", "?") if isinstance(raw, Mapping) else "?"
        raise UsageError(f"model catalog {source}: entry {name!r} is invalid ({exc})") from None


def _date(value: Any) -> str | None:
    return None if value is None else str(value)


def parse_catalog(text: str, *, provider: str | None = None, source: str) -> list[ModelInfo]:
    """Entries of one catalog file (TOML with ``[[model]]`` tables)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"model catalog {source}: invalid TOML ({exc}); fix the file") from None
    return [_entry(raw, provider, source) for raw in data.get("model", [])]


def user_models_path() -> Path | None:
    """The user's catalog file: ``TWAT_GENAI_MODELS`` (which must exist), else ``models.toml``
    in the user config folder when it exists."""
    from twat_genai.core.settings import user_config_dir

    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise UsageError(f"{ENV_VAR} points to {path}, which is not a file: fix or unset it")
        return path
    path = user_config_dir() / USER_MODELS
    return path if path.is_file() else None


def user_aliases_path() -> Path:
    from twat_genai.core.settings import user_config_dir

    return user_config_dir() / USER_ALIASES


def read_user_aliases() -> dict[str, str]:
    """``{alias: model or provider:model}`` from the user's aliases file (empty when none)."""
    pin = current_pin()
    if pin is not None:
        return pin.aliases
    path = user_aliases_path()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"aliases file {path} cannot be read ({exc}): fix or remove it") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise UsageError(f'aliases file {path} must hold {{"alias": "model id", ...}}')
    return {str(k): v for k, v in data.items()}


def write_user_aliases(aliases: Mapping[str, str]) -> Path:
    """Save the user's aliases (sorted, atomically)."""
    path = user_aliases_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(dict(sorted(aliases.items())), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


_SPLIT = re.compile(r"^([a-z][a-z0-9_-]*):(?!//)(.+)$")


class Catalog:
    """Entries of every provider plus the user's, and the alias namespace."""

    def __init__(self, entries: Iterable[ModelInfo], user_aliases: Mapping[str, str]) -> None:
        self.entries: list[ModelInfo] = []
        self._by_key: dict[tuple[str, str], ModelInfo] = {}
        self._by_id: dict[str, list[ModelInfo]] = {}
        for entry in entries:  # later files (the user's) replace earlier entries
            key = (entry.provider, entry.id)
            if key in self._by_key:
                self.entries.remove(self._by_key[key])
            self._by_key[key] = entry
            self.entries.append(entry)
        for entry in self.entries:
            self._by_id.setdefault(entry.id, []).append(entry)
            self._by_id.setdefault(entry.id.lower(), []).append(entry)
        self.aliases: dict[str, str] = {}
        for entry in self.entries:
            for alias in entry.aliases:
                self.aliases.setdefault(alias.lower(), entry.ref)
        self.user_aliases = {k.lower(): v for k, v in user_aliases.items()}
        self.aliases.update(self.user_aliases)

    def get(self, provider: str, model_id: str) -> ModelInfo | None:
        """The entry of ``provider``'s ``model_id``, matched exactly, else ignoring case."""
        entry = self._by_key.get((provider, model_id))
        if entry is None:
            entry = next((e for e in self.by_id(model_id) if e.provider == provider), None)
        return entry

    def by_id(self, model_id: str) -> list[ModelInfo]:
        found = self._by_id.get(model_id) or self._by_id.get(model_id.lower()) or []
        return list({id(e): e for e in found}.values())

    def alias(self, name: str) -> str | None:
        """The target (``model`` or ``provider:model``) of an alias, else None."""
        return self.aliases.get(name.strip().lower())

    def select(self, *, provider: str | None = None, kind: str | None = None) -> list[ModelInfo]:
        return [
            e
            for e in self.entries
            if (provider is None or e.provider == provider) and (kind is None or e.kind == kind)
        ]


def split_ref(spec: str, providers: Iterable[str]) -> tuple[str | None, str]:
    """``("fal", "fal-ai/flux/dev")`` for ``"fal:fal-ai/flux/dev"``; ``(None, spec)`` when the
    part before a colon is not a provider name (URLs and ratios keep their colons)."""
    match = _SPLIT.match(spec.strip())
    if match and match.group(1) in set(providers):
        return match.group(1), match.group(2).strip()
    return None, spec.strip()


@cache
def _read_resource(package: str, name: str) -> str:
    from importlib.resources import files

    return files(package).joinpath(name).read_text(encoding="utf-8")


def provider_entries(provider: str, package: str, name: str) -> list[ModelInfo]:
    """The entries a provider ships (``name`` inside ``package``); none when it ships no such
    file (its models are then all "unknown", and say so when used)."""
    return list(_shipped_entries(provider, package, name))


@cache
def _shipped_entries(provider: str, package: str, name: str) -> tuple[ModelInfo, ...]:
    """Parsed once per process: every request looks its model up (several times per job),
    and parsing a provider's file costs tens of milliseconds."""
    try:
        text = _read_resource(package, name)
    except (FileNotFoundError, ModuleNotFoundError):
        return ()
    return tuple(parse_catalog(text, provider=provider, source=f"{package}/{name}"))


_user_cache: tuple[Any, list[ModelInfo]] | None = None


@dataclass
class Pin:
    """The user's catalog and aliases as one batch sees them, and the catalog built from them
    (filled by the registry on first use)."""

    entries: list[ModelInfo]
    aliases: dict[str, str]
    catalog: Catalog | None = None
    #: False once the batch has ended: a task started during it copied the pin with its
    #: context, and must read the files again like any lookup outside a batch.
    active: bool = True
    #: Per provider class: its entries by id, then by lower-cased id (the last entry wins).
    index: dict[Any, tuple[dict[str, ModelInfo], dict[str, ModelInfo]]] = field(
        default_factory=dict
    )


_pin: ContextVar[Pin | None] = ContextVar("twat_genai_catalog_pin", default=None)


@contextmanager
def pinned() -> Iterator[None]:
    """Within: the user's catalog and aliases files are read once. A batch sees one catalog,
    and its lookups (several per job) skip the file checks that cost a fifth of a job's CPU."""
    if current_pin() is not None:
        yield
        return
    pin = Pin(user_entries(), read_user_aliases())
    token = _pin.set(pin)
    try:
        yield
    finally:
        pin.active = False
        _pin.reset(token)


def current_pin() -> Pin | None:
    """The pin in force (None outside :func:`pinned`, and after its batch ended)."""
    pin = _pin.get()
    return pin if pin is not None and pin.active else None


def user_entries() -> list[ModelInfo]:
    """The entries of the user's catalog file (re-read when the file changes)."""
    global _user_cache
    pin = current_pin()
    if pin is not None:
        return pin.entries
    path = user_models_path()
    stamp = _stamp(path)
    if _user_cache is not None and _user_cache[0] == stamp:
        return _user_cache[1]
    entries = []
    if path is not None:
        entries = parse_catalog(path.read_text(encoding="utf-8"), provider=None, source=str(path))
    _user_cache = (stamp, entries)
    return entries


def entries_of(provider_class: Any) -> list[ModelInfo]:
    """One provider's entries: what it ships, then the user's for it (which win)."""
    name = provider_class.name
    return [*provider_class.catalog_entries(), *(e for e in user_entries() if e.provider == name)]


def model_entry(provider_class: Any, model_id: str) -> ModelInfo | None:
    """A provider's entry for ``model_id``: exact, else ignoring case (the user's win)."""
    pin = current_pin()
    if pin is not None:
        if provider_class not in pin.index:
            entries = entries_of(provider_class)
            exact = {e.id: e for e in entries}
            pin.index[provider_class] = (exact, {e.id.lower(): e for e in entries})
        exact, folded = pin.index[provider_class]
        return exact.get(model_id) or folded.get(model_id.lower())
    entries = entries_of(provider_class)
    found = [e for e in entries if e.id == model_id]
    if not found:
        wanted = model_id.lower()
        found = [e for e in entries if e.id.lower() == wanted]
    return found[-1] if found else None


def build_catalog(provider_classes: Iterable[Any]) -> Catalog:
    """The catalog of these providers plus the user's entries and aliases."""
    entries: list[ModelInfo] = []
    for cls in provider_classes:
        entries.extend(cls.catalog_entries())
    entries.extend(user_entries())
    return Catalog(entries, read_user_aliases())


def _stamp(path: Path | None) -> tuple[str, int, int] | None:
    if path is None:
        return None
    st = path.stat()
    return (str(path), st.st_mtime_ns, st.st_size)


__all__ = [
    "KINDS",
    "NEUTRAL_FIELDS",
    "Catalog",
    "ModelInfo",
    "ParamSpec",
    "Price",
    "SizeSpec",
    "build_catalog",
    "entries_of",
    "model_entry",
    "parse_catalog",
    "pinned",
    "split_ref",
]
