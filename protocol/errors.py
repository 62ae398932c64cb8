"""Errors of the wire protocol. Each refusal names what was wrong, never a secret.

    ProtocolError                  base: a message or encoding was refused
    ├── EnvelopeRefused            an incoming envelope failed a check (checked in this order)
    │   ├── EnvelopeTooLarge         size: larger than the limit
    │   ├── MalformedEnvelope        parse: not a well-formed envelope
    │   ├── UnknownSender            sender: key id of no trusted peer (or revoked, or expired)
    │   ├── WrongRecipient           sender: addressed to a key that is not ours
    │   ├── StaleEnvelope            time: created outside the clock window
    │   ├── BadSignature             signature: does not verify under the sender's key
    │   ├── ReplayedEnvelope         replay: a message id already processed
    │   ├── UndecryptableEnvelope    decrypt: HPKE open failed
    │   └── BadPayload               schema: decrypted payload is not a valid message
    │       └── BadProfile             a directory entry or statistics table is refused
    └── BlindingError              a match key could not be blinded

``status`` on each EnvelopeRefused is the HTTP status the node answers with.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """A message or encoding was refused."""


class EnvelopeRefused(ProtocolError):
    status = 400
    reason = "refused"


class EnvelopeTooLarge(EnvelopeRefused):
    status = 413
    reason = "too-large"


class MalformedEnvelope(EnvelopeRefused):
    reason = "malformed"


class UnknownSender(EnvelopeRefused):
    status = 403
    reason = "unknown-sender"


class WrongRecipient(EnvelopeRefused):
    status = 403
    reason = "wrong-recipient"


class StaleEnvelope(EnvelopeRefused):
    reason = "stale"


class BadSignature(EnvelopeRefused):
    status = 403
    reason = "bad-signature"


class ReplayedEnvelope(EnvelopeRefused):
    """Already processed. The node fills in who sent it and a fresh acknowledgement, so the
    sender can stop re-sending a message whose first acknowledgement was lost."""

    status = 409
    reason = "replayed"
    peer_id: int | None = None
    message_id: str | None = None
    ack: bytes | None = None


class UndecryptableEnvelope(EnvelopeRefused):
    reason = "undecryptable"


class BadPayload(EnvelopeRefused):
    status = 422
    reason = "bad-payload"


class BlindingError(ProtocolError):
    """A match key could not be blinded (e.g. it hashed to a low-order point)."""


class BadProfile(BadPayload):
    """A directory profile or entry (or a published statistics table) is refused.

    ``problems`` holds one sentence per problem, so an admin can fix a profile in one pass.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))
