#ifndef IMAGEFEED_COMMON_FILE_UTIL_H_
#define IMAGEFEED_COMMON_FILE_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace imagefeed {

// The largest file (or tar member) the server reads into memory.
constexpr uint64_t kMaxFileBytes = uint64_t{1} << 30;

// Reads the whole regular file `path` into `out` (reusing its capacity).
// Returns NOT_FOUND if it does not exist, FAILED_PRECONDITION if it is not a
// regular file or is larger than `max_bytes`, and the errno text otherwise.
// Never follows a symlink in the last path component.
absl::Status ReadFileToBuffer(const std::string& path, std::vector<uint8_t>* out,
                              uint64_t max_bytes = kMaxFileBytes);

// Reads `relative` below the directory `dir_fd` into `out`, resolving no
// symlink at all and never leaving that directory (openat2 with
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS; on kernels without openat2, every
// component is opened with O_NOFOLLOW in turn). Errors as ReadFileToBuffer,
// naming `relative`.
absl::Status ReadFileBeneath(int dir_fd, const std::string& relative, std::vector<uint8_t>* out,
                             uint64_t max_bytes = kMaxFileBytes);

// Writes `data` to `path` atomically (temporary file + rename).
absl::Status WriteFileAtomically(const std::string& path, absl::string_view data);

// Creates `path` and its missing parents (like mkdir -p).
absl::Status MakeDirs(const std::string& path);

// Returns $XDG_CACHE_HOME/imagefeed, else $HOME/.cache/imagefeed, else /tmp/imagefeed-cache.
std::string DefaultCacheDir();

}  // namespace imagefeed

#endif  // IMAGEFEED_COMMON_FILE_UTIL_H_
