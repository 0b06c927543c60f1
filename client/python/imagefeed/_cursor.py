"""Cursor tokens: where a stream stands, as a string a checkpoint can hold.

A token is "ifc1." + URL-safe base64 (no "=" padding) of the serialized v1.Cursor the
server put in the batch; the C++ client and the CLI use the same format, so a token
taken in one resumes in the others.
"""

import base64

from google.protobuf.message import DecodeError

from imagefeed.v1 import imagefeed_pb2 as pb

PREFIX = "ifc1."


def encode(cursor):
    """The token of a v1.Cursor message."""
    raw = cursor.SerializeToString(deterministic=True)
    return PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(token):
    """The v1.Cursor of a token. Raises ValueError saying what is wrong with it."""
    if not isinstance(token, str) or not token.startswith(PREFIX):
        raise ValueError(f"resume={token!r}: not an imagefeed cursor (expected a string starting with "
                         f"{PREFIX!r}, as batch.cursor or stream.cursor give)")
    body = token[len(PREFIX):]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        cursor = pb.Cursor.FromString(raw)
    except (ValueError, DecodeError) as err:
        raise ValueError(f"resume={token!r}: malformed cursor token ({err})") from None
    if cursor.world_size == 0:
        raise ValueError(f"resume={token!r}: malformed cursor token (world_size 0)")
    return cursor


def from_resume(resume):
    """A v1.Cursor from what `resume=` accepts: a token, a state dict {"cursor": token, ...}
    (BatchStream.state_dict(), ImageFeedDataset.state_dict()), a v1.Cursor, or None."""
    if resume is None:
        return None
    if isinstance(resume, pb.Cursor):
        return resume
    if isinstance(resume, dict):
        if "cursor" not in resume:
            raise ValueError(f"resume={resume!r}: a state dict needs a 'cursor' key")
        return from_resume(resume["cursor"])
    return decode(resume)
