#ifndef IMAGEFEED_SERVER_RUNTIME_BATCH_BUFFER_H_
#define IMAGEFEED_SERVER_RUNTIME_BATCH_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"

#include "server/runtime/memory_budget.h"

namespace imagefeed {

class BatchBufferSource;

// The bytes one batch is assembled in: heap memory of a BufferPool, or a
// slot of a stream's shared-memory ring (ShmSlots), so the local transport
// sends a batch where the workers wrote it. Not thread-safe.
class BatchBuffer {
 public:
  // Heap memory of `capacity` bytes, `size` of them in use (contents unspecified).
  BatchBuffer(size_t capacity, size_t size)
      : heap_(new uint8_t[capacity]), data_(heap_.get()), size_(size), capacity_(capacity) {}
  // `capacity` bytes at `data`, owned by someone else; `slot` names them.
  BatchBuffer(uint8_t* data, size_t capacity, size_t size, int slot)
      : data_(data), size_(size), capacity_(capacity), slot_(slot) {}
  BatchBuffer(const BatchBuffer&) = delete;
  BatchBuffer& operator=(const BatchBuffer&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  // At most capacity(): a batch only shrinks (skipped samples) or reuses.
  void resize(size_t size) { size_ = size <= capacity_ ? size : capacity_; }
  // The ring slot, or -1 for heap memory.
  int slot() const { return slot_; }
  // The transport gave the slot to the client: it comes back with the
  // client's acknowledgement, not when this buffer is dropped.
  void set_handed_over() { handed_over_ = true; }
  bool handed_over() const { return handed_over_; }

 private:
  std::unique_ptr<uint8_t[]> heap_;  // not value-initialized: no memset of a fresh 38 MB
  uint8_t* data_;
  size_t size_;
  size_t capacity_;
  int slot_ = -1;
  bool handed_over_ = false;
};

// Where a pipeline takes its batch buffers. Thread-safe.
class BatchBufferSource : public std::enable_shared_from_this<BatchBufferSource> {
 public:
  // Gives its buffer back to its source when destroyed.
  struct Returner {
    std::shared_ptr<BatchBufferSource> source;
    void operator()(BatchBuffer* buffer) const { source->Release(std::unique_ptr<BatchBuffer>(buffer)); }
  };
  using Pooled = std::unique_ptr<BatchBuffer, Returner>;

  virtual ~BatchBufferSource() = default;

  // A buffer of exactly `size` bytes (contents unspecified), or nullptr if
  // there is no room now; then `on_room` runs once when there may be (use
  // a weak reference in it). The caller checks beforehand that `size` can
  // fit at all (CheckFits).
  virtual Pooled TryAcquire(size_t size, std::function<void()> on_room) = 0;
  // OK if a buffer of `bytes` can ever be had; RESOURCE_EXHAUSTED naming `what` if not.
  virtual absl::Status CheckFits(int64_t bytes, const std::string& what) const = 0;

 protected:
  virtual void Release(std::unique_ptr<BatchBuffer> buffer) = 0;
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_RUNTIME_BATCH_BUFFER_H_
