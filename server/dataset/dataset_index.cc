#include "server/dataset/dataset_index.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace imagefeed {
namespace {

absl::Status ErrnoStatus(int err, absl::string_view what, const std::string& path) {
  std::string msg = absl::StrCat(what, " '", path, "': ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  // Most other errors (EIO, EMFILE, ESTALE on NFS) may go away on retry.
  return absl::UnavailableError(msg);
}

// torchvision.datasets.folder.IMG_EXTENSIONS, matched as torchvision does
// (`name.lower().endswith(...)`), so that sample ids agree with
// ImageFolder's even for files this server cannot decode (TIFF): those fail
// per sample under the stream's on_error policy instead of shifting ids.
bool IsImageFileName(absl::string_view name) {
  static constexpr absl::string_view kImageExtensions[] = {
      ".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"};
  for (absl::string_view ext : kImageExtensions) {
    if (absl::EndsWithIgnoreCase(name, ext)) return true;
  }
  return false;
}

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// A directory entry, classified with lstat (so symlinks stay symlinks).
struct Entry {
  std::string name;
  struct stat st;
};

// Lists the non-hidden entries of `dir` that are real directories or regular
// files (symlinks, sockets, fifos and devices are dropped and counted in
// `ignored`), sorted by name in byte order.
absl::Status ListDir(const std::string& dir, std::vector<Entry>* out, IgnoredEntries* ignored) {
  out->clear();
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus(errno, "cannot open directory", dir);
  absl::Status status;
  for (;;) {
    errno = 0;
    struct dirent* ent = readdir(d);
    if (ent == nullptr) {
      if (errno != 0) status = ErrnoStatus(errno, "cannot read directory", dir);
      break;
    }
    if (ent->d_name[0] == '.') {  // hidden, ".", ".."
      if (std::strcmp(ent->d_name, ".") != 0 && std::strcmp(ent->d_name, "..") != 0) ++ignored->hidden;
      continue;
    }
    Entry e;
    e.name = ent->d_name;
    if (fstatat(dirfd(d), ent->d_name, &e.st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // deleted while we scan
      status = ErrnoStatus(errno, "cannot stat", absl::StrCat(dir, "/", e.name));
      break;
    }
    if (S_ISLNK(e.st.st_mode)) {
      ++ignored->symlinks;
      continue;
    }
    if (!S_ISDIR(e.st.st_mode) && !S_ISREG(e.st.st_mode)) {
      ++ignored->special;
      continue;
    }
    out->push_back(std::move(e));
  }
  closedir(d);
  // std::string's operator< compares bytes as unsigned char, like Python's
  // code-point order for UTF-8 names.
  std::sort(out->begin(), out->end(),
            [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return status;
}

// Appends the images of one class folder (`root`/`class_name`, recursively)
// to `samples` in torchvision's order: folders sorted by their path string
// (so "a-b" sorts before "a/b"), then files by name within each folder.
absl::Status ScanClass(const std::string& root, const std::string& class_name, int64_t label,
                       std::vector<SampleEntry>* samples, IgnoredEntries* ignored) {
  struct Folder {
    std::string rel;  // relative to root, e.g. "cat/sub"
    std::vector<SampleEntry> files;
  };
  std::vector<Folder> folders;
  std::vector<std::string> pending = {class_name};
  std::vector<Entry> entries;
  while (!pending.empty()) {
    Folder folder;
    folder.rel = std::move(pending.back());
    pending.pop_back();
    RETURN_IF_ERROR(ListDir(absl::StrCat(root, "/", folder.rel), &entries, ignored));
    for (const Entry& e : entries) {
      std::string rel = absl::StrCat(folder.rel, "/", e.name);
      if (S_ISDIR(e.st.st_mode)) {
        pending.push_back(std::move(rel));
      } else if (IsImageFileName(e.name)) {
        folder.files.push_back(
            SampleEntry{std::move(rel), label, static_cast<int64_t>(e.st.st_size), MtimeNs(e.st)});
      } else {
        ++ignored->not_images;
      }
    }
    folders.push_back(std::move(folder));
  }
  std::sort(folders.begin(), folders.end(),
            [](const Folder& a, const Folder& b) { return a.rel < b.rel; });
  for (Folder& folder : folders) {
    for (SampleEntry& s : folder.files) samples->push_back(std::move(s));
  }
  return absl::OkStatus();
}

// Returns `path` made absolute and lexically normalized, without a trailing '/'.
std::string NormalizeRoot(const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_relative()) {
    std::error_code ec;
    std::filesystem::path cwd = std::filesystem::current_path(ec);
    if (!ec) p = cwd / p;
  }
  std::string out = p.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const DatasetIndex>> DatasetIndex::Build(const std::string& name,
                                                                        const std::string& root) {
  std::shared_ptr<DatasetIndex> index(new DatasetIndex());
  index->name_ = name;
  index->root_ = NormalizeRoot(root);
  const std::string context = absl::StrCat("dataset '", name, "'");
  // The root itself may be a symlink (e.g. /data -> /mnt/disk/data): stat, not lstat.
  struct stat st;
  if (stat(index->root_.c_str(), &st) != 0) {
    return WithContext(ErrnoStatus(errno, "cannot access root", index->root_), context);
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        context, " at '", index->root_, "' is not a directory; expected ROOT/<class>/<image>"));
  }
  std::vector<Entry> entries;
  RETURN_IF_ERROR(WithContext(ListDir(index->root_, &entries, &index->ignored_), context));
  for (const Entry& e : entries) {
    if (!S_ISDIR(e.st.st_mode)) {  // files directly under root belong to no class
      ++index->ignored_.outside_classes;
      continue;
    }
    int64_t label = static_cast<int64_t>(index->classes_.size());
    size_t before = index->samples_.size();
    RETURN_IF_ERROR(WithContext(ScanClass(index->root_, e.name, label, &index->samples_, &index->ignored_), context));
    index->classes_.push_back(e.name);
    index->class_counts_.push_back(static_cast<int64_t>(index->samples_.size() - before));
  }
  index->root_fd_ = open(index->root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (index->root_fd_ < 0) return WithContext(ErrnoStatus(errno, "cannot open root", index->root_), context);
  if (index->samples_.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        context, " at '", index->root_, "' has no images: expected ROOT/<class>/<file> with ",
        "extension .jpg, .jpeg or .png (found ", index->classes_.size(), " class folders)"));
  }
  return std::shared_ptr<const DatasetIndex>(std::move(index));
}

DatasetIndex::~DatasetIndex() {
  if (root_fd_ >= 0) close(root_fd_);
}

absl::Status DatasetIndex::ReadSample(int64_t id, std::vector<uint8_t>* out) const {
  return ReadFileBeneath(root_fd_, samples_[static_cast<size_t>(id)].relative_path, out);
}

std::string DatasetIndex::SamplePath(int64_t id) const {
  return absl::StrCat(root_, "/", samples_[static_cast<size_t>(id)].relative_path);
}

}  // namespace imagefeed
