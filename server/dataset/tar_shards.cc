// Finding tar shards and caching their index (the shard reader is tar_index.cc).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "common/fingerprint.h"
#include "common/status_macros.h"
#include "server/dataset/tar_index.h"

namespace imagefeed {
namespace {

// Bump when the index's meaning changes: old cache files stop matching.
constexpr char kTarIndexVersion[] = "imagefeed-tar-index-v1";

// Expands one "{a..b}" range; `spec` has none if there is no '{'.
absl::StatusOr<std::vector<std::string>> ExpandBraces(const std::string& spec) {
  const size_t open = spec.find('{');
  if (open == std::string::npos) return std::vector<std::string>{spec};
  const size_t close = spec.find('}', open);
  const std::string range = close == std::string::npos ? "" : spec.substr(open + 1, close - open - 1);
  std::vector<std::string> bounds = absl::StrSplit(range, "..");
  int64_t lo = 0, hi = 0;
  if (bounds.size() != 2 || bounds[0].empty() || !absl::SimpleAtoi(bounds[0], &lo) ||
      !absl::SimpleAtoi(bounds[1], &hi) || lo < 0 || hi < lo || hi - lo >= 1000000 ||
      spec.find('{', close) != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("tar pattern '", spec,
                                                   "' is not PREFIX{FIRST..LAST}SUFFIX with FIRST <= LAST "
                                                   "(decimal, at most 1000000 shards, one range)"));
  }
  std::vector<std::string> out;
  for (int64_t i = lo; i <= hi; ++i) {
    std::string n = absl::StrCat(i);
    if (n.size() < bounds[0].size()) n.insert(0, bounds[0].size() - n.size(), '0');
    out.push_back(absl::StrCat(spec.substr(0, open), n, spec.substr(close + 1)));
  }
  return out;
}

// The regular *.tar files directly in `dir` (and whether it has subfolders).
absl::StatusOr<std::vector<std::string>> TarFilesIn(const std::string& dir, bool* has_subdirs) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return absl::NotFoundError(absl::StrCat("cannot open directory '", dir, "': ", std::strerror(errno)));
  std::vector<std::string> out;
  *has_subdirs = false;
  while (struct dirent* ent = readdir(d)) {
    if (ent->d_name[0] == '.') continue;
    struct stat st;
    if (fstatat(dirfd(d), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) *has_subdirs = true;
    if (S_ISREG(st.st_mode) && absl::EndsWith(ent->d_name, ".tar")) out.push_back(absl::StrCat(dir, "/", ent->d_name));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string BaseName(const std::string& path) { return std::filesystem::path(path).filename().string(); }

// Cache file: a header line "VERSION\tFINGERPRINT\tIGNORED*4", then one line
// per sample "SHARD\tOFFSET\tSIZE\tLABEL\tMEMBER". Returns false (and leaves
// the outputs empty) if the file is missing or does not parse.
bool LoadCache(const std::string& file, const std::string& fingerprint, const std::vector<TarShardFile>& shards,
               std::vector<SampleEntry>* samples, IgnoredEntries* ignored) {
  std::vector<uint8_t> bytes;
  if (!ReadFileToBuffer(file, &bytes).ok()) return false;
  absl::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (lines.empty()) return false;
  std::vector<absl::string_view> head = absl::StrSplit(lines[0], '\t');
  IgnoredEntries ig;
  if (head.size() != 6 || head[0] != kTarIndexVersion || head[1] != fingerprint ||
      !absl::SimpleAtoi(head[2], &ig.not_images) || !absl::SimpleAtoi(head[3], &ig.symlinks) ||
      !absl::SimpleAtoi(head[4], &ig.special) || !absl::SimpleAtoi(head[5], &ig.hidden)) {
    return false;
  }
  std::vector<SampleEntry> out;
  out.reserve(lines.size() - 1);
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<absl::string_view> f = absl::StrSplit(lines[i], absl::MaxSplits('\t', 4));
    SampleEntry e;
    int32_t shard = 0;
    if (f.size() != 5 || !absl::SimpleAtoi(f[0], &shard) || shard < 0 ||
        static_cast<size_t>(shard) >= shards.size() || !absl::SimpleAtoi(f[1], &e.offset) ||
        !absl::SimpleAtoi(f[2], &e.size_bytes) || !absl::SimpleAtoi(f[3], &e.label) || e.offset < 0 ||
        e.size_bytes < 0 || e.offset + e.size_bytes > shards[shard].size || e.label < 0 || e.label > kMaxLabel) {
      return false;
    }
    e.shard = shard;
    e.mtime_ns = shards[shard].mtime_ns;
    e.relative_path = absl::StrCat(BaseName(shards[shard].path), ":", f[4]);
    out.push_back(std::move(e));
  }
  *samples = std::move(out);
  *ignored = ig;
  return true;
}

void WriteCache(const std::string& dir, const std::string& file, const std::string& fingerprint,
                const std::vector<TarShardFile>& shards, const std::vector<SampleEntry>& samples,
                const IgnoredEntries& ig) {
  std::string text = absl::StrCat(kTarIndexVersion, "\t", fingerprint, "\t", ig.not_images, "\t", ig.symlinks,
                                  "\t", ig.special, "\t", ig.hidden, "\n");
  for (const SampleEntry& e : samples) {
    absl::string_view member = absl::string_view(e.relative_path).substr(BaseName(shards[e.shard].path).size() + 1);
    if (absl::StrContains(member, '\n')) return;  // not representable; index again next time
    absl::StrAppend(&text, e.shard, "\t", e.offset, "\t", e.size_bytes, "\t", e.label, "\t", member, "\n");
  }
  if (MakeDirs(dir).ok()) WriteFileAtomically(file, text).IgnoreError();
}

}  // namespace

std::string TarIndexFingerprint(const std::vector<TarShardFile>& shards, const std::string& label_field) {
  Fingerprint f;
  f.Add(kTarIndexVersion);
  f.Add(label_field);
  for (const TarShardFile& s : shards) f.Add(absl::StrCat(s.path, "\t", s.size, "\t", s.mtime_ns));
  return f.Hex();
}

absl::Status IndexTarShards(const std::vector<TarShardFile>& shards, const DatasetOptions& options,
                            std::vector<SampleEntry>* samples, IgnoredEntries* ignored) {
  std::string fingerprint, cache_file;
  if (!options.cache_dir.empty()) {
    fingerprint = TarIndexFingerprint(shards, options.label_field);
    cache_file = absl::StrCat(options.cache_dir, "/tar-index-", fingerprint, ".tsv");
    if (LoadCache(cache_file, fingerprint, shards, samples, ignored)) return absl::OkStatus();
  }
  for (size_t i = 0; i < shards.size(); ++i) {
    const TarShardFile& s = shards[i];
    RETURN_IF_ERROR(ScanTarShard(s.fd, s.size, s.mtime_ns, static_cast<int32_t>(i), BaseName(s.path),
                                 options.label_field, samples, ignored));
  }
  if (!cache_file.empty()) WriteCache(options.cache_dir, cache_file, fingerprint, shards, *samples, *ignored);
  return absl::OkStatus();
}

bool LooksLikeTarShards(const std::string& path) {
  if (absl::EndsWith(path, ".tar") || absl::StrContains(path, "..}")) return true;
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  bool has_subdirs = false;
  auto tars = TarFilesIn(path, &has_subdirs);
  return tars.ok() && !tars->empty() && !has_subdirs;
}

absl::StatusOr<std::vector<std::string>> ExpandTarShards(const std::string& spec) {
  struct stat st;
  std::vector<std::string> shards;
  if (stat(spec.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    bool has_subdirs = false;
    ASSIGN_OR_RETURN(shards, TarFilesIn(spec, &has_subdirs));
    if (shards.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("'", spec, "' holds no .tar files"));
    }
    return shards;
  }
  ASSIGN_OR_RETURN(shards, ExpandBraces(spec));
  std::sort(shards.begin(), shards.end());
  for (const std::string& s : shards) {
    if (stat(s.c_str(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat("tar shard '", s, "': ", std::strerror(errno)));
    }
    if (!S_ISREG(st.st_mode)) return absl::FailedPreconditionError(absl::StrCat("tar shard '", s, "' is not a file"));
  }
  return shards;
}

}  // namespace imagefeed
