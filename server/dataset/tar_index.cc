#include "server/dataset/tar_index.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "server/dataset/label_util.h"

namespace imagefeed {
namespace {

constexpr int64_t kBlock = 512;
constexpr int64_t kMaxExtensionBytes = 1 << 20;  // a pax or GNU long-name record
constexpr int64_t kMaxLabelFileBytes = 1 << 20;  // KEY.cls / KEY.json
constexpr size_t kReadAhead = 1 << 20;

std::string Quoted(absl::string_view shard, absl::string_view member) {
  return absl::StrCat("shard '", shard, "' member '", member, "'");
}

// Positional reads through a read-ahead window: a shard of tiny members is
// scanned with one pread per MiB, a shard of large ones skips their data.
class ShardReader {
 public:
  ShardReader(int fd, int64_t size) : fd_(fd), size_(size) {}

  // Reads [offset, offset+n) into `dst`; false if the shard ends first or
  // the read fails (errno set, 0 for the end).
  bool Read(int64_t offset, size_t n, char* dst) {
    if (offset < window_offset_ || offset + static_cast<int64_t>(n) > window_offset_ + static_cast<int64_t>(window_.size())) {
      if (n > kReadAhead) return PreadAll(offset, n, dst);
      window_.resize(static_cast<size_t>(std::min<int64_t>(kReadAhead, size_ - offset)));
      window_offset_ = offset;
      if (window_.size() < n || !PreadAll(offset, window_.size(), window_.data())) {
        window_.clear();
        return false;
      }
    }
    std::memcpy(dst, window_.data() + (offset - window_offset_), n);
    return true;
  }

 private:
  bool PreadAll(int64_t offset, size_t n, char* dst) {
    size_t done = 0;
    while (done < n) {
      ssize_t got = pread(fd_, dst + done, n - done, offset + static_cast<int64_t>(done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        if (got == 0) errno = 0;
        return false;
      }
      done += static_cast<size_t>(got);
    }
    return true;
  }

  const int fd_;
  const int64_t size_;
  std::vector<char> window_;
  int64_t window_offset_ = 0;
};

// A tar numeric field: octal text, or base-256 (GNU, high bit set) for
// values that do not fit; nullopt if malformed or negative.
std::optional<int64_t> ParseNumeric(const char* field, size_t len) {
  const auto* u = reinterpret_cast<const unsigned char*>(field);
  if (u[0] & 0x80) {
    if (u[0] != 0x80) return std::nullopt;  // negative or absurd
    int64_t v = 0;
    for (size_t i = 1; i < len; ++i) {
      if (v > (int64_t{1} << 54)) return std::nullopt;
      v = (v << 8) | u[i];
    }
    return v;
  }
  size_t i = 0;
  while (i < len && (field[i] == ' ' || field[i] == '\0')) ++i;
  int64_t v = 0;
  for (; i < len && field[i] >= '0' && field[i] <= '7'; ++i) v = v * 8 + (field[i] - '0');
  for (; i < len; ++i) {
    if (field[i] != ' ' && field[i] != '\0') return std::nullopt;
  }
  return v;
}

bool ChecksumMatches(const char* h) {
  std::optional<int64_t> want = ParseNumeric(h + 148, 8);
  if (!want) return false;
  int64_t unsigned_sum = 0, signed_sum = 0;  // old tars summed signed chars
  for (int i = 0; i < kBlock; ++i) {
    const char c = (i >= 148 && i < 156) ? ' ' : h[i];
    unsigned_sum += static_cast<unsigned char>(c);
    signed_sum += static_cast<signed char>(c);
  }
  return *want == unsigned_sum || *want == signed_sum;
}

std::string CString(const char* field, size_t len) { return std::string(field, strnlen(field, len)); }

// Applies the "LEN key=value\n" records of a pax header we need.
// `*size` stays -1 without a size record.
void ApplyPax(absl::string_view records, std::optional<std::string>* path, int64_t* size) {
  while (!records.empty()) {
    size_t space = records.find(' ');
    int64_t len = 0;
    if (space == absl::string_view::npos || !absl::SimpleAtoi(records.substr(0, space), &len) || len <= 0 ||
        static_cast<size_t>(len) > records.size()) {
      return;
    }
    absl::string_view rec = records.substr(space + 1, static_cast<size_t>(len) - space - 1);
    records.remove_prefix(static_cast<size_t>(len));
    if (absl::ConsumeSuffix(&rec, "\n")) {
      if (absl::ConsumePrefix(&rec, "path=")) *path = std::string(rec);
      int64_t v = 0;
      if (absl::ConsumePrefix(&rec, "size=") && absl::SimpleAtoi(rec, &v) && v >= 0) *size = v;
    }
  }
}

// One member as the grouping sees it.
struct Member {
  std::string name;
  int64_t offset;
  int64_t size;
};

// Splits "dir/KEY.ext.more" into key "dir/KEY" and lowercased "ext.more"
// (webdataset's rule); false for names without a key or an extension.
bool SplitKey(const std::string& name, absl::string_view* key, std::string* ext) {
  const size_t slash = name.rfind('/');
  const size_t base = slash == std::string::npos ? 0 : slash + 1;
  const size_t dot = name.find('.', base);
  if (dot == std::string::npos || dot == base || dot + 1 == name.size()) return false;
  *key = absl::string_view(name).substr(0, dot);
  *ext = absl::AsciiStrToLower(name.substr(dot + 1));
  return true;
}

bool IsImageExtension(const std::string& ext) {
  return ext == "jpg" || ext == "jpeg" || ext == "png" || ext == "webp";
}

// The consecutive members of one key, turned into a sample.
class SampleGrouper {
 public:
  SampleGrouper(ShardReader* reader, const std::string& shard_name, int32_t shard_no, int64_t mtime_ns,
                const std::string& label_field, std::vector<SampleEntry>* samples, IgnoredEntries* ignored)
      : reader_(reader), shard_name_(shard_name), shard_no_(shard_no), mtime_ns_(mtime_ns),
        label_field_(label_field), samples_(samples), ignored_(ignored) {}

  absl::Status Add(Member m) {
    absl::string_view key;
    std::string ext;
    if (!SplitKey(m.name, &key, &ext)) {
      ++ignored_->not_images;
      return absl::OkStatus();
    }
    if (key != key_) {
      RETURN_IF_ERROR(Flush());
      key_ = std::string(key);
    }
    if (IsImageExtension(ext)) {
      if (image_) {
        return absl::FailedPreconditionError(absl::StrCat(Quoted(shard_name_, m.name), ": sample '", key_,
                                                          "' already has the image '", image_->name, "'"));
      }
      image_ = std::move(m);
    } else if (ext == "cls") {
      cls_ = std::move(m);
    } else if (ext == "json") {
      json_ = std::move(m);
    } else {
      ++ignored_->not_images;
    }
    return absl::OkStatus();
  }

  absl::Status Flush() {
    absl::Status status = FlushImpl();
    image_.reset();
    cls_.reset();
    json_.reset();
    return status;
  }

 private:
  absl::Status FlushImpl() {
    if (!image_) {
      if (cls_ || json_) ++ignored_->not_images;
      return absl::OkStatus();
    }
    const std::string where = Quoted(shard_name_, image_->name);
    if (!cls_ && !json_) {
      return absl::FailedPreconditionError(absl::StrCat(where, ": no label; expected '", key_, ".cls' or '", key_,
                                                        ".json' with the field '", label_field_,
                                                        "' next to it (--label_field=NAME=FIELD)"));
    }
    const Member& src = cls_ ? *cls_ : *json_;
    absl::StatusOr<int64_t> label = ReadLabel(src, /*is_cls=*/cls_.has_value());
    if (!label.ok()) return WithContext(label.status(), Quoted(shard_name_, src.name));
    SampleEntry e;
    e.relative_path = absl::StrCat(shard_name_, ":", image_->name);
    e.label = *label;
    e.size_bytes = image_->size;
    e.mtime_ns = mtime_ns_;
    e.offset = image_->offset;
    e.shard = shard_no_;
    samples_->push_back(std::move(e));
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> ReadLabel(const Member& m, bool is_cls) {
    if (m.size > kMaxLabelFileBytes) {
      return absl::FailedPreconditionError(absl::StrCat("label file of ", m.size, " bytes, above ", kMaxLabelFileBytes));
    }
    std::string text(static_cast<size_t>(m.size), '\0');
    if (!reader_->Read(m.offset, text.size(), text.data())) {
      return absl::UnavailableError(absl::StrCat("cannot read: ", errno ? std::strerror(errno) : "end of shard"));
    }
    if (is_cls) return ParseIntegerLabel(text);
    ASSIGN_OR_RETURN(google::protobuf::Struct json, ParseJsonObject(text));
    auto it = json.fields().find(label_field_);
    if (it == json.fields().end() && label_field_ == "label") it = json.fields().find("cls");
    if (it == json.fields().end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("no field '", label_field_, "' (choose the field with --label_field=NAME=FIELD)"));
    }
    if (it->second.kind_case() != google::protobuf::Value::kNumberValue) {
      return absl::InvalidArgumentError(absl::StrCat("field '", it->first, "' is not an integer"));
    }
    return JsonNumberLabel(it->second.number_value());
  }

  ShardReader* const reader_;
  const std::string& shard_name_;
  const int32_t shard_no_;
  const int64_t mtime_ns_;
  const std::string& label_field_;
  std::vector<SampleEntry>* const samples_;
  IgnoredEntries* const ignored_;
  std::string key_;
  std::optional<Member> image_, cls_, json_;
};

}  // namespace

absl::Status ScanTarShard(int fd, int64_t size, int64_t mtime_ns, int32_t shard_no, const std::string& shard_name,
                          const std::string& label_field, std::vector<SampleEntry>* samples,
                          IgnoredEntries* ignored) {
  ShardReader reader(fd, size);
  SampleGrouper grouper(&reader, shard_name, shard_no, mtime_ns, label_field, samples, ignored);
  std::optional<std::string> next_path;  // from a pax 'x' or GNU 'L' header
  int64_t next_size = -1;  // -1: none (an int, not an optional: gcc 12 warns falsely)
  std::string previous = "(start of shard)";
  char h[kBlock];
  int64_t pos = 0;
  while (pos < size) {
    const std::string where = absl::StrCat(Quoted(shard_name, previous), " is followed by ");
    if (pos + kBlock > size || !reader.Read(pos, kBlock, h)) {
      return absl::FailedPreconditionError(absl::StrCat(where, "a truncated tar header at offset ", pos));
    }
    if (std::all_of(h, h + kBlock, [](char c) { return c == '\0'; })) break;  // end of archive
    std::optional<int64_t> header_size = ParseNumeric(h + 124, 12);
    if (!ChecksumMatches(h) || !header_size) {
      return absl::FailedPreconditionError(
          absl::StrCat(where, "a malformed tar header at offset ", pos, " (bad checksum or size); is it a tar file?"));
    }
    std::string name = CString(h, 100);
    const std::string prefix = CString(h + 345, 155);
    if (std::memcmp(h + 257, "ustar\0", 6) == 0 && !prefix.empty()) name = absl::StrCat(prefix, "/", name);
    if (next_path) name = *next_path;
    const int64_t member_size = next_size >= 0 ? next_size : *header_size;
    const int64_t data = pos + kBlock;
    if (member_size > size - data) {
      return absl::FailedPreconditionError(absl::StrCat(Quoted(shard_name, name), " is truncated: its header says ",
                                                        member_size, " bytes at offset ", data, " but the shard has ",
                                                        size, " bytes"));
    }
    const char type = h[156];
    if (type == 'x' || type == 'L') {
      if (*header_size > kMaxExtensionBytes) {
        return absl::FailedPreconditionError(absl::StrCat(where, "an extension header of ", *header_size, " bytes"));
      }
      std::string text(static_cast<size_t>(*header_size), '\0');
      if (!reader.Read(data, text.size(), text.data())) {
        return absl::UnavailableError(absl::StrCat(where, "an unreadable header: ", std::strerror(errno)));
      }
      if (type == 'L') {
        next_path = CString(text.data(), text.size());
      } else {
        ApplyPax(text, &next_path, &next_size);
      }
    } else {
      next_path.reset();
      next_size = -1;
      if (type == '0' || type == '\0' || type == '7') {
        RETURN_IF_ERROR(grouper.Add(Member{name, data, member_size}));
      } else if (type == '1' || type == '2') {
        ++ignored->symlinks;
      } else if (type != '5' && type != 'g' && type != 'K') {
        ++ignored->special;
      }
      previous = name;
    }
    pos = data + (type == 'x' || type == 'L' ? *header_size : member_size);
    pos = (pos + kBlock - 1) / kBlock * kBlock;
  }
  return grouper.Flush();
}

absl::Status ReadTarMember(int fd, const SampleEntry& entry, std::vector<uint8_t>* out) {
  if (static_cast<uint64_t>(entry.size_bytes) > kMaxFileBytes) {
    return absl::FailedPreconditionError(absl::StrCat("'", entry.relative_path, "' is ", entry.size_bytes,
                                                      " bytes, above the limit of ", kMaxFileBytes));
  }
  out->resize(static_cast<size_t>(entry.size_bytes));
  size_t done = 0;
  while (done < out->size()) {
    ssize_t got = pread(fd, out->data() + done, out->size() - done, entry.offset + static_cast<int64_t>(done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      return absl::UnavailableError(absl::StrCat("cannot read '", entry.relative_path, "': ", std::strerror(errno)));
    }
    if (got == 0) {
      return absl::FailedPreconditionError(absl::StrCat("cannot read '", entry.relative_path, "': the shard ends after ",
                                                        done, " of its ", out->size(),
                                                        " bytes (changed since indexing? restart the server)"));
    }
    done += static_cast<size_t>(got);
  }
  return absl::OkStatus();
}

}  // namespace imagefeed