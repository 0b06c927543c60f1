#ifndef IMAGEFEED_SERVER_RUNTIME_SHM_RING_H_
#define IMAGEFEED_SERVER_RUNTIME_SHM_RING_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "server/runtime/batch_buffer.h"
#include "server/runtime/memory_budget.h"

namespace imagefeed {

// A POSIX shared-memory segment of `slots` batch slots that one local client
// maps (the local transport). The segment's name exists only until Unlink():
// the service unlinks it as soon as the client says it mapped it, so a
// SIGKILL of either process afterwards leaves nothing behind (the kernel
// frees the pages with the last mapping); the destructor unlinks too (a
// client that never mapped it). A server killed between Create and Unlink
// leaves a name that SweepStaleSegments() removes at the next start.
// Thread-compatible: the transport serializes its calls.
class ShmRing {
 public:
  // Creates "/imagefeed-<pid>-<random>" (mode 0600), sized and backed by
  // pages now (posix_fallocate), so a full /dev/shm is an error here, not a
  // SIGBUS at the first write. `reservation` holds the ring's bytes in the
  // memory budget (taken by the caller before this call) until destruction.
  // FAILED_PRECONDITION naming /dev/shm if the segment cannot be made.
  static absl::StatusOr<std::unique_ptr<ShmRing>> Create(int slots, size_t slot_bytes,
                                                         MemoryReservation reservation);
  ~ShmRing();
  ShmRing(const ShmRing&) = delete;
  ShmRing& operator=(const ShmRing&) = delete;

  // Removes the name (the mapping stays valid). Idempotent.
  void Unlink();
  bool unlinked() const { return unlinked_; }

  // A free slot, now in use, or -1 if every slot is in use.
  int Take();
  // Frees a slot Take() returned; false (and nothing changes) if `slot` is
  // out of range or not in use (a confused or hostile client).
  bool Release(int slot);
  int free_slots() const { return static_cast<int>(free_.size()); }

  uint8_t* slot_data(int slot) const { return base_ + static_cast<size_t>(slot) * slot_bytes_; }
  const std::string& name() const { return name_; }
  int slots() const { return slots_; }
  size_t slot_bytes() const { return slot_bytes_; }
  size_t size() const { return size_; }

 private:
  ShmRing(std::string name, int slots, size_t slot_bytes, uint8_t* base, MemoryReservation reservation);

  const std::string name_;
  const int slots_;
  const size_t slot_bytes_;
  const size_t size_;
  uint8_t* const base_;
  MemoryReservation reservation_;
  bool unlinked_ = false;
  std::vector<int> free_;
  std::vector<bool> in_use_;
};

// The slots of one stream's ring as its pipeline's batch buffers: the
// workers write a batch straight into the slot the client reads it from
// (no copy). A slot is free, assembling a batch (a BatchBuffer of the
// pipeline), or the client's: from HandOver until the client acknowledges
// it. A batch dropped without being handed over frees its slot at once.
// Owns the ring: it is unmapped (and its budget given back) when the last
// owner -- the transport, the pipeline, a buffer -- lets go. Thread-safe.
class ShmSlots final : public BatchBufferSource {
 public:
  static std::shared_ptr<ShmSlots> Create(std::unique_ptr<ShmRing> ring) {
    return std::shared_ptr<ShmSlots>(new ShmSlots(std::move(ring)));
  }

  // A free slot as a buffer of `size` bytes, or nullptr (and `on_room` runs
  // once a slot is freed) if the pipeline and the client hold them all.
  Pooled TryAcquire(size_t size, std::function<void()> on_room) override ABSL_LOCKS_EXCLUDED(mu_);
  // A batch fits if it fits in a slot.
  absl::Status CheckFits(int64_t bytes, const std::string& what) const override;
  // The transport gives `buffer`'s slot to the client (its descriptor goes
  // out): dropping the buffer no longer frees the slot.
  void HandOver(BatchBuffer* buffer) ABSL_LOCKS_EXCLUDED(mu_);
  // The client is done with `slot`. False, and nothing changes, unless the
  // slot is the client's (a confused or hostile client cannot free a slot a
  // batch is being written into).
  bool Acknowledge(int slot) ABSL_LOCKS_EXCLUDED(mu_);
  void Unlink() ABSL_LOCKS_EXCLUDED(mu_);
  int free_slots() const ABSL_LOCKS_EXCLUDED(mu_);

  // Constant for the ring's life.
  const std::string& name() const { return ring_->name(); }
  int slots() const { return ring_->slots(); }
  size_t slot_bytes() const { return ring_->slot_bytes(); }
  size_t size() const { return ring_->size(); }

 private:
  explicit ShmSlots(std::unique_ptr<ShmRing> ring)
      : ring_(std::move(ring)), with_client_(static_cast<size_t>(ring_->slots()), false) {}
  void Release(std::unique_ptr<BatchBuffer> buffer) override ABSL_LOCKS_EXCLUDED(mu_);
  // Frees `slot` and runs the callbacks waiting for one (no lock held).
  void Free(int slot) ABSL_LOCKS_EXCLUDED(mu_);

  mutable Mutex mu_;
  const std::unique_ptr<ShmRing> ring_;  // Take/Release/Unlink under mu_
  std::vector<bool> with_client_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> waiting_ ABSL_GUARDED_BY(mu_);
};

// Removes the segments "imagefeed-<pid>-*" in `dir` (the shm_open namespace,
// /dev/shm on Linux) whose <pid> is not a running process: names left by a
// server killed between creating a ring and its client mapping it. Returns
// how many it removed. Only names of exactly that form are touched.
int SweepStaleSegments(const std::string& dir = "/dev/shm");

// The host's /proc/sys/kernel/random/boot_id, "" if unreadable: a client
// with the same boot id runs on the same kernel.
std::string HostBootId();

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_RUNTIME_SHM_RING_H_
