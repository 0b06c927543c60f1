// index_bench: how long indexing takes and what the index costs per sample,
// for the three dataset layouts.
//
//   build/bin/index_bench [TAR_MEMBERS [LOOSE_FILES [DIR]]]   (default 1000000 100000)
//
// Writes TAR_MEMBERS tiny image members (+ .cls labels) into shards of
// 10000 samples, LOOSE_FILES tiny files in 100 class folders and a CSV list of them, then times DatasetIndex::Build on each (tar
// twice: scanning, then from the index cache). Prints seconds, samples per
// second and the heap bytes per sample the index keeps (paths included, and
// how much of that is path text).
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/dataset/dataset_index.h"

namespace imagefeed {
namespace {

constexpr int64_t kPerShard = 10000;

// Heap bytes in use (not RSS: freed memory of an earlier run is reused).
int64_t HeapBytes() {
  struct mallinfo2 m = mallinfo2();
  return static_cast<int64_t>(m.uordblks + m.hblkhd);  // hblkhd: large blocks malloc mmaps (the vector)
}

// A ustar header block for a regular file (the reader is tested against
// Python's tarfile elsewhere; this only has to be valid).
void AppendMember(std::string* tar, const std::string& name, const std::string& data) {
  char h[512] = {};
  std::snprintf(h, 100, "%s", name.c_str());
  std::snprintf(h + 100, 8, "%07o", 0644);
  std::snprintf(h + 108, 8, "%07o", 0);
  std::snprintf(h + 116, 8, "%07o", 0);
  std::snprintf(h + 124, 12, "%011o", static_cast<unsigned>(data.size()));
  std::snprintf(h + 136, 12, "%011o", 0);
  h[156] = '0';
  std::memcpy(h + 257, "ustar\0" "00", 8);
  std::memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(h + 148, 8, "%06o", sum);
  tar->append(h, 512);
  tar->append(data);
  tar->append((512 - data.size() % 512) % 512, '\0');
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

void Report(const char* what, const DatasetIndex& index, double seconds, int64_t heap_growth) {
  const int64_t n = index.num_samples();
  int64_t path_heap = 0;  // what the paths add beyond the SampleEntry (0 when short enough for SSO)
  for (const SampleEntry& s : index.samples()) {
    if (s.relative_path.capacity() > 15) path_heap += static_cast<int64_t>(s.relative_path.capacity()) + 1;
  }
  std::printf("%-24s %8lld samples %7.2f s %9.0f samples/s  heap %6.1f B/sample, %5.1f B of it path text\n", what,
              static_cast<long long>(n), seconds, n / seconds, static_cast<double>(heap_growth) / n,
              static_cast<double>(path_heap) / n);
}

int Time(const char* what, const std::string& name, const std::string& spec, const DatasetOptions& options) {
  const int64_t heap = HeapBytes();
  auto start = std::chrono::steady_clock::now();
  auto index = DatasetIndex::Build(name, spec, options);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!index.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, std::string(index.status().message()).c_str());
    return 1;
  }
  Report(what, **index, seconds, HeapBytes() - heap);
  return 0;
}

int Run(int argc, char** argv) {
  const int64_t members = argc > 1 ? std::atoll(argv[1]) : 1000000;
  const int64_t files = argc > 2 ? std::atoll(argv[2]) : 100000;
  const bool own_dir = argc <= 3;
  std::string dir = own_dir ? absl::StrCat("/tmp/index_bench.", getpid()) : argv[3];
  std::filesystem::create_directories(dir + "/shards");
  const std::string image(64, 'x');  // indexing never decodes
  std::string tar;
  for (int64_t i = 0; i < members; ++i) {
    AppendMember(&tar, absl::StrFormat("%08d.jpg", i), image);
    AppendMember(&tar, absl::StrFormat("%08d.cls", i), absl::StrCat(i % 1000));
    if ((i + 1) % kPerShard == 0 || i + 1 == members) {
      tar.append(1024, '\0');
      WriteFile(absl::StrFormat("%s/shards/train-%06d.tar", dir, i / kPerShard), tar);
      tar.clear();
    }
  }
  std::string csv = "path,label\n";
  for (int64_t i = 0; i < files; ++i) {
    const std::string cls = absl::StrFormat("c%03d", i % 100);
    if (i < 100) std::filesystem::create_directories(absl::StrCat(dir, "/folder/", cls));
    const std::string rel = absl::StrFormat("%s/%08d.jpg", cls, i);
    WriteFile(absl::StrCat(dir, "/folder/", rel), image);
    absl::StrAppend(&csv, "folder/", rel, ",", i % 100, "\n");
  }
  WriteFile(dir + "/list.csv", csv);
  std::printf("sizeof(SampleEntry) = %zu bytes\n", sizeof(SampleEntry));
  DatasetOptions options;
  options.cache_dir = dir + "/cache";
  int rc = 0;
  if (members > 0) {
    rc |= Time("tar (scan)", "tar", "tar:" + dir + "/shards", options);
    rc |= Time("tar (from index cache)", "tar", "tar:" + dir + "/shards", options);
  }
  if (files > 0) {
    rc |= Time("folder", "folder", dir + "/folder", options);
    rc |= Time("list (CSV)", "list", "list:" + dir + "/list.csv", options);
  }
  if (own_dir) std::filesystem::remove_all(dir);
  return rc;
}

}  // namespace
}  // namespace imagefeed

int main(int argc, char** argv) { return imagefeed::Run(argc, argv); }
