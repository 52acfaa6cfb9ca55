"""The one cattrs converter: Unix-seconds datetimes, API key aliases, `None` fields left out.

Hooks are built once at import so structuring on the hot path is a generated function call.
JSON kinds are strict where a wrong guess would change a decision: a boolean is `true`/`false`
(or those words as strings), never a truthy value, and an array is an array (`null` and `""`
read as empty). `explain` says where and why a payload does not fit, using a second converter
with cattrs' detailed validation that is built only when an answer fails to structure.
"""

from __future__ import annotations

import functools
import linecache
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import attrs
from cattrs import BaseConverter, transform_error
from cattrs.errors import IterableValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import JsonConverter, make_converter

from ..errors import ValidationError
from .calls import ConnectResult
from .enums import OpenEnum
from .permissions import Permission
from .settings import Restrictions, SipServer

_MAX_EXPLAINED = 3


class ShapeError(TypeError):
    """A JSON value of the wrong kind. The message names the kind expected and the kind found,
    never the value, which may be a secret (a SIP password)."""


def _kind(value: object) -> str:
    """The JSON name of a value's kind, for error messages."""
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list() | tuple():
            return "an array"
        case dict():
            return "an object"
    return type(value).__name__


def _structure_bool(value: Any, _: type) -> bool:
    """`true`/`false`, or the strings "true"/"false" in any case; nothing else is a boolean
    (`bool("false")` is True, and a permission decision must not rest on that)."""
    if value is True or value is False:
        return value
    if isinstance(value, str) and value.isascii():
        word = value.lower()
        if word == "true":
            return True
        if word == "false":
            return False
        raise ShapeError('expected a boolean (true, false, "true" or "false"), got another string')
    raise ShapeError(f"expected a boolean, got {_kind(value)}")


def _structure_datetime(value: Any, _: type) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ShapeError(f"expected Unix seconds, got {_kind(value)}")
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise ShapeError("expected Unix seconds, got a value that is not a time") from None


def _structure_date(value: Any, _: type) -> date:
    if not isinstance(value, str):
        raise ShapeError(f"expected a YYYY-MM-DD date, got {_kind(value)}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ShapeError("expected a YYYY-MM-DD date, got another string") from None


def _structure_open_enum(value: Any, cls: type[OpenEnum]) -> OpenEnum:
    """Known values straight from the member map; `OpenEnum._missing_` handles the rest."""
    try:
        member = cls._value2member_map_.get(value)
    except TypeError:  # unhashable: an array or an object
        member = None
    if member is not None:
        return member  # type: ignore[return-value]
    if not isinstance(value, str):
        raise ShapeError(f"expected a string, got {_kind(value)}")
    return cls(value)


def _is_homogeneous_tuple(cls: Any) -> bool:
    args = get_args(cls)
    return get_origin(cls) is tuple and len(args) == 2 and args[1] is Ellipsis


def _is_optional(cls: Any) -> bool:
    args = get_args(cls)
    return get_origin(cls) in (Union, UnionType) and len(args) == 2 and NoneType in args


def _array_items(value: Any) -> Any:
    """The items of a JSON array; `null` and `""` are an empty one (Meta's OpenAPI permission
    examples have `"limits": null` and `"limits": ""`); any other kind is refused rather than
    iterated (a string would become its characters)."""
    if value is None or value == "":
        return ()
    if value.__class__ is list or isinstance(value, list | tuple):
        return value
    raise ShapeError(f"expected an array, got {_kind(value)}")


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


class _Hooks:
    """The hooks of one converter, bound to it (the fast one, or the detailed one used by
    `explain`)."""

    def __init__(self, converter: JsonConverter) -> None:
        self.converter = converter

    def homogeneous_tuple(self, cls: Any) -> Callable[[Any, Any], tuple[Any, ...]]:
        """`tuple[X, ...]` with X's hook looked up once, not on every call as cattrs' does."""
        item_type = get_args(cls)[0]
        item = self.converter.get_structure_hook(item_type)

        def structure(value: Any, _: Any) -> tuple[Any, ...]:
            if value.__class__ is not list:
                value = _array_items(value)
            return tuple([item(element, item_type) for element in value])

        def structure_detailed(value: Any, _: Any) -> tuple[Any, ...]:
            out, errors = [], []
            for index, element in enumerate(_array_items(value)):
                try:
                    out.append(item(element, item_type))
                except Exception as error:
                    note = IterableValidationNote(f"@ index {index}", index, item_type)
                    error.__notes__ = [*getattr(error, "__notes__", []), note]
                    errors.append(error)
            if errors:
                raise IterableValidationError(f"While structuring {cls!r}", errors, cls)
            return tuple(out)

        return structure_detailed if self.converter.detailed_validation else structure

    def optional(self, cls: Any) -> Callable[[Any, Any], Any]:
        """`X | None` with X's hook looked up once."""
        inner_type = next(arg for arg in get_args(cls) if arg is not NoneType)
        inner = self.converter.get_structure_hook(inner_type)

        def structure(value: Any, _: Any) -> Any:
            return None if value is None else inner(value, inner_type)

        return structure

    def omit_none_fields(self, cls: type) -> Callable[[Any], dict[str, Any]]:
        overrides = {
            field.name: override(omit_if_default=True)
            for field in attrs.fields(cls)
            if field.default is None
        }
        return make_dict_unstructure_fn(cls, self.converter, **overrides)  # type: ignore[arg-type]

    def with_aliases(self, cls: type, aliases: Mapping[str, str]) -> Callable[[Any, type], Any]:
        """Structure `cls` from a dict that may spell some keys the other documented way."""
        if not self.converter.detailed_validation and _fast_eligible(cls):
            return self.fast_attrs(cls, aliases)
        return self._aliased(make_dict_structure_fn(cls, self.converter), aliases)

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

    def connect_result(self, value: Any, _: type) -> ConnectResult:
        if not isinstance(value, dict):
            raise ShapeError(f"expected an object, got {_kind(value)}")
        calls = _array_items(value.get("calls"))
        if not calls or not isinstance(calls[0], dict) or "id" not in calls[0]:
            raise ShapeError("expected calls[0].id, the new call's id")
        optional_bool = self.converter.get_structure_hook(bool | None)
        optional_str = self.converter.get_structure_hook(str | None)
        try:
            success = optional_bool(value.get("success"), bool | None)
        except ShapeError as error:
            raise ShapeError(f"success: {error}") from None
        return ConnectResult(
            call_id=str(calls[0]["id"]),
            success=success,
            messaging_product=optional_str(value.get("messaging_product"), str | None),
        )


def _unstructure_connect_result(result: ConnectResult) -> dict[str, Any]:
    body: dict[str, Any] = {"calls": [{"id": result.call_id}]}
    if result.messaging_product is not None:
        body["messaging_product"] = result.messaging_product
    if result.success is not None:
        body["success"] = result.success
    return body


def _build(*, detailed: bool) -> JsonConverter:
    built = make_converter(detailed_validation=detailed)
    hooks = _Hooks(built)
    # Hot-path hooks first, so the attrs hooks generated below (and lazily) bind to them.
    built.register_structure_hook(OpenEnum, _structure_open_enum)
    built.register_structure_hook(bool, _structure_bool)
    built.register_structure_hook_factory(_is_homogeneous_tuple, hooks.homogeneous_tuple)
    built.register_structure_hook_factory(_is_optional, hooks.optional)
    built.register_structure_hook(datetime, _structure_datetime)
    built.register_unstructure_hook(datetime, lambda moment: int(moment.timestamp()))
    built.register_structure_hook(date, _structure_date)
    built.register_unstructure_hook(date, date.isoformat)
    built.register_unstructure_hook_factory(attrs.has, hooks.omit_none_fields)
    built.register_unstructure_hook(OpenEnum, lambda member: member.value)
    built.register_structure_hook(ConnectResult, hooks.connect_result)
    built.register_unstructure_hook(ConnectResult, _unstructure_connect_result)
    if not detailed:
        # The SDK's models from API JSON without re-running their construction checks; the
        # detailed converter (`explain`) keeps cattrs' own functions and their error notes.
        built.register_structure_hook_factory(_fast_eligible, hooks.fast_attrs)
    built.register_structure_hook(
        Permission, hooks.with_aliases(Permission, {"expiration": "expiration_time"})
    )
    built.register_structure_hook(
        SipServer, hooks.with_aliases(SipServer, {"password": "sip_user_password"})
    )
    built.register_structure_hook(
        Restrictions, hooks.with_aliases(Restrictions, {"restrictions": "restrictions_list"})
    )
    return built


converter: JsonConverter = _build(detailed=False)
"""Structures API JSON into the SDK's attrs models and back."""


@functools.cache
def _detailed_converter() -> JsonConverter:
    return _build(detailed=True)


def _describe(error: BaseException, expected: type | None) -> str:
    """One failure, in words that never quote the value."""
    if isinstance(error, ShapeError):
        return str(error)
    if isinstance(error, ValidationError):
        return error.message
    if isinstance(error, KeyError):
        return "required field missing"
    if expected is None:
        return f"invalid value ({type(error).__name__})"
    return f"invalid value, expected {getattr(expected, '__name__', expected)}"


def explain(payload: Any, model: type) -> str:
    """Where and why `payload` does not structure as `model`, e.g.
    `expected a boolean, got a number @ $.actions[0].can_perform_action`; values are never
    quoted. Meant for the failure path: it structures the payload again, in detail."""
    try:
        _detailed_converter().structure(payload, model)
    except Exception as error:
        messages = transform_error(error, format_exception=_describe)
        more = len(messages) - _MAX_EXPLAINED
        return "; ".join(messages[:_MAX_EXPLAINED]) + (f" (and {more} more)" if more > 0 else "")
    return "it structures when retried in detail"
