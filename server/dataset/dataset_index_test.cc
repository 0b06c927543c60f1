#include "server/dataset/dataset_index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "common/test_support.h"

namespace imagefeed {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

void MakeSymlink(const std::string& target, const std::string& link) {
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0) << link;
}

// An ImageFolder tree with every kind of entry the index must order or skip.
// Created in non-sorted order so that readdir order cannot pass for sorting.
void WriteTree(const std::string& root) {
  WriteTestFile(root + "/zebra/b.png", "zb");
  WriteTestFile(root + "/zebra/a.JPG", "za");
  // Byte order: uppercase before lowercase.
  WriteTestFile(root + "/Bird/b.jpg", "b");
  WriteTestFile(root + "/Bird/B.jpg", "B");
  WriteTestFile(root + "/Bird/a.jpg", "a");
  WriteTestFile(root + "/cat/2.jpeg", "22");
  WriteTestFile(root + "/cat/1.Png", "1");
  WriteTestFile(root + "/cat/notes.txt", "not an image");
  WriteTestFile(root + "/cat/jpg", "no extension");
  WriteTestFile(root + "/cat/.hidden.jpg", "hidden file");
  WriteTestFile(root + "/cat/.hiddendir/h.jpg", "in hidden dir");
  // torchvision walks folders in sorted(os.walk()) order, i.e. by path string:
  // "cat/sub" < "cat/sub-b" < "cat/sub/deeper" because '-' < '/'. A
  // depth-first walk would put sub/deeper before sub-b.
  WriteTestFile(root + "/cat/sub/deeper/y.png", "y");
  WriteTestFile(root + "/cat/sub-b/z.jpg", "z");
  WriteTestFile(root + "/cat/sub/x.jpg", "x");
  MakeSymlink(root + "/zebra/a.JPG", root + "/cat/link.jpg");
  MakeSymlink(root + "/zebra", root + "/cat/linkdir");
  WriteTestFile(root + "/dog/photo.jpeg", "photo");
  WriteTestFile(root + "/dog/x.jpg.txt", "not an image");
  // A folder whose name looks like an image is a folder.
  WriteTestFile(root + "/dog/dir.jpg/inner.png", "inner");
  ASSERT_EQ(mkfifo((root + "/dog/fifo.jpg").c_str(), 0644), 0);
  // A class folder without images is still a class.
  WriteTestFile(root + "/empty/readme.txt", "nothing here");
  WriteTestFile(root + "/empty/.cache/c.jpg", "hidden");
  // Not classes: hidden folder, symlink to a folder, loose file in root.
  WriteTestFile(root + "/.hidden_class/h.jpg", "hidden");
  MakeSymlink(root + "/zebra", root + "/linked_class");
  WriteTestFile(root + "/loose.jpg", "loose");
}

std::vector<std::pair<std::string, int64_t>> PathsAndLabels(const DatasetIndex& index) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const SampleEntry& s : index.samples()) out.emplace_back(s.relative_path, s.label);
  return out;
}

TEST(DatasetIndexTest, TorchvisionImageFolderOrder) {
  ScopedTempDir dir;
  const std::string root = dir.path() + "/data";
  WriteTree(root);
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<const DatasetIndex> index,
                       DatasetIndex::Build("pets", root));
  EXPECT_EQ(index->name(), "pets");
  EXPECT_EQ(index->root(), root);
  EXPECT_THAT(index->classes(), ElementsAre("Bird", "cat", "dog", "empty", "zebra"));
  EXPECT_THAT(index->class_counts(), ElementsAre(3, 5, 2, 0, 2));
  EXPECT_THAT(PathsAndLabels(*index),
              ElementsAre(Pair("Bird/B.jpg", 0), Pair("Bird/a.jpg", 0), Pair("Bird/b.jpg", 0),
                          Pair("cat/1.Png", 1), Pair("cat/2.jpeg", 1), Pair("cat/sub/x.jpg", 1),
                          Pair("cat/sub-b/z.jpg", 1), Pair("cat/sub/deeper/y.png", 1),
                          Pair("dog/photo.jpeg", 2), Pair("dog/dir.jpg/inner.png", 2),
                          Pair("zebra/a.JPG", 4), Pair("zebra/b.png", 4)));
  EXPECT_EQ(index->num_samples(), 12);
  EXPECT_EQ(index->SamplePath(4), root + "/cat/2.jpeg");
}

TEST(DatasetIndexTest, CountsWhatItIgnoresByReason) {
  ScopedTempDir dir;
  WriteTree(dir.path() + "/data");
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<const DatasetIndex> index, DatasetIndex::Build("pets", dir.path() + "/data"));
  const IgnoredEntries& ig = index->ignored();
  // Counted by hand from WriteTree: .hidden.jpg, .hiddendir, .cache, .hidden_class.
  EXPECT_EQ(ig.hidden, 4);
  // notes.txt, jpg, x.jpg.txt, readme.txt.
  EXPECT_EQ(ig.not_images, 4);
  // link.jpg, linkdir, linked_class.
  EXPECT_EQ(ig.symlinks, 3);
  EXPECT_EQ(ig.special, 1);          // fifo.jpg
  EXPECT_EQ(ig.outside_classes, 1);  // loose.jpg
}

TEST(DatasetIndexTest, RecordsSizeAndMtime) {
  ScopedTempDir dir;
  const std::string root = dir.path() + "/data";
  WriteTestFile(root + "/a/small.jpg", "12");
  WriteTestFile(root + "/a/large.png", std::string(1000, 'x'));
  const struct timespec times[2] = {{1600000000, 123456789}, {1700000000, 987654321}};
  ASSERT_EQ(utimensat(AT_FDCWD, (root + "/a/small.jpg").c_str(), times, 0), 0);
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<const DatasetIndex> index, DatasetIndex::Build("d", root));
  ASSERT_EQ(index->num_samples(), 2);
  EXPECT_EQ(index->samples()[0].relative_path, "a/large.png");
  EXPECT_EQ(index->samples()[0].size_bytes, 1000);
  EXPECT_EQ(index->samples()[1].size_bytes, 2);
  EXPECT_EQ(index->samples()[1].mtime_ns, int64_t{1700000000987654321});
}

// torchvision's IMG_EXTENSIONS, any case; near misses are not images.
// Contents are not images either: indexing never looks inside a file.
TEST(DatasetIndexTest, IndexesExactlyTorchvisionImageExtensions) {
  ScopedTempDir dir;
  const std::string root = dir.path() + "/data";
  for (const char* name : {"a.jpg", "b.JPEG", "c.png", "d.Ppm", "e.bmp", "f.PGM", "g.tif", "h.TiFf",
                           "i.webp", "j.WEBP", "k.gif", "l.jfif", "m.pbm", "n.pnm", "o.tif.txt",
                           "p.webp~", "q.svg", "r.heic", "s.jp2", "tiff", "u.ti"}) {
    WriteTestFile(root + "/c/" + name, "x");
  }
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<const DatasetIndex> index, DatasetIndex::Build("d", root));
  EXPECT_THAT(PathsAndLabels(*index),
              ElementsAre(Pair("c/a.jpg", 0), Pair("c/b.JPEG", 0), Pair("c/c.png", 0), Pair("c/d.Ppm", 0),
                          Pair("c/e.bmp", 0), Pair("c/f.PGM", 0), Pair("c/g.tif", 0), Pair("c/h.TiFf", 0),
                          Pair("c/i.webp", 0), Pair("c/j.WEBP", 0)));
  EXPECT_EQ(index->ignored().not_images, 11);
}

TEST(DatasetIndexTest, NormalizesRoot) {
  ScopedTempDir dir;
  WriteTestFile(dir.path() + "/data/a/x.jpg", "x");
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<const DatasetIndex> index,
                       DatasetIndex::Build("d", dir.path() + "/./data/../data//"));
  EXPECT_EQ(index->root(), dir.path() + "/data");
  EXPECT_EQ(index->SamplePath(0), dir.path() + "/data/a/x.jpg");
}

TEST(DatasetIndexTest, RootMayBeASymlink) {
  ScopedTempDir dir;
  WriteTestFile(dir.path() + "/real/a/x.jpg", "x");
  MakeSymlink(dir.path() + "/real", dir.path() + "/link");
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<const DatasetIndex> index,
                       DatasetIndex::Build("d", dir.path() + "/link"));
  EXPECT_EQ(index->root(), dir.path() + "/link");
  EXPECT_EQ(index->num_samples(), 1);
}

TEST(DatasetIndexTest, MissingRootIsNotFound) {
  ScopedTempDir dir;
  EXPECT_THAT(DatasetIndex::Build("ghost", dir.path() + "/missing"),
              StatusIs(absl::StatusCode::kNotFound, "dataset 'ghost'"));
}

TEST(DatasetIndexTest, FileRootIsFailedPrecondition) {
  ScopedTempDir dir;
  const std::string file = dir.path() + "/file.jpg";
  WriteTestFile(file, "x");
  auto result = DatasetIndex::Build("flat", file);
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kFailedPrecondition, "not a directory"));
  EXPECT_THAT(result,
              StatusIs(absl::StatusCode::kFailedPrecondition, "dataset 'flat' at '" + file));
}

TEST(DatasetIndexTest, EmptyRootIsFailedPrecondition) {
  ScopedTempDir dir;
  EXPECT_THAT(DatasetIndex::Build("void", dir.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "dataset 'void' at '" + dir.path() + "' has no images"));
}

TEST(DatasetIndexTest, OnlyEmptyClassesOrLooseImagesIsFailedPrecondition) {
  ScopedTempDir dir;
  WriteTestFile(dir.path() + "/loose.jpg", "x");
  WriteTestFile(dir.path() + "/a/notes.txt", "x");
  WriteTestFile(dir.path() + "/b/.hidden.jpg", "x");
  EXPECT_THAT(DatasetIndex::Build("sparse", dir.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition, "found 2 class folders"));
}

TEST(DatasetIndexTest, UnreadableClassFolderIsAnError) {
  if (geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  ScopedTempDir dir;
  WriteTestFile(dir.path() + "/a/x.jpg", "x");
  WriteTestFile(dir.path() + "/b/y.jpg", "y");
  ASSERT_EQ(chmod((dir.path() + "/b").c_str(), 0), 0);
  auto result = DatasetIndex::Build("locked", dir.path());
  ASSERT_EQ(chmod((dir.path() + "/b").c_str(), 0755), 0);
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kPermissionDenied, "dataset 'locked'"));
}

}  // namespace
}  // namespace imagefeed

namespace imagefeed {
namespace {

TEST(DatasetIndexEscapeTest, ReadSampleNeverLeavesTheRoot) {
  ScopedTempDir dir;
  WriteTestFile(dir.path() + "/root/cls/a.jpg", "inside");
  WriteTestFile(dir.path() + "/outside/a.jpg", "secret");
  ASSERT_OK_AND_ASSIGN(auto index, DatasetIndex::Build("d", dir.path() + "/root"));
  std::vector<uint8_t> buf;
  ASSERT_OK(index->ReadSample(0, &buf));
  EXPECT_EQ(std::string(buf.begin(), buf.end()), "inside");
  // After indexing, the class folder is replaced by a symlink to another tree.
  ASSERT_EQ(rename((dir.path() + "/root/cls").c_str(), (dir.path() + "/moved").c_str()), 0);
  ASSERT_EQ(symlink((dir.path() + "/outside").c_str(), (dir.path() + "/root/cls").c_str()), 0);
  buf.clear();
  EXPECT_FALSE(index->ReadSample(0, &buf).ok());
  EXPECT_TRUE(buf.empty() || std::string(buf.begin(), buf.end()) != "secret");
}

}  // namespace
}  // namespace imagefeed
