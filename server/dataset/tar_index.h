#ifndef IMAGEFEED_SERVER_DATASET_TAR_INDEX_H_
#define IMAGEFEED_SERVER_DATASET_TAR_INDEX_H_

// WebDataset tar shards: finding them and indexing their members.
//
// Conventions (as the webdataset library reads them): a member's key is its
// path up to the first '.' of its file name, the rest is its extension;
// consecutive members sharing a key form one sample. A sample is one image
// (KEY.jpg|jpeg|png|webp) and a label: KEY.cls (a decimal integer) or
// KEY.json with an integer field (DatasetOptions::label_field). Shards are
// taken in sorted order and samples in member order, which gives the ids.
//
// Why not libarchive: the index must hold each member's *data offset* so a
// sample is one pread. libarchive reports where an entry's header starts
// (archive_read_header_position) but not where its data starts -- after pax
// 'x' and GNU 'L' extension headers that is a variable number of blocks
// later -- and archive_filter_bytes counts its read-ahead, not the entry.
// Offsets derived from those would be guesses. The header reader here
// handles exactly what the shards need (ustar, pax path/size records, GNU
// long names, base-256 sizes), verifies each header's checksum, and is
// tested against Python's tarfile.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/dataset/dataset_index.h"

namespace imagefeed {

// True if `path` names tar shards without a "tar:" prefix: it ends in
// ".tar", holds a "{a..b}" range, or is a directory with .tar files and no
// subdirectories.
bool LooksLikeTarShards(const std::string& path);

// The shard files of `spec` (without "tar:"), sorted by name: a single
// file, the regular *.tar files of a directory, or a brace range
// "/data/train-{000000..000146}.tar" (zero-padded to the first bound's
// width; at most one range). Every shard must exist.
absl::StatusOr<std::vector<std::string>> ExpandTarShards(const std::string& spec);

// One shard, opened by the caller.
struct TarShardFile {
  int fd;
  std::string path;
  int64_t size;
  int64_t mtime_ns;
};

// Indexes `shards` in order (shard number = position) into `samples`. With
// options.cache_dir set, the index is read from / written to
// "CACHE_DIR/tar-index-<sha256>.tsv", the SHA-256 taken over the shards'
// paths, sizes and mtimes and the label field, so a changed shard re-indexes.
// An unreadable cache is rebuilt; an unwritable one only costs the next start.
absl::Status IndexTarShards(const std::vector<TarShardFile>& shards, const DatasetOptions& options,
                            std::vector<SampleEntry>* samples, IgnoredEntries* ignored);

// Hex SHA-256 of the cache key of `shards` (exposed for tests).
std::string TarIndexFingerprint(const std::vector<TarShardFile>& shards, const std::string& label_field);

// Appends the samples of shard number `shard_no` (open at `fd`, `size`
// bytes, named `shard_name` in errors and in relative_path) to `samples`.
// Members that are not part of an image sample (a lone KEY.txt) and links
// are counted in `ignored`. A malformed header, a member running past the
// end of the shard, a sample without a label or with a non-integer or
// out-of-range label is an error naming the shard and the member.
absl::Status ScanTarShard(int fd, int64_t size, int64_t mtime_ns, int32_t shard_no, const std::string& shard_name,
                          const std::string& label_field, std::vector<SampleEntry>* samples,
                          IgnoredEntries* ignored);

// Reads the member at `entry` (offset/size) of the shard open at `fd` into
// `out`, refusing members above kMaxFileBytes. Errors name relative_path.
absl::Status ReadTarMember(int fd, const SampleEntry& entry, std::vector<uint8_t>* out);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_DATASET_TAR_INDEX_H_
