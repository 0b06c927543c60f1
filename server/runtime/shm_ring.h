#ifndef IMAGEFEED_SERVER_RUNTIME_SHM_RING_H_
#define IMAGEFEED_SERVER_RUNTIME_SHM_RING_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
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
