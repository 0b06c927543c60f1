#include "server/decode/image_decoder.h"

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/decode/bmp_decoder.h"
#include "server/decode/jpeg_decoder.h"
#include "server/decode/jpeg_window_decoder.h"
#include "server/decode/png_decoder.h"
#include "server/decode/pnm_decoder.h"
#include "server/decode/webp_decoder.h"

namespace imagefeed {
namespace {

constexpr uint8_t kJpegMagic[3] = {0xFF, 0xD8, 0xFF};  // SOI + the next marker's prefix
constexpr uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
constexpr uint8_t kTiffLittle[4] = {'I', 'I', 42, 0};
constexpr uint8_t kTiffBig[4] = {'M', 'M', 0, 42};
constexpr uint8_t kBigTiffLittle[4] = {'I', 'I', 43, 0};
constexpr uint8_t kBigTiffBig[4] = {'M', 'M', 0, 43};

bool StartsWith(absl::Span<const uint8_t> bytes, const uint8_t* magic, size_t size) {
  return bytes.size() >= size && std::memcmp(bytes.data(), magic, size) == 0;
}

bool IsWebp(absl::Span<const uint8_t> bytes) {
  return bytes.size() >= 12 && std::memcmp(bytes.data(), "RIFF", 4) == 0 &&
         std::memcmp(bytes.data() + 8, "WEBP", 4) == 0;
}

bool IsPnm(absl::Span<const uint8_t> bytes) {
  if (bytes.size() < 3 || bytes[0] != 'P' || bytes[1] < '1' || bytes[1] > '7') return false;
  const uint8_t c = bytes[2];
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool IsTiff(absl::Span<const uint8_t> bytes) {
  return StartsWith(bytes, kTiffLittle, 4) || StartsWith(bytes, kTiffBig, 4) ||
         StartsWith(bytes, kBigTiffLittle, 4) || StartsWith(bytes, kBigTiffBig, 4);
}

absl::Status UnsupportedTiff() {
  return absl::InvalidArgumentError(
      "unsupported format: TIFF (decoded: JPEG, PNG, WebP, BMP, PGM/PPM; convert the file)");
}

}  // namespace

const char* ImageFormatName(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg: return "JPEG";
    case ImageFormat::kPng: return "PNG";
    case ImageFormat::kWebp: return "WebP";
    case ImageFormat::kBmp: return "BMP";
    case ImageFormat::kPnm: return "PNM";
    case ImageFormat::kTiff: return "TIFF";
  }
  return "unknown";
}

absl::StatusOr<ImageFormat> SniffFormat(absl::Span<const uint8_t> bytes) {
  if (StartsWith(bytes, kJpegMagic, sizeof(kJpegMagic))) return ImageFormat::kJpeg;
  if (StartsWith(bytes, kPngMagic, sizeof(kPngMagic))) return ImageFormat::kPng;
  if (IsWebp(bytes)) return ImageFormat::kWebp;
  if (bytes.size() >= 2 && bytes[0] == 'B' && bytes[1] == 'M') return ImageFormat::kBmp;
  if (IsPnm(bytes)) return ImageFormat::kPnm;
  if (IsTiff(bytes)) return ImageFormat::kTiff;
  // "not a JPEG or PNG file" is kept as the message's start: clients match it.
  if (bytes.empty()) {
    return absl::InvalidArgumentError("not a JPEG or PNG file, nor WebP, BMP or PGM/PPM (empty input)");
  }
  // The first bytes say what the file is instead (HTML, GIF, a zeroed block).
  std::string start;
  for (size_t i = 0; i < bytes.size() && i < 4; ++i) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), " %02x", bytes[i]);
    start += hex;
  }
  return absl::InvalidArgumentError(absl::StrCat("not a JPEG or PNG file, nor WebP, BMP or PGM/PPM (", bytes.size(),
                                                 " bytes starting with", start, ")"));
}

absl::StatusOr<ImageHeader> PeekImageHeader(absl::Span<const uint8_t> bytes,
                                            const DecodeOptions& options) {
  absl::StatusOr<ImageFormat> format = SniffFormat(bytes);
  if (!format.ok()) return format.status();
  switch (*format) {
    case ImageFormat::kJpeg: return PeekJpeg(bytes, options);
    case ImageFormat::kPng: return PeekPng(bytes, options);
    case ImageFormat::kWebp: return PeekWebp(bytes, options);
    case ImageFormat::kBmp: return PeekBmp(bytes, options);
    case ImageFormat::kPnm: return PeekPnm(bytes, options);
    case ImageFormat::kTiff: break;
  }
  return UnsupportedTiff();
}

size_t ThreadDecoderScratchBytes() { return ThreadJpegScratchBytes() + ThreadJpegWindowScratchBytes(); }

void ReleaseDecoderScratch() {
  ReleaseJpegScratch();
  ReleaseJpegWindowScratch();
}

namespace {

// Whether DecodeImageWindow decodes only the window: JPEGs as stored (an
// EXIF rotation would need the window mapped back; they decode whole), and
// not when the window is the whole image at full size (the plain decode is
// the same work, and reads to the end so truncation is noticed).
bool DecodesWindow(const ImageHeader& header, const DecodeOptions& options, const PixelRect& window,
                   int scale_denom) {
  const bool whole = window.x == 0 && window.y == 0 && window.width == header.width &&
                     window.height == header.height;
  return options.partial_jpeg && header.format == ImageFormat::kJpeg && header.orientation == 1 &&
         !(whole && scale_denom == 1);
}

}  // namespace

absl::Status DecodeImageWindow(absl::Span<const uint8_t> bytes, const ImageHeader& header,
                               const DecodeOptions& options, const PixelRect& window, int scale_denom, Image* out,
                               PixelRect* in_out) {
  if (DecodesWindow(header, options, window, scale_denom)) {
    return DecodeJpegWindow(bytes, header, window, scale_denom, out, in_out);
  }
  absl::Status s = DecodeImage(bytes, options, out);
  if (s.ok()) *in_out = window;
  return s;
}

size_t DecodedWindowBytes(const ImageHeader& header, const DecodeOptions& options, const PixelRect& window,
                          int scale_denom) {
  if (DecodesWindow(header, options, window, scale_denom)) return JpegWindowBytes(header, window, scale_denom);
  return header.decoded_bytes();
}

absl::Status DecodeImage(absl::Span<const uint8_t> bytes, const DecodeOptions& options,
                         Image* out) {
  absl::StatusOr<ImageFormat> format = SniffFormat(bytes);
  if (!format.ok()) return format.status();
  switch (*format) {
    case ImageFormat::kJpeg: return DecodeJpeg(bytes, options, out);
    case ImageFormat::kPng: return DecodePng(bytes, options, out);
    case ImageFormat::kWebp: return DecodeWebp(bytes, options, out);
    case ImageFormat::kBmp: return DecodeBmp(bytes, options, out);
    case ImageFormat::kPnm: return DecodePnm(bytes, options, out);
    case ImageFormat::kTiff: break;
  }
  return UnsupportedTiff();
}

}  // namespace imagefeed
