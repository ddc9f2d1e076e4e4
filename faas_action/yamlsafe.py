"""YAML from the user, parsed within bounds.

Owns: turning untrusted YAML text (the config file, YAML-valued inputs) into plain data, or one
`YamlError` whose message names the line. PyYAML's safe loader with four limits added while it
composes, each linear in the text, so that any refusal comes at once:
- depth: nesting deeper than MAX_DEPTH (no real config comes close; PyYAML itself would recurse
  until RecursionError at ~1,000-2,000 levels);
- expansion: the document's size with every alias expanded, counted as nodes plus scalar
  characters, above MAX_EXPANDED ("billion laughs": 300 bytes that expand to 10^9 nodes);
- aliases: more than MAX_ALIASES alias uses, and any alias to a node that contains it;
- duplicate keys in any mapping (PyYAML silently keeps the last one); `<<` merge keys still
  override as YAML defines.
The text is parsed by libyaml's parser when present (C speed); composing and constructing are
PyYAML's own Python code with the checks above.
Must not: read files (the caller bounds what it reads) or know what the data means.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

MAX_DEPTH = 64
MAX_EXPANDED = 2 * 1024 * 1024
MAX_ALIASES = 1000
MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlError(ValueError):
    """The text is not YAML we accept; the message is one line that names where."""


class _Refused(yaml.MarkedYAMLError):
    pass


class _Bounded(Composer, SafeConstructor, Resolver):
    """PyYAML's safe composer and constructor, counting depth, aliases and expanded size as
    they go; a parser class (libyaml's or PyYAML's) completes it into a loader."""

    def __init__(self) -> None:
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        Composer.__init__(self)
        self._depth = 0
        self._aliases = 0
        self._expanded: dict[Node, int] = {}  # a finished node → its size with aliases expanded
        self._checked: set[int] = set()

    # -- composing: depth, aliases, expansion -----------------------------------------------
    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None and target not in self._expanded:
                raise _Refused(None, None, f"alias *{event.anchor} refers to a node that contains it (recursive)", event.start_mark)
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Refused(None, None, f"more than {MAX_ALIASES} aliases", event.start_mark)
            return super().compose_node(parent, index)  # an undefined alias is PyYAML's error
        start = self.peek_event().start_mark
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(None, None, f"nested deeper than {MAX_DEPTH} levels", start)
        node = super().compose_node(parent, index)
        self._depth -= 1
        self._expanded[node] = size = self._size(node)
        if size > MAX_EXPANDED:
            raise _Refused(None, None, f"expands to more than {MAX_EXPANDED:,} nodes and characters (aliases expanded)", start)
        return node

    def _size(self, node: Node) -> int:
        if isinstance(node, ScalarNode):
            return 1 + len(node.value)
        if isinstance(node, SequenceNode):
            return 1 + sum(self._expanded[child] for child in node.value)
        assert isinstance(node, MappingNode)
        return 1 + sum(self._expanded[key] + self._expanded[value] for key, value in node.value)

    # -- constructing: duplicate keys ---------------------------------------------------------
    def flatten_mapping(self, node: MappingNode) -> None:
        # Runs first on every mapping, before its merge keys are folded into it: its own keys
        # are still the ones the text wrote.
        if id(node) not in self._checked:
            self._checked.add(id(node))
            seen: dict[Any, Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == MERGE_TAG or not isinstance(key_node, ScalarNode):
                    continue
                key = self.construct_object(key_node)
                if key in seen:
                    first = seen[key].start_mark.line + 1
                    raise ConstructorError(
                        None, None, f"duplicate key {key!r} (first at line {first})", key_node.start_mark
                    )
                seen[key] = key_node
        super().flatten_mapping(node)


try:  # libyaml's parser: the same events as PyYAML's pure-Python one, several times faster

    from yaml._yaml import CParser

    class _Loader(_Bounded, CParser):
        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            _Bounded.__init__(self)

except ImportError:  # pragma: no cover - a PyYAML built without libyaml
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Loader(_Bounded, Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, text: str) -> None:
            Reader.__init__(self, text)
            Scanner.__init__(self)
            Parser.__init__(self)
            _Bounded.__init__(self)


def load(text: str) -> Any:
    """The data in `text` (one document), or YamlError."""
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        raise YamlError(_one_line(exc)) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, such as NUL
        raise YamlError(f"character {exc.position + 1}: {exc.character!r} is not allowed in YAML ({exc.reason})") from None
    except yaml.YAMLError as exc:
        raise YamlError(" ".join(str(exc).split())) from None
    except RecursionError:  # a guard: MAX_DEPTH keeps the composer and constructor far from it
        raise YamlError(f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def _one_line(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
    if exc.context and exc.problem and not isinstance(exc, (_Refused, ConstructorError)):
        problem = f"{' '.join(exc.context.split())}: {problem}"
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem
