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
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/fingerprint.h"
#include "common/status_macros.h"
#include "server/dataset/file_list.h"
#include "server/dataset/tar_index.h"

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

const char* DatasetFormatName(DatasetFormat format) {
  switch (format) {
    case DatasetFormat::kTar:
      return "tar";
    case DatasetFormat::kList:
      return "list";
    case DatasetFormat::kFolder:
      break;
  }
  return "folder";
}

absl::StatusOr<std::shared_ptr<const DatasetIndex>> DatasetIndex::Build(const std::string& name,
                                                                        const std::string& spec,
                                                                        const DatasetOptions& options) {
  std::shared_ptr<DatasetIndex> index(new DatasetIndex());
  index->name_ = name;
  const std::string context = absl::StrCat("dataset '", name, "'");
  absl::string_view path = spec;
  absl::Status status;
  if (absl::ConsumePrefix(&path, "list:")) {
    status = WithContext(index->BuildList(std::string(path), options), context);
  } else if (absl::ConsumePrefix(&path, "tar:") || LooksLikeTarShards(spec)) {
    status = WithContext(index->BuildTar(std::string(path), options), context);
  } else {
    absl::ConsumePrefix(&path, "folder:");
    status = index->BuildFolder(std::string(path));  // names the dataset itself
  }
  if (!status.ok()) return status;
  index->samples_.shrink_to_fit();  // up to half the vector is growth slack; the index lives for the server's life
  Fingerprint fingerprint;
  fingerprint.Add("imagefeed dataset content v1");
  for (const std::string& c : index->classes_) fingerprint.Add(c);
  for (const SampleEntry& e : index->samples_) {
    fingerprint.Add(e.relative_path);
    fingerprint.Add(absl::StrCat(e.label, ":", e.size_bytes));
  }
  index->content_fingerprint_ = fingerprint.Hex();
  return std::shared_ptr<const DatasetIndex>(std::move(index));
}

absl::Status DatasetIndex::BuildFolder(const std::string& root) {
  root_ = NormalizeRoot(root);
  const std::string context = absl::StrCat("dataset '", name_, "'");
  // The root itself may be a symlink (e.g. /data -> /mnt/disk/data): stat, not lstat.
  struct stat st;
  if (stat(root_.c_str(), &st) != 0) return WithContext(ErrnoStatus(errno, "cannot access root", root_), context);
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        context, " at '", root_, "' is not a directory; expected ROOT/<class>/<image>, a .tar shard or list:FILE"));
  }
  std::vector<Entry> entries;
  RETURN_IF_ERROR(WithContext(ListDir(root_, &entries, &ignored_), context));
  for (const Entry& e : entries) {
    if (!S_ISDIR(e.st.st_mode)) {  // files directly under root belong to no class
      ++ignored_.outside_classes;
      continue;
    }
    int64_t label = static_cast<int64_t>(classes_.size());
    size_t before = samples_.size();
    RETURN_IF_ERROR(WithContext(ScanClass(root_, e.name, label, &samples_, &ignored_), context));
    classes_.push_back(e.name);
    class_counts_.push_back(static_cast<int64_t>(samples_.size() - before));
  }
  root_fd_ = open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd_ < 0) return WithContext(ErrnoStatus(errno, "cannot open root", root_), context);
  if (samples_.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        context, " at '", root_, "' has no images: expected ROOT/<class>/<file> with ",
        "extension .jpg, .jpeg or .png (found ", classes_.size(), " class folders)"));
  }
  return absl::OkStatus();
}

absl::Status DatasetIndex::BuildTar(const std::string& spec, const DatasetOptions& options) {
  format_ = DatasetFormat::kTar;
  root_ = NormalizeRoot(spec);
  ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandTarShards(root_));
  std::vector<TarShardFile> files;
  for (const std::string& p : paths) {
    // Shards named by the operator are trusted input: opened once, kept open.
    int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "cannot open tar shard", p);
    shard_fds_.push_back(fd);
    shards_.push_back(p);
    struct stat st;
    if (fstat(fd, &st) != 0) return ErrnoStatus(errno, "cannot stat tar shard", p);
    files.push_back(TarShardFile{fd, p, static_cast<int64_t>(st.st_size), MtimeNs(st)});
  }
  RETURN_IF_ERROR(IndexTarShards(files, options, &samples_, &ignored_));
  if (samples_.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tar shards '", root_, "' hold no samples: expected members KEY.jpg|jpeg|png|webp with KEY.cls or KEY.json"));
  }
  CountClasses(/*integer_labels=*/true);
  return absl::OkStatus();
}

absl::Status DatasetIndex::BuildList(const std::string& list_file, const DatasetOptions& options) {
  format_ = DatasetFormat::kList;
  root_ = NormalizeRoot(list_file);
  base_dir_ = std::filesystem::path(root_).parent_path().string();
  root_fd_ = open(base_dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd_ < 0) return ErrnoStatus(errno, "cannot open the list's folder", base_dir_);
  FileListContents contents;
  RETURN_IF_ERROR(ReadFileList(root_, root_fd_, options.allow_absolute_list_paths, &contents));
  samples_ = std::move(contents.samples);
  classes_ = std::move(contents.classes);
  CountClasses(/*integer_labels=*/classes_.empty());
  return absl::OkStatus();
}

void DatasetIndex::CountClasses(bool integer_labels) {
  int64_t max_label = -1;
  for (const SampleEntry& s : samples_) max_label = std::max(max_label, s.label);
  if (integer_labels) {
    classes_.clear();
    for (int64_t i = 0; i <= max_label; ++i) classes_.push_back(absl::StrCat(i));
  }
  class_counts_.assign(classes_.size(), 0);
  for (const SampleEntry& s : samples_) ++class_counts_[static_cast<size_t>(s.label)];
}

DatasetIndex::~DatasetIndex() {
  if (root_fd_ >= 0) close(root_fd_);
  for (int fd : shard_fds_) close(fd);
}

absl::Status DatasetIndex::ReadSample(int64_t id, std::vector<uint8_t>* out) const {
  const SampleEntry& s = samples_[static_cast<size_t>(id)];
  if (format_ == DatasetFormat::kTar) return ReadTarMember(shard_fds_[static_cast<size_t>(s.shard)], s, out);
  // Absolute list paths were allowed by the operator; the last component is still not followed.
  if (s.relative_path[0] == '/') return ReadFileToBuffer(s.relative_path, out);
  return ReadFileBeneath(root_fd_, s.relative_path, out);
}

std::string DatasetIndex::SamplePath(int64_t id) const {
  const SampleEntry& s = samples_[static_cast<size_t>(id)];
  switch (format_) {
    case DatasetFormat::kTar:
      return absl::StrCat(std::filesystem::path(shards_[static_cast<size_t>(s.shard)]).parent_path().string(), "/",
                          s.relative_path);
    case DatasetFormat::kList:
      return s.relative_path[0] == '/' ? s.relative_path : absl::StrCat(base_dir_, "/", s.relative_path);
    case DatasetFormat::kFolder:
      break;
  }
  return absl::StrCat(root_, "/", s.relative_path);
}

}  // namespace imagefeed
