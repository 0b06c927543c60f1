// Edge cases of the tar and list layouts that Python's tarfile does not write
// by default (base-256 sizes, huge members); the common cases are checked
// against Python's tarfile/csv/json in tests/dataset_layouts_test.py.
#include "server/dataset/tar_index.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "common/test_support.h"
#include "server/dataset/dataset_index.h"
#include "server/dataset/label_util.h"

namespace imagefeed {
namespace {

using ::testing::ElementsAre;

// A ustar header for `name`, per POSIX; `size_field` is written verbatim
// (12 bytes) so tests can forge octal or base-256 sizes.
std::string Header(const std::string& name, const std::string& size_field, char type = '0') {
  char h[512] = {};
  std::memcpy(h, name.data(), name.size());
  std::memcpy(h + 100, "0000644", 7);
  std::memcpy(h + 124, size_field.data(), 12);
  h[156] = type;
  std::memcpy(h + 257, "ustar\0" "00", 8);
  std::memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  std::snprintf(h + 148, 8, "%06o", sum);
  return std::string(h, 512);
}

std::string Octal(size_t n) {
  char buf[13];
  std::snprintf(buf, sizeof(buf), "%011zo", n);
  return std::string(buf, 12);
}

std::string Member(const std::string& name, const std::string& data) {
  return Header(name, Octal(data.size())) + data + std::string((512 - data.size() % 512) % 512, '\0');
}

TEST(TarIndexTest, Base256SizeAndMemberAboveTheCapFailsAsASample) {
  ScopedTempDir dir;
  const std::string path = dir.path() + "/big.tar";
  // A member of kMaxFileBytes + 1 bytes: size in GNU base-256, data a hole of a sparse file.
  const uint64_t big = kMaxFileBytes + 1;
  std::string size_field(12, '\0');
  size_field[0] = static_cast<char>(0x80);
  for (int i = 0; i < 8; ++i) size_field[11 - i] = static_cast<char>((big >> (8 * i)) & 0xff);
  const std::string head = Member("a.cls", "7") + Header("a.png", size_field);
  WriteTestFile(path, head);
  ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(head.size() + (big + 511) / 512 * 512 + 1024)), 0);
  auto index = DatasetIndex::Build("big", path);
  ASSERT_OK(index.status());
  ASSERT_EQ((*index)->num_samples(), 1);
  EXPECT_EQ((*index)->samples()[0].label, 7);
  EXPECT_EQ((*index)->samples()[0].size_bytes, static_cast<int64_t>(big));
  EXPECT_EQ((*index)->samples()[0].offset, 1024 + 512);
  EXPECT_EQ((*index)->SamplePath(0), path + ":a.png");
  std::vector<uint8_t> bytes;
  EXPECT_THAT((*index)->ReadSample(0, &bytes),
              StatusIs(absl::StatusCode::kFailedPrecondition, "'big.tar:a.png' is 1073741825 bytes, above the limit"));
}

TEST(TarIndexTest, ShardTruncatedAfterIndexingIsASampleError) {
  ScopedTempDir dir;
  const std::string path = dir.path() + "/s.tar";
  WriteTestFile(path, Member("k.png", std::string(3000, 'p')) + Member("k.cls", "1") + std::string(1024, '\0'));
  auto index = DatasetIndex::Build("s", "tar:" + path);
  ASSERT_OK(index.status());
  std::vector<uint8_t> bytes;
  ASSERT_OK((*index)->ReadSample(0, &bytes));
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), std::string(3000, 'p'));
  ASSERT_EQ(truncate(path.c_str(), 2000), 0);
  EXPECT_THAT((*index)->ReadSample(0, &bytes),
              StatusIs(absl::StatusCode::kFailedPrecondition, "'s.tar:k.png': the shard ends after 1488 of its 3000"));
}

TEST(TarIndexTest, BracePatternsExpandZeroPaddedAndSorted) {
  ScopedTempDir dir;
  for (const char* n : {"/t-08.tar", "/t-09.tar", "/t-10.tar"}) WriteTestFile(dir.path() + n, std::string(1024, '\0'));
  auto shards = ExpandTarShards(dir.path() + "/t-{08..10}.tar");
  ASSERT_OK(shards.status());
  EXPECT_THAT(*shards, ElementsAre(dir.path() + "/t-08.tar", dir.path() + "/t-09.tar", dir.path() + "/t-10.tar"));
  EXPECT_THAT(ExpandTarShards(dir.path() + "/t-{08..11}.tar").status(),
              StatusIs(absl::StatusCode::kNotFound, "t-11.tar"));
  EXPECT_THAT(ExpandTarShards(dir.path() + "/t-{9..8}.tar").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "FIRST <= LAST"));
  EXPECT_TRUE(LooksLikeTarShards(dir.path()));  // .tar files and no subfolder
  EXPECT_TRUE(LooksLikeTarShards("/x/t-{0..1}.tar"));
  WriteTestFile(dir.path() + "/cat/a.png", "a");
  EXPECT_FALSE(LooksLikeTarShards(dir.path()));  // a class folder: an ImageFolder
}

TEST(TarIndexTest, EmptyShardsAreAClearError) {
  ScopedTempDir dir;
  WriteTestFile(dir.path() + "/e.tar", std::string(1024, '\0'));
  EXPECT_THAT(DatasetIndex::Build("e", dir.path() + "/e.tar").status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, "dataset 'e': tar shards"));
}

TEST(LabelUtilTest, IntegerLabelsOnly) {
  EXPECT_EQ(*ParseIntegerLabel(" 12\n"), 12);
  EXPECT_THAT(ParseIntegerLabel("-1").status(), StatusIs(absl::StatusCode::kInvalidArgument, "negative"));
  EXPECT_THAT(ParseIntegerLabel("1e3").status(), StatusIs(absl::StatusCode::kInvalidArgument, "not an integer"));
  EXPECT_THAT(ParseIntegerLabel("1048576").status(), StatusIs(absl::StatusCode::kInvalidArgument, "above"));
  EXPECT_EQ(*JsonNumberLabel(3.0), 3);
  EXPECT_THAT(JsonNumberLabel(0.5).status(), StatusIs(absl::StatusCode::kInvalidArgument, "not an integer"));
}

TEST(FileListTest, TsvQuotedCsvAndClassNames) {
  ScopedTempDir dir;
  WriteTestFile(dir.path() + "/img/a,b.png", "1");
  WriteTestFile(dir.path() + "/img/c.png", "22");
  WriteTestFile(dir.path() + "/l.csv", "path,label\n\"img/a,b.png\",zebra\n\nimg/c.png,ant\n");
  WriteTestFile(dir.path() + "/l.tsv", "label\tpath\n4\timg/c.png\n");
  auto csv = DatasetIndex::Build("csv", "list:" + dir.path() + "/l.csv");
  ASSERT_OK(csv.status());
  EXPECT_EQ((*csv)->format(), DatasetFormat::kList);
  EXPECT_THAT((*csv)->classes(), ElementsAre("ant", "zebra"));
  EXPECT_EQ((*csv)->samples()[0].relative_path, "img/a,b.png");
  EXPECT_EQ((*csv)->samples()[0].label, 1);
  EXPECT_EQ((*csv)->samples()[1].label, 0);
  EXPECT_EQ((*csv)->SamplePath(1), dir.path() + "/img/c.png");
  auto tsv = DatasetIndex::Build("tsv", "list:" + dir.path() + "/l.tsv");
  ASSERT_OK(tsv.status());
  EXPECT_THAT((*tsv)->class_counts(), ElementsAre(0, 0, 0, 0, 1));
  std::vector<uint8_t> bytes;
  ASSERT_OK((*tsv)->ReadSample(0, &bytes));
  EXPECT_EQ(bytes.size(), 2u);
}

}  // namespace
}  // namespace imagefeed
