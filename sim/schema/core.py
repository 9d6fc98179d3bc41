"""The schema's foundation: the strict base model and the registry that makes a mechanism one class.

Every pluggable mechanism (an arrival process, a job kind, an ask policy, a market, an emission
schedule, a token price model, a reward rule, a distribution) belongs to a family: one base class
holding a ``Registry``. A subclass with a ``kind`` literal registers itself when it is defined, and the
family's discriminated union, the description of the field that holds it and every list of its kinds
are read from the registry. Adding a mechanism is therefore one class in its family's module (defined
before the module builds its union at the bottom); nothing else lists it.

Behaviour that differs between the members of a family is a method on the base class with a default
(an emission's burn share, whether a price model is endogenous, how a market settles a lease), so the
model never tests a family member's type or kind.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ..catalog import gpu_catalog


class StrictModel(BaseModel):
    """Frozen, and unknown keys are errors: a typo in a scenario must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def default_kind(kind: str, key: str = "kind") -> BeforeValidator:
    """For a family with a usual choice: a mapping without ``key`` (``kind``) means that choice."""

    def fill(value: Any) -> Any:
        if isinstance(value, dict) and key not in value:
            return {key: kind, **value}
        return value

    return BeforeValidator(fill)


class Registry:
    """The members of one mechanism family, by their YAML ``kind``, in the order they were defined."""

    every: ClassVar[list[Registry]] = []

    def __init__(self, family: str, default: str | None = None, key: str = "kind") -> None:
        """``family`` names it in messages; ``default``: the kind a mapping without ``key`` means; ``key``:
        the field that names a member (``kind``; provider groups are told apart by their ``resource``)."""
        self.family = family
        self.default = default
        self.key = key
        self._classes: dict[str, type[Mechanism]] = {}
        Registry.every.append(self)

    def add(self, cls: type[Mechanism]) -> None:
        kind = kind_of(cls, self.key)
        if kind in self._classes:
            raise TypeError(f"{self.family} kind {kind!r} is defined twice ({self._classes[kind].__name__}, "
                            f"{cls.__name__})")
        self._classes[kind] = cls

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self._classes)

    @property
    def classes(self) -> tuple[type[Mechanism], ...]:
        return tuple(self._classes.values())

    def __getitem__(self, kind: str) -> type[Mechanism]:
        return self._classes[kind]

    def union(self) -> Any:
        """The annotation of a field holding one member: a union discriminated by ``kind``."""
        members = self.classes
        if not members:
            raise TypeError(f"the {self.family} family has no members")
        annotation: Any = members[0] if len(members) == 1 else Union[members]  # noqa: UP007 - built at run time
        extras: list[Any] = [Field(discriminator=self.key)]
        if self.default is not None:
            extras.append(default_kind(self.default, self.key))
        return Annotated[(annotation, *extras)]

    def describe(self) -> str:
        """'kind: a, b or c', for field descriptions."""
        kinds = self.kinds
        listed = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} or {kinds[-1]}"
        return f"{self.key}: {listed}" + (f"; default {self.default}" if self.default else "")

    def examples(self, kind: str) -> list[dict[str, Any]]:
        """The examples a member documents in its JSON Schema (``{"kind": kind}`` if it needs no fields)."""
        extra = self._classes[kind].model_config.get("json_schema_extra") or {}
        examples = extra.get("examples") if isinstance(extra, dict) else None
        return [dict(e) for e in examples] if examples else [{self.key: kind}]


class Mechanism(StrictModel):
    """Base of every family base class. A family base sets ``registry``; a subclass that fixes ``kind``
    to a literal is a member and registers itself once pydantic has built it."""

    registry: ClassVar[Registry]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        registry = getattr(cls, "registry", None)  # None: a mix-in under no family yet
        if "registry" not in cls.__dict__ and registry is not None and kind_of(cls, registry.key) is not None:
            registry.add(cls)


def kind_of(cls: type[StrictModel], key: str = "kind") -> Any:
    """The ``key`` (``kind``) literal a class fixes, or None for a family base or a mix-in."""
    field = cls.model_fields.get(key)
    if field is None or get_origin(field.annotation) is not Literal:
        return None
    (kind,) = get_args(field.annotation)
    return kind


def examples(*items: dict[str, Any]) -> ConfigDict:
    """A member's examples, shown in the JSON Schema and run by the registry test."""
    return ConfigDict(json_schema_extra={"examples": list(items)})


def check_gpu_models(names: list[str] | tuple[str, ...], what: str) -> None:
    known = gpu_catalog().models
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown GPU model(s) {', '.join(unknown)} in {what}; allowed: {', '.join(known)}")
