"""Request bodies for fuzzing: documents drawn from the protocol's JSON Schema, and mutations of them.

`hypothesis-jsonschema` 0.23 fails on every object schema with the installed Hypothesis
(`'many' object has no attribute 'more'`), so documents come from this small seeded walker
over `protocol.schema.json` instead; it covers the schema's `$ref`, `oneOf`/`anyOf`, `const`,
`enum`, objects, arrays and scalars, which is all the request schema uses.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from tests.spec import SPEC_DATA

SCHEMA_PATH = SPEC_DATA / "protocol.schema.json"

_MARK = "@@mutation@@"
_TEXTS = ["hello", "", " ", "ümlaut ✓", "日本語", "a\u0000b", "<script>", "'; DROP TABLE x; --", "x" * 300]
_NUMBERS: list[Any] = [0, -1, 2**31, 2**63, 10**40, -(10**40), 1.5, 1e308]
_WEIRD: list[Any] = [None, True, False, *_NUMBERS, "", "x", [], {}, [1], {"a": 1}]
_NASTY_IDS = ["", "../../../etc/passwd", "..", "thr_", "a" * 5000, "\u0000", "%00", "thr_x'--", "/", "CON"]
# Raw JSON fragments that `json.dumps` cannot produce.
_RAW_VALUES = [
    b'"\xff\xfe"',
    b'"\xc0\xaf"',
    b'"\xed\xa0\x80"',
    b'"\\ud800"',
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e999",
    b"123456789012345678901234567890123456789012345678901234567890",
    b"tru",
    b'"unterminated',
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
]


@cache
def request_schema() -> dict[str, Any]:
    """The JSON Schema of a request, with the protocol's shared definitions."""
    protocol = json.loads(SCHEMA_PATH.read_text())
    return {"$defs": protocol["$defs"], **protocol["properties"]["request"]}


class SchemaWalker:
    """Draws documents that satisfy a JSON Schema, preferring `ids` for properties named like ids."""

    def __init__(self, rng: random.Random, ids: Callable[[str], Sequence[str]], max_depth: int = 6) -> None:
        self.rng = rng
        self.ids = ids
        self.max_depth = max_depth
        self.schema = request_schema()
        self.defs: dict[str, Any] = self.schema["$defs"]

    def request(self) -> Any:
        """One request document."""
        return self.value(self.schema, "", 0)

    def value(self, node: dict[str, Any], key: str, depth: int) -> Any:
        """A value for schema `node`, found under the property `key`."""
        rng = self.rng
        while "$ref" in node:
            node = self.defs[node["$ref"].rsplit("/", 1)[-1]]
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return rng.choice(node["enum"])
        for combinator in ("oneOf", "anyOf"):
            if combinator in node:
                options: list[dict[str, Any]] = node[combinator]
                if depth >= self.max_depth:
                    # Deep down, prefer the option that ends the recursion soonest.
                    simple = [option for option in options if option.get("type") in ("null", "string", "integer")]
                    options = simple or options
                return self.value(rng.choice(options), key, depth + 1)
        kind = node.get("type")
        if isinstance(kind, list):
            kind = rng.choice(kind)  # pyright: ignore[reportUnknownArgumentType]
        if kind == "object" or (kind is None and "properties" in node):
            return self._object(node, depth)
        if kind == "array":
            size = 0 if depth >= self.max_depth else rng.choice([0, 1, 1, 2, 3])
            return [self.value(node.get("items", {}), key, depth + 1) for _ in range(size)]
        if kind == "string":
            return self._string(node, key)
        if kind == "integer":
            low, high = node.get("minimum", -(2**63)), node.get("maximum", 2**63 - 1)
            return min(max(rng.choice([0, 1, 2, 5, 20, 100, -1, 2**31, 2**63 - 1]), low), high)
        if kind == "number":
            return rng.choice([0.0, 0.5, -3.25, 1e10])
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "null":
            return None
        return rng.choice([None, 1, "any", {"k": "v"}, [1, "two"]])

    def _object(self, node: dict[str, Any], depth: int) -> dict[str, Any]:
        required = set(node.get("required", []))
        result: dict[str, Any] = {}
        for name, sub in node.get("properties", {}).items():
            if name in required or (depth < self.max_depth and self.rng.random() < 0.5):
                result[name] = self.value(sub, name, depth + 1)
        return result

    def _string(self, node: dict[str, Any], key: str) -> str:
        rng = self.rng
        if key.endswith("id") or key in ("after", "attachments", "item_ids"):
            pool = self.ids(key)
            if pool and rng.random() < 0.85:
                return rng.choice(pool)
            return rng.choice(_NASTY_IDS)
        if key == "audio_base64":
            return rng.choice(["aGVsbG8=", "", "!!!", "aGVsbG8"])
        if key == "mime_type":
            return rng.choice(["text/plain", "image/png", "audio/webm", "application/x-evil", "", "text/plain; x=y"])
        text = rng.choice(_TEXTS)
        return text[: node.get("maxLength", len(text))]


class Mutator:
    """Breaks a valid request in the ways clients and attackers do."""

    def __init__(self, rng: random.Random, huge_string_bytes: int) -> None:
        self.rng = rng
        self.huge_string_bytes = huge_string_bytes
        self.operations: list[Callable[[Any], bytes]] = [
            self.truncate,
            self.retype,
            self.drop_key,
            self.extra_key,
            self.unknown_type,
            self.raw_value,
            self.nasty_id,
            self.wrong_top_level,
            self.duplicate_key,
        ]

    def mutate(self, document: Any) -> tuple[str, bytes]:
        """A mutated body and the name of the mutation."""
        operation = self.rng.choice(self.operations)
        return operation.__name__, operation(json.loads(json.dumps(document)))

    def truncate(self, document: Any) -> bytes:
        """Cut the JSON text short."""
        body = json.dumps(document).encode()
        return body[: self.rng.randrange(len(body))]

    def retype(self, document: Any) -> bytes:
        """Replace one value with a value of another type (or an absurd number)."""
        return self._replace(document, self.rng.choice(_WEIRD))

    def drop_key(self, document: Any) -> bytes:
        """Remove one key of one object."""
        objects = [node for node in _nodes(document) if isinstance(node, dict) and node]
        target = self.rng.choice(objects)
        del target[self.rng.choice(list(target))]  # pyright: ignore[reportUnknownArgumentType]
        return json.dumps(document).encode()

    def extra_key(self, document: Any) -> bytes:
        """Add an unknown key to one object."""
        objects = [node for node in _nodes(document) if isinstance(node, dict)]
        self.rng.choice(objects)["unexpected_" + str(self.rng.randrange(100))] = self.rng.choice(_WEIRD)
        return json.dumps(document).encode()

    def unknown_type(self, document: Any) -> bytes:
        """Change the request type (or an item type) to one that does not exist."""
        typed = [node for node in _nodes(document) if isinstance(node, dict) and "type" in node]
        self.rng.choice(typed)["type"] = self.rng.choice(["threads.explode", "", "THREADS.LIST", None, 7, "items"])
        return json.dumps(document).encode()

    def raw_value(self, document: Any) -> bytes:
        """Put bytes JSON cannot hold (invalid UTF-8, NaN, deep nesting, lone surrogates) in a value."""
        body = self._replace(document, _MARK)
        return body.replace(json.dumps(_MARK).encode(), self.rng.choice(_RAW_VALUES), 1)

    def nasty_id(self, document: Any) -> bytes:
        """Replace one string with a path traversal, an empty or a very long id."""
        return self._replace(document, self.rng.choice(_NASTY_IDS), strings_only=True)

    def wrong_top_level(self, document: Any) -> bytes:
        """Send something that is not a request object at all."""
        return self.rng.choice([b"", b"null", b"[]", b"42", b'"threads.list"', json.dumps([document]).encode()])

    def duplicate_key(self, document: Any) -> bytes:
        """Send the request type twice, the second one wrong."""
        body = json.dumps(document).encode()
        return body[:-1] + b', "type": "threads.list"}' if body.startswith(b"{") and len(body) > 2 else body

    def huge_string(self, document: Any) -> bytes:
        """Replace one string with a string of many megabytes."""
        return self._replace(document, "A" * self.huge_string_bytes, strings_only=True)

    def _replace(self, document: Any, value: Any, *, strings_only: bool = False) -> bytes:
        slots = [
            (parent, key)
            for parent, key, child in _slots(document)
            if not strings_only or isinstance(child, str)  # pyright: ignore[reportUnknownArgumentType]
        ]
        if not slots:
            return json.dumps(value).encode()
        parent, key = self.rng.choice(slots)
        parent[key] = value
        return json.dumps(document).encode()


def _nodes(document: Any) -> list[Any]:
    found = [document]
    if isinstance(document, dict):
        for child in document.values():  # pyright: ignore[reportUnknownVariableType]
            found.extend(_nodes(child))
    elif isinstance(document, list):
        for child in document:  # pyright: ignore[reportUnknownVariableType]
            found.extend(_nodes(child))
    return found


def _slots(document: Any) -> list[tuple[Any, Any, Any]]:
    """Every (container, key, value) in the document."""
    found: list[tuple[Any, Any, Any]] = []
    for node in _nodes(document):
        if isinstance(node, dict):
            found.extend((node, key, child) for key, child in node.items())  # pyright: ignore[reportUnknownVariableType]
        elif isinstance(node, list):
            found.extend((node, index, child) for index, child in enumerate(node))  # pyright: ignore[reportUnknownVariableType,reportUnknownArgumentType]
    return found
