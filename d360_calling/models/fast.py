"""Structure functions generated per model, which build it from JSON through its slots.

For the package's frozen, slotted models whose every field comes from a hook whose output the
model's construction check would pass on unchanged (`_fast_eligible`), the converter generates
a function that takes each field's value from that same hook and stores it without running
`__init__`, whose checks would only re-check the converter's own output.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import attrs
from cattrs import BaseConverter
from cattrs.gen import make_dict_structure_fn
from cattrs.preconf.json import JsonConverter

from .enums import OpenEnum
from .hooks import (
    _is_homogeneous_tuple,
    _structure_bool,
    _structure_datetime,
    _structure_open_enum,
)

_PLAIN_LEAVES = (str, int, bool, datetime, date)
"""Field types whose converter hook gives a value the model's construction check passes on
unchanged (`models.checks`): `str(...)`, `int(...)`, a real `bool`, an aware UTC datetime, a
date."""


def _check_free(annotation: Any, *, in_tuple: bool = False) -> bool:
    """Whether what the converter builds for `annotation` always passes the construction check
    unchanged, so running the check again can be skipped. Not for `dict` or `Any` fields (their
    checks copy the value and bound its nesting) nor tuples of ints (rebuilt by the check)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, UnionType):
        inner = [arg for arg in args if arg is not NoneType]
        return len(args) == 2 and len(inner) == 1 and _check_free(inner[0], in_tuple=in_tuple)
    if origin is tuple:
        return (
            not in_tuple
            and len(args) == 2
            and args[1] is Ellipsis
            and (_check_free(args[0], in_tuple=True))
        )
    if not isinstance(annotation, type):
        return False
    if issubclass(annotation, OpenEnum) or attrs.has(annotation):
        return True
    if in_tuple:
        return annotation in (str, datetime, date)
    return annotation in _PLAIN_LEAVES


def _fast_eligible(cls: Any) -> bool:
    """A frozen, slotted model of this package whose fields are all `_check_free`: it can be
    built from JSON without `__init__` (whose converters would only check the converter's own
    output again). Anything with a post-init, validators or other attrs machinery is not."""
    if not (isinstance(cls, type) and attrs.has(cls)) or not cls.__module__.startswith(
        __name__.rpartition(".")[0]
    ):
        return False
    if "__slots__" not in cls.__dict__ or cls.__setattr__ is object.__setattr__:
        return False  # not slotted, or not frozen: leave it to cattrs
    if any(hasattr(cls, hook) for hook in ("__attrs_post_init__", "__attrs_pre_init__")):
        return False
    hints = get_type_hints(cls)
    for field in attrs.fields(cls):
        if not field.init or field.validator is not None or field.alias != field.name:
            return False
        if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            return False
        if not _check_free(hints[field.name]):
            return False
    return True


class FastHooks:
    """The generated structure functions of one converter (the fast one: the detailed one used
    by `explain` keeps cattrs' own functions and their error notes)."""

    def __init__(self, converter: JsonConverter) -> None:
        self.converter = converter

    def fast_attrs(
        self, cls: type, aliases: Mapping[str, str] | None = None
    ) -> Callable[[Any, type], Any]:
        """A structure function generated for `cls` (a `_fast_eligible` model) that builds the
        instance without `__init__`: each field's value comes from the same hook cattrs would
        call (`str(...)`, `int(...)`, the bool, datetime, enum, tuple and optional hooks
        above), so it is exactly what `__init__`'s construction checks would pass on, and
        setting it directly skips checking the converter's own output twice. Missing required
        keys raise `KeyError`, unknown keys are ignored, defaults are what `__init__` would
        store, and `aliases` (alias -> name) are read when the name is absent, all as the
        cattrs-generated function does; anything but a plain `dict` goes to that function.
        Nested models made the same way (a permission's actions and their limits) are built
        inline, in the same function, instead of through a call per object.
        Models built by users keep their checks: only this converter skips them."""
        converter = self.converter
        fallback: Callable[[Any, type], Any] = make_dict_structure_fn(cls, converter)
        if aliases:
            fallback = self._aliased(fallback, aliases)
        names: dict[str, Any] = {"new": object.__new__, "fallback": fallback, "cls": cls}
        lines = [
            f"def structure_{cls.__name__}(o, _=None):",
            "    if o.__class__ is not dict:",
            "        return fallback(o, cls)",
            *(f"    {line}" for line in self._object_code(cls, aliases or {}, "o", "i", names)),
            "    return i",
        ]
        source = "\n".join(lines) + "\n"
        filename = f"<d360_calling fast structure {cls.__module__}.{cls.__qualname__}>"
        exec(compile(source, filename, "exec"), names)  # noqa: S102 - generated from field types
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        function: Callable[[Any, type], Any] = names[f"structure_{cls.__name__}"]
        function._d360_fast = (cls, dict(aliases or {}))  # type: ignore[attr-defined]
        return function

    def _object_code(
        self,
        cls: type,
        aliases: Mapping[str, str],
        src: str,
        dst: str,
        names: dict[str, Any],
    ) -> list[str]:
        """Lines that build `cls` from the dict in variable `src` into variable `dst`. Names
        in `names` get a fresh prefix per object, so nested objects can be built inline (a
        model cannot hold itself: `checks.checked` resolves every annotation as it is made)."""
        tag = f"c{len([key for key in names if key.startswith('cls_')])}"
        names[f"cls_{tag}"] = cls
        alias_of = {name: alias for alias, name in aliases.items()}
        hints = get_type_hints(cls)
        lines = [f"{dst} = new(cls_{tag})"]
        value = f"v_{tag}"
        for n, field in enumerate(attrs.fields(cls)):
            key = f"{tag}_{n}"
            names[f"set{key}"] = cls.__dict__[field.name].__set__
            keys = [field.name] + ([alias_of[field.name]] if field.name in alias_of else [])
            code = self._value_code(hints[field.name], key, value, names)
            code = [*code, f"set{key}({dst}, {value})"]
            has_default = field.default is not attrs.NOTHING
            if has_default:
                assert field.converter is not None
                names[f"default{key}"] = field.converter(field.default)  # what __init__ stores
            if not has_default and len(keys) == 1:
                lines += [f"{value} = {src}[{field.name!r}]", *code]
                continue
            for index, name in enumerate(keys):
                lines.append(f"{'if' if index == 0 else 'elif'} {name!r} in {src}:")
                lines.append(f"    {value} = {src}[{name!r}]")
                lines += [f"    {line}" for line in code]
            lines.append("else:")
            if has_default:
                lines.append(f"    set{key}({dst}, default{key})")
            else:
                lines.append(f"    raise KeyError({field.name!r})")
        return lines

    @staticmethod
    def _aliased(
        structure: Callable[[Any, type], Any], aliases: Mapping[str, str]
    ) -> Callable[[Any, type], Any]:
        def structure_aliased(value: Any, target: type) -> Any:
            if isinstance(value, dict):
                for alias, name in aliases.items():
                    if alias in value and name not in value:
                        value = {**value, name: value[alias]}
            return structure(value, target)

        return structure_aliased

    def _value_code(self, annotation: Any, key: str, v: str, names: dict[str, Any]) -> list[str]:
        """Lines that turn the JSON value in variable `v` into the field's value, in place,
        calling the hook cattrs would call (inlined where it is a check and a C call, or a
        model this converter generates)."""
        origin, args = get_origin(annotation), get_args(annotation)
        if origin in (Union, UnionType):
            inner = next(arg for arg in args if arg is not NoneType)
            body = self._value_code(inner, key, v, names)
            return [f"if {v} is not None:", *(f"    {line}" for line in body)]
        hook = self.converter.get_structure_hook(annotation)
        names[f"type{key}"] = annotation
        names[f"hook{key}"] = hook
        if hook is BaseConverter._structure_call:  # cattrs calls the type itself: str(v), int(v)
            if annotation in (str, int):  # the call gives back a value of exactly this type
                return [f"if {v}.__class__ is not type{key}:", f"    {v} = type{key}({v})"]
            return [f"{v} = type{key}({v})"]
        if annotation is bool and hook is _structure_bool:
            return [f"if {v} is not True and {v} is not False:", f"    {v} = hook{key}({v}, bool)"]
        if annotation is datetime and hook is _structure_datetime:
            names["fromtimestamp"], names["UTC"] = datetime.fromtimestamp, UTC
            return [
                # the hook's `fromtimestamp(float(v), UTC)`: an int needs no float first (the
                # same moment for every int a datetime can hold; the others fail either way)
                f"{v} = fromtimestamp({v}, UTC) if {v}.__class__ is int else "
                f"hook{key}({v}, type{key})"
            ]
        if (
            isinstance(annotation, type)
            and issubclass(annotation, OpenEnum)
            and hook is _structure_open_enum
        ):
            names[f"members{key}"] = annotation._value2member_map_
            return [
                f"m = members{key}.get({v}) if {v}.__class__ is str else None",
                f"{v} = m if m is not None else hook{key}({v}, type{key})",
            ]
        generated = getattr(hook, "_d360_fast", None)
        if generated is not None:  # a model: built here from a dict, as its function would
            built = f"w{key}"
            return [
                f"if {v}.__class__ is dict:",
                *(
                    f"    {line}"
                    for line in self._object_code(generated[0], generated[1], v, built, names)
                ),
                f"    {v} = {built}",
                "else:",
                f"    {v} = hook{key}({v}, type{key})",
            ]
        if _is_homogeneous_tuple(annotation):
            return self._tuple_code(args[0], key, v, names)
        return [f"{v} = hook{key}({v}, type{key})"]

    def _tuple_code(self, item_type: Any, key: str, v: str, names: dict[str, Any]) -> list[str]:
        """`tuple[X, ...]` from the JSON array in `v`; anything else (`null`, another kind)
        goes to the tuple hook, which reads `null` as empty and refuses the rest."""
        item = self.converter.get_structure_hook(item_type)
        names[f"item{key}"], names[f"itemtype{key}"] = item, item_type
        generated = getattr(item, "_d360_fast", None)
        if generated is None:
            if item is BaseConverter._structure_call:
                convert = f"tuple(map(itemtype{key}, {v}))"
            else:
                convert = f"tuple([item{key}(e, itemtype{key}) for e in {v}])"
            return [f"{v} = {convert} if {v}.__class__ is list else hook{key}({v}, type{key})"]
        items, element, built = f"t{key}", f"e{key}", f"w{key}"
        return [
            f"if {v}.__class__ is list:",
            f"    {items} = []",
            f"    for {element} in {v}:",
            f"        if {element}.__class__ is dict:",
            *(
                f"            {line}"
                for line in self._object_code(generated[0], generated[1], element, built, names)
            ),
            f"            {items}.append({built})",
            "        else:",
            f"            {items}.append(item{key}({element}, itemtype{key}))",
            f"    {v} = tuple({items})",
            "else:",
            f"    {v} = hook{key}({v}, type{key})",
        ]
