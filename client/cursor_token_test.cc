#include "client/cursor_token.h"

#include <gtest/gtest.h>

#include <string>

namespace imagefeed {
namespace {

v1::Cursor SampleCursor() {
  v1::Cursor c;
  c.set_epoch(3);
  c.set_global_start(17);
  c.set_world_size(4);
  c.set_rank(2);
  c.set_position(250);
  c.set_order_fingerprint("0123456789abcdef0123456789abcdef");
  c.set_even_shards(v1::EVEN_SHARDS_PAD);
  return c;
}

TEST(CursorTokenTest, RoundTrips) {
  const v1::Cursor c = SampleCursor();
  const std::string token = EncodeCursor(c);
  absl::StatusOr<v1::Cursor> back = DecodeCursor(token);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), c.SerializeAsString());
}

// The format is a contract shared with the Python client: check it against
// the bytes written by hand (field tags and varints of the proto encoding)
// and base64 (RFC 4648 section 5) computed independently.
TEST(CursorTokenTest, MatchesTheDocumentedEncoding) {
  v1::Cursor c;
  c.set_epoch(1);           // 08 01
  c.set_world_size(2);      // 18 02
  c.set_position(300);      // 28 ac 02
  c.set_order_fingerprint("ab");  // 32 02 61 62
  // python3 -c "import base64;print(base64.urlsafe_b64encode(bytes.fromhex('08011802 28ac02 32026162'.replace(' ',''))))"
  // -> b'CAEYAiisAjICYWI='
  EXPECT_EQ(EncodeCursor(c), "ifc1.CAEYAiisAjICYWI");
}

TEST(CursorTokenTest, TokensAreUrlSafeWithoutPadding) {
  v1::Cursor c = SampleCursor();
  for (int i = 0; i < 64; ++i) {
    c.set_position(static_cast<uint64_t>(i) * 977);
    c.set_order_fingerprint(std::string(static_cast<size_t>(i % 7), '\xff'));
    const std::string token = EncodeCursor(c);
    EXPECT_EQ(token.find_first_of("=+/"), std::string::npos) << token;
  }
}

TEST(CursorTokenTest, BadTokensNameTheFlag) {
  for (const char* bad : {"", "CAEYAiisAjICYWI", "ifc2.CAEYAiisAjICYWI", "ifc1.CAEY!!", "ifc1.CAEYAiisAjICYWI=",
                          "ifc1.CAEYAiisAj+CYWI", "ifc1.", "ifc1.____"}) {
    absl::StatusOr<v1::Cursor> c = DecodeCursor(bad, "--resume");
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(std::string(c.status().message()).rfind("--resume: ", 0), 0u) << c.status();
  }
}

}  // namespace
}  // namespace imagefeed
