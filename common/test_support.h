#ifndef IMAGEFEED_COMMON_TEST_SUPPORT_H_
#define IMAGEFEED_COMMON_TEST_SUPPORT_H_

// Test-only helpers: Status matchers (Abseil 20220623 has no
// status_matchers.h), fixture images and temporary directories.

#include <chrono>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/image.h"
#include "common/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace imagefeed {
namespace testing_internal {
inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace testing_internal

// Matches an OK absl::Status or absl::StatusOr.
MATCHER(IsOk, "is OK") {
  const absl::Status& s = testing_internal::GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s;
  return s.ok();
}

// Matches a Status(Or) with `code` whose message contains `substr`.
MATCHER_P2(StatusIs, code, substr, "") {
  const absl::Status& s = testing_internal::GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code && std::string(s.message()).find(substr) != std::string::npos;
}

#define IMAGEFEED_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                        \
  ASSERT_TRUE(tmp.ok()) << tmp.status();                     \
  lhs = std::move(tmp).value()
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  IMAGEFEED_ASSERT_OK_AND_ASSIGN_IMPL_(IMAGEFEED_CONCAT_(assert_statusor_, __LINE__), lhs, rexpr)
#define ASSERT_OK(expr) ASSERT_THAT((expr), ::imagefeed::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::imagefeed::IsOk())

// A fresh directory under $TMPDIR, removed with its contents on destruction.
class ScopedTempDir {
 public:
  ScopedTempDir();
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Writes `data` to `path`, creating parent directories; fails the test on error.
void WriteTestFile(const std::string& path, const std::string& data);

// A deterministic test image: channel c of pixel (x, y) is a gradient that
// differs per channel. 8 or 16 bits, 1-4 channels.
Image MakeGradientImage(int width, int height, int channels, int bit_depth = 8);

// A YCbCr image of noise as a 4:2:0 (v_sub 2) or 4:2:2 (v_sub 1) JPEG
// stores it: chroma ceil(width / 2) wide, every plane's rows `row_padding`
// bytes wider than its samples and `extra_rows` rows taller. Seeded.
YccImage MakeNoiseYccImage(int width, int height, int v_sub, int row_padding, int extra_rows, uint32_t seed);

// Returns the directory of the shared conformance corpora ($IMAGEFEED_SHARED_DIR
// or ../shared next to the source tree), or "" if it is absent.
std::string SharedDir();

// Counts the calls of the callback it hands out (e.g. a pipeline's
// on_ready), so a test can wait for the next one instead of sleeping.
class CallbackCounter {
 public:
  std::function<void()> Callback() {
    return [this] {
      MutexLock lock(&mu_);
      ++count_;
      changed_.SignalAll();
    };
  }
  // Waits until the count exceeds `seen` (or 30 s pass); returns the count,
  // which is `seen` after a timeout.
  int WaitBeyond(int seen) {
    MutexLock lock(&mu_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (count_ <= seen && std::chrono::steady_clock::now() < deadline) {
      changed_.WaitFor(&mu_, std::chrono::milliseconds(500));
    }
    return count_;
  }
  int count() {
    MutexLock lock(&mu_);
    return count_;
  }

 private:
  Mutex mu_;
  CondVar changed_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace imagefeed

#ifndef IMAGEFEED_CONCAT_
#define IMAGEFEED_CONCAT_INNER_(a, b) a##b
#define IMAGEFEED_CONCAT_(a, b) IMAGEFEED_CONCAT_INNER_(a, b)
#endif

#endif  // IMAGEFEED_COMMON_TEST_SUPPORT_H_
