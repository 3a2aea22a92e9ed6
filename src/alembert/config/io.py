"""Reading and writing configs: YAML (safe_load only), ``--set`` overrides, errors that name file, key and line."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from alembert.config.task import TASK_UNION_TAGS
from alembert.errors import ConfigError, suggest


__all__ = ["apply_overrides", "config_yaml", "dump_config", "load_config", "parse_config", "read_yaml"]

ModelT = TypeVar("ModelT", bound=BaseModel)


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping with the same key twice (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' appears twice in the same section", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _find_line(text: str | None, loc: tuple[Any, ...]) -> int | None:
    """Line (1-based) of the YAML node at ``loc`` in ``text``, or of its deepest existing parent."""
    if not text:
        return None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if k.value == str(key)]
            if not found:
                break
            line = found[0][0].start_mark.line + 1
            node = found[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names valid at the parent of ``loc`` (for close-match suggestions)."""
    current: Any = model
    for key in loc[:-1]:
        if isinstance(key, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or key not in current.model_fields:
            return []
        annotation = current.model_fields[key].annotation
        args = getattr(annotation, "__args__", ()) or (annotation,)
        args = tuple(get_args(a)[0] if get_origin(a) is Annotated else a for a in args)  # tagged union members
        current = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), annotation)
        if getattr(annotation, "__origin__", None) is list:
            current = args[0]
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


_ABSENT = object()


def _value_at(data: Any, loc: tuple[Any, ...]) -> Any:
    for key in loc:
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        else:
            return _ABSENT
    return data


def _to_config_error(
    err: ValidationError, model: type[BaseModel], source: str, text: str | None, file_data: Any = None
) -> ConfigError:
    first = err.errors()[0]
    loc = tuple(part for part in first["loc"] if part not in TASK_UNION_TAGS)
    key = ".".join(str(part) for part in loc) or "<root>"
    line = _find_line(text, loc)
    from_set = first["type"] != "missing" and _value_at(file_data, loc) != first.get("input")
    if line and file_data is not None and loc and from_set:
        line = None  # the value came from --set, not from that line of the file
    where = f"{source}:{line}" if line else source
    if first["type"] == "extra_forbidden":
        hint = suggest(str(loc[-1]), _allowed_keys(model, loc))
        message = f"unknown key '{key}'{hint}"
    elif first["type"] == "missing":
        message = f"missing required key '{key}'"
    elif not loc:  # a check across keys: its message names them; the input is the whole config
        message = first["msg"].removeprefix("Value error, ")
    elif first["type"] == "value_error":  # a validator's own message says what is wrong
        text = first["msg"].removeprefix("Value error, ")
        message = text if text.startswith(f"{key}") else f"{key}: {text}"
    else:
        message = f"{key}: {first['msg']} (got {first.get('input')!r})"
    more = f" [+{len(err.errors()) - 1} more]" if len(err.errors()) > 1 else ""
    return ConfigError(f"{where}: {message}{more}")


def _parse_value(raw: str) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``key.path=value`` overrides applied (values parsed as YAML).

    A path step into a list is an index (``stages.0``) or the ``name`` of an element (``stages.distill``).
    """
    result = copy.deepcopy(data)
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"--set {override!r}: expected key.path=value")
        path, raw = override.split("=", 1)
        parts = [p for p in path.strip().split(".") if p]
        if not parts:
            raise ConfigError(f"--set {override!r}: empty key")
        node: Any = result
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                index = _list_index(node, part, path)
                if last:
                    node[index] = _parse_value(raw)
                else:
                    node = node[index]
            elif isinstance(node, dict):
                if last:
                    node[part] = _parse_value(raw)
                else:
                    node = node.setdefault(part, {})
            else:
                raise ConfigError(f"--set {path}: '{'.'.join(parts[:i])}' is a value, not a section")
    return result


def _list_index(items: list[Any], part: str, path: str) -> int:
    if part.lstrip("-").isdigit():
        index = int(part)
        if not -len(items) <= index < len(items):
            raise ConfigError(f"--set {path}: index {index} out of range (list has {len(items)} items)")
        return index
    names = [item.get("name") for item in items if isinstance(item, dict)]
    if part in names:
        return names.index(part)
    raise ConfigError(f"--set {path}: no list element named '{part}'{suggest(part, [n for n in names if n])}")


def parse_config(
    model: type[ModelT],
    data: dict[str, Any],
    *,
    source: str = "<config>",
    text: str | None = None,
    file_data: Any = None,
) -> ModelT:
    """Validate a mapping into ``model``; errors become one-line :class:`ConfigError` naming key and line.

    Args:
        model: the config class.
        data: the mapping (the file's, with ``--set`` overrides applied).
        source: how messages name the input (the file).
        text: the file's YAML text, for line numbers.
        file_data: the file's mapping before overrides: a key whose value an override changed gets no line.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise _to_config_error(err, model, source, text, file_data) from None


def read_yaml(path: str | Path) -> tuple[dict[str, Any], str]:
    """A YAML config file as a mapping (safe loading; a key given twice is an error) and its text."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read config ({err})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no Python tags
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML ({getattr(err, 'problem', err)})") from None
    if data is None:
        raise ConfigError(f"{path}: config file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data, text


def load_config(model: type[ModelT], path: str | Path, overrides: list[str] | None = None) -> ModelT:
    """Read a YAML file (safe loading; a key given twice is an error), apply ``--set`` overrides, validate it.

    Errors about keys the file sets name its line; a key an override changed is named without one.
    """
    data, text = read_yaml(path)
    merged = apply_overrides(data, overrides or [])
    return parse_config(model, merged, source=str(path), text=text, file_data=data if overrides else None)


def config_yaml(config: BaseModel) -> str:
    """The resolved config as YAML text (what ``--dry-run`` prints and ``config.yaml`` holds)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def dump_config(config: BaseModel, path: str | Path) -> None:
    """Write the resolved config as YAML (the run folder's ``config.yaml``)."""
    Path(path).write_text(config_yaml(config), encoding="utf-8")
