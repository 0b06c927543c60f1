#include "server/service/token_auth.h"

#include <string>

#include "common/test_support.h"

namespace imagefeed {
namespace {

// SHA-256 digests are 32 bytes; their content does not matter to the comparison.
const std::string kDigestA(32, 'a');
const std::string kDigestB = std::string(31, 'a') + "b";

TEST(TokenAuthCompareDigestsTest, AllowsOnlyEqualSha256SizedDigests) {
  EXPECT_OK(TokenAuth::CompareDigests(kDigestA, kDigestA));
  EXPECT_THAT(TokenAuth::CompareDigests(kDigestA, kDigestB),
              StatusIs(absl::StatusCode::kUnauthenticated, "invalid token"));
}

TEST(TokenAuthCompareDigestsTest, FailsClosedOnAnyLengthMismatch) {
  // The old code compared expected.size() bytes: an empty expected digest
  // (hashing failed at start-up) compared equal to everything.
  EXPECT_THAT(TokenAuth::CompareDigests(kDigestA, ""), StatusIs(absl::StatusCode::kUnauthenticated, ""));
  EXPECT_THAT(TokenAuth::CompareDigests("", ""), StatusIs(absl::StatusCode::kUnauthenticated, ""));
  EXPECT_THAT(TokenAuth::CompareDigests("", kDigestA), StatusIs(absl::StatusCode::kUnauthenticated, ""));
  EXPECT_THAT(TokenAuth::CompareDigests(kDigestA.substr(0, 16), kDigestA.substr(0, 16)),
              StatusIs(absl::StatusCode::kUnauthenticated, ""));
  EXPECT_THAT(TokenAuth::CompareDigests(kDigestA + "x", kDigestA + "x"),
              StatusIs(absl::StatusCode::kUnauthenticated, ""));
}

TEST(TokenAuthTest, FromTokenIsEnabled) {
  EXPECT_FALSE(TokenAuth().enabled());
  EXPECT_TRUE(TokenAuth::FromToken("s3cret").enabled());
}

TEST(TokenAuthTest, CheckAuthorizationAcceptsOnlyTheBearerToken) {
  const TokenAuth auth = TokenAuth::FromToken("s3cret");
  EXPECT_OK(auth.CheckAuthorization("Bearer s3cret"));
  EXPECT_THAT(auth.CheckAuthorization("Bearer s3cre"), StatusIs(absl::StatusCode::kUnauthenticated, "invalid token"));
  EXPECT_THAT(auth.CheckAuthorization(""), StatusIs(absl::StatusCode::kUnauthenticated, "missing"));
  EXPECT_THAT(auth.CheckAuthorization("Basic s3cret"), StatusIs(absl::StatusCode::kUnauthenticated, "Bearer"));
  EXPECT_THAT(auth.CheckAuthorization("Bearer "), StatusIs(absl::StatusCode::kUnauthenticated, "empty"));
  // Without a token every request passes.
  EXPECT_OK(TokenAuth().CheckAuthorization(""));
}

}  // namespace
}  // namespace imagefeed
