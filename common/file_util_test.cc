#include "common/file_util.h"

#include <fcntl.h>
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

namespace imagefeed {
namespace {

class Dir {
 public:
  explicit Dir(const std::string& path) : fd_(open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) {}
  ~Dir() { close(fd_); }
  int fd() const { return fd_; }

 private:
  int fd_;
};

TEST(ReadFileBeneathTest, ReadsPlainPathsAndRefusesEveryEscape) {
  ScopedTempDir dir;
  WriteTestFile(dir.path() + "/root/cls/a.jpg", "inside");
  WriteTestFile(dir.path() + "/outside/secret.jpg", "secret");
  Dir root(dir.path() + "/root");
  std::vector<uint8_t> buf;
  ASSERT_OK(ReadFileBeneath(root.fd(), "cls/a.jpg", &buf));
  EXPECT_EQ(std::string(buf.begin(), buf.end()), "inside");
  // A directory swapped for a symlink after indexing, a symlinked file, and "..".
  ASSERT_EQ(symlink((dir.path() + "/outside").c_str(), (dir.path() + "/root/evil").c_str()), 0);
  ASSERT_EQ(symlink((dir.path() + "/outside/secret.jpg").c_str(), (dir.path() + "/root/cls/link.jpg").c_str()), 0);
  EXPECT_FALSE(ReadFileBeneath(root.fd(), "evil/secret.jpg", &buf).ok());
  EXPECT_FALSE(ReadFileBeneath(root.fd(), "cls/link.jpg", &buf).ok());
  EXPECT_FALSE(ReadFileBeneath(root.fd(), "../outside/secret.jpg", &buf).ok());
  EXPECT_FALSE(ReadFileBeneath(root.fd(), "/etc/passwd", &buf).ok());
  EXPECT_THAT(ReadFileBeneath(root.fd(), "cls/missing.jpg", &buf), StatusIs(absl::StatusCode::kNotFound, "missing"));
}

}  // namespace
}  // namespace imagefeed
