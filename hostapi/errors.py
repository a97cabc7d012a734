"""Errors the host reports to extensions and their tests with a meaning of their own (1.6).

:class:`hostapi.Conflict`, :class:`hostapi.NotFound` and :class:`hostapi.ScopeError` are the
context's (``hostapi.context``); these are what ``hostapi.testing`` raises when the host
refuses an author's step, instead of the host's internal errors. Every error the kit raises
for a refusal carries the ``status_code`` the REST API answers the same refusal with:
:class:`~hostapi.NotFound` 404, :class:`~hostapi.Forbidden` 403, :class:`~hostapi.Conflict`
and :class:`~hostapi.LifecycleRefused` 409, :class:`~hostapi.ValidationError` 422.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hostapi.context import Conflict


class ValidationError(ValueError):
    """Input was refused: ``errors`` maps each field refused to its messages (English), as the
    REST API's 422 answers do (``{"subject": ["Required."]}``).

    It is not ``marshmallow.ValidationError``: an :class:`~hostapi.ApiRoute`'s handler raises
    marshmallow's to answer 422.

    .. versionadded:: 1.6
    """

    status_code = 422

    def __init__(self, errors: Mapping[str, Sequence[str]]) -> None:
        self.errors: dict[str, list[str]] = {
            field: [str(message) for message in messages] for field, messages in errors.items()
        }
        super().__init__(
            "; ".join(f"{field}: {' '.join(messages)}" for field, messages in self.errors.items())
        )


class LifecycleRefused(Conflict):
    """The installation lifecycle refused a step in the installation's present state: restoring
    one that is not archived, editing or registering a client for an archived one, installing a
    single-install extension twice, asking an inactive installation for a token.

    .. versionadded:: 1.6
    """


class Forbidden(PermissionError):
    """The acting agent may see the record but lacks ``permission``, the permission the step
    needs (``"ticket.reply"``…), as the REST API's 403 answers. A ``PermissionError``, so an
    :class:`~hostapi.ApiRoute`'s handler raising it answers 403 too.

    .. versionadded:: 1.6
    """

    status_code = 403

    def __init__(self, permission: str) -> None:
        self.permission = permission
        super().__init__(f"missing permission {permission!r}")
