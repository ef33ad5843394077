"""Read one section of params.yaml, the single hop from params.yaml to a stage's `main()`, after checking the whole
file against its schema (`churnlab.core.params_schema`), so a bad value stops a stage before any work.

The file is read as YAML 1.2, as DVC reads and writes it (ruamel.yaml): `Yes` and `off` are text, not booleans, and
`1e-3` is a number. A bad file gives one `ParamsError` listing every problem, one sentence per line:

    params.yaml: base.horizon_months = -1: must be >= 1
    params.yaml: train.tune.n_trails: unknown parameter (did you mean n_trials?)
"""

import copy
import datetime as dt
import difflib
import functools
import json
import math
import types
import typing
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML, YAMLError

from churnlab.core import paths
from churnlab.core.params_schema import Params, number


class ParamsError(ValueError):
    """params.yaml breaks its schema; the message holds one line per problem."""


def load_params(section: str, path: Path = paths.PARAMS) -> dict[str, Any]:
    """Return `section` of the params file as a dict; a missing file or section, or a bad value, is a clear error."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: params file not found (run from the project root)")
    stat = path.stat()
    params = _read_checked(path, path.resolve(), stat.st_mtime_ns, stat.st_size)
    if section not in params:
        raise KeyError(f"{path}: no section {section!r} (sections: {sorted(params)})")
    return copy.deepcopy(params[section])  # the cached copy stays as read


@functools.lru_cache(maxsize=8)
def _read_checked(path: Path, resolved: Path, mtime_ns: int, size: int) -> dict[str, Any]:
    """The file read as YAML 1.2 and validated, once per process for each version of each file."""
    try:
        with resolved.open(encoding="utf-8") as fh:
            params = YAML(typ="safe", pure=True).load(fh)
    except YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ParamsError(f"{path}: not valid YAML: {getattr(err, 'problem', None) or err}{where}") from None
    return validate_params({} if params is None else params, source=str(path))


def validate_params(params: dict, *, source: str = "params.yaml", complete: bool = False) -> dict:
    """Return `params` (the whole file) unchanged if it fits the schema; else raise ParamsError, one line per problem.

    A missing section or key is a problem only when `complete`: stage tests write files with the sections they
    need, and a stage that reads a missing key still fails on it by name.
    """
    engine = params.get("engine") if isinstance(params, dict) else None
    engine = engine.get("name", "local") if isinstance(engine, dict) else "local" if engine is None else None
    try:  # the engine's name is context: a data.tables entry may name a catalog table only for Spark
        Params.model_validate(params, context={"engine": engine})
    except ValidationError as err:
        problems = [_sentence(e) for e in err.errors(include_url=False) if complete or e["type"] != "missing"]
        if problems:
            raise ParamsError("\n".join(f"{source}: {problem}" for problem in problems)) from None
    return params


def _sentence(error: dict) -> str:
    """One pydantic error as `dotted.path = value: what is allowed`."""
    loc, kind = error["loc"], error["type"]
    if loc and loc[-1] == "[key]":  # the name of an entry of a mapping, not its value
        return f"{_dotted(loc[:-1])}: the name {_allowed(error, loc[:-1], key=True)}"
    if kind == "missing":
        return f"{_dotted(loc)}: missing"
    if kind == "extra_forbidden":
        names = _field_names(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), names, n=1)
        hint = f"did you mean {close[0]}?" if close else f"allowed: {', '.join(names)}"
        return f"{_dotted(loc)}: unknown parameter ({hint})"
    where = f"{_dotted(loc)} = {_show(error['input'])}" if loc else f"the file holds {_show(error['input'])}"
    return f"{where}: {_allowed(error, loc)}"


TYPES = {"int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
         "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
         "bool_type": "true or false", "bool_parsing": "true or false", "string_type": "text",
         "list_type": "a list", "dict_type": "a mapping (key: value lines)",
         "model_type": "a mapping (key: value lines)"}
BOUNDS = {Gt: ">", Ge: ">=", Lt: "<", Le: "<="}
CTX_BOUNDS = {"greater_than": ("gt", ">"), "greater_than_equal": ("ge", ">="), "less_than": ("lt", "<"),
              "less_than_equal": ("le", "<=")}


def _allowed(error: dict, loc: tuple, *, key: bool = False) -> str:
    """What the schema allows at `loc` (or for the name of the entry at `loc`), in words: "must be ..."."""
    kind, ctx = error["type"], error.get("ctx") or {}
    _, constraints, nullable = (None, [], False) if key else _expected_at(loc)
    limits = " and ".join(f"{BOUNDS[type(c)]} {number(getattr(c, type(c).__name__.lower()))}"
                          for c in constraints if type(c) in BOUNDS)
    null = " or null" if nullable and kind != "rule" else ""
    if kind in TYPES:
        return f"must be {' '.join(filter(None, (TYPES[kind], limits)))}{null}"
    if kind in CTX_BOUNDS:
        bound, sign = CTX_BOUNDS[kind]
        return f"must be {limits or f'{sign} {number(ctx[bound])}'}{null}"
    if kind == "literal_error":
        return f"must be {ctx['expected'].replace(chr(39), '')}{null}"
    if kind in ("too_short", "too_long"):
        bound = "at least" if kind == "too_short" else "at most"
        count = ctx.get("min_length", ctx.get("max_length"))
        return f"must hold {bound} {count} value{'s' if count != 1 else ''}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "rule":
        return error["msg"]
    return error["msg"].replace("Input should be", "must be")


def _expected_at(loc: tuple) -> tuple[Any, list, bool]:
    """The type the schema expects at `loc`, its constraints (annotated_types) and whether null is allowed."""
    kind, constraints = Params, []
    for part in loc:
        kind, constraints, _ = _unwrap(kind, constraints)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            field = _fields(kind).get(part) if isinstance(part, str) else None
            if field is None:
                return None, [], False
            kind, constraints = field.annotation, list(field.metadata)
        elif get_args(kind):  # an entry of a list or mapping: its value type
            kind, constraints = get_args(kind)[-1], []
        else:
            return None, [], False
    return _unwrap(kind, constraints)


def _unwrap(kind: Any, constraints: list) -> tuple[Any, list, bool]:
    nullable = False
    while True:
        args = get_args(kind)
        if get_origin(kind) is Annotated:
            kind, constraints = args[0], [*constraints, *args[1:]]
        elif get_origin(kind) in (typing.Union, types.UnionType) and type(None) in args and len(args) == 2:
            kind, nullable = next(a for a in args if a is not type(None)), True
        else:
            return kind, constraints, nullable


def _field_names(loc: tuple) -> list[str]:
    """The keys the section at `loc` may hold."""
    kind, _, _ = _expected_at(loc)
    return list(_fields(kind)) if isinstance(kind, type) and issubclass(kind, BaseModel) else []


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """A model's fields by the key params.yaml uses (the alias, where the name is taken)."""
    return {field.alias or name: field for name, field in model.model_fields.items()}


def _dotted(loc: tuple) -> str:
    """("train", "tune", "n_trials") -> train.tune.n_trials; list positions as [i]."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def _show(value: Any) -> str:
    """A value as written in YAML: -1, "abc", true, null, [1, 2], .inf; long ones cut short."""
    text = _yaml_text(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _yaml_text(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if value != value else ("-.inf" if value < 0 else ".inf")
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return f"[{', '.join(map(_yaml_text, value))}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_yaml_text(k)}: {_yaml_text(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value), ensure_ascii=False)
