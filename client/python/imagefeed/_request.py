"""Builds request messages from Python keyword arguments, driven by the proto descriptor.

Every field of a request message can be given by its proto name; enum fields take the
value's name in lowercase without the enum's prefix (``normalize="none"`` is
``NORMALIZATION_NONE``, ``on_error="skip"`` is ``ON_ERROR_SKIP``). Nothing here names a
field of StreamBatchesRequest, so fields added to the .proto later work without changes.
"""

from google.protobuf import descriptor as _descriptor

_FD = _descriptor.FieldDescriptor


def enum_prefix(enum_desc):
    """The prefix shared by an enum's value names, e.g. "ON_ERROR_" for OnError.

    Proto style names the zero value PREFIX_UNSPECIFIED; otherwise the longest
    common prefix of the value names that ends in "_" is used.
    """
    zero = enum_desc.values_by_number.get(0)
    if zero is not None and zero.name.endswith("_UNSPECIFIED"):
        return zero.name[: -len("UNSPECIFIED")]
    names = [v.name for v in enum_desc.values]
    common = names[0]
    for name in names[1:]:
        while not name.startswith(common):
            common = common[:-1]
    return common[: common.rfind("_") + 1]


def enum_names(enum_desc):
    """Maps each value number of `enum_desc` to its short lowercase name ("skip")."""
    prefix = enum_prefix(enum_desc)
    return {v.number: v.name[len(prefix):].lower() for v in enum_desc.values}


def enum_value(field_desc, value):
    """Converts "skip", "ON_ERROR_SKIP" or a valid number into the number of an enum field."""
    enum_desc = field_desc.enum_type
    short = enum_names(enum_desc)
    if isinstance(value, str):
        wanted = value.strip().lower()
        for number, name in short.items():
            if wanted == name or wanted == enum_desc.values_by_number[number].name.lower():
                return number
    elif isinstance(value, int) and not isinstance(value, bool):
        if value in enum_desc.values_by_number:
            return value
    allowed = ", ".join(repr(n) for n in short.values())
    raise ValueError(f"{field_desc.name}={value!r} is not a valid {enum_desc.name}; allowed: {allowed}")


def _set_message(target, value):
    if isinstance(value, dict):
        fill_message(target, value)
    else:
        target.CopyFrom(value)


def _set_field(message, field_desc, value):
    name = field_desc.name
    is_message = field_desc.type == _FD.TYPE_MESSAGE
    is_enum = field_desc.type == _FD.TYPE_ENUM
    if field_desc.label == _FD.LABEL_REPEATED:
        if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        target = getattr(message, name)
        for item in value:
            if is_message:
                _set_message(target.add(), item)
            else:
                target.append(enum_value(field_desc, item) if is_enum else item)
    elif is_message:
        _set_message(getattr(message, name), value)
    else:
        setattr(message, name, enum_value(field_desc, value) if is_enum else value)


def fill_message(message, fields):
    """Sets `fields` (a dict of proto field name -> value) on `message`.

    None leaves a field unset. Raises ValueError naming the field for unknown names,
    bad enum names and values of the wrong type or range.
    """
    desc = message.DESCRIPTOR
    for name, value in fields.items():
        field_desc = desc.fields_by_name.get(name)
        if field_desc is None:
            known = ", ".join(f.name for f in desc.fields)
            raise ValueError(f"unknown {desc.name} field {name!r}; known fields: {known}")
        if value is None:
            continue
        try:
            _set_field(message, field_desc, value)
        except ValueError as err:
            if str(err).startswith(f"{name}="):
                raise
            raise ValueError(f"{name}={value!r}: {err}") from None
        except TypeError as err:
            raise ValueError(f"{name}={value!r}: {err}") from None
    return message


def message_to_dict(message):
    """Converts a message into plain Python values: enums as short lowercase names,
    repeated fields as lists, maps and nested messages as dicts. Every field is included."""
    out = {}
    for field_desc in message.DESCRIPTOR.fields:
        value = getattr(message, field_desc.name)
        entry = field_desc.message_type
        if entry is not None and entry.GetOptions().map_entry:
            value_desc = entry.fields_by_name["value"]
            convert = message_to_dict if value_desc.type == _FD.TYPE_MESSAGE else (lambda v: v)
            out[field_desc.name] = {k: convert(v) for k, v in value.items()}
            continue
        if field_desc.type == _FD.TYPE_ENUM:
            names = enum_names(field_desc.enum_type)
            convert = lambda v, names=names: names.get(v, v)  # noqa: E731
        elif field_desc.type == _FD.TYPE_MESSAGE:
            convert = message_to_dict
        else:
            convert = lambda v: v  # noqa: E731
        if field_desc.label == _FD.LABEL_REPEATED:
            out[field_desc.name] = [convert(v) for v in value]
        elif field_desc.has_presence and not message.HasField(field_desc.name):
            out[field_desc.name] = None
        else:
            out[field_desc.name] = convert(value)
    return out
