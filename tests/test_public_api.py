"""The public surface is a contract: every name, field and signature of the spec's API.md exists here.

Every name of names.json is importable from the same module, listed in its `__all__`, and is the
very object of the module that defines it.

API.md lists, per module, functions and classes with their signatures, the fields of models and
the members of enums. Each listed module-level name becomes one test. The protocol modules are
also checked to import nothing beyond the standard library, pydantic, typing_extensions and jinja2.
"""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, TypeVar, get_args, get_origin

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from tests.spec import SPEC_DATA


@dataclass
class Param:
    """One parameter of a listed signature."""

    name: str
    kind: inspect._ParameterKind
    default: str | None  # source text of the default, None if there is none


@dataclass
class Method:
    """A listed function or method: its parameters and markers."""

    name: str
    params: list[Param]
    is_async: bool = False
    is_abstract: bool = False


@dataclass
class FieldSpec:
    """A listed model field, with its default's source text when given."""

    name: str
    default: str | None = None
    frozen: bool = False


@dataclass
class Entry:
    """A module-level name of API.md and what is listed about it."""

    module: str
    name: str
    kind: str  # "class", "function", "typevar" or "value"
    bases: list[str] = field(default_factory=list)
    fields: list[FieldSpec] | None = None
    members: dict[str, str] = field(default_factory=dict)
    methods: list[Method] = field(default_factory=list)
    function: Method | None = None


# -- parsing API.md ---------------------------------------------------------------------------


def split_top_level(text: str, separator: str = ",") -> list[str]:
    """Split on `separator` outside brackets and quotes."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    start = 0
    index = 0
    while index < len(text):
        char = text[index]
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(separator, index):
            parts.append(text[start:index])
            index += len(separator)
            start = index
            continue
        index += 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def parse_signature(text: str) -> tuple[str, list[Param]]:
    """`name(a, b: T = 1, *, c=2)` -> name and parameters (the return annotation is ignored)."""
    name, rest = text.split("(", 1)
    depth = 1
    for index, char in enumerate(rest):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            inner = rest[:index]
            break
    else:
        raise ValueError(f"unbalanced signature: {text}")
    params: list[Param] = []
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    for part in split_top_level(inner):
        if part == "*":
            kind = inspect.Parameter.KEYWORD_ONLY
            continue
        if part == "/":
            for param in params:
                param.kind = inspect.Parameter.POSITIONAL_ONLY
            continue
        pieces = split_top_level(part, " = ")
        default = pieces[1] if len(pieces) > 1 else None
        declared = split_top_level(pieces[0], ":")[0]
        param_kind = kind
        if declared.startswith("**"):
            declared, param_kind = declared[2:], inspect.Parameter.VAR_KEYWORD
        elif declared.startswith("*"):
            declared, param_kind = declared[1:], inspect.Parameter.VAR_POSITIONAL
            kind = inspect.Parameter.KEYWORD_ONLY
        params.append(Param(declared, param_kind, default))
    return name.strip(), params


def parse_fields(text: str) -> list[FieldSpec]:
    specs = []
    for part in split_top_level(text):
        frozen = part.endswith("(frozen)")
        part = part.removesuffix("(frozen)").strip()
        pieces = split_top_level(part, " = ")
        name = split_top_level(pieces[0], ":")[0]
        specs.append(FieldSpec(name, pieces[1] if len(pieces) > 1 else None, frozen))
    return specs


CLASS_LINE = re.compile(r"^- class `(\w+)\((.*)\)`(?: (fields|members): (.*))?$")
FUNCTION_LINE = re.compile(r"^- (async )?def `(.*)`$")
TYPEVAR_LINE = re.compile(r"^- `(\w+)` = ~\w+$")
VALUE_LINE = re.compile(r"^- `(\w+)`(?::| =) ")
METHOD_LINE = re.compile(r"^  - (async )?`(.*)`( \(abstract\))?$")
OTHER_MODULE_LINE = re.compile(r"^- `(chatkit\.\w+)`: (?:module-level )?`(\w+)`")


def parse_api(text: str) -> list[Entry]:
    entries: list[Entry] = []
    module: str | None = None
    current: Entry | None = None
    for line in text.splitlines():
        heading = re.match(r"^## `(chatkit(?:\.\w+)*)`$", line)
        if heading:
            module, current = heading.group(1), None
            continue
        if line.startswith("## "):
            module, current = None, None
        other = OTHER_MODULE_LINE.match(line)
        if module is None:
            if other:
                entries.append(Entry(other.group(1), other.group(2), "value"))
            continue
        if match := CLASS_LINE.match(line):
            name, bases, what, listing = match.groups()
            current = Entry(module, name, "class", bases=[b.split("[")[0] for b in split_top_level(bases)])
            if what == "fields":
                current.fields = parse_fields(listing)
            elif what == "members":
                for member in split_top_level(listing.removesuffix("(open set)").strip()):
                    key, value = (piece.strip() for piece in member.split("=", 1))
                    current.members[key] = value
            entries.append(current)
        elif match := METHOD_LINE.match(line):
            assert current is not None, line
            method_name, params = parse_signature(match.group(2))
            current.methods.append(Method(method_name, params, bool(match.group(1)), bool(match.group(3))))
        elif match := FUNCTION_LINE.match(line):
            function_name, params = parse_signature(match.group(2))
            current = Entry(
                module, function_name, "function", function=Method(function_name, params, bool(match.group(1)))
            )
            entries.append(current)
        elif match := TYPEVAR_LINE.match(line):
            current = Entry(module, match.group(1), "typevar")
            entries.append(current)
        elif match := VALUE_LINE.match(line):
            current = Entry(module, match.group(1), "value")
            entries.append(current)
        elif line.startswith("- "):
            raise AssertionError(f"API.md line not understood by this test: {line}")
    return entries


def api_entries() -> list[Any]:
    api = SPEC_DATA / "API.md"
    return [pytest.param(entry, id=f"{entry.module}.{entry.name}") for entry in parse_api(api.read_text("utf-8"))]


# -- checking ---------------------------------------------------------------------------------


def import_module(name: str) -> ModuleType:
    """The module `name`; a module that fails to import fails the test, never skips it."""
    return importlib.import_module(name)


def default_matches(actual: Any, source: str) -> bool:
    """Whether a default value is what API.md's source text for it says."""
    try:
        return actual == ast.literal_eval(source)
    except (ValueError, SyntaxError):
        pass
    call = re.fullmatch(r"(\w+)\(\)", source)
    if call:
        return type(actual).__name__ == call.group(1)
    return getattr(actual, "__name__", None) == source


def raw_function(owner: Any, name: str) -> Any:
    attribute = inspect.getattr_static(owner, name)
    if isinstance(attribute, (classmethod, staticmethod)):
        return attribute.__func__
    return attribute


def check_callable(function: Any, spec: Method, where: str, *, is_method: bool) -> None:
    signature = inspect.signature(function)
    actual = [(p.name, p.kind) for p in signature.parameters.values()]
    expected = [(p.name, p.kind) for p in spec.params]
    assert actual == expected, f"{where}: parameters {actual} != API.md {expected}"
    for param in spec.params:
        default = signature.parameters[param.name].default
        if param.default is None:
            assert default is inspect.Parameter.empty, f"{where}: {param.name} must have no default"
        else:
            assert default is not inspect.Parameter.empty, f"{where}: {param.name} needs a default"
            assert default_matches(default, param.default), f"{where}: {param.name}={default!r}, API.md {param.default}"
    is_async = inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)
    if spec.is_async:
        assert is_async, f"{where} must be async"
    elif is_method:
        # Framework code calls these without awaiting; a plain module function may instead return
        # an awaitable (the reference's `simple_to_agent_input` does), which callers await alike.
        assert not inspect.iscoroutinefunction(function), f"{where} must not be a coroutine function"


def check_class(cls: Any, entry: Entry) -> None:
    assert inspect.isclass(cls), f"{entry.name} must be a class"
    ancestry = {ancestor.__name__ for ancestor in inspect.getmro(cls)}
    for base in entry.bases:
        assert base in ancestry, f"{entry.name} must derive from {base}"
    if entry.fields is not None:
        assert issubclass(cls, BaseModel)
        model_fields = cls.model_fields
        assert list(model_fields) == [spec.name for spec in entry.fields], f"{entry.name} fields differ from API.md"
        for spec in entry.fields:
            info = model_fields[spec.name]
            if spec.default is not None and not spec.default.startswith("~"):
                assert default_matches(info.default, spec.default), f"{entry.name}.{spec.name}={info.default!r}"
            assert bool(info.frozen) == spec.frozen, f"{entry.name}.{spec.name} frozen must be {spec.frozen}"
    for member, value in entry.members.items():
        assert issubclass(cls, enum.Enum)
        assert cls[member].value == ast.literal_eval(value)
    for method in entry.methods:
        function = raw_function(cls, method.name)
        check_callable(function, method, f"{entry.name}.{method.name}", is_method=True)
        assert bool(getattr(function, "__isabstractmethod__", False)) == method.is_abstract, (
            f"{entry.name}.{method.name} abstract must be {method.is_abstract}"
        )


@pytest.mark.parametrize("entry", api_entries())
def test_api_name(entry: Entry) -> None:
    module = import_module(entry.module)
    assert hasattr(module, entry.name), f"{entry.module} has no {entry.name}"
    value = getattr(module, entry.name)
    if entry.kind == "class":
        check_class(value, entry)
    elif entry.kind == "function":
        assert entry.function is not None
        check_callable(value, entry.function, f"{entry.module}.{entry.name}", is_method=False)
    elif entry.kind == "typevar":
        assert isinstance(value, TypeVar)
        assert value.__name__ == entry.name


def test_parser_reads_every_listed_module() -> None:
    api = SPEC_DATA / "API.md"
    modules = {entry.module for entry in parse_api(api.read_text("utf-8"))}
    assert modules == {
        "chatkit.server",
        "chatkit.store",
        "chatkit.agents",
        "chatkit.errors",
        "chatkit.actions",
        "chatkit.types",
        "chatkit.widgets",
        "chatkit.icons",
        "chatkit.logger",
        "chatkit.version",
    }


def test_signature_parser() -> None:
    name, params = parse_signature(
        "f(self: 'X', a: dict[str, int] = None, /, b: Literal['x','y'] = 'x', *, c: Union[A, B[C, D]] = C()) -> 'R'"
    )
    assert name == "f"
    positional = inspect.Parameter.POSITIONAL_ONLY
    assert [(p.name, p.kind, p.default) for p in params] == [
        ("self", positional, None),
        ("a", positional, "None"),
        ("b", inspect.Parameter.POSITIONAL_OR_KEYWORD, "'x'"),
        ("c", inspect.Parameter.KEYWORD_ONLY, "C()"),
    ]


def test_logger_and_version() -> None:
    from chatkit.logger import logger
    from chatkit.version import __version__

    assert logger.name == "chatkit"
    assert isinstance(__version__, str) and __version__


# -- purity of the protocol modules -----------------------------------------------------------

SOURCE = Path(__file__).resolve().parents[1] / "src" / "chatkit"
PROTOCOL_MODULES = ["types", "widgets", "actions.py", "icons.py", "errors.py"]
ALLOWED_THIRD_PARTY = frozenset({"pydantic", "typing_extensions", "jinja2"})
PURE_CHATKIT = (
    "chatkit.types",
    "chatkit.widgets",
    "chatkit.actions",
    "chatkit.icons",
    "chatkit.errors",
    "chatkit._json",
)


def protocol_files() -> list[Path]:
    files: list[Path] = []
    for name in PROTOCOL_MODULES:
        path = SOURCE / name
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def imported_modules(path: Path) -> list[str]:
    """Absolute module names a file imports, anywhere in it (relative imports are chatkit's own)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", protocol_files(), ids=lambda path: str(path.relative_to(SOURCE)))
def test_protocol_module_is_pure(path: Path) -> None:
    for module in imported_modules(path):
        top = module.split(".")[0]
        if top == "chatkit":
            assert module.startswith(PURE_CHATKIT), f"{path.name} imports {module}, outside the protocol"
        else:
            assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, f"{path.name} imports {module}"


def test_purity_check_sees_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom . import x\nif True:\n    from starlette.requests import Request\n", "utf-8")
    assert imported_modules(sample) == ["os", "starlette.requests"]
    assert len(protocol_files()) > 10


# -- every public name of the reference, as the same object ------------------------------------

# Where each shared name is defined; a module re-exporting it must hand out that very object.
HOME_MODULES = (
    "chatkit.types",
    "chatkit.store",
    "chatkit.errors",
    "chatkit.actions",
    "chatkit.widgets",
    "chatkit.icons",
)


def reference_names() -> dict[str, list[str]]:
    return json.loads((SPEC_DATA / "names.json").read_text("utf-8"))


def test_every_reference_name_is_listed_in_all_and_exists() -> None:
    for module_name, names in reference_names().items():
        if not names:
            continue
        module = importlib.import_module(module_name)
        exported = set(module.__all__)
        assert set(names) <= exported, f"{module_name}.__all__ lacks {sorted(set(names) - exported)}"
        assert [name for name in exported if not hasattr(module, name)] == [], module_name


def test_re_exported_names_are_the_objects_of_their_home_module() -> None:
    compared = 0
    for module_name, names in reference_names().items():
        module = importlib.import_module(module_name)
        for name in names:
            value = getattr(module, name)
            if isinstance(value, TypeVar):
                continue  # each module declares its own generic parameters, as the reference does
            for home_name in HOME_MODULES:
                home = importlib.import_module(home_name)
                if home_name != module_name and name in reference_names().get(home_name, []):
                    assert value is getattr(home, name), f"{module_name}.{name} is not {home_name}.{name}"
                    compared += 1
    assert compared > 100


def test_agents_re_exports_the_responses_input_types() -> None:
    import agents
    from openai.types import responses
    from openai.types.responses import response_output_message, response_output_text

    import chatkit.agents
    import chatkit.server

    assert chatkit.agents.TResponseInputItem is agents.TResponseInputItem
    assert chatkit.agents.ResponseInputContentParam is responses.ResponseInputContentParam
    assert chatkit.agents.ResponseInputMessageContentListParam is responses.ResponseInputMessageContentListParam
    assert chatkit.agents.ResponsesAnnotation is response_output_text.Annotation
    assert chatkit.agents.Content is response_output_message.Content
    assert chatkit.agents.stream_widget is chatkit.server.stream_widget


def test_constants_hold_the_reference_values() -> None:
    from chatkit.actions import DEFAULT_HANDLER, DEFAULT_LOADING_BEHAVIOR, ActionConfig
    from chatkit.errors import DEFAULT_ALLOW_RETRY, DEFAULT_STATUS, ErrorCode, StreamError
    from chatkit.server import DEFAULT_ERROR_MESSAGE, DEFAULT_PAGE_SIZE

    assert (DEFAULT_HANDLER, DEFAULT_LOADING_BEHAVIOR) == ("server", "auto")
    config = ActionConfig(type="go")
    assert (config.handler, config.loadingBehavior) == (DEFAULT_HANDLER, DEFAULT_LOADING_BEHAVIOR)
    assert DEFAULT_STATUS == {ErrorCode.STREAM_ERROR: 500}
    assert DEFAULT_ALLOW_RETRY == {ErrorCode.STREAM_ERROR: True}
    assert StreamError(ErrorCode.STREAM_ERROR).allow_retry is True
    assert DEFAULT_PAGE_SIZE == 20
    assert DEFAULT_ERROR_MESSAGE == "An error occurred when generating a response."


def test_feedback_kind_is_the_literal_of_items_feedback() -> None:
    from chatkit.types import FeedbackKind, ItemFeedbackParams

    assert get_args(FeedbackKind) == ("positive", "negative")
    assert ItemFeedbackParams.model_fields["kind"].annotation == FeedbackKind


# The prop vocabularies the web client's types name the same way (widgets.d.ts).
CLIENT_ALIASES = (
    "RadiusValue", "Alignment", "Justification", "ControlVariant", "ControlSize", "TextAlign", "TextSize",
    "TitleSize", "CaptionSize", "IconSize",
)  # fmt: skip


def client_literal(name: str) -> tuple[str, ...]:
    source = (SPEC_DATA / "client" / "widgets.d.ts").read_text("utf-8")
    match = re.search(rf"^type {name} =([^;]*);", source, re.MULTILINE)
    assert match, f"widgets.d.ts has no type {name}"
    return tuple(re.findall(r"'([^']*)'", match.group(1)))


@pytest.mark.parametrize("name", CLIENT_ALIASES)
def test_widget_literal_aliases_match_the_client(name: str) -> None:
    import chatkit.widgets

    assert get_origin(getattr(chatkit.widgets, name)) is Literal
    assert get_args(getattr(chatkit.widgets, name)) == client_literal(name)


def test_widget_unions_and_series() -> None:
    import chatkit.widgets as w
    from chatkit.icons import IconName

    assert w.WidgetIcon is IconName is w.IconName
    assert w.ActionConfig is importlib.import_module("chatkit.actions").ActionConfig
    series = TypeAdapter(w.Series).validate_python({"type": "line", "label": None, "dataKey": "y"})
    assert type(series) is w.LineSeries
    strict = TypeAdapter(w.StrictWidgetComponent)
    assert type(strict.validate_python({"type": "Text", "value": "x"})) is w.Text
    with pytest.raises(ValidationError):
        strict.validate_python({"type": "Custom"})
    roots = TypeAdapter(w.StrictWidgetRoot)
    assert [type(roots.validate_python({"type": kind, "children": []})) for kind in ("Card", "ListView", "Basic")] == [
        w.Card,
        w.ListView,
        w.BasicRoot,
    ]
    with pytest.raises(ValidationError):
        roots.validate_python({"type": "Text", "value": "x"})
    assert get_args(w.CurveType)[0] == "basis"
