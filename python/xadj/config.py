"""One home for every setting: each job has a config dataclass whose fields carry their default,
help text and valid range; the CLI's options are derived from those fields (``add_arguments``),
and the same checks run when a config is built from Python (``check``).

A field is declared with :func:`setting`::

    lr: float = setting(5e-5, "Adam learning rate after warm-up", min=0.0, min_open=True)

Booleans become flags: ``--name`` when the default is False, ``--no-name`` when it is True
(``flag=`` names the option otherwise, e.g. ``--keep-identical`` for ``drop_identical=True``).
Nested config dataclasses are flattened into the parser (their fields keep their own names).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

# BCP-47 shape: a 2-3 letter language subtag, then optional script/region/variant subtags.
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    choices: Sequence[Any] | None = None,
    min: float | None = None,
    max: float | None = None,
    min_open: bool = False,
    flag: str | None = None,
    short: str | None = None,
    metavar: str | None = None,
    nargs: int | None = None,
    repeat: bool = False,
    required: bool = False,
    positional: bool = False,
    cli: bool = True,
) -> Any:
    """A config field with its default, help text and range (``min``/``max`` inclusive unless
    ``min_open``); ``cli=False`` keeps it out of the command line (set by the job itself).
    List fields take ``nargs`` values (default: one or more), or ``repeat`` the option."""
    metadata = {
        "help": help, "choices": tuple(choices) if choices else None, "min": min, "max": max,
        "min_open": min_open, "flag": flag, "short": short, "metavar": metavar, "cli": cli,
        "nargs": nargs, "repeat": repeat, "required": required, "positional": positional,
    }
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(base type, optional?) of ``X | None`` / ``Optional[X]`` annotations."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_value(name: str, value: Any, meta: typing.Mapping[str, Any]) -> None:
    """Raises ValueError when ``value`` is outside the field's choices or range."""
    if value is None:
        return
    choices = meta.get("choices")
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if choices and v not in choices:
            raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}, not {v!r}")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        low, high = meta.get("min"), meta.get("max")
        if low is not None and (v <= low if meta.get("min_open") else v < low):
            relation = ">" if meta.get("min_open") else ">="
            raise ValueError(f"{name} must be {relation} {low}, not {v}")
        if high is not None and v > high:
            raise ValueError(f"{name} must be <= {high}, not {v}")


def check(config: Any) -> None:
    """Checks every field of a config dataclass (and nested ones) against its declared range."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check(value)
        else:
            check_value(f.name, value, f.metadata)


def option_name(f: dataclasses.Field[Any]) -> str:
    """The command-line spelling of a field: ``--max-words``, ``--no-special-pairs``, ..."""
    if f.metadata.get("flag"):
        return str(f.metadata["flag"])
    name = f.name.replace("_", "-")
    if f.default is True:
        return f"--no-{name}"
    return f"--{name}"


def _arg_type(name: str, base: Any, meta: typing.Mapping[str, Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = base(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {base.__name__}, got {text!r}") from None
        try:
            check_value(name, value, {**meta, "choices": None})
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
        return value

    parse.__name__ = base.__name__  # argparse names the type in its messages
    return parse


def add_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    *,
    exclude: Sequence[str] = (),
) -> None:
    """Adds one option per CLI field of the config class ``cls``. Nested configs are flattened;
    a nested field named like an outer one shares its option (``--seed`` sets both)."""
    hints = _hints(cls)
    own = {f.name for f in dataclasses.fields(cls)}
    for f in dataclasses.fields(cls):
        if f.name in exclude or not f.metadata.get("cli", True):
            continue
        annotation = hints[f.name]
        base, optional = _unwrap(annotation)
        if dataclasses.is_dataclass(base):
            add_arguments(parser, base, exclude=(*exclude, *own))  # type: ignore[arg-type]
            continue
        meta = f.metadata
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        names = [option_name(f)] + ([meta["short"]] if meta.get("short") else [])
        # argparse expands %-formats in help texts: a literal % must be doubled
        help_text = (meta.get("help") or f.name.replace("_", " ")).replace("%", "%%")
        kwargs: dict[str, Any] = {"dest": f.name, "help": help_text}
        if meta.get("positional"):
            names, kwargs = [f.name], {"help": help_text}
        elif meta.get("required"):
            kwargs["required"] = True
        if base is bool:
            kwargs["action"] = "store_false" if default else "store_true"
            kwargs["default"] = default
        else:
            origin = typing.get_origin(base)
            if origin in (list, tuple):
                element = typing.get_args(base)[0]
                kwargs["type"] = _arg_type(f.name, element, meta)
                if meta.get("repeat"):
                    kwargs["action"] = "append"
                else:
                    kwargs["nargs"] = meta.get("nargs") or "+"
            elif origin is dict:
                raise TypeError(f"{cls.__name__}.{f.name}: dict settings need cli=False")
            else:
                kwargs["type"] = _arg_type(f.name, base, meta)
            if not meta.get("positional"):
                kwargs["default"] = default
            if meta.get("choices"):
                kwargs["choices"] = meta["choices"]
            if meta.get("metavar"):
                kwargs["metavar"] = meta["metavar"]
            if not (meta.get("required") or meta.get("positional") or "(default" in help_text):
                kwargs["help"] = f"{help_text} (default: {_show(default)})"
        parser.add_argument(*names, **kwargs)


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value)) or "none"
    return str(value)


def from_args(cls: type[T], args: argparse.Namespace, **overrides: Any) -> T:
    """Builds ``cls`` from parsed options (nested configs too); fields absent from ``args`` keep
    their defaults, ``overrides`` win over both."""
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in overrides:
            values[f.name] = overrides[f.name]
            continue
        base, _ = _unwrap(hints[f.name])
        if dataclasses.is_dataclass(base):
            values[f.name] = from_args(base, args)  # type: ignore[arg-type]
        elif hasattr(args, f.name) and f.init:
            value = getattr(args, f.name)
            values[f.name] = list(value) if isinstance(value, tuple) else value
    return cls(**values)



def differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """``name: old -> new`` for every setting that differs between two config dicts."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def validate_language(code: str) -> str:
    """A language code safe to use as a directory name: a valid BCP-47 tag whose subtags are in
    the IANA registry (``es``, ``pt-BR``, ``qaa`` for local use), checked by ``langcodes``."""
    import langcodes

    if not isinstance(code, str) or not LANGUAGE_CODE.match(code) or not langcodes.tag_is_valid(
            code):
        raise ValueError(f"invalid language code {code!r}: expected a registered BCP-47 code "
                         f"such as es, ru, vi, hi, pt-BR (qaa-qtz for a local or made-up language)")
    return code
