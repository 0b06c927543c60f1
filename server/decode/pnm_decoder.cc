#include "server/decode/pnm_decoder.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/decode/decode_limits.h"

namespace imagefeed {
namespace {

bool IsSpace(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Reads header fields and plain samples: decimal numbers separated by
// whitespace and '#' comments (to the end of the line).
class PnmReader {
 public:
  explicit PnmReader(absl::Span<const uint8_t> bytes) : bytes_(bytes) {}

  // The next number, at most `max`; false at the end, on a non-digit or above `max`.
  bool ReadNumber(uint32_t max, uint32_t* out) {
    SkipSpaceAndComments();
    if (pos_ >= bytes_.size() || bytes_[pos_] < '0' || bytes_[pos_] > '9') return false;
    uint64_t v = 0;
    while (pos_ < bytes_.size() && bytes_[pos_] >= '0' && bytes_[pos_] <= '9') {
      v = v * 10 + (bytes_[pos_++] - '0');
      if (v > max) return false;
    }
    *out = static_cast<uint32_t>(v);
    return true;
  }

  size_t pos() const { return pos_; }
  void set_pos(size_t pos) { pos_ = pos; }

 private:
  void SkipSpaceAndComments() {
    while (pos_ < bytes_.size()) {
      if (bytes_[pos_] == '#') {
        while (pos_ < bytes_.size() && bytes_[pos_] != '\n' && bytes_[pos_] != '\r') ++pos_;
      } else if (IsSpace(bytes_[pos_])) {
        ++pos_;
      } else {
        break;
      }
    }
  }

  absl::Span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

struct PnmLayout {
  bool plain = false;  // P2/P3
  int channels = 1;
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t maxval = 0;
  size_t raster_offset = 0;
  size_t samples() const { return static_cast<size_t>(width) * height * channels; }
};

absl::StatusOr<PnmLayout> ReadLayout(absl::Span<const uint8_t> bytes, const DecodeOptions& options) {
  if (bytes.size() < 3 || bytes[0] != 'P' || !IsSpace(bytes[2]) || bytes[1] < '1' || bytes[1] > '7') {
    return absl::InvalidArgumentError("not a PNM file (no 'P1'..'P7' magic followed by whitespace)");
  }
  PnmLayout layout;
  const char type = static_cast<char>(bytes[1]);
  if (type == '1' || type == '4' || type == '7') {
    return absl::InvalidArgumentError(absl::StrCat("unsupported PNM type P", std::string(1, type),
                                                   type == '7' ? " (PAM)" : " (PBM bitmap)",
                                                   "; supported: P2/P5 (PGM) and P3/P6 (PPM)"));
  }
  layout.plain = type == '2' || type == '3';
  layout.channels = type == '3' || type == '6' ? 3 : 1;
  PnmReader reader(bytes);
  reader.set_pos(2);
  if (!reader.ReadNumber(0xFFFFFFFFu, &layout.width) || !reader.ReadNumber(0xFFFFFFFFu, &layout.height)) {
    return absl::InvalidArgumentError("PNM header invalid: width and height must be decimal numbers");
  }
  RETURN_IF_ERROR(CheckDimensions("PNM", layout.width, layout.height, options.max_pixels));
  if (!reader.ReadNumber(65535, &layout.maxval) || layout.maxval == 0) {
    return absl::InvalidArgumentError("PNM header invalid: maxval must be a number in 1..65535");
  }
  // Exactly one whitespace byte separates maxval from a binary raster.
  if (reader.pos() >= bytes.size() || !IsSpace(bytes[reader.pos()])) {
    return absl::InvalidArgumentError("PNM header invalid: no whitespace after maxval (truncated file?)");
  }
  layout.raster_offset = reader.pos() + 1;
  const size_t available = bytes.size() - layout.raster_offset;
  const size_t bytes_per_sample = layout.maxval > 255 ? 2 : 1;
  // A plain sample takes at least one digit and one separator.
  const size_t needed = layout.plain ? 2 * layout.samples() - 1 : layout.samples() * bytes_per_sample;
  if (needed > available) {
    return absl::InvalidArgumentError(absl::StrCat("PNM truncated: ", layout.width, "x", layout.height, "x",
                                                   layout.channels, " samples need ", layout.plain ? "at least " : "",
                                                   needed, " bytes, the file has ", available));
  }
  return layout;
}

template <typename T>
T Scale(uint32_t v, uint32_t maxval, uint32_t full) {
  if (v > maxval) v = maxval;
  return static_cast<T>((uint64_t{v} * full + maxval / 2) / maxval);
}

absl::Status DecodePlain(absl::Span<const uint8_t> bytes, const PnmLayout& layout, Image* out) {
  PnmReader reader(bytes);
  reader.set_pos(layout.raster_offset);
  const size_t n = layout.samples();
  for (size_t i = 0; i < n; ++i) {
    uint32_t v;
    if (!reader.ReadNumber(0xFFFFFFFFu, &v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("PNM plain raster invalid: sample ", i, " of ", n, " is missing or not a number"));
    }
    if (out->bit_depth == 16) {
      const uint16_t s = Scale<uint16_t>(v, layout.maxval, 65535);
      std::memcpy(out->data.data() + 2 * i, &s, 2);
    } else {
      out->data[i] = Scale<uint8_t>(v, layout.maxval, 255);
    }
  }
  return absl::OkStatus();
}

void DecodeBinary(absl::Span<const uint8_t> bytes, const PnmLayout& layout, Image* out) {
  const uint8_t* src = bytes.data() + layout.raster_offset;
  const size_t n = layout.samples();
  if (out->bit_depth == 16) {
    for (size_t i = 0; i < n; ++i) {
      const uint16_t s = Scale<uint16_t>(uint32_t{src[2 * i]} << 8 | src[2 * i + 1], layout.maxval, 65535);
      std::memcpy(out->data.data() + 2 * i, &s, 2);
    }
  } else if (layout.maxval == 255) {
    std::memcpy(out->data.data(), src, n);
  } else {
    for (size_t i = 0; i < n; ++i) out->data[i] = Scale<uint8_t>(src[i], layout.maxval, 255);
  }
}

}  // namespace

absl::StatusOr<ImageHeader> PeekPnm(absl::Span<const uint8_t> bytes, const DecodeOptions& options) {
  ASSIGN_OR_RETURN(PnmLayout layout, ReadLayout(bytes, options));
  ImageHeader header;
  header.format = ImageFormat::kPnm;
  header.width = static_cast<int>(layout.width);
  header.height = static_cast<int>(layout.height);
  header.channels = layout.channels;
  header.bit_depth = layout.maxval > 255 ? 16 : 8;
  header.decoder_scratch_bytes = 0;  // samples go straight into the Image
  return header;
}

absl::Status DecodePnm(absl::Span<const uint8_t> bytes, const DecodeOptions& options, Image* out) {
  ASSIGN_OR_RETURN(PnmLayout layout, ReadLayout(bytes, options));
  out->Reset(static_cast<int>(layout.width), static_cast<int>(layout.height), layout.channels,
             layout.maxval > 255 ? 16 : 8);
  if (layout.plain) return DecodePlain(bytes, layout, out);
  DecodeBinary(bytes, layout, out);
  return absl::OkStatus();
}

}  // namespace imagefeed
