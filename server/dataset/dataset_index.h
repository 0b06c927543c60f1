#ifndef IMAGEFEED_SERVER_DATASET_DATASET_INDEX_H_
#define IMAGEFEED_SERVER_DATASET_DATASET_INDEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace imagefeed {

// How a dataset is stored (see README "Dataset layouts").
enum class DatasetFormat { kFolder, kTar, kList };

// "folder", "tar" or "list" (the DatasetInfo.format strings).
const char* DatasetFormatName(DatasetFormat format);

// Largest label a tar or list dataset may use: classes() holds one name per
// label up to the largest, so an absurd label would be an absurd allocation.
constexpr int64_t kMaxLabel = (int64_t{1} << 20) - 1;

// One indexed sample; where it lives depends on the format:
//   folder: `relative_path` below the root, e.g. "cat/0001.jpg";
//   tar:    `relative_path` = "SHARD.tar:MEMBER" (for messages), the data at
//           `offset` of shard number `shard`, `mtime_ns` the shard's;
//   list:   `relative_path` as listed (relative to the list's folder, or
//           absolute when allowed).
// sizeof is 72 bytes (plus the path's heap bytes past 15 characters).
struct SampleEntry {
  std::string relative_path;
  int64_t label = 0;
  int64_t size_bytes = 0;  // at indexing time
  int64_t mtime_ns = 0;    // at indexing time
  int64_t offset = -1;     // tar only
  int32_t shard = -1;      // tar only
};

// Options of the tar and list layouts.
struct DatasetOptions {
  // Field of KEY.json holding a tar sample's integer label; "label" also
  // accepts "cls" when the JSON has no "label".
  std::string label_field = "label";
  // Lets a file list name absolute paths (otherwise they are refused).
  bool allow_absolute_list_paths = false;
  // Where tar indexes are cached (keyed by the shards' names, sizes and
  // mtimes); empty = no cache.
  std::string cache_dir;
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

// The index of one dataset, whatever its layout; the rest of the server sees
// only this type. Immutable after Build, so thread-safe.
//
// Layout by `spec` (the PATH of --dataset=NAME=PATH):
//   "tar:P" or P ending in ".tar", holding "{a..b}", or a directory with
//     .tar files and no subfolders: WebDataset shards (see tar_index.h);
//   "list:FILE": a CSV/TSV/JSONL file list (see file_list.h);
//   "folder:P" or any other directory: ImageFolder, as below.
//
// ImageFolder `ROOT/<class>/<file>`:
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
  // Tar and list errors name the shard and member, or the list line.
  static absl::StatusOr<std::shared_ptr<const DatasetIndex>> Build(const std::string& name,
                                                                   const std::string& spec,
                                                                   const DatasetOptions& options = {});

  const std::string& name() const { return name_; }
  DatasetFormat format() const { return format_; }
  // Tar shards in sample order (absolute paths); empty for other formats.
  const std::vector<std::string>& shards() const { return shards_; }
  // Absolute, normalized root path, without a trailing '/' (tar: the
  // directory, file or pattern given; list: the list file).
  const std::string& root() const { return root_; }
  const std::vector<std::string>& classes() const { return classes_; }
  const std::vector<int64_t>& class_counts() const { return class_counts_; }
  const std::vector<SampleEntry>& samples() const { return samples_; }
  const IgnoredEntries& ignored() const { return ignored_; }
  int64_t num_samples() const { return static_cast<int64_t>(samples_.size()); }
  // SHA-256 (hex) over the classes and every sample's path, label and size
  // in id order: what the samples are, not where or when they were copied
  // (no root, no mtimes), so two machines' copies of a dataset agree.
  const std::string& content_fingerprint() const { return content_fingerprint_; }
  // The sample's file: root() + "/" + relative_path for folders, the listed
  // file for lists, "SHARD_PATH:MEMBER" for tar. `id` must be in range.
  std::string SamplePath(int64_t id) const;

  // Reads sample `id`'s file into `out` (reusing its capacity). The open
  // cannot leave the root (a list's folder), whatever was renamed or replaced
  // by a symlink since indexing (see ReadFileBeneath); a tar member is one
  // pread on the shard opened at Build. `id` must be in range.
  absl::Status ReadSample(int64_t id, std::vector<uint8_t>* out) const;

  ~DatasetIndex();
  DatasetIndex(const DatasetIndex&) = delete;
  DatasetIndex& operator=(const DatasetIndex&) = delete;

 private:
  DatasetIndex() = default;
  absl::Status BuildFolder(const std::string& root);
  absl::Status BuildTar(const std::string& spec, const DatasetOptions& options);
  absl::Status BuildList(const std::string& list_file, const DatasetOptions& options);
  // Sets classes_ to "0".."max label" (tar, integer lists) and counts them.
  void CountClasses(bool integer_labels);

  std::string name_;
  DatasetFormat format_ = DatasetFormat::kFolder;
  std::string root_;
  std::string base_dir_;  // list: the list's folder
  int root_fd_ = -1;  // O_PATH descriptor of the root (list: its folder), opened by Build
  std::vector<std::string> shards_;
  std::vector<int> shard_fds_;  // O_RDONLY, open for the index's lifetime
  std::vector<std::string> classes_;
  std::vector<int64_t> class_counts_;
  std::vector<SampleEntry> samples_;
  IgnoredEntries ignored_;
  std::string content_fingerprint_;
};

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_DATASET_DATASET_INDEX_H_
