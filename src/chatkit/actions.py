"""Actions: what a widget asks the server (or the client) to do when the user interacts."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar, get_args

from pydantic import BaseModel, Field, model_validator

from chatkit._json import json_object

Handler = Literal["client", "server"]
LoadingBehavior = Literal["auto", "none", "self", "container"]

DEFAULT_HANDLER: Handler = "server"
"""Who runs an action when the widget does not say: the server."""

DEFAULT_LOADING_BEHAVIOR: LoadingBehavior = "auto"
"""How the client shows a running action when the widget does not say."""

TType = TypeVar("TType", bound=str)
TPayload = TypeVar("TPayload")


class ActionConfig(BaseModel):
    """An action as a widget carries it: the type, payload and how the client runs it."""

    type: str
    payload: Any = None
    handler: Handler = DEFAULT_HANDLER
    loadingBehavior: LoadingBehavior = DEFAULT_LOADING_BEHAVIOR
    streaming: bool = True


class Action(BaseModel, Generic[TType, TPayload]):
    """A typed action as the server receives it; subclass with a `Literal` type to define one."""

    # The factory only shapes the schema (`type` optional, as the client may omit it for typed
    # actions); `_fill_type` supplies the literal or rejects the action before it could run.
    type: TType = Field(default_factory=lambda: "", frozen=True)  # type: ignore[assignment]
    payload: TPayload = None  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _fill_type(cls, data: Any) -> Any:
        fields = json_object(data)
        if fields is not None and "type" not in fields:
            literal = _literal_type(cls)
            if literal is None:
                raise ValueError("an action needs a `type`")
            return {**fields, "type": literal}
        return data

    @classmethod
    def create(
        cls,
        payload: TPayload,
        handler: Handler = DEFAULT_HANDLER,
        loading_behavior: LoadingBehavior = DEFAULT_LOADING_BEHAVIOR,
        streaming: bool = True,
    ) -> ActionConfig:
        """Build the `ActionConfig` a widget needs to send this action with `payload`."""
        literal = _literal_type(cls)
        if literal is None:
            raise TypeError(f"{cls.__name__}.create needs a subclass whose `type` is a single string Literal")
        return ActionConfig(
            type=literal,
            payload=payload,
            handler=handler,
            loadingBehavior=loading_behavior,
            streaming=streaming,
        )


def _literal_type(cls: type[BaseModel]) -> str | None:
    """The action type fixed by a subclass's `Literal` annotation, if there is exactly one."""
    values = get_args(cls.model_fields["type"].annotation)
    if len(values) == 1 and isinstance(values[0], str):
        return values[0]
    return None


__all__ = [
    "DEFAULT_HANDLER",
    "DEFAULT_LOADING_BEHAVIOR",
    "Action",
    "ActionConfig",
    "Handler",
    "LoadingBehavior",
    "TPayload",
    "TType",
]
