"""Reading scenario files: YAML with line numbers, ``--set`` overrides, and one-paragraph errors.

Validation itself is pydantic's; this module only turns its error locations back into what the
analyst wrote: the file, the YAML line, the dotted field path, the field's meaning and what it allows.
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from .errors import InputError
from .schema import Registry, Scenario
from .schema.core import kind_of

M = TypeVar("M", bound=BaseModel)

MAX_REPORTED = 4


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Read, override and validate a scenario file; raise InputError with one paragraph on bad input."""
    text = _read_text(path, "Scenario", "scenarios/baseline.yaml")
    return parse_scenario(text, str(path), overrides, base_dir=Path(path).parent)


def parse_scenario(text: str, source: str = "<string>", overrides: Sequence[str] = (),
                   base_dir: str | Path = ".") -> Scenario:
    """Validate scenario YAML text; ``source`` names it in error messages, ``base_dir`` anchors the
    relative paths it contains (a price CSV)."""
    return scenario_factory(text, source, base_dir)(overrides)


def scenario_factory(text: str, source: str = "<string>",
                     base_dir: str | Path = ".") -> Callable[[Sequence[str]], Scenario]:
    """Parse scenario text once; the returned function validates it under a set of overrides. A sweep
    makes hundreds of variants of one file, and parsing the YAML is ten times the cost of validating."""
    doc = _parse_doc(text, source, "scenario")

    def make(overrides: Sequence[str] = ()) -> Scenario:
        variant = copy.deepcopy(doc) if overrides else doc
        set_paths = [_apply_override(variant, item, source) for item in overrides]
        try:
            return Scenario.model_validate(_plain(variant), context={"base_dir": str(base_dir)})
        except ValidationError as exc:
            raise InputError(_explain(exc, variant, source, set_paths)) from None

    return make


def load_input(path: str | Path, model: type[M], what: str, example: str) -> M:
    """Another YAML input file (a sweep spec): read and validated with the scenario's messages; ``what``
    names the kind of file and ``example`` a path that would do."""
    text = _read_text(path, what.capitalize(), example)
    doc = _parse_doc(text, str(path), what)
    try:
        return model.model_validate(_plain(doc), context={"base_dir": str(Path(path).parent)})
    except ValidationError as exc:
        raise InputError(_explain(exc, doc, str(path), [], model, what)) from None


def _read_text(path: str | Path, what: str, example: str) -> str:
    source, p = str(path), Path(path)
    if not p.exists():
        raise InputError(f"{what} file {source} does not exist. Give the path of a YAML {what.lower()} file, "
                         f"for example {example}.")
    if not p.is_file():
        raise InputError(f"{what} path {source} is not a file. Give the path of a YAML {what.lower()} file.")
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} file {source} cannot be read as UTF-8 text ({exc}).") from None


def _parse_doc(text: str, source: str, what: str) -> CommentedMap:
    try:
        doc = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "syntax error"
        raise InputError(f"{source}{line}: not valid YAML ({problem}). A {what} is a YAML mapping of "
                         "fields; check indentation, colons and quoting there.") from None
    except YAMLError as exc:
        raise InputError(f"{source}: not valid YAML ({exc}).") from None
    if not isinstance(doc, dict):
        fields = " (name, providers, workload, ...)" if what == "scenario" else ""
        raise InputError(f"{source}: the top level must be a mapping of {what} fields{fields}, not "
                         f"{type(doc).__name__}." + (" Run `depinsim schema` for the fields." if fields else ""))
    return doc


def _plain(node: Any) -> Any:
    """ruamel's round-trip containers as plain dicts and lists (pydantic wants plain data)."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


# --- overrides ------------------------------------------------------------------------------------


def parse_override(item: str) -> tuple[tuple[str, ...], Any]:
    """``path.to.field=value`` as the path's keys and the value read as YAML (``3`` an int, ``{1: 0.5}`` a
    mapping, anything unreadable the text itself)."""
    if "=" not in item:
        raise InputError(f"--set expects path.to.field=value (for example seed=7 or "
                         f"tokenomics.emission.tokens_per_day=0), got {item!r}.")
    dotted, raw = item.split("=", 1)
    keys = tuple(k for k in dotted.strip().split("."))
    if not dotted.strip() or any(not k for k in keys):
        raise InputError(f"--set {item!r}: the field path is empty or has an empty part.")
    try:
        value = YAML(typ="safe").load(raw) if raw.strip() else ""
    except YAMLError:
        value = raw
    return keys, value


def _apply_override(doc: CommentedMap, item: str, source: str) -> tuple[str, ...]:
    keys, value = parse_override(item)
    node: Any = doc
    resolved: list[str] = []  # the path with list items by position, as validation errors give it
    for depth, key in enumerate(keys[:-1]):
        node, at = _child(node, key, keys[: depth + 1], item, create=True)
        resolved.append(at)
    last = keys[-1]
    if isinstance(node, list):
        index = _index(node, last, keys, item)
        node[index] = value
        last = str(index)
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise InputError(f"--set {item!r}: {'.'.join(keys[:-1])} in {source} is a single value, not a mapping.")
    return (*resolved, last)


def _child(node: Any, key: str, path: tuple[str, ...], item: str, *, create: bool) -> tuple[Any, str]:
    """The child ``key`` names and its key as validation errors give it (a list item's position)."""
    if isinstance(node, list):
        index = _index(node, key, path, item)
        return node[index], str(index)
    if isinstance(node, dict):
        if key not in node and create:
            node[key] = CommentedMap()
        return node[key], key
    raise InputError(f"--set {item!r}: {'.'.join(path[:-1])} is a single value, so it has no field {key!r}.")


def _index(node: list, key: str, path: tuple[str, ...], item: str) -> int:
    """A list item by position or, for a list of named items (provider groups, job streams), by its
    ``name``: a name stays right when the file's groups are reordered, a position does not."""
    if key.isdigit() and int(key) < len(node):
        return int(key)
    names = [child.get("name") for child in node if isinstance(child, dict)]
    if key in names:
        return names.index(key)
    where = ".".join(path[:-1]) or "the top level"
    named = [str(n) for n in names if n is not None]
    by_name = f" or one of its items' names ({', '.join(named)})" if named else ""
    raise InputError(f"--set {item!r}: {key!r} is not an item of {where}; give an index 0..{len(node) - 1}"
                     f"{by_name}.")


# --- error messages -------------------------------------------------------------------------------


def _kinds() -> set[str]:
    """Every ``kind`` tag of every mechanism family; pydantic puts the tag into error locations of unions."""
    return {kind for registry in Registry.every for kind in registry.kinds}


def _explain(exc: ValidationError, doc: CommentedMap, source: str, set_paths: list[tuple[str, ...]],
             root: type[BaseModel] | None = None, what: str = "scenario") -> str:
    """One paragraph for a validation error of ``root`` (the Scenario, or another input file's model)."""
    root = root or Scenario
    tags = _kinds()
    errors = exc.errors(include_url=False)
    # a list whose only items failed is also "too short": say what is wrong with the items alone
    errors = [e for e in errors if not (e["type"] == "too_short" and any(
        len(o["loc"]) > len(e["loc"]) and o["loc"][:len(e["loc"])] == e["loc"] for o in errors))]
    sentences = []
    for err in errors[:MAX_REPORTED]:
        path, line, model_path = _locate(doc, err["loc"], tags)
        dotted = ".".join(path) or "(top level)"
        from_cli = any(tuple(path[: len(p)]) == p for p in set_paths)
        where = " (set with --set)" if from_cli else (f" (line {line})" if line else "")
        sentences.append(f"{dotted}{where}: {_message(err, model_path, root)}")
    more = len(errors) - MAX_REPORTED
    tail = f" ({more} more problem{'s' if more > 1 else ''} not shown.)" if more > 0 else ""
    return (f"Invalid {what} {source}: " + "; ".join(sentences) + "." + tail +
            " Run `depinsim schema` for every field, its unit and what it allows.")


def _locate(doc: Any, loc: Iterable[Any], tags: set[str]) -> tuple[list[str], int | None, list[Any]]:
    """The user's dotted path, the YAML line, and the path with union tags (for the schema walk)."""
    node, line = doc, None
    path: list[str] = []
    model_path: list[Any] = []
    for el in loc:
        if el == "[key]":  # pydantic marks a bad mapping key this way
            continue
        if isinstance(el, str) and el in tags and not (isinstance(node, dict) and el in node):
            model_path.append(("tag", el))
            continue
        model_path.append(el)
        path.append(str(el))
        if isinstance(node, dict) and el in node:
            line = _line(node, el, line)
            node = node[el]
        elif isinstance(node, list) and isinstance(el, int) and 0 <= el < len(node):
            line = _line(node, el, line)
            node = node[el]
        else:
            node = None
    return path, line, model_path


def _line(node: Any, key: Any, default: int | None) -> int | None:
    """1-based YAML line of a key or item; keys added by --set have none."""
    try:
        if isinstance(node, CommentedMap):
            return node.lc.key(key)[0] + 1
        if isinstance(node, CommentedSeq):
            return node.lc.item(key)[0] + 1
    except (KeyError, IndexError, TypeError):
        pass
    return default


def _message(err: dict[str, Any], model_path: list[Any], root: type[BaseModel]) -> str:
    kind = err["type"]
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if kind == "extra_forbidden":
        parent = _model_at(model_path[:-1], root)
        allowed = ", ".join(parent.model_fields) if parent else "see `depinsim schema`"
        return f"unknown field {model_path[-1]!r}; allowed here: {allowed}"
    if kind == "missing":
        parent = _model_at(model_path[:-1], root)
        return "required field is missing" + _describe(parent, model_path[-1])
    if kind == "union_tag_not_found":
        return f"missing 'kind' (which mechanism this is); {_kinds_allowed(model_path, root)}"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        key = str(ctx.get("discriminator", "kind")).strip("'")
        return f"unknown {key} {err['input'].get(key)!r}; allowed: {ctx.get('expected_tags', '')}"
    value = err.get("input")
    got = f" (got {value!r})" if isinstance(value, (int, float, str, bool)) or value is None else ""
    fields = [i for i, el in enumerate(model_path) if isinstance(el, str)]
    if not fields:
        return f"{msg}{got}"
    last = fields[-1]
    return f"{msg}{got}" + _describe(_model_at(model_path[:last], root), model_path[last])


def _kinds_allowed(model_path: list[Any], root: type[BaseModel]) -> str:
    parent = _model_at([p for p in model_path[:-1] if not isinstance(p, tuple)], root) if model_path else None
    field = model_path[-1] if model_path else None
    if parent is None or not isinstance(field, str) or field not in parent.model_fields:
        return "see `depinsim schema`"
    kinds = [c.model_fields["kind"].default for c in _candidates(parent.model_fields[field].annotation)
             if isinstance(c, type) and issubclass(c, BaseModel) and "kind" in c.model_fields]
    return "allowed kinds: " + ", ".join(repr(k) for k in kinds)


def _describe(model: type[BaseModel] | None, field: Any) -> str:
    if model is None or not isinstance(field, str) or field not in model.model_fields:
        return ""
    description = model.model_fields[field].description
    return f" (this field: {description.rstrip('.')})" if description else ""


def _model_at(model_path: list[Any], root: type[BaseModel]) -> type[BaseModel] | None:
    """The pydantic model class that a (tagged) error location points into, if any."""
    current: Any = root
    for el in model_path:
        if isinstance(el, tuple):  # a union tag picks the member
            current = _unwrap(current, el[1])
            continue
        model = _unwrap(current, None)
        if isinstance(el, int):
            current = model
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or el not in model.model_fields:
            return None
        current = model.model_fields[el].annotation
    result = _unwrap(current, None)
    return result if isinstance(result, type) and issubclass(result, BaseModel) else None


def _unwrap(annotation: Any, tag: str | None) -> Any:
    """Strip Annotated/Optional/tuple/union down to one model (chosen by tag when it is a union)."""
    candidates = [c for c in _candidates(annotation) if isinstance(c, type) and issubclass(c, BaseModel)]
    if tag is not None:
        tagged = [c for c in candidates if getattr(c, "registry", None) is not None
                  and kind_of(c, c.registry.key) == tag]
        candidates = tagged or candidates
    return candidates[0] if len(candidates) == 1 else annotation


def _candidates(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _candidates(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, tuple, list):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not Ellipsis and arg is not type(None):
                out.extend(_candidates(arg))
        return out
    return [annotation]
