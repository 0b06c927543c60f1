#ifndef IMAGEFEED_SERVER_PIPELINE_BUFFER_POOL_H_
#define IMAGEFEED_SERVER_PIPELINE_BUFFER_POOL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace imagefeed {

// Recycles batch output buffers. A 64x3x224x224 float batch is 38.5 MB,
// above glibc's mmap threshold, so without reuse every batch is mmapped,
// page-faulted in and unmapped again. Thread-safe.
class BufferPool {
 public:
  using Buffer = std::vector<uint8_t>;

  // Keeps at most `max_retained_bytes` of idle buffers.
  explicit BufferPool(size_t max_retained_bytes) : max_retained_bytes_(max_retained_bytes) {}

  // Returns a buffer of exactly `size` bytes (contents unspecified).
  std::unique_ptr<Buffer> Acquire(size_t size);
  // Gives a buffer back for reuse (or frees it if the pool is full).
  void Release(std::unique_ptr<Buffer> buffer);

  size_t retained_bytes() const {
    absl::MutexLock lock(&mu_);
    return retained_bytes_;
  }

 private:
  const size_t max_retained_bytes_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Buffer>> idle_ ABSL_GUARDED_BY(mu_);
  size_t retained_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_PIPELINE_BUFFER_POOL_H_
