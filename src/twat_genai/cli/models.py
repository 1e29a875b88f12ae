"""``twat-genai models``, ``aliases`` and ``list-providers``: what the catalog and the registry
hold, as text for people or JSON lines for scripts."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from twat_genai.cli import output
from twat_genai.core.errors import UsageError

if TYPE_CHECKING:
    from twat_genai.providers.catalog import ModelInfo


def model_record(info: ModelInfo) -> dict[str, Any]:
    """One catalog entry as JSON: what it is, what it takes, what it costs, where from."""
    price = info.price
    return {
        "id": info.id,
        "provider": info.provider,
        "ref": info.ref,
        "kind": info.kind,
        "title": info.title,
        "aliases": list(info.aliases),
        "fields": sorted(info.fields),
        "params": sorted(info.params),
        "inputs": dict(info.inputs),
        "max_images": info.max_images,
        "seed": info.seed,
        "price": None
        if price is None
        else {"usd": price.usd, "per": price.per, "notes": price.notes or None},
        "deprecated": info.deprecated,
        "retired": info.retired,
        "replacement": info.replacement,
        "source": info.source,
        "checked": info.checked,
        "unconfirmed": list(info.unconfirmed),
    }


def models(args: argparse.Namespace) -> int:
    from twat_genai.providers.catalog import KINDS
    from twat_genai.providers.registry import load_catalog, provider_names

    if args.provider and args.provider not in provider_names():
        raise UsageError(
            f"--provider: {args.provider!r} is not one of {', '.join(provider_names())}"
        )
    if args.kind and args.kind not in KINDS:
        raise UsageError(f"--kind: {args.kind!r} is not one of {', '.join(KINDS)}")
    entries = load_catalog().select(provider=args.provider, kind=args.kind)
    for info in entries:
        if info.retired and not args.all:
            continue
        if args.json:
            output.emit_json(model_record(info))
            continue
        price = info.price
        cost = "unknown"
        if price is not None and price.usd is not None:
            cost = f"${price.usd:g}/{price.per}"
        state = f"  retired {info.retired}" if info.retired else ""
        if info.deprecated and not info.retired:
            state = f"  deprecated {info.deprecated}"
        aka = f"  ({', '.join(info.aliases)})" if info.aliases else ""
        output.emit_line(f"{info.provider:<7} {info.id:<48} {info.kind:<18} {cost:<16}{aka}{state}")
    return 0


def aliases(args: argparse.Namespace) -> int:
    from twat_genai.providers.catalog import read_user_aliases, write_user_aliases
    from twat_genai.providers.registry import load_catalog, resolve_model

    if args.action == "set":
        if not (args.name and args.target):
            raise UsageError(
                "aliases set needs a name and a model: aliases set fast fal-ai/flux/schnell"
            )
        provider, model = resolve_model(args.target)  # refuses a model nothing can run
        mine = read_user_aliases()
        mine[args.name] = f"{provider}:{model}"
        path = write_user_aliases(mine)
        output.emit_line(f"{args.name} -> {provider}:{model} (saved in {path})")
        return 0
    if args.action == "remove":
        mine = read_user_aliases()
        if not args.name or args.name not in mine:
            raise UsageError(f"aliases remove: {args.name!r} is not one of your aliases")
        del mine[args.name]
        write_user_aliases(mine)
        return 0
    catalog = load_catalog()
    for name, target in sorted(catalog.aliases.items()):
        origin = "user" if name in catalog.user_aliases else "catalog"
        if args.json:
            output.emit_json({"alias": name, "target": target, "from": origin})
        else:
            output.emit_line(f"{name:<20} {target:<50} {origin}")
    return 0


def providers(args: argparse.Namespace) -> int:
    from twat_genai.core.settings import first_env, load_dotenv_once
    from twat_genai.providers.registry import get_provider_class, provider_names

    load_dotenv_once()
    for name in provider_names():
        cls = get_provider_class(name)
        key_set = first_env(cls.key_env) is not None if cls.key_env else True
        keys = " or ".join(cls.key_env) or "(no key)"
        row = {"name": name, "keys": list(cls.key_env), "key_set": key_set, "summary": cls.summary}
        if args.json:
            output.emit_json(row)
        else:
            state = "set" if key_set else "not set"
            output.emit_line(f"{name:<8} {keys:<34} {state:<8} {cls.summary}")
    return 0
