#include "common/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>

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

// A reused buffer takes each file's exact bytes, larger or smaller than the last.
TEST(FileUtilTest, ReusedBufferHoldsExactlyEachFile) {
  ScopedTempDir dir;
  std::vector<uint8_t> buf;
  for (const size_t size : {size_t{10000}, size_t{3}, size_t{0}, size_t{4096}, size_t{70000}, size_t{4097}}) {
    std::string content(size, '\0');
    for (size_t i = 0; i < size; ++i) content[i] = static_cast<char>('a' + (i * 7 + size) % 26);
    const std::string path = dir.path() + "/f" + std::to_string(size);
    WriteTestFile(path, content);
    ASSERT_OK(ReadFileToBuffer(path, &buf));
    EXPECT_EQ(std::string(buf.begin(), buf.end()), content) << size;
  }
}

// Files whose size fstat does not know (procfs says 0): read to EOF all the
// same, against std::ifstream, and cut at the limit.
TEST(FileUtilTest, FilesLongerThanTheirStatSizeAreReadToTheEnd) {
  for (const char* path : {"/proc/self/cmdline", "/proc/self/environ"}) {
    std::ifstream in(path, std::ios::binary);
    const std::string expected((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(expected.empty()) << path;
    std::vector<uint8_t> buf(123456, 'x');
    ASSERT_OK(ReadFileToBuffer(path, &buf));
    EXPECT_EQ(std::string(buf.begin(), buf.end()), expected) << path;
    ASSERT_OK(ReadFileToBuffer(path, &buf, 5));
    EXPECT_EQ(std::string(buf.begin(), buf.end()), expected.substr(0, 5)) << path;
  }
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
