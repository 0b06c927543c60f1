#include "server/dataset/demo_dataset.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/file_util.h"
#include "common/test_support.h"
#include "server/dataset/dataset_index.h"

namespace imagefeed {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

std::string ReadAll(const std::string& path) {
  std::vector<uint8_t> buf;
  absl::Status status = ReadFileToBuffer(path, &buf);
  EXPECT_OK(status) << path;
  return std::string(buf.begin(), buf.end());
}

// Names directly inside `dir`.
std::set<std::string> ListNames(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

size_t CountFilesRecursively(const std::string& dir) {
  size_t n = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) ++n;
  }
  return n;
}

TEST(DemoDatasetTest, GenerationIsDeterministic) {
  ScopedTempDir dir;
  const std::string a = dir.path() + "/a/demo";
  const std::string b = dir.path() + "/b/demo";
  ASSERT_OK(GenerateDemoDataset(a));
  ASSERT_OK(GenerateDemoDataset(b));
  EXPECT_EQ(CountFilesRecursively(a), static_cast<size_t>(kDemoNumImages));
  EXPECT_EQ(CountFilesRecursively(b), static_cast<size_t>(kDemoNumImages));
  for (int label = 0; label < kDemoNumClasses; ++label) {
    for (int index = 0; index < kDemoImagesPerClass; ++index) {
      const std::string rel = DemoImagePath(label, index);
      std::string bytes = ReadAll(a + "/" + rel);
      ASSERT_GT(bytes.size(), 100u) << rel;
      ASSERT_EQ(bytes, ReadAll(b + "/" + rel)) << rel;
    }
  }
}

TEST(DemoDatasetTest, IsAnImageFolderOfFourShapesWithMixedFormats) {
  ScopedTempDir dir;
  const std::string root = dir.path() + "/demo";
  ASSERT_OK(GenerateDemoDataset(root));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<const DatasetIndex> index,
                       DatasetIndex::Build("demo", root));
  EXPECT_THAT(index->classes(), ElementsAre("circle", "cross", "square", "triangle"));
  EXPECT_THAT(index->class_counts(), ElementsAre(75, 75, 75, 75));
  EXPECT_EQ(index->samples()[7].relative_path, "circle/circle_007.jpg");
  int png = 0, jpeg = 0;
  for (int64_t id = 0; id < index->num_samples(); ++id) {
    const SampleEntry& s = index->samples()[id];
    EXPECT_EQ(s.label, id / kDemoImagesPerClass);
    const std::string bytes = ReadAll(index->SamplePath(id));
    if (s.relative_path.size() > 4 &&
        s.relative_path.substr(s.relative_path.size() - 4) == ".png") {
      EXPECT_EQ(bytes.substr(0, 4), "\x89PNG") << s.relative_path;
      ++png;
    } else {
      EXPECT_EQ(bytes.substr(0, 2), "\xFF\xD8") << s.relative_path;
      ++jpeg;
    }
  }
  EXPECT_EQ(png, kDemoNumImages / 3);
  EXPECT_EQ(jpeg, kDemoNumImages - kDemoNumImages / 3);
}

TEST(DemoDatasetTest, ImagesVaryAndIncludeSomeGray) {
  std::set<std::vector<uint8_t>> distinct;
  int gray = 0;
  for (int label = 0; label < kDemoNumClasses; ++label) {
    for (int index = 0; index < kDemoImagesPerClass; ++index) {
      Image image = RenderDemoImage(label, index);
      ASSERT_EQ(image.width, kDemoImageSize);
      ASSERT_EQ(image.height, kDemoImageSize);
      ASSERT_EQ(image.bit_depth, 8);
      ASSERT_TRUE(image.channels == 1 || image.channels == 3);
      if (image.channels == 1) ++gray;
      distinct.insert(image.data);
    }
  }
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kDemoNumImages));
  EXPECT_GT(gray, 0);
  EXPECT_LT(gray, kDemoNumImages / 4);
}

// Images with the same index differ only in the shape, and clearly so: the
// class is visible and nothing else gives it away.
TEST(DemoDatasetTest, ShapeIsTheOnlyDifferenceBetweenClasses) {
  for (int index = 0; index < kDemoImagesPerClass; ++index) {
    std::vector<Image> images;
    for (int label = 0; label < kDemoNumClasses; ++label)
      images.push_back(RenderDemoImage(label, index));
    for (int a = 0; a < kDemoNumClasses; ++a) {
      for (int b = a + 1; b < kDemoNumClasses; ++b) {
        ASSERT_EQ(images[a].channels, images[b].channels);
        int changed_pixels = 0;
        const int channels = images[a].channels;
        for (size_t p = 0; p < images[a].data.size(); p += channels) {
          int diff = 0;
          for (int c = 0; c < channels; ++c) {
            diff = std::max(diff, std::abs(images[a].data[p + c] - images[b].data[p + c]));
          }
          if (diff >= 40) ++changed_pixels;
        }
        EXPECT_GE(changed_pixels, 20) << "index " << index << " classes " << a << ", " << b;
      }
    }
  }
}

TEST(DemoDatasetTest, GenerateRefusesAnExistingDirectory) {
  ScopedTempDir dir;
  EXPECT_THAT(GenerateDemoDataset(dir.path()),
              StatusIs(absl::StatusCode::kAlreadyExists, dir.path()));
}

TEST(DemoDatasetTest, EnsureGeneratesOnceThenReuses) {
  ScopedTempDir dir;
  const std::string cache = dir.path() + "/cache/imagefeed";
  ASSERT_OK_AND_ASSIGN(std::string root, EnsureDemoDataset(cache));
  EXPECT_EQ(root, cache + "/demo-v1");
  EXPECT_THAT(ListNames(cache), ElementsAre("demo-v1"));  // no staging leftovers
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<const DatasetIndex> index,
                       DatasetIndex::Build("demo", root));
  EXPECT_EQ(index->num_samples(), kDemoNumImages);

  // A second call must not generate again: generating creates and removes a
  // staging directory in `cache`, which would change its mtime.
  struct stat before, after;
  ASSERT_EQ(stat(cache.c_str(), &before), 0);
  ASSERT_OK_AND_ASSIGN(std::string again, EnsureDemoDataset(cache));
  ASSERT_EQ(stat(cache.c_str(), &after), 0);
  EXPECT_EQ(again, root);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  EXPECT_THAT(ListNames(cache), ElementsAre("demo-v1"));
}

TEST(DemoDatasetTest, EnsureReturnsAnExistingDirectoryUntouched) {
  ScopedTempDir dir;
  WriteTestFile(dir.path() + "/demo-v1/marker", "mine");
  ASSERT_OK_AND_ASSIGN(std::string root, EnsureDemoDataset(dir.path()));
  EXPECT_EQ(root, dir.path() + "/demo-v1");
  EXPECT_THAT(ListNames(root), ElementsAre("marker"));
}

TEST(DemoDatasetTest, EnsureRejectsANonDirectory) {
  ScopedTempDir dir;
  WriteTestFile(dir.path() + "/demo-v1", "not a directory");
  EXPECT_THAT(EnsureDemoDataset(dir.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition, "not a directory"));
}

TEST(DemoDatasetTest, ConcurrentEnsureAgreesOnOneCompleteCopy) {
  ScopedTempDir dir;
  const std::string cache = dir.path() + "/cache";
  constexpr int kCallers = 3;
  std::vector<absl::StatusOr<std::string>> results(kCallers, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&results, &cache, i] { results[i] = EnsureDemoDataset(cache); });
  }
  for (std::thread& t : threads) t.join();
  for (const auto& result : results) {
    ASSERT_OK(result);
    EXPECT_EQ(*result, cache + "/demo-v1");
  }
  EXPECT_THAT(ListNames(cache), ElementsAre("demo-v1"));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<const DatasetIndex> index,
                       DatasetIndex::Build("demo", cache + "/demo-v1"));
  EXPECT_THAT(index->class_counts(), ElementsAreArray({75, 75, 75, 75}));
  EXPECT_EQ(CountFilesRecursively(cache), static_cast<size_t>(kDemoNumImages));
}

}  // namespace
}  // namespace imagefeed
