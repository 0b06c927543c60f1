#include "client/cursor_token.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace imagefeed {

std::string EncodeCursor(const v1::Cursor& cursor) {
  std::string bytes;
  cursor.SerializeToString(&bytes);
  // WebSafeBase64Escape writes no '=' padding.
  return absl::StrCat(kCursorTokenPrefix, absl::WebSafeBase64Escape(bytes));
}

absl::StatusOr<v1::Cursor> DecodeCursor(absl::string_view token, absl::string_view what) {
  auto bad = [&](absl::string_view why) {
    const absl::string_view shown = token.size() > 64 ? token.substr(0, 64) : token;
    return absl::InvalidArgumentError(absl::StrCat(what, ": '", shown, token.size() > 64 ? "...'" : "'",
                                                   " is not a cursor token (", why,
                                                   "; pass the token a batch or `cursor` output printed)"));
  };
  if (!absl::StartsWith(token, kCursorTokenPrefix)) return bad(absl::StrCat("it must start with ", kCursorTokenPrefix));
  const absl::string_view body = token.substr(sizeof(kCursorTokenPrefix) - 1);
  if (body.find('=') != absl::string_view::npos || body.find('+') != absl::string_view::npos ||
      body.find('/') != absl::string_view::npos) {
    return bad("not URL-safe base64 without padding");
  }
  std::string bytes;
  if (!absl::WebSafeBase64Unescape(body, &bytes)) return bad("not URL-safe base64");
  v1::Cursor cursor;
  if (!cursor.ParseFromString(bytes)) return bad("not a serialized Cursor");
  if (cursor.world_size() == 0 || cursor.order_fingerprint().empty()) return bad("the cursor is incomplete");
  return cursor;
}

}  // namespace imagefeed
