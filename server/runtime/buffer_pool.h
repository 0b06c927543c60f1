#ifndef IMAGEFEED_SERVER_RUNTIME_BUFFER_POOL_H_
#define IMAGEFEED_SERVER_RUNTIME_BUFFER_POOL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "server/runtime/batch_buffer.h"
#include "server/runtime/memory_budget.h"

namespace imagefeed {

// Batch output buffers, charged to a memory budget before they are
// allocated and recycled afterwards. A 64x3x224x224 float batch is 38.5 MB,
// above glibc's mmap threshold, so without reuse every batch is mmapped,
// page-faulted in and unmapped again. Every buffer's capacity, in use or
// idle, is charged to the budget: idle buffers are memory too. Thread-safe.
class BufferPool final : public BatchBufferSource {
 public:
  // Keeps at most `max_retained_bytes` of idle buffers. `budget` must
  // outlive the pool. Owned by shared_ptr (buffers point back to it).
  static std::shared_ptr<BufferPool> Create(MemoryBudget* budget, size_t max_retained_bytes) {
    return std::shared_ptr<BufferPool>(new BufferPool(budget, max_retained_bytes));
  }

  Pooled TryAcquire(size_t size, std::function<void()> on_room) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status CheckFits(int64_t bytes, const std::string& what) const override {
    return budget_->CheckFits(bytes, what);
  }
  // Frees every idle buffer (e.g. when the server goes idle).
  void Trim() ABSL_LOCKS_EXCLUDED(mu_);
  // With false, buffers given back are freed instead of kept (an idle
  // server holds no batch memory); Trim()s when switched off.
  void SetRetain(bool retain) ABSL_LOCKS_EXCLUDED(mu_);

  size_t retained_bytes() const ABSL_LOCKS_EXCLUDED(mu_);
  MemoryBudget* budget() const { return budget_; }

 private:
  BufferPool(MemoryBudget* budget, size_t max_retained_bytes)
      : budget_(budget), max_retained_bytes_(max_retained_bytes) {}
  // Gives a buffer back for reuse, or frees it if the pool is full.
  void Release(std::unique_ptr<BatchBuffer> buffer) override ABSL_LOCKS_EXCLUDED(mu_);
  std::unique_ptr<BatchBuffer> TakeIdle(size_t size) ABSL_LOCKS_EXCLUDED(mu_);
  void Free(std::vector<std::unique_ptr<BatchBuffer>> buffers);

  MemoryBudget* const budget_;
  const size_t max_retained_bytes_;
  mutable Mutex mu_;
  std::vector<std::unique_ptr<BatchBuffer>> idle_ ABSL_GUARDED_BY(mu_);
  size_t retained_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool retain_ ABSL_GUARDED_BY(mu_) = true;
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_RUNTIME_BUFFER_POOL_H_
