"""What a client may send to the HTTP API, strictly typed and bounded in size (the app in :mod:`.app` uses it).

* An item id in a JSON body is a JSON string of at most :data:`MAX_ID_LENGTH` characters (or the catalogue's
  longest id, if longer) or a JSON integer that fits in 64 bits; never a boolean, a float or an object.
* ``k`` in a JSON body is a JSON integer (not ``true``, not ``"5"``, not ``5.0``); unknown body fields are refused.
* Integers in the URL or a form (``k``, ``offset``, ``limit``) are text by nature: ASCII decimal digits with an
  optional minus sign, at most :data:`MAX_INT_DIGITS` of them (so ``k=5`` works and ``k=5.0``, ``k= 5`` do not).
* A JSON body may have at most :func:`json_body_limit` bytes: the size of the largest valid request (``max_items``
  ids of the longest length, quoted and separated) plus :data:`JSON_SLACK`. Only the multipart upload
  ``POST /items`` gets the larger upload limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StrictInt, WithJsonSchema, create_model
from pydantic_core import PydanticCustomError

MAX_ID_LENGTH = 256
MAX_INT_DIGITS = 18
JSON_SLACK = 4096  # room for "k", the braces and a client's whitespace beside the largest list of ids
INT64 = 2 ** 63
_DECIMAL = re.compile(rf"-?[0-9]{{1,{MAX_INT_DIGITS}}}")


def id_length_limit(item_ids: Iterable[str]) -> int:
    """:data:`MAX_ID_LENGTH`, or the longest of ``item_ids`` if that is longer (every catalogue id stays sendable)."""
    return max(MAX_ID_LENGTH, max((len(i) for i in item_ids), default=0))


def json_body_limit(max_items: int, max_id_length: int) -> int:
    """Bytes a JSON request body may have: ``max_items`` quoted ids of ``max_id_length`` characters, each with a
    separator (``max_id_length + 4`` bytes), plus :data:`JSON_SLACK`."""
    return max_items * (max_id_length + 4) + JSON_SLACK


def check_item_id(value: object, max_length: int) -> str:
    """``value`` as an item id string; ``ValueError`` unless it is a string of at most ``max_length`` characters
    or a (non-boolean) integer that fits in 64 bits."""
    if isinstance(value, str):
        if len(value) > max_length:
            raise ValueError(f"an item id may have at most {max_length} characters, got {len(value)}")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if not -INT64 <= value < INT64:
            raise ValueError("an item id given as a number must fit in 64 bits")
        return str(value)
    raise ValueError(f"an item id must be a JSON string or integer, got {type(value).__name__}")


def url_int(value: Any) -> int:
    """A URL or form integer: a string of ASCII decimal digits (optional minus, at most :data:`MAX_INT_DIGITS`
    digits) or an int that is not a boolean; pydantic's ``int_parsing`` / ``int_type`` error otherwise."""
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            raise PydanticCustomError("int_parsing", "Input should be a valid integer (decimal digits, at most "
                                                     "{digits} of them)", {"digits": MAX_INT_DIGITS})
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


UrlInt = Annotated[int, PlainValidator(url_int), WithJsonSchema({"type": "integer"})]


def items_request_model(max_items: int, max_id_length: int) -> type[BaseModel]:
    """The body of ``POST /recommendations``: ``items`` (1 to ``max_items`` ids; pydantic stops at the length check,
    before looking at any element) and ``k``; unknown fields are refused."""
    def validate(value: object) -> str:
        try:
            return check_item_id(value, max_id_length)
        except ValueError as exc:  # pydantic would prefix a ValueError's message with "Value error, "
            raise PydanticCustomError("item_id", str(exc)) from None

    item_id = Annotated[str, PlainValidator(validate),
                        WithJsonSchema({"anyOf": [{"type": "string", "maxLength": max_id_length},
                                                  {"type": "integer"}]})]
    items = Annotated[list[item_id], Field(max_length=max_items, description="item ids from the catalogue",
                                           examples=[["50", "172", "181"]])]
    k = Annotated[StrictInt, Field(description="how many items to return")]
    return create_model("ItemsRequest", __config__=ConfigDict(extra="forbid"),
                        __doc__="A user the model has never seen, described by items they liked.",
                        items=(items, ...), k=(k, 10))
