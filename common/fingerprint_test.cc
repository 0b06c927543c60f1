#include "common/fingerprint.h"

#include <gtest/gtest.h>

namespace imagefeed {
namespace {

TEST(FingerprintTest, MatchesPythonHashlib) {
  Fingerprint f;
  f.Add("abc");
  f.Add("de");
  // python3 -c "import hashlib; print(hashlib.sha256(b'abc\x00de\x00').hexdigest())"
  EXPECT_EQ(f.Hex(), "db30090fb30f052d792fccdbf89b8ac596c5d5fff2959c20f9689e4c883bb7fb");
}

}  // namespace
}  // namespace imagefeed
