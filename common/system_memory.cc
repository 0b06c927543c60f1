#include "common/system_memory.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace imagefeed {
namespace {

// The first line of a small file, whitespace trimmed; nullopt if unreadable.
std::optional<std::string> ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return std::string(absl::StripAsciiWhitespace(line));
}

}  // namespace

absl::StatusOr<int64_t> ParseByteSize(absl::string_view text) {
  auto invalid = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "' is not a byte count above 0: digits with an optional suffix K, M, G or T, e.g. 512M"));
  };
  absl::string_view digits = text;
  int shift = 0;
  if (!digits.empty()) {
    switch (absl::ascii_toupper(static_cast<unsigned char>(digits.back()))) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      case 'T': shift = 40; break;
      default: break;
    }
    if (shift > 0) digits.remove_suffix(1);
  }
  if (digits.empty() || digits.size() > 19 || !std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit)) {
    return invalid();
  }
  uint64_t value = 0;
  if (!absl::SimpleAtoi(digits, &value) || value == 0 ||
      value > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) >> shift)) {
    return invalid();
  }
  return static_cast<int64_t>(value << shift);
}

std::string FormatByteSize(int64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return absl::StrCat(bytes, " bytes");
  double v = static_cast<double>(bytes);
  int unit = -1;
  while (v >= 1024 && unit < 3) {
    v /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", v, kUnits[unit]);
}

std::optional<int64_t> CgroupMemoryLimit(const std::string& cgroup_root, int64_t physical_bytes) {
  for (const char* file : {"/memory.max", "/memory/memory.limit_in_bytes"}) {
    std::optional<std::string> line = ReadFirstLine(cgroup_root + file);
    if (!line) continue;
    int64_t limit = 0;
    // "max" (v2) means no limit; so does v1's page-rounded INT64_MAX.
    if (!absl::SimpleAtoi(*line, &limit) || limit <= 0 || limit >= physical_bytes) return std::nullopt;
    return limit;
  }
  return std::nullopt;
}

int64_t PhysicalMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return int64_t{1} << 30;  // unknown: assume a small machine
  return static_cast<int64_t>(pages) * page_size;
}

DefaultBudget DefaultMemoryBudget(const std::string& cgroup_root, int64_t physical_bytes) {
  if (std::optional<int64_t> limit = CgroupMemoryLimit(cgroup_root, physical_bytes)) {
    return {*limit / 2, absl::StrCat("50% of the cgroup memory limit ", FormatByteSize(*limit))};
  }
  return {physical_bytes / 2, absl::StrCat("50% of physical memory ", FormatByteSize(physical_bytes))};
}

}  // namespace imagefeed
