#include "server/runtime/shm_ring.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/match.h"

namespace imagefeed {
namespace {

constexpr char kPrefix[] = "imagefeed-";

std::string RandomSuffix() {
  std::random_device rd;
  const uint64_t r = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return absl::StrCat(absl::Hex(r, absl::kZeroPad16));
}

absl::Status Errno(const std::string& what, const std::string& name) {
  return absl::FailedPreconditionError(absl::StrCat(what, " of shared-memory segment /dev/shm", name,
                                                    " failed: ", std::strerror(errno),
                                                    " (is /dev/shm mounted and large enough? Docker: --shm-size)"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ShmRing>> ShmRing::Create(int slots, size_t slot_bytes,
                                                         MemoryReservation reservation) {
  if (slots < 1 || slot_bytes == 0) return absl::InvalidArgumentError("shm ring needs slots >= 1 and slot_bytes > 0");
  const size_t size = static_cast<size_t>(slots) * slot_bytes;
  std::string name;
  int fd = -1;
  for (int attempt = 0; attempt < 8 && fd < 0; ++attempt) {
    name = absl::StrCat("/", kPrefix, getpid(), "-", RandomSuffix());
    fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) return Errno("shm_open", name);
  }
  if (fd < 0) return Errno("shm_open", name);
  // From here on the name exists: every error path unlinks it.
  int err = ftruncate(fd, static_cast<off_t>(size)) == 0 ? 0 : errno;
  // Pages now: a tmpfs without room would otherwise SIGBUS the first write.
  if (err == 0) err = posix_fallocate(fd, 0, static_cast<off_t>(size));
  void* base = MAP_FAILED;
  if (err == 0) {
    base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) err = errno;
  }
  close(fd);
  if (err != 0) {
    shm_unlink(name.c_str());
    errno = err;
    return Errno(absl::StrCat("sizing to ", size, " bytes"), name);
  }
  return std::unique_ptr<ShmRing>(
      new ShmRing(std::move(name), slots, slot_bytes, static_cast<uint8_t*>(base), std::move(reservation)));
}

ShmRing::ShmRing(std::string name, int slots, size_t slot_bytes, uint8_t* base, MemoryReservation reservation)
    : name_(std::move(name)),
      slots_(slots),
      slot_bytes_(slot_bytes),
      size_(static_cast<size_t>(slots) * slot_bytes),
      base_(base),
      reservation_(std::move(reservation)),
      in_use_(static_cast<size_t>(slots), false) {
  for (int i = slots - 1; i >= 0; --i) free_.push_back(i);
}

ShmRing::~ShmRing() {
  Unlink();
  munmap(base_, size_);
}

void ShmRing::Unlink() {
  if (unlinked_) return;
  unlinked_ = true;
  shm_unlink(name_.c_str());
}

int ShmRing::Take() {
  if (free_.empty()) return -1;
  const int slot = free_.back();
  free_.pop_back();
  in_use_[static_cast<size_t>(slot)] = true;
  return slot;
}

bool ShmRing::Release(int slot) {
  if (slot < 0 || slot >= slots_ || !in_use_[static_cast<size_t>(slot)]) return false;
  in_use_[static_cast<size_t>(slot)] = false;
  free_.push_back(slot);
  return true;
}

BatchBufferSource::Pooled ShmSlots::TryAcquire(size_t size, std::function<void()> on_room) {
  int slot;
  {
    MutexLock lock(&mu_);
    slot = size <= ring_->slot_bytes() ? ring_->Take() : -1;
    if (slot < 0) {
      waiting_.push_back(std::move(on_room));
      return Pooled(nullptr, Returner{});
    }
  }
  return Pooled(new BatchBuffer(ring_->slot_data(slot), ring_->slot_bytes(), size, slot), Returner{shared_from_this()});
}

absl::Status ShmSlots::CheckFits(int64_t bytes, const std::string& what) const {
  if (bytes >= 0 && static_cast<size_t>(bytes) <= ring_->slot_bytes()) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat(what, " needs ", bytes, " bytes, more than a shared-memory slot (", ring_->slot_bytes(), ")"));
}

void ShmSlots::HandOver(BatchBuffer* buffer) {
  MutexLock lock(&mu_);
  buffer->set_handed_over();
  with_client_[static_cast<size_t>(buffer->slot())] = true;
}

bool ShmSlots::Acknowledge(int slot) {
  {
    MutexLock lock(&mu_);
    if (slot < 0 || slot >= ring_->slots() || !with_client_[static_cast<size_t>(slot)]) return false;
    with_client_[static_cast<size_t>(slot)] = false;
  }
  Free(slot);
  return true;
}

void ShmSlots::Release(std::unique_ptr<BatchBuffer> buffer) {
  if (!buffer->handed_over()) Free(buffer->slot());  // else the client's until acknowledged
}

void ShmSlots::Free(int slot) {
  std::vector<std::function<void()>> wake;
  {
    MutexLock lock(&mu_);
    ring_->Release(slot);
    wake.swap(waiting_);
  }
  for (auto& f : wake) f();
}

void ShmSlots::Unlink() {
  MutexLock lock(&mu_);
  ring_->Unlink();
}

int ShmSlots::free_slots() const {
  MutexLock lock(&mu_);
  return ring_->free_slots();
}

int SweepStaleSegments(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  int removed = 0;
  while (dirent* e = readdir(d)) {
    const std::string entry = e->d_name;
    if (!absl::StartsWith(entry, kPrefix)) continue;
    std::vector<std::string> parts = absl::StrSplit(entry.substr(sizeof(kPrefix) - 1), '-');
    int pid = 0;
    if (parts.size() != 2 || parts[1].empty() || !absl::SimpleAtoi(parts[0], &pid) || pid <= 0) continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
    if (unlink(absl::StrCat(dir, "/", entry).c_str()) == 0) ++removed;
  }
  closedir(d);
  return removed;
}

std::string HostBootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

}  // namespace imagefeed
