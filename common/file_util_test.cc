#include "common/file_util.h"

#include <unistd.h>

#include "common/test_support.h"

namespace imagefeed {
namespace {

TEST(FileUtilTest, RoundTripAndLimits) {
  ScopedTempDir dir;
  std::string path = dir.path() + "/a/b/file.bin";
  WriteTestFile(path, "hello");
  std::vector<uint8_t> buf;
  ASSERT_OK(ReadFileToBuffer(path, &buf));
  EXPECT_EQ(std::string(buf.begin(), buf.end()), "hello");
  EXPECT_THAT(ReadFileToBuffer(path, &buf, 3), StatusIs(absl::StatusCode::kFailedPrecondition, "limit"));
  EXPECT_THAT(ReadFileToBuffer(dir.path() + "/missing", &buf),
              StatusIs(absl::StatusCode::kNotFound, "missing"));
  EXPECT_THAT(ReadFileToBuffer(dir.path() + "/a", &buf),
              StatusIs(absl::StatusCode::kFailedPrecondition, "not a regular file"));
}

TEST(FileUtilTest, SymlinksAreNotFollowed) {
  ScopedTempDir dir;
  WriteTestFile(dir.path() + "/real", "x");
  ASSERT_EQ(symlink((dir.path() + "/real").c_str(), (dir.path() + "/link").c_str()), 0);
  std::vector<uint8_t> buf;
  EXPECT_THAT(ReadFileToBuffer(dir.path() + "/link", &buf),
              StatusIs(absl::StatusCode::kFailedPrecondition, "symlinks are not followed"));
}

}  // namespace
}  // namespace imagefeed
