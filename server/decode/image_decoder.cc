#include "server/decode/image_decoder.h"

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/decode/jpeg_decoder.h"
#include "server/decode/png_decoder.h"

namespace imagefeed {
namespace {

constexpr uint8_t kJpegMagic[3] = {0xFF, 0xD8, 0xFF};  // SOI + the next marker's prefix
constexpr uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

bool StartsWith(absl::Span<const uint8_t> bytes, const uint8_t* magic, size_t size) {
  return bytes.size() >= size && std::memcmp(bytes.data(), magic, size) == 0;
}

}  // namespace

absl::StatusOr<ImageFormat> SniffFormat(absl::Span<const uint8_t> bytes) {
  if (StartsWith(bytes, kJpegMagic, sizeof(kJpegMagic))) return ImageFormat::kJpeg;
  if (StartsWith(bytes, kPngMagic, sizeof(kPngMagic))) return ImageFormat::kPng;
  if (bytes.empty()) return absl::InvalidArgumentError("not a JPEG or PNG file (empty input)");
  // The first bytes say what the file is instead (HTML, GIF, a zeroed block).
  std::string start;
  for (size_t i = 0; i < bytes.size() && i < 4; ++i) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), " %02x", bytes[i]);
    start += hex;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("not a JPEG or PNG file (", bytes.size(), " bytes starting with", start, ")"));
}

absl::StatusOr<ImageHeader> PeekImageHeader(absl::Span<const uint8_t> bytes,
                                            const DecodeOptions& options) {
  absl::StatusOr<ImageFormat> format = SniffFormat(bytes);
  if (!format.ok()) return format.status();
  return *format == ImageFormat::kJpeg ? PeekJpeg(bytes, options) : PeekPng(bytes, options);
}

size_t ThreadDecoderScratchBytes() { return ThreadJpegScratchBytes(); }

void ReleaseDecoderScratch() { ReleaseJpegScratch(); }

absl::Status DecodeImage(absl::Span<const uint8_t> bytes, const DecodeOptions& options,
                         Image* out) {
  absl::StatusOr<ImageFormat> format = SniffFormat(bytes);
  if (!format.ok()) return format.status();
  return *format == ImageFormat::kJpeg ? DecodeJpeg(bytes, options, out)
                                       : DecodePng(bytes, options, out);
}

}  // namespace imagefeed
