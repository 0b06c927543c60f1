#ifndef IMAGEFEED_SERVER_DATASET_DEMO_DATASET_H_
#define IMAGEFEED_SERVER_DATASET_DEMO_DATASET_H_

#include <array>
#include <string>

#include "absl/status/statusor.h"
#include "common/image.h"

namespace imagefeed {

// The built-in `demo` dataset: kDemoNumImages small (64x64) images of
// coloured shapes in kDemoNumClasses classes (the shape is the class; colours,
// sizes, positions and backgrounds vary) that a small CNN can learn. Mixed
// JPEG and PNG. Generated deterministically: the same pixels on every machine,
// and the same file bytes wherever libjpeg-turbo and zlib are the same versions.

inline constexpr int kDemoNumClasses = 4;
inline constexpr int kDemoImagesPerClass = 75;
inline constexpr int kDemoNumImages = kDemoNumClasses * kDemoImagesPerClass;
inline constexpr int kDemoImageSize = 64;
// Class folder names in label order (sorted, so ImageFolder assigns label i to
// kDemoClassNames[i]).
inline constexpr std::array<const char*, kDemoNumClasses> kDemoClassNames = {
    "circle", "cross", "square", "triangle"};

// Renders image `index` (0 <= index < kDemoImagesPerClass) of class `label`
// (0 <= label < kDemoNumClasses): 8-bit RGB, or gray for a few images. The
// same arguments give the same pixels on every platform (integer-only maths).
// Images with the same `index` share colours, size, position and noise across
// classes, so the shape is the only signal that tells the classes apart.
Image RenderDemoImage(int label, int index);

// Relative path of that image inside the dataset, e.g. "circle/circle_007.jpg"
// (every third image is a PNG, the rest are JPEG at quality 90).
std::string DemoImagePath(int label, int index);

// Writes the demo dataset into `dir` (ImageFolder layout, parents created),
// which must not exist (ALREADY_EXISTS otherwise).
absl::Status GenerateDemoDataset(const std::string& dir);

// Returns the root of the demo dataset under `cache_dir`
// (`cache_dir/demo-v1`), generating it first if it is missing. Safe against
// concurrent callers in several processes (generates into a temporary
// directory, then renames it into place).
absl::StatusOr<std::string> EnsureDemoDataset(const std::string& cache_dir);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_DATASET_DEMO_DATASET_H_
