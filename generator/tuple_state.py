"""A fast pickled form for the crawl's frozen slots dataclasses: a tuple of their fields.

The build state (`state.py`) holds the v1 crawl: 155,000 `Image`, `Repository`
and `Tag` objects at 20,000 repositories. What `dataclasses` gives a frozen
slots class to pickle it calls `fields()` for every object, both ways, and
was most of the second it took to load the state and most of the one it
took to save it. Here an object's state is the tuple of its field values, and
loading sets each slot through its descriptor, in code made once per class
(as `dataclasses` makes `__init__`).

Pickle shares an object written twice only within one pickle, and the state
is written in chunks (`state.dump_to`): an image id in the ancestry of
thousands of images would come back as thousands of strings. The fields
named `interned` (strings) and `interned_each` (tuples of strings) go through
`sys.intern` on load, so that every id is one string again, as the crawl made
it (`sources/v1.py` interns them too).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T", bound=type)


def tuple_state(
    *, interned: Iterable[str] = (), interned_each: Iterable[str] = ()
) -> Callable[[T], T]:
    """Class decorator, above `@dataclass(frozen=True, slots=True)`: see the module doc.

    Every field is in the tuple, in declaration order; a class whose fields
    change is another format (`state.FORMAT`).
    """
    interned, interned_each = frozenset(interned), frozenset(interned_each)

    def decorate(cls: T) -> T:
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = (interned | interned_each) - set(names)
        if unknown or not hasattr(cls, "__slots__"):
            raise TypeError(f"{cls.__name__}: not a slots dataclass with fields {sorted(unknown)}")
        values = [f"v{i}" for i in range(len(names))]
        lines = [f"def __getstate__(self):\n    return ({''.join(f'self.{n}, ' for n in names)})\n"]
        lines.append(f"def __setstate__(self, state):\n    {', '.join(values)}, = state\n")
        for i, name in enumerate(names):
            value = values[i]
            if name in interned:
                value = f"{value} if {value} is None else intern({value})"
            elif name in interned_each:
                value = f"{value} if {value} is None else tuple(map(intern, {value}))"
            lines.append(f"    set{i}(self, {value})\n")
        namespace: dict[str, Any] = {"intern": sys.intern}
        namespace.update({f"set{i}": getattr(cls, n).__set__ for i, n in enumerate(names)})
        exec("".join(lines), namespace)  # source made of field names only
        for method in ("__getstate__", "__setstate__"):
            function = namespace[method]
            function.__qualname__ = f"{cls.__qualname__}.{method}"
            setattr(cls, method, function)
        return cls

    return decorate
