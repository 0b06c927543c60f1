#include "server/runtime/shm_ring.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <fstream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/mutex.h"
#include "gtest/gtest.h"

namespace imagefeed {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

TEST(ShmRingTest, ChargesTheBudgetAndUnlinksOnDestruction) {
  MemoryBudget budget("b", 1 << 20);
  ASSERT_TRUE(budget.TryReserve(3 * 4096));
  std::string path;
  {
    auto ring = ShmRing::Create(3, 4096, MemoryReservation(&budget, 3 * 4096));
    ASSERT_TRUE(ring.ok()) << ring.status();
    path = "/dev/shm" + (*ring)->name();
    EXPECT_EQ((*ring)->name().rfind(absl::StrCat("/imagefeed-", getpid(), "-"), 0), 0u);
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(st.st_size, 3 * 4096);
    EXPECT_EQ(budget.in_use(), 3 * 4096);
  }
  EXPECT_FALSE(Exists(path));
  EXPECT_EQ(budget.in_use(), 0);
}

TEST(ShmRingTest, AnotherMappingSeesTheSlotsAndSurvivesUnlink) {
  auto ring = ShmRing::Create(2, 8192, MemoryReservation());
  ASSERT_TRUE(ring.ok()) << ring.status();
  int fd = shm_open((*ring)->name().c_str(), O_RDONLY, 0);
  ASSERT_GE(fd, 0);
  auto* view = static_cast<const uint8_t*>(mmap(nullptr, 2 * 8192, PROT_READ, MAP_SHARED, fd, 0));
  close(fd);
  ASSERT_NE(view, MAP_FAILED);
  (*ring)->Unlink();
  EXPECT_FALSE(Exists("/dev/shm" + (*ring)->name()));
  std::memset((*ring)->slot_data(1), 0xAB, 8192);
  EXPECT_EQ(view[8192], 0xAB);
  EXPECT_EQ(view[2 * 8192 - 1], 0xAB);
  EXPECT_EQ(view[0], 0);
  munmap(const_cast<uint8_t*>(view), 2 * 8192);
}

TEST(ShmRingTest, SlotsAreReusedOnlyAfterRelease) {
  auto ring = ShmRing::Create(2, 4096, MemoryReservation());
  ASSERT_TRUE(ring.ok());
  const int a = (*ring)->Take(), b = (*ring)->Take();
  EXPECT_NE(a, b);
  EXPECT_EQ((*ring)->Take(), -1);
  EXPECT_FALSE((*ring)->Release(7));   // out of range
  EXPECT_TRUE((*ring)->Release(b));
  EXPECT_FALSE((*ring)->Release(b));   // twice
  EXPECT_EQ((*ring)->Take(), b);
  EXPECT_EQ((*ring)->Take(), -1);
}

std::shared_ptr<ShmSlots> MakeSlots(MemoryBudget* budget, int slots, size_t slot_bytes) {
  const int64_t bytes = static_cast<int64_t>(slots * slot_bytes);
  EXPECT_TRUE(budget->TryReserve(bytes));
  auto ring = ShmRing::Create(slots, slot_bytes, MemoryReservation(budget, bytes));
  EXPECT_TRUE(ring.ok()) << ring.status();
  return ShmSlots::Create(*std::move(ring));
}

TEST(ShmSlotsTest, BatchesAreWrittenInTheSlotsAndWaitForAFreeOne) {
  MemoryBudget budget("b", 1 << 20);
  auto slots = MakeSlots(&budget, 2, 4096);
  auto a = slots->TryAcquire(4000, [] {});
  auto b = slots->TryAcquire(4096, [] {});
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a->slot(), b->slot());
  EXPECT_EQ(a->size(), 4000u);
  EXPECT_EQ(a->capacity(), 4096u);
  EXPECT_EQ(b->data() - a->data(), (b->slot() - a->slot()) * 4096);  // one mapping, slot after slot
  int woken = 0;
  EXPECT_EQ(slots->TryAcquire(10, [&] { ++woken; }), nullptr);
  a.reset();  // dropped before it was handed over (e.g. the stream was cancelled): free at once
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(slots->free_slots(), 1);
  EXPECT_EQ(slots->TryAcquire(5000, [] {}), nullptr) << "larger than a slot";
  EXPECT_EQ(slots->CheckFits(4096, "a batch").ok(), true);
  EXPECT_EQ(slots->CheckFits(4097, "a batch").code(), absl::StatusCode::kResourceExhausted);
}

TEST(ShmSlotsTest, AHandedOverSlotIsTheClientsUntilAcknowledged) {
  MemoryBudget budget("b", 1 << 20);
  auto slots = MakeSlots(&budget, 2, 4096);
  auto sent = slots->TryAcquire(4096, [] {});
  auto assembling = slots->TryAcquire(4096, [] {});
  ASSERT_NE(sent, nullptr);
  ASSERT_NE(assembling, nullptr);
  const int sent_slot = sent->slot(), assembling_slot = assembling->slot();
  slots->HandOver(sent.get());
  sent.reset();  // the transport drops the batch once its descriptor is out
  EXPECT_EQ(slots->free_slots(), 0);
  // A confused or hostile client: a slot being written, one out of range, a free one.
  EXPECT_FALSE(slots->Acknowledge(assembling_slot));
  EXPECT_FALSE(slots->Acknowledge(2));
  EXPECT_FALSE(slots->Acknowledge(-1));
  EXPECT_EQ(slots->free_slots(), 0);
  int woken = 0;
  EXPECT_EQ(slots->TryAcquire(1, [&] { ++woken; }), nullptr);
  EXPECT_TRUE(slots->Acknowledge(sent_slot));
  EXPECT_EQ(woken, 1);
  EXPECT_FALSE(slots->Acknowledge(sent_slot)) << "acknowledged twice";
  EXPECT_EQ(slots->free_slots(), 1);
}

TEST(ShmSlotsTest, TheRingLivesUntilItsLastBufferIsGone) {
  MemoryBudget budget("b", 1 << 20);
  auto slots = MakeSlots(&budget, 3, 4096);
  const std::string path = "/dev/shm" + slots->name();
  {
    auto held = slots->TryAcquire(4096, [] {});
    ASSERT_NE(held, nullptr);
    std::memset(held->data(), 7, 4096);
    slots.reset();  // the transport is gone; a worker still writes into its batch
    EXPECT_EQ(budget.in_use(), 3 * 4096);
    EXPECT_TRUE(Exists(path));
    EXPECT_EQ(held->data()[4095], 7);
  }  // the buffer (and the reference its deleter holds) is gone
  EXPECT_EQ(budget.in_use(), 0);
  EXPECT_FALSE(Exists(path));
}

// Workers that wait for slots, a transport that hands batches over, and a
// client thread that acknowledges them, all at once (TSan runs this): every
// batch arrives intact and every slot comes back.
TEST(ShmSlotsTest, WorkersTransportAndClientConcurrently) {
  MemoryBudget budget("b", 1 << 20);
  auto slots = MakeSlots(&budget, 3, 256);
  constexpr int kWorkers = 4, kBatchesEach = 200;
  Mutex mu;
  CondVar changed;
  struct Sent {
    int slot;
    const uint8_t* data;  // the slot's bytes, valid as long as the ring
    uint8_t fill;
  };
  std::deque<Sent> sent;
  int room_signals = 0;
  std::atomic<int> acknowledged{0}, corrupt{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      for (int i = 0; i < kBatchesEach; ++i) {
        BatchBufferSource::Pooled buffer;
        while (true) {
          int seen;
          {
            MutexLock lock(&mu);
            seen = room_signals;
          }
          buffer = slots->TryAcquire(256, [&] {
            MutexLock lock(&mu);
            ++room_signals;
            changed.SignalAll();
          });
          if (buffer) break;
          MutexLock lock(&mu);
          while (room_signals == seen) changed.Wait(&mu);
        }
        const uint8_t fill = static_cast<uint8_t>(w * 50 + i % 50);
        std::memset(buffer->data(), fill, 256);
        slots->HandOver(buffer.get());
        MutexLock lock(&mu);
        sent.push_back(Sent{buffer->slot(), buffer->data(), fill});
        changed.SignalAll();
      }
    });
  }
  std::thread client([&] {
    for (int n = 0; n < kWorkers * kBatchesEach; ++n) {
      Sent next;
      {
        MutexLock lock(&mu);
        while (sent.empty()) changed.Wait(&mu);
        next = sent.front();
        sent.pop_front();
      }
      // Nobody may write a slot between its hand-over and its acknowledgement.
      for (int b = 0; b < 256; ++b) {
        if (next.data[b] != next.fill) {
          ++corrupt;
          break;
        }
      }
      if (slots->Acknowledge(next.slot)) ++acknowledged;
    }
  });
  for (auto& t : workers) t.join();
  client.join();
  EXPECT_EQ(acknowledged.load(), kWorkers * kBatchesEach);
  EXPECT_EQ(corrupt.load(), 0);
  EXPECT_EQ(slots->free_slots(), 3);
}

TEST(ShmRingTest, SweepRemovesOnlyNamesOfDeadProcesses) {
  char tmpl[] = "/tmp/shm_sweep_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);  // reaped: the pid names no process now
  const std::string dead = absl::StrCat(dir, "/imagefeed-", child, "-00ff");
  const std::string alive = absl::StrCat(dir, "/imagefeed-", getpid(), "-00ff");
  const std::string other = dir + "/imagefeed-notapid-1";
  const std::string foreign = absl::StrCat(dir, "/other-", child, "-1");
  for (const auto& p : {dead, alive, other, foreign}) std::ofstream(p) << "x";
  EXPECT_EQ(SweepStaleSegments(dir), 1);
  EXPECT_FALSE(Exists(dead));
  EXPECT_TRUE(Exists(alive));
  EXPECT_TRUE(Exists(other));
  EXPECT_TRUE(Exists(foreign));
  for (const auto& p : {alive, other, foreign}) unlink(p.c_str());
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace imagefeed
