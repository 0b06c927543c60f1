#ifndef IMAGEFEED_CLIENT_CURSOR_TOKEN_H_
#define IMAGEFEED_CLIENT_CURSOR_TOKEN_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "imagefeed/v1/imagefeed.pb.h"

namespace imagefeed {

// The prefix of every cursor token; the version lets a later encoding coexist.
inline constexpr char kCursorTokenPrefix[] = "ifc1.";

// A cursor as a short printable token, identical in the C++ and Python
// clients: "ifc1." + URL-safe base64 without '=' padding of the serialized
// v1.Cursor. Safe in a shell argument, a URL and a file name.
std::string EncodeCursor(const v1::Cursor& cursor);

// The inverse of EncodeCursor. INVALID_ARGUMENT naming `what` (the flag or
// field the token came from, e.g. "--resume") if the token lacks the
// prefix, is not base64 or does not parse as a Cursor.
absl::StatusOr<v1::Cursor> DecodeCursor(absl::string_view token, absl::string_view what = "resume");

}  // namespace imagefeed

#endif  // IMAGEFEED_CLIENT_CURSOR_TOKEN_H_
