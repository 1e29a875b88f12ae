"""Prompt grammar (``;`` and ``{a,b}`` expansion) and Midjourney-style parameter parsing.

Expansion rules (SPEC §5.2):

* A string is split on ``;`` at brace depth 0; parts are stripped and empty parts dropped. A list
  is not split on ``;``; each item is expanded on its own.
* ``{a,b,c}`` gives one prompt per option, cartesian across groups, left to right:
  ``"a {red,blue} {car,bike}"`` -> red car, red bike, blue car, blue bike. Groups nest:
  ``"{a,{b,c}} x"`` -> ``a x``, ``b x``, ``c x``.
* ``\\,`` ``\\{`` ``\\}`` ``\\;`` ``\\\\`` are literal characters; any other backslash is kept as is.
  Inside braces ``;`` is literal. An unmatched ``{`` or ``}`` is a :class:`UsageError` naming
  its 1-based character position and the escape (``\\{`` / ``\\}``) for a literal brace.
* Options are stripped. Empty options are kept (``{x,,y}`` -> three prompts) except one trailing
  empty option, which is dropped (``{x,}`` -> ``x`` only; ``{}`` is a single empty option).
* Where an empty option leaves whitespace on both sides, the pair collapses to the left one
  (``"a {,b} c"`` -> ``a c``, ``a b c``); other whitespace in the prompt is left alone. Each
  result is stripped, and a prompt made only of empty options expands to ``""``.
* More than ``limit`` prompts is refused with the count, which is computed from the parse tree
  before anything is expanded.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from twat_genai.core.errors import UsageError

DEFAULT_EXPANSION_LIMIT = 1000
_ESCAPABLE = frozenset(",{};\\")
_MAX_DEPTH = 100
#: Marks where an empty option was chosen, so whitespace around it can be collapsed.
_EMPTY = "\x00"
_EMPTY_RE = re.compile(r"(\s*)\x00(?:\s*\x00)*(\s*)")


# --- parse tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Literal:
    text: str


@dataclass(frozen=True)
class _Group:
    options: tuple[_Seq, ...]


@dataclass(frozen=True)
class _Seq:
    items: tuple[_Literal | _Group, ...]

    @property
    def is_empty(self) -> bool:
        return not self.items


def _strip_seq(items: list[_Literal | _Group]) -> _Seq:
    """Strip whitespace at both ends of a sequence (its first and last literal)."""
    if items and isinstance(items[0], _Literal):
        items[0] = _Literal(items[0].text.lstrip())
        if not items[0].text:
            items.pop(0)
    if items and isinstance(items[-1], _Literal):
        items[-1] = _Literal(items[-1].text.rstrip())
        if not items[-1].text:
            items.pop()
    return _Seq(tuple(items))


class _Parser:
    """Recursive descent over one prompt string: ``top := seq (';' seq)*``,
    ``seq := (text | group)*``, ``group := '{' seq (',' seq)* '}'``."""

    def __init__(self, text: str, *, split: bool) -> None:
        self.s = text
        self.i = 0
        self.split = split

    def parse(self) -> list[_Seq]:
        parts: list[_Seq] = []
        while True:
            parts.append(self._seq(0))
            if self.i < len(self.s) and self.s[self.i] == ";":
                self.i += 1
                continue
            return [p for p in parts if not p.is_empty]

    def _seq(self, depth: int) -> _Seq:
        s, n = self.s, len(self.s)
        items: list[_Literal | _Group] = []
        buf: list[str] = []

        def flush() -> None:
            if buf:
                items.append(_Literal("".join(buf)))
                buf.clear()

        while self.i < n:
            c = s[self.i]
            if c == "\\" and self.i + 1 < n and s[self.i + 1] in _ESCAPABLE:
                buf.append(s[self.i + 1])
                self.i += 2
                continue
            if c == "{":
                flush()
                items.append(self._group(depth + 1))
                continue
            if depth > 0 and c in ",}":
                break
            if c == "}":
                raise _unmatched("}", self.i, self.s)
            if depth == 0 and c == ";" and self.split:
                break
            buf.append(c)
            self.i += 1
        flush()
        return _strip_seq(items)

    def _group(self, depth: int) -> _Group:
        start = self.i
        if depth > _MAX_DEPTH:
            raise UsageError(f"prompt nests braces deeper than {_MAX_DEPTH} levels: simplify it")
        self.i += 1  # the "{"
        options: list[_Seq] = []
        while True:
            options.append(self._seq(depth))
            if self.i >= len(self.s):
                raise _unmatched("{", start, self.s)
            closing = self.s[self.i]
            self.i += 1
            if closing == "}":
                break
        if len(options) > 1 and options[-1].is_empty:
            options.pop()
        return _Group(tuple(options))


def _unmatched(brace: str, index: int, text: str) -> UsageError:
    """An unmatched ``{`` or ``}`` at ``index``: where it is, and the escape for a literal."""
    fix = "close it with '}'" if brace == "{" else "add the '{' it closes"
    return UsageError(
        f"unmatched {brace!r} at character {index + 1} (1-based) of prompt "
        f"{_short(text)!r}: {fix} or escape it as \\{brace} for a literal brace"
    )


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _count(node: _Seq | _Group | _Literal) -> int:
    if isinstance(node, _Literal):
        return 1
    if isinstance(node, _Group):
        return sum(_count(o) for o in node.options)
    return math.prod(_count(item) for item in node.items)


def _expand(node: _Seq | _Group | _Literal) -> Iterator[str]:
    if isinstance(node, _Literal):
        yield node.text
    elif isinstance(node, _Group):
        for option in node.options:
            if option.is_empty:
                yield _EMPTY
            else:
                yield from _expand(option)
    else:
        # Materialise each item's (bounded) options so product can iterate them repeatedly.
        choices = [list(_expand(item)) for item in node.items]
        for combo in itertools.product(*choices):
            yield "".join(combo)


def _finish(text: str) -> str:
    """Collapse whitespace around empty options and strip the result."""

    def repl(m: re.Match[str]) -> str:
        left, right = m.group(1), m.group(2)
        return left if left and right else left + right

    return _EMPTY_RE.sub(repl, text).strip()


def _parse_all(prompts: str | Sequence[str]) -> list[_Seq]:
    if isinstance(prompts, str):
        return _Parser(prompts, split=True).parse()
    trees: list[_Seq] = []
    for item in prompts:
        if not isinstance(item, str):
            raise UsageError(f"prompts must be strings, got {type(item).__name__}: {item!r}")
        tree = _Parser(item, split=False).parse()
        trees.extend(tree)
    return trees


def count_expansions(prompts: str | Sequence[str]) -> int:
    """How many prompts :func:`expand_prompts` would produce, without expanding them."""
    return sum(_count(tree) for tree in _parse_all(prompts))


def expand_prompts(
    prompts: str | Sequence[str], *, limit: int = DEFAULT_EXPANSION_LIMIT
) -> list[str]:
    """Expand the prompt grammar (module docstring) into the list of prompts to run, in order."""
    trees = _parse_all(prompts)
    total = sum(_count(tree) for tree in trees)
    if total > limit:
        raise UsageError(
            f"prompt expands to {total} prompts, more than the limit of {limit}: "
            "use fewer {...} options or raise the limit"
        )
    return [_finish(text) for tree in trees for text in _expand(tree)]


def normalize_prompts(
    prompts: str | Sequence[str], *, limit: int = DEFAULT_EXPANSION_LIMIT
) -> list[str]:
    """The README's name for :func:`expand_prompts`: the prompts to run, in order."""
    return expand_prompts(prompts, limit=limit)


# --- Midjourney ---------------------------------------------------------------------------

#: Parameters that map onto request fields.
_MAPPED = frozenset({"ar", "aspect", "no", "seed"})
#: Midjourney parameters with no equivalent here: dropped from the prompt, with a warning.
_KNOWN_UNMAPPED = frozenset(
    {
        "stylize", "s", "chaos", "c", "quality", "q", "v", "version", "niji", "style", "tile",
        "iw", "weird", "w", "stop", "repeat", "r", "raw", "sref", "cref", "sw", "cw", "sv",
        "p", "personalize", "fast", "relax", "turbo", "draft", "exp", "video", "hd",
        "uplight", "upbeta", "sameseed", "test", "testp",
    }
)  # fmt: skip
_FLAG_RE = re.compile(r"(?:^|(?<=\s))(?:--|—)([A-Za-z][\w-]*)(?=\s|$)")
_IMAGE_URL_RE = re.compile(
    r"https?://\S+?\.(?:png|jpe?g|gif|webp|bmp|tiff?|avif|heic)(?:[?#]\S*)?", re.IGNORECASE
)
_WEIGHT_RE = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))")
#: A multi-prompt separator: ``::`` right after a letter and before a space, the end or a
#: weight (``cat::2 dog``); never inside a word (``std::vector``), after a digit (``10::30``,
#: ``fe80::1``) or standing alone (``f :: Int``), so ordinary text is left alone.
_SEPARATOR_RE = re.compile(r"(?<=[^\W\d])::(?=\s|$|[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:\s|$))")
_AR_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class MidjourneyPrompt:
    """A prompt split into Midjourney parts; see :func:`parse_midjourney` for the rules."""

    text: str
    params: dict[str, str | None] = field(default_factory=dict)
    weights: list[tuple[str, float]] = field(default_factory=list)
    image_urls: list[str] = field(default_factory=list)
    aspect_ratio: str | None = None
    negative: str | None = None
    seed: int | None = None
    warnings: list[str] = field(default_factory=list)


def _split_weights(text: str) -> list[tuple[str, float]]:
    """``a::2 b::0.5 c`` -> [(a, 2), (b, 0.5), (c, 1)]; the number after ``::`` weighs the
    part before it, as in Midjourney."""
    pieces = _SEPARATOR_RE.split(text)
    result: list[tuple[str, float]] = []
    current = pieces[0].strip()
    for piece in pieces[1:]:
        match = _WEIGHT_RE.match(piece)
        weight = float(match.group(1)) if match else 1.0
        if current:
            result.append((current, weight))
        current = (piece[match.end() :] if match else piece).strip()
    if current:
        result.append((current, 1.0))
    return result


def parse_midjourney(prompt: str) -> MidjourneyPrompt:
    """Split a Midjourney-style prompt into text, parameters, weights and image URLs.

    Rules:

    * Parameters are ``--name value`` tokens (an em dash ``—name`` counts too, as Midjourney
      accepts). A value runs to the next parameter; a parameter followed by another one or by
      nothing has the value None. Everything from the first parameter on is parameter territory,
      as in Midjourney. ``params`` holds every parameter by lower-cased name (the last wins).
    * Leading ``http(s)`` tokens ending in an image extension are ``image_urls``.
    * ``text::weight`` multi-prompts give ``weights`` in order; a last part without a weight gets
      1.0. A prompt without ``::`` has no weights. ``text`` keeps the ``::`` markers.
    * ``--ar W:H`` / ``--aspect W:H`` -> ``aspect_ratio``; ``--no a, b`` -> ``negative`` (several
      ``--no`` are joined with ``", "``); ``--seed N`` -> ``seed``. A bad value for these is a
      :class:`UsageError`.
    * Other known Midjourney parameters (``--stylize``, ``--chaos``, ``--v``...) mean nothing to
      other providers: they are dropped from ``text`` with a warning. Unknown parameters stay at
      the end of ``text`` (they may be ordinary words) and produce a warning.
    """
    first = _FLAG_RE.search(prompt)
    body = prompt[: first.start()] if first else prompt
    param_area = prompt[first.start() :] if first else ""

    image_urls: list[str] = []
    body = body.strip()
    while True:
        match = _IMAGE_URL_RE.match(body)
        if not match or (match.end() < len(body) and not body[match.end()].isspace()):
            break
        image_urls.append(match.group(0))
        body = body[match.end() :].lstrip()

    params: dict[str, str | None] = {}
    warnings: list[str] = []
    kept: list[str] = []
    negatives: list[str] = []
    aspect_ratio: str | None = None
    seed: int | None = None
    flags = list(_FLAG_RE.finditer(param_area))
    for n, flag in enumerate(flags):
        end = flags[n + 1].start() if n + 1 < len(flags) else len(param_area)
        raw = param_area[flag.start() : end].strip()
        value = param_area[flag.end() : end].strip() or None
        name = flag.group(1).lower()
        params[name] = value
        if name in ("ar", "aspect"):
            m = _AR_RE.match(value or "")
            if not m or float(m.group(1)) <= 0 or float(m.group(2)) <= 0:
                raise UsageError(f"invalid --{name} {value!r}: use WIDTH:HEIGHT such as 16:9")
            aspect_ratio = f"{m.group(1)}:{m.group(2)}"
        elif name == "no":
            if value:
                negatives.append(value)
            else:
                warnings.append("--no has no value and was ignored")
        elif name == "seed":
            if value is None or not re.fullmatch(r"\d+", value):
                raise UsageError(f"invalid --seed {value!r}: use a whole number such as 42")
            seed = int(value)
        elif name in _KNOWN_UNMAPPED:
            warnings.append(f"--{name} is a Midjourney parameter not used here; it was dropped")
        else:
            kept.append(raw)
            warnings.append(f"--{name} is not a known parameter; it stays in the prompt")

    text = " ".join([body, *kept]).strip() if kept else body
    return MidjourneyPrompt(
        text=text,
        params=params,
        weights=_split_weights(body) if _SEPARATOR_RE.search(body) else [],
        image_urls=image_urls,
        aspect_ratio=aspect_ratio,
        negative=", ".join(negatives) or None,
        seed=seed,
        warnings=warnings,
    )


def apply_midjourney(prompt: str) -> tuple[str, dict[str, Any], list[str]]:
    """The prompt cleaned for a non-Midjourney provider, the request fields it sets, and warnings.

    The fields dict holds only the keys found among ``aspect_ratio``, ``negative_prompt`` and
    ``seed``. Multi-prompt weights become a comma-separated prompt: parts with a positive weight
    stay, parts with a weight <= 0 join the negative prompt (Midjourney's ``--no`` is ``::-0.5``).
    Image URLs are removed from the prompt; read them with :func:`parse_midjourney`.
    """
    parsed = parse_midjourney(prompt)
    text = parsed.text
    negatives = [parsed.negative] if parsed.negative else []
    if parsed.weights:
        body = ", ".join(part for part, weight in parsed.weights if weight > 0)
        negatives.extend(part for part, weight in parsed.weights if weight <= 0)
        kept = _FLAG_RE.search(text)  # unknown parameters, which stay in the prompt
        text = f"{body} {text[kept.start() :]}".strip() if kept else body
        extra_warnings = [f"multi-prompt weights are not sent to providers; the prompt is {body!r}"]
    else:
        extra_warnings = []
    fields: dict[str, Any] = {}
    if parsed.aspect_ratio is not None:
        fields["aspect_ratio"] = parsed.aspect_ratio
    if negatives:
        fields["negative_prompt"] = ", ".join(negatives)
    if parsed.seed is not None:
        fields["seed"] = parsed.seed
    return text, fields, [*parsed.warnings, *extra_warnings]


def apply_prompt_parameters(request: Any, fields: frozenset[str]) -> tuple[Any, list[str]]:
    """A request with the Midjourney-style parameters of its prompt turned into request fields,
    and the warnings. ``fields`` are the request fields the provider honours: ``--ar W:H``
    becomes the aspect ratio where the provider takes one, else a size of about a megapixel;
    ``--no`` joins the negative prompt; ``--seed`` sets the seed (the prompt's own values win
    over flags, so ``"{--ar 1:1,--ar 16:9}"`` permutations work). A prompt without ``--`` or
    ``::`` is returned as it is."""
    prompt = getattr(request, "prompt", None)
    if not prompt or not (_FLAG_RE.search(prompt) or _SEPARATOR_RE.search(prompt)):
        return request, []
    from twat_genai.core.sizes import size_for_aspect_ratio

    text, found, warnings = apply_midjourney(prompt)
    urls = parse_midjourney(prompt).image_urls
    if urls:
        warnings.append(
            f"image URLs in the prompt are not used ({', '.join(urls)}): pass --input_image"
        )
    known = type(request).model_fields  # a video request has no size, for one
    update: dict[str, Any] = {"prompt": text}
    if "negative_prompt" in found and "negative_prompt" in known:
        earlier = getattr(request, "negative_prompt", None)
        update["negative_prompt"] = ", ".join(x for x in (earlier, found["negative_prompt"]) if x)
    if "seed" in found and "seed" in known:
        update["seed"] = found["seed"]
    for name in ("negative_prompt", "seed"):
        if name in found and name not in known:
            warnings.append(f"--{'no' if name == 'negative_prompt' else name} is not used here")
    if "aspect_ratio" in found:
        ratio = found["aspect_ratio"]
        if "aspect_ratio" in fields and "aspect_ratio" in known:
            update.update(aspect_ratio=ratio, size=None, size_preset=None)
        elif "size" in fields and "size" in known:
            update.update(size=size_for_aspect_ratio(ratio), size_preset=None, aspect_ratio=None)
        else:
            warnings.append(f"--ar {ratio} is not used here: this command sets its own size")
    return request.model_copy(update=update), warnings
