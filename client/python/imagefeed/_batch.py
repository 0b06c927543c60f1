"""Decoding of Batch messages without copying the tensor.

grpcio hands the client each message as one `bytes` object (it has already copied the
bytes a few times). `Batch.FromString` would copy the tensor once more into the message
and `.data` once more into a new `bytes`, so instead the top-level wire format is
scanned here: the `data` field is viewed in place with np.frombuffer and only the small
remainder (shape, labels, ids, ...) goes through the protobuf parser. Fields may come in
any order (the server sends `data` last), and fields added to Batch later still parse.
"""

import numpy as np

from imagefeed import _cursor
from imagefeed._request import enum_names
from imagefeed.v1 import imagefeed_pb2 as pb

_DATA_FIELD = pb.Batch.DESCRIPTOR.fields_by_name["data"].number
_DTYPE_NAMES = enum_names(pb.Batch.DESCRIPTOR.fields_by_name["dtype"].enum_type)
_LAYOUT_NAMES = enum_names(pb.Batch.DESCRIPTOR.fields_by_name["layout"].enum_type)


class WireError(ValueError):
    """The bytes are not a well-formed Batch message."""


def _varint(buf, pos):
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def split_data(raw):
    """Returns (header, offset, length): `raw` without its `data` field, and where the
    (last, as protobuf specifies) `data` field's bytes lie in `raw`."""
    pos, end = 0, len(raw)
    kept = []  # (start, stop) ranges of every field but `data`
    offset = length = 0
    while pos < end:
        field_start = pos
        key, pos = _varint(raw, pos)
        wire_type = key & 7
        if wire_type == 0:
            _, pos = _varint(raw, pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 2:
            size, pos = _varint(raw, pos)
            if key >> 3 == _DATA_FIELD:
                offset, length = pos, size
            pos += size
        elif wire_type == 5:
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wire_type}")
        if pos > end:
            raise WireError("field runs past the end of the message")
        if key >> 3 != _DATA_FIELD:
            if kept and kept[-1][1] == field_start:
                kept[-1] = (kept[-1][0], pos)
            else:
                kept.append((field_start, pos))
    if len(kept) == 1:
        header = raw[kept[0][0]:kept[0][1]]
    else:
        header = b"".join(raw[a:b] for a, b in kept)
    return header, offset, length


def dtype_name(dtype_enum):
    """"float32", "uint8", "float16", "bfloat16" (or None) for a DType enum value."""
    name = _DTYPE_NAMES.get(dtype_enum)
    return "float32" if name == "unspecified" else name


def numpy_dtype(dtype_enum):
    """np.dtype for a DType enum value (little-endian, as the protocol says). numpy has
    no bfloat16: its values come as their raw bits, uint16."""
    name = dtype_name(dtype_enum)
    if name == "bfloat16":
        name = "uint16"
    if name is None:
        raise WireError(f"batch dtype {dtype_enum} is unknown to this client (update imagefeed)")
    try:
        return np.dtype(name).newbyteorder("<")
    except TypeError:
        raise WireError(f"batch dtype {dtype_enum} ({name}) has no numpy equivalent") from None


class Batch:
    """One batch of a stream.

    images      numpy array of the batch's shape and dtype, read-only: a view of the
                received message (np.frombuffer, no copy); `.copy()` it to write.
    labels      int64 numpy array, parallel to the samples.
    sample_ids  int64 numpy array, parallel to the samples.
    epoch, position, span
                position is the index of the first sample in the stream's (rank's)
                sequence; span counts the positions it covers (skipped ones included),
                so a stream resumes after this batch with start = position + span
                (`next_start`).
    skipped     list of dicts {sample_id, path, reason} (samples left out under
                on_error="skip").
    layout      "nchw" or "nhwc".
    dtype       the wire dtype: "float32", "uint8", "float16" or "bfloat16". numpy has no
                bfloat16, so for "bfloat16" `images` is uint16 holding the raw bits
                (imagefeed.torch views them as torch.bfloat16; as_float32() widens them).
    input_scale, input_offset
                None, or float32 arrays of one value per channel when `images` are raw
                uint8 values of a per-channel normalization (dtype="uint8" with normalize
                "rescale" with a scale/offset, "standardize" or "minmax"): the model input
                is images * input_scale[c] + input_offset[c] (as_float32() computes it).
    cursor      token (str) that resumes right after this batch: Client.batches(...,
                resume=batch.cursor), on the same or other servers, with the same or
                (elastic) another world_size. See imagefeed._cursor.
    padded      indices (into this batch) of padded repeats (even_shards="pad").
    replaced    list of dicts {index, original_id, replacement_id}: samples that failed
                and were replaced (full batches: fill_skipped).
    dataset_fingerprint, server_version
                the served dataset's content fingerprint and the server's version.
    stream, target
                index (in the servers of the stream's current attempt) and address of
                the server that sent it. Which server sent a batch does not change the
                batch: with fan-in, batches, positions and cursors are those of one server.
    index       the batch's number in the stream, counted from where it started (start=
                or resume=).
    message     the Batch protobuf without `data` (for fields added later).
    """

    __slots__ = ("images", "labels", "sample_ids", "epoch", "position", "span", "skipped",
                 "layout", "stream", "target", "message", "dtype", "input_scale", "input_offset",
                 "cursor", "padded", "replaced", "dataset_fingerprint", "server_version", "index")

    def as_float32(self):
        """The model input as a new float32 array: float16 and bfloat16 widened exactly,
        raw uint8 times input_scale plus input_offset per channel (a float32 multiply, then
        an add, as dtype="float32" computes it on the server). A float32 batch is returned
        as it is (the read-only view, no copy)."""
        images = self.images
        if self.dtype == "float32":
            return images
        if self.dtype == "bfloat16":
            out = (images.astype(np.uint32) << 16).view(np.float32)
        else:
            out = images.astype(np.float32)
        if self.input_scale is not None:
            shape = (1, -1, 1, 1) if self.layout == "nchw" else (1, 1, 1, -1)
            out *= self.input_scale.reshape(shape)
            out += self.input_offset.reshape(shape)
        return out

    @property
    def next_start(self):
        return self.position + self.span

    def __len__(self):
        return len(self.sample_ids)

    def __repr__(self):
        return (f"Batch(shape={self.images.shape}, dtype={self.images.dtype}, epoch={self.epoch}, "
                f"position={self.position}, span={self.span}, stream={self.stream})")


def decode_batch(raw, stream=0, target=""):
    """Builds a Batch from the serialized message `raw` (bytes)."""
    header, offset, length = split_data(raw)
    msg = pb.Batch.FromString(header)
    dtype = numpy_dtype(msg.dtype)
    shape = tuple(msg.shape)
    count = 1
    for d in shape:
        count *= d
    if count * dtype.itemsize != length or any(d < 0 for d in shape):
        raise WireError(f"batch data is {length} bytes, but shape {list(shape)} of {dtype} "
                        f"needs {count * dtype.itemsize}")
    if count:
        images = np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(shape)
    else:
        images = np.empty(shape, dtype=dtype)
    return batch_from_message(msg, images, stream, target)


def batch_from_message(msg, images, stream=0, target=""):
    """A Batch of the header `msg` (a Batch message without data) and its tensor `images`."""
    shape = tuple(msg.shape)
    b = Batch()
    b.images = images
    b.labels = np.array(msg.labels, dtype=np.int64)
    b.sample_ids = np.array(msg.sample_ids, dtype=np.int64)
    b.epoch = msg.epoch
    b.position = msg.position
    b.span = msg.span
    b.skipped = [{"sample_id": s.sample_id, "path": s.path, "reason": s.reason} for s in msg.skipped]
    b.layout = _LAYOUT_NAMES.get(msg.layout, "nchw")
    if b.layout == "unspecified":
        b.layout = "nchw"
    b.stream = stream
    b.target = target
    b.message = msg
    b.dtype = dtype_name(msg.dtype)
    b.input_scale = b.input_offset = None
    if msg.input_scale:
        channels = shape[1] if b.layout == "nchw" else shape[-1]
        if len(shape) != 4 or len(msg.input_scale) != channels or len(msg.input_offset) != channels:
            raise WireError(f"batch carries {len(msg.input_scale)} input_scale and {len(msg.input_offset)} "
                            f"input_offset values for shape {list(shape)} ({b.layout})")
        b.input_scale = np.array(msg.input_scale, dtype=np.float32)
        b.input_offset = np.array(msg.input_offset, dtype=np.float32)
    b.cursor = _cursor.encode(msg.cursor) if msg.HasField("cursor") else None
    b.padded = list(msg.padded)
    b.replaced = [{"index": r.index, "original_id": r.original_id, "replacement_id": r.replacement_id}
                  for r in msg.replaced]
    b.dataset_fingerprint = msg.dataset_fingerprint
    b.server_version = msg.server_version
    b.index = 0
    return b
