"""Media-type helpers shared by the attachment stores."""

SNIFF_BYTES = 512
"""How many leading bytes of a file its type is told from."""


def base_mime(mime_type: str) -> str:
    """The media type without its parameters, lower-cased (`Text/Plain; charset=x` -> `text/plain`)."""
    return mime_type.split(";", 1)[0].strip().lower()
