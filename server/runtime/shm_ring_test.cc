#include "server/runtime/shm_ring.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
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
