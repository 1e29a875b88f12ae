"""Seeing what you have: ``metadata``, ``loras``, ``sizes`` and ``keys``, as text for people or
one JSON object per line for scripts; and the user config file applied to every command."""

from __future__ import annotations

import argparse
import errno
import json
import os
from pathlib import Path
from typing import Any

from twat_genai.cli import output
from twat_genai.core.errors import UsageError

#: Longest text shown per entry without ``--json`` (ComfyUI workflows run to hundreds of KB).
_TEXT_PREVIEW = 2000
#: Formats :func:`twat_genai.core.embed.has_content_credentials` can check.
_C2PA_FORMATS = ("image/png", "image/jpeg", "image/webp")
#: Commands that build no provider: they skip importing the providers (~0.2 s) to learn which
#: variable each of the config file's keys goes in. Any other command gets the keys.
_KEYLESS = frozenset({"version", "sizes", "loras", "metadata", "gallery", "emulator"})


# --------------------------------------------------------------------------- config file


def apply_user_config(args: argparse.Namespace) -> None:
    """Fill what the command line left unset from the user's config file, and put its keys into
    the environment where none is set (flags > environment > file > built-in defaults).

    ``generate`` takes the file's provider and model only when the command line names neither
    (and no ``--batch``, whose lines name their models): a provider from the file next to a
    model from the flags could send one provider's model to another.
    """
    from twat_genai.core import userconfig

    userconfig.remember_environment()
    config = userconfig.load_user_config()
    for name in ("output_dir", "concurrency"):
        unset = hasattr(args, name) and getattr(args, name) is None  # a command with the flag
        if unset and getattr(config, name) is not None:
            setattr(args, name, getattr(config, name))
    named = args.command != "generate" or args.model or args.provider or args.batch
    if not named and (config.model or config.provider):
        _check_provider(config.provider, config.path)
        args.model, args.provider = config.model, config.provider
    if config.keys and args.command in _KEYLESS:
        from twat_genai.core.redact import register_secret

        for key in config.keys.values():
            register_secret(key)
    elif config.keys:
        from twat_genai.providers.registry import get_provider_class

        for provider in config.keys:
            _check_provider(provider, config.path, where=f"[keys] {provider}")
        key_env = {p: get_provider_class(p).key_env for p in config.keys}
        userconfig.apply_keys(config, key_env)


def _check_provider(name: str | None, path: Path, where: str = "provider") -> None:
    if name is None:
        return
    from twat_genai.providers.registry import provider_names

    names = provider_names()
    if name not in names:
        raise UsageError(f"config file {path}: {where}: {name!r} is not one of {', '.join(names)}")


# --------------------------------------------------------------------------- metadata


def metadata(args: argparse.Namespace) -> int:
    """Each file's embedded parameters, other tools' text, C2PA presence and sidecar. A file
    that cannot be read is one error line (exit 2); the others are still reported."""
    code = 0
    for name in args.files:
        try:
            report = file_report(Path(name))
        except OSError as exc:
            output.error(f"{name}: {_reason(exc)}")
            code = 2
            continue
        if args.json:
            output.emit_json(report)
        else:
            _print_report(report)
    return code


def _reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    return exc.strerror or str(exc)


def file_report(path: Path) -> dict[str, Any]:
    """What :func:`metadata` shows for one file, as JSON-ready data."""
    from twat_genai.core.embed import has_content_credentials, read_embedded_text, read_parameters
    from twat_genai.core.media import probe_size, sniff_media_type

    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
    with path.open("rb") as fh:
        head = fh.read(64)
        mime = sniff_media_type(head)
        # Only images are read whole: a video's metadata is its sidecar.
        data = head + fh.read() if mime and mime.startswith("image/") else head
    size: tuple[int, int] | None = None
    if mime and mime.startswith("image/"):
        try:
            size = probe_size(data)
        except UsageError:
            size = None  # a broken header: still report what can be read
    text = read_embedded_text(data) if mime else {}
    parameters = read_parameters(data) if mime else None
    if parameters is not None:  # shown parsed; the copy it was read from is not repeated
        text = {k: v for k, v in text.items() if not _holds_ours(k, v)}
    sidecar_path = path.with_suffix(".json")
    report: dict[str, Any] = {
        "file": str(path),
        "media_type": mime,
        "width": size[0] if size else None,
        "height": size[1] if size else None,
        "content_credentials": has_content_credentials(data) if mime in _C2PA_FORMATS else None,
        "parameters": parameters,
        "text": text,
        "sidecar": None,
        "sidecar_path": None,
    }
    if sidecar_path != path and sidecar_path.is_file():
        report["sidecar_path"] = str(sidecar_path)
        try:
            report["sidecar"] = json.loads(sidecar_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            report["sidecar_error"] = f"not valid JSON ({' '.join(str(exc).split())})"
        except OSError as exc:  # the file itself was readable: report it, not this error
            report["sidecar_error"] = f"cannot read it ({exc.strerror or exc})"
    return report


def _holds_ours(name: str, value: str) -> bool:
    """The entry :func:`~twat_genai.core.embed.embed_parameters` wrote (PNG ``parameters``,
    our XMP packet, or the JPEG comment used when a file already had XMP)."""
    if name == "XMP":
        return "<twat:parameters>" in value
    if name == "comment":
        return value.startswith("parameters: {")
    if name != "parameters":
        return False
    try:
        return isinstance(json.loads(value), dict)
    except ValueError:
        return False  # AUTOMATIC1111's text under the same keyword


def _print_report(report: dict[str, Any]) -> None:
    output.emit_line(report["file"])
    mime = report["media_type"]
    if mime is None:
        output.emit_line("  type: unknown (not an image or video: nothing embedded to read)")
    else:
        size = f" {report['width']}x{report['height']}" if report["width"] else ""
        output.emit_line(f"  type: {mime}{size}")
    credentials = report["content_credentials"]
    if credentials is not None:
        state = "yes (file left untouched)" if credentials else "no"
        output.emit_line(f"  content credentials (C2PA): {state}")
    if report["parameters"] is not None:
        shown = json.dumps(report["parameters"], ensure_ascii=False)
        output.emit_line(f"  embedded parameters: {shown}")
    elif mime in _C2PA_FORMATS:
        output.emit_line("  embedded parameters: none")
    for name, value in report["text"].items():
        output.emit_line(f"  text {name}: {_indent(_preview(value))}")
    if report["sidecar_path"] is None:
        output.emit_line("  sidecar: none")
    elif "sidecar_error" in report:
        output.emit_line(f"  sidecar: {report['sidecar_path']}: {report['sidecar_error']}")
    else:
        body = json.dumps(report["sidecar"], ensure_ascii=False, indent=2, default=str)
        output.emit_line(f"  sidecar: {report['sidecar_path']}\n{_indent(body, first=True)}")


def _preview(value: str) -> str:
    if len(value) <= _TEXT_PREVIEW:
        return value
    rest = len(value) - _TEXT_PREVIEW
    return f"{value[:_TEXT_PREVIEW]}… ({rest} more characters; --json shows all)"


def _indent(text: str, *, first: bool = False) -> str:
    pad = "    "
    lines = text.splitlines() or [""]
    return "\n".join((pad if first or i else "") + line for i, line in enumerate(lines))


# --------------------------------------------------------------------------- loras


def loras(args: argparse.Namespace) -> int:
    """The LoRA library: each trigger phrase, its records (url@scale) and the file it is from."""
    from twat_genai.core.lora import ENV_VAR, library_layers

    layers = library_layers()
    bundled = layers[0][1]
    user_label = "user"
    if len(layers) > 1:
        user_label = ENV_VAR if os.environ.get(ENV_VAR, "").strip() else "user"
    merged: dict[str, tuple[list[Any], Path | None]] = {}
    for origin, entries in layers:
        for key, records in entries.items():
            merged[key] = (records, origin)
    width = max((len(k) for k in merged), default=0)
    for key, (records, origin) in merged.items():
        source = "bundled" if origin is None else user_label
        replaces = origin is not None and key in bundled
        if args.json:
            output.emit_json(
                {
                    "trigger": key,
                    "records": [{"url": r.url, "scale": r.scale} for r in records],
                    "source": source,
                    "file": None if origin is None else str(origin),
                    "replaces_bundled": replaces,
                }
            )
            continue
        shown = ", ".join(f"{r.url}@{r.scale:g}" for r in records) or "(no LoRA)"
        where = "bundled" if origin is None else f"{source} {origin}"
        note = " (replaces the bundled entry)" if replaces else ""
        output.emit_line(f"{key:<{width}}  {shown}  [{where}]{note}")
    return 0


# --------------------------------------------------------------------------- sizes


def sizes(args: argparse.Namespace) -> int:
    """The ``--image_size`` presets with their pixels and the other name some accept."""
    from twat_genai.core.sizes import ImageSizes

    for preset in ImageSizes:
        pixels = f"{preset.width}x{preset.height}"
        also = None if preset.value == pixels else preset.value  # PORT's value is its pixels
        if args.json:
            row = {"name": preset.name, "width": preset.width, "height": preset.height}
            output.emit_json({**row, "also": also})
        else:
            output.emit_line(f"{preset.name:<6} {pixels:<10} {also or ''}".rstrip())
    return 0


# --------------------------------------------------------------------------- keys


def keys(args: argparse.Namespace) -> int:
    """Each provider's key, masked to its last 4 characters, and where it came from."""
    from twat_genai.core.userconfig import config_path, key_source, mask_key
    from twat_genai.providers.registry import get_provider_class, provider_names

    for name in provider_names():
        names = get_provider_class(name).key_env
        if not names:  # a provider that needs no key (local) has none to show
            continue
        found = key_source(names)
        row: dict[str, Any] = {"provider": name, "env": found[0] if found else None}
        if found is None:
            row.update(key=None, source=None, file=None)
        else:
            row.update(
                key=mask_key(os.environ[found[0]].strip()),
                source=found[1],
                file=None if found[2] is None else str(found[2]),
            )
        if args.json:
            row["env_names"] = list(names)
            output.emit_json(row)
            continue
        if not names:
            output.emit_line(f"{name:<8} (no key needed)")
        elif found is None:
            hint = f"set {' or '.join(names)}, or [keys] {name} in {config_path()}"
            output.emit_line(f"{name:<8} {names[0]:<18} {'not set':<9} ({hint})")
        else:
            where = found[1] if found[2] is None else f"{found[1]} {found[2]}"
            output.emit_line(f"{name:<8} {found[0]:<18} {row['key']:<9} {where}")
    return 0
