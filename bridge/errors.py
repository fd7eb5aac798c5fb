"""Domain errors carry a Twilio error code and the HTTP status the edge should answer with."""

from __future__ import annotations

# Platform codes (Twilio's meanings).
INVALID_PARAMETER = 20001
AUTHENTICATE = 20003
METHOD_NOT_ALLOWED = 20004
NOT_FOUND = 20404
TOO_MANY_REQUESTS = 20429
INTERNAL_ERROR = 20500
SERVICE_UNAVAILABLE = 20503  # (bridge) a dependency is down for a moment: retry

# Conversations codes.
USER_EXISTS = 50201
IDENTITY_TOO_LONG = 50207
ATTRIBUTES_INVALID = 50304
CONVERSATION_NOT_FOUND = 50350
UNIQUE_NAME_TAKEN = 50353
CONVERSATION_CLOSED = 50377
TIMER_WITHOUT_STATE = 50382
UNIQUE_NAME_LOOKS_LIKE_SID = 50390
INVALID_ADDRESS = 50407
INVALID_PROXY_ADDRESS = 50408
ADDRESS_EQUALS_PROXY = 50409
PROXY_ADDRESS_MISSING = 50412
BINDING_IN_USE = 50416
NON_CHAT_LIMIT = 50418
BINDING_TYPE_UNSUPPORTED = 50420
ADDRESS_PAIRS_IN_USE = 50425
TOO_MANY_PARTICIPANTS_IN_REQUEST = 50426
PARTICIPANT_NOT_FOUND = 50432
PARTICIPANT_EXISTS = 50433
ROLE_NOT_FOUND = 50109

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"


class BridgeError(Exception):
    """A request the bridge refuses, in Twilio's terms."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": MORE_INFO.format(code=self.code),
            "status": self.status,
        }


def invalid(message: str, code: int = INVALID_PARAMETER) -> BridgeError:
    return BridgeError(code, message, 400)


def not_found(message: str, code: int = NOT_FOUND) -> BridgeError:
    return BridgeError(code, message, 404)


def conflict(message: str, code: int) -> BridgeError:
    return BridgeError(code, message, 409)
