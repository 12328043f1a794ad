"""Icon names understood by the ChatKit client."""

from typing import Annotated, Literal

from pydantic import StringConstraints

VendorIconName = Annotated[str, StringConstraints(pattern="^vendor:")]
"""An icon from an integrator-registered vendor set, written `vendor:<name>`."""

LucideIconName = Annotated[str, StringConstraints(pattern="^lucide:")]
"""An icon from the Lucide set, written `lucide:<name>`."""

IconName = (
    Literal[
        "agent",
        "analytics",
        "atom",
        "batch",
        "bolt",
        "book-open",
        "book-closed",
        "book-clock",
        "bug",
        "calendar",
        "chart",
        "check",
        "check-circle",
        "check-circle-filled",
        "chevron-left",
        "chevron-right",
        "circle-question",
        "clock",
        "compass",
        "confetti",
        "cube",
        "desktop",
        "document",
        "dot",
        "dots-horizontal",
        "dots-vertical",
        "empty-circle",
        "external-link",
        "globe",
        "keys",
        "lab",
        "images",
        "info",
        "lifesaver",
        "lightbulb",
        "mail",
        "map-pin",
        "maps",
        "mobile",
        "name",
        "notebook",
        "notebook-pencil",
        "page-blank",
        "phone",
        "play",
        "plus",
        "profile",
        "profile-card",
        "reload",
        "star",
        "star-filled",
        "search",
        "sparkle",
        "sparkle-double",
        "square-code",
        "square-image",
        "square-text",
        "suitcase",
        "settings-slider",
        "user",
        "wreath",
        "write",
        "write-alt",
        "write-alt2",
    ]  # fmt: skip
    | VendorIconName
    | LucideIconName
)
"""A built-in icon name, or a vendor / Lucide icon reference."""

__all__ = ["IconName", "LucideIconName", "VendorIconName"]
