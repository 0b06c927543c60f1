#ifndef IMAGEFEED_COMMON_SYSTEM_MEMORY_H_
#define IMAGEFEED_COMMON_SYSTEM_MEMORY_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace imagefeed {

// Parses a byte count: decimal digits with an optional binary suffix K, M, G
// or T (either case; 1K = 1024), e.g. "1073741824", "256M", "2G". Returns
// INVALID_ARGUMENT for anything else, zero, or a value above INT64_MAX.
absl::StatusOr<int64_t> ParseByteSize(absl::string_view text);

// "1.5 GiB", "256.0 MiB", "512 bytes": for log lines.
std::string FormatByteSize(int64_t bytes);

// The memory limit of this process's cgroup, read below `cgroup_root`
// (normally "/sys/fs/cgroup"): v2 `memory.max`, else v1
// `memory/memory.limit_in_bytes`. nullopt if neither file is readable, the
// limit is "max", or it is not below `physical_bytes` (v1 writes a huge
// number for "unlimited").
std::optional<int64_t> CgroupMemoryLimit(const std::string& cgroup_root, int64_t physical_bytes);

// Physical memory of the machine (sysconf), in bytes.
int64_t PhysicalMemoryBytes();

struct DefaultBudget {
  int64_t bytes = 0;
  // Where `bytes` came from, e.g. "50% of the cgroup memory limit 4.0 GiB".
  std::string source;
};

// Half of the cgroup memory limit (see CgroupMemoryLimit), else half of
// `physical_bytes`: room for the rest of the process and the page cache.
DefaultBudget DefaultMemoryBudget(const std::string& cgroup_root, int64_t physical_bytes);

}  // namespace imagefeed

#endif  // IMAGEFEED_COMMON_SYSTEM_MEMORY_H_
