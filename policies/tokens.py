"""Links a client opens to acknowledge a policy version, with no login.

A signed, expiring value naming the client and the version. It is not
single use: acknowledging twice changes nothing.
"""

from django.core import signing

SALT = "policies.acknowledgement"
MAX_AGE = 60 * 60 * 24 * 30  # 30 days


def make_ack_token(*, client_id: int, version_id: int) -> str:
    return signing.dumps({"c": client_id, "v": version_id}, salt=SALT, compress=True)


def read_ack_token(token: str) -> tuple[int, int] | None:
    """(client id, version id), or None for a forged, altered or expired token."""
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), int) or not isinstance(data.get("v"), int):
        return None
    return data["c"], data["v"]
