#include "common/system_memory.h"

#include "common/test_support.h"

namespace imagefeed {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

TEST(ParseByteSizeTest, AcceptsBytesAndBinarySuffixes) {
  EXPECT_EQ(*ParseByteSize("1"), 1);
  EXPECT_EQ(*ParseByteSize("1073741824"), kGiB);
  EXPECT_EQ(*ParseByteSize("4K"), 4096);
  EXPECT_EQ(*ParseByteSize("256M"), 256 << 20);
  EXPECT_EQ(*ParseByteSize("2g"), 2 * kGiB);
  EXPECT_EQ(*ParseByteSize("3T"), 3 * (int64_t{1} << 40));
  EXPECT_EQ(*ParseByteSize("8388607T"), int64_t{8388607} << 40);  // the largest T that fits
}

TEST(ParseByteSizeTest, RejectsEverythingElse) {
  for (const char* bad : {"", "0", "0M", "M", "-1", "+5", " 5", "5 ", "1.5G", "5MB", "5X", "0x10", "8388608T",
                          "9223372036854775808", "99999999999999999999"}) {
    EXPECT_THAT(ParseByteSize(bad), StatusIs(absl::StatusCode::kInvalidArgument, "is not a byte count")) << bad;
  }
}

TEST(FormatByteSizeTest, PicksTheLargestUnit) {
  EXPECT_EQ(FormatByteSize(512), "512 bytes");
  EXPECT_EQ(FormatByteSize(1536), "1.5 KiB");
  EXPECT_EQ(FormatByteSize(256 << 20), "256.0 MiB");
  EXPECT_EQ(FormatByteSize(3 * kGiB), "3.0 GiB");
}

TEST(CgroupMemoryLimitTest, ReadsV2ThenV1AndIgnoresUnlimited) {
  const int64_t physical = 64 * kGiB;
  ScopedTempDir v2;
  WriteTestFile(v2.path() + "/memory.max", "4294967296\n");
  EXPECT_EQ(CgroupMemoryLimit(v2.path(), physical), 4 * kGiB);
  WriteTestFile(v2.path() + "/memory.max", "max\n");
  EXPECT_EQ(CgroupMemoryLimit(v2.path(), physical), std::nullopt);

  ScopedTempDir v1;
  WriteTestFile(v1.path() + "/memory/memory.limit_in_bytes", "2147483648\n");
  EXPECT_EQ(CgroupMemoryLimit(v1.path(), physical), 2 * kGiB);
  // v1 "unlimited" is INT64_MAX rounded down to a page.
  WriteTestFile(v1.path() + "/memory/memory.limit_in_bytes", "9223372036854771712\n");
  EXPECT_EQ(CgroupMemoryLimit(v1.path(), physical), std::nullopt);
  // A limit above the machine's memory limits nothing.
  WriteTestFile(v1.path() + "/memory/memory.limit_in_bytes", std::to_string(128 * kGiB));
  EXPECT_EQ(CgroupMemoryLimit(v1.path(), physical), std::nullopt);
  WriteTestFile(v1.path() + "/memory/memory.limit_in_bytes", "garbage");
  EXPECT_EQ(CgroupMemoryLimit(v1.path(), physical), std::nullopt);

  ScopedTempDir none;
  EXPECT_EQ(CgroupMemoryLimit(none.path(), physical), std::nullopt);
}

TEST(DefaultMemoryBudgetTest, HalfOfTheCgroupLimitElseHalfOfPhysicalMemory) {
  ScopedTempDir limited;
  WriteTestFile(limited.path() + "/memory.max", "4294967296");
  DefaultBudget b = DefaultMemoryBudget(limited.path(), 64 * kGiB);
  EXPECT_EQ(b.bytes, 2 * kGiB);
  EXPECT_EQ(b.source, "50% of the cgroup memory limit 4.0 GiB");

  ScopedTempDir unlimited;
  b = DefaultMemoryBudget(unlimited.path(), 16 * kGiB);
  EXPECT_EQ(b.bytes, 8 * kGiB);
  EXPECT_EQ(b.source, "50% of physical memory 16.0 GiB");
  EXPECT_GT(PhysicalMemoryBytes(), 0);
}

}  // namespace
}  // namespace imagefeed
