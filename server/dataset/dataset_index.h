#ifndef IMAGEFEED_SERVER_DATASET_DATASET_INDEX_H_
#define IMAGEFEED_SERVER_DATASET_DATASET_INDEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace imagefeed {

// One indexed file. `relative_path` is relative to the dataset root, e.g.
// "cat/0001.jpg" (or "cat/sub/0001.jpg" for nested folders).
struct SampleEntry {
  std::string relative_path;
  int64_t label = 0;
  int64_t size_bytes = 0;  // at indexing time
  int64_t mtime_ns = 0;    // at indexing time
};

// What indexing left out, by reason (for the server's start-up summary).
// A hidden or symlinked folder counts once; its contents are not visited.
struct IgnoredEntries {
  int64_t hidden = 0;           // names starting with '.'
  int64_t not_images = 0;       // regular files without an image extension, in class folders
  int64_t symlinks = 0;         // never followed
  int64_t special = 0;          // sockets, fifos, devices
  int64_t outside_classes = 0;  // regular files directly under the root
};

// The index of one ImageFolder-layout dataset `ROOT/<class>/<file>`.
// Immutable after Build, so thread-safe.
//
// Order (the same as torchvision's `ImageFolder(root).samples`): class
// folders sorted by name (byte order), label = position in that order;
// within a class, files of nested folders too, sorted by (folder path, file
// name) as torchvision's `sorted(os.walk(...))`. Sample id i is the i-th file.
// Files count if their name ends, in any case, with one of torchvision's
// IMG_EXTENSIONS: .jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp (whether
// they decode is the decoder's business: a file that does not is a
// per-sample error, never a shift of the following ids). Hidden entries
// (leading '.') are skipped; symlinks (to files or folders) are not followed
// and not indexed. Both differ from torchvision, which indexes them (README).
class DatasetIndex {
 public:
  // Scans `root`. Returns NOT_FOUND if `root` does not exist,
  // FAILED_PRECONDITION if it is not a directory or holds no class folder
  // with an image ("dataset 'NAME' at 'ROOT' has no images ...").
  static absl::StatusOr<std::shared_ptr<const DatasetIndex>> Build(const std::string& name,
                                                                   const std::string& root);

  const std::string& name() const { return name_; }
  // Absolute, normalized root path, without a trailing '/'.
  const std::string& root() const { return root_; }
  const std::vector<std::string>& classes() const { return classes_; }
  const std::vector<int64_t>& class_counts() const { return class_counts_; }
  const std::vector<SampleEntry>& samples() const { return samples_; }
  const IgnoredEntries& ignored() const { return ignored_; }
  int64_t num_samples() const { return static_cast<int64_t>(samples_.size()); }
  // root() + "/" + samples()[id].relative_path. `id` must be in range.
  std::string SamplePath(int64_t id) const;

  // Reads sample `id`'s file into `out` (reusing its capacity). The open
  // cannot leave the root, whatever was renamed or replaced by a symlink
  // since indexing (see ReadFileBeneath). `id` must be in range.
  absl::Status ReadSample(int64_t id, std::vector<uint8_t>* out) const;

  ~DatasetIndex();
  DatasetIndex(const DatasetIndex&) = delete;
  DatasetIndex& operator=(const DatasetIndex&) = delete;

 private:
  DatasetIndex() = default;

  std::string name_;
  std::string root_;
  int root_fd_ = -1;  // O_PATH descriptor of the root, opened by Build
  std::vector<std::string> classes_;
  std::vector<int64_t> class_counts_;
  std::vector<SampleEntry> samples_;
  IgnoredEntries ignored_;
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_DATASET_DATASET_INDEX_H_
