#include "server/decode/image_decoder.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
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


namespace {

// Whether DecodeImageWindow decodes only the window: JPEGs, EXIF-oriented
// ones at full scale only (their window is mapped to the stored image), and
// not when the window is the whole image at full size (the plain decode is
// the same work, and reads to the end so truncation is noticed).
bool DecodesWindow(const ImageHeader& header, const DecodeOptions& options, const PixelRect& window,
                   int scale_denom) {
  const bool whole = window.x == 0 && window.y == 0 && window.width == header.upright_width() &&
                     window.height == header.upright_height();
  return options.partial_jpeg && header.format == ImageFormat::kJpeg &&
         (header.orientation == 1 || scale_denom == 1) && !(whole && scale_denom == 1);
}

// Where pixel (x, y) of a w x h image lands once turned by EXIF
// `orientation` (ApplyOrientation's mapping, written out per value).
void OrientPoint(int orientation, int w, int h, int* x, int* y) {
  const int sx = *x, sy = *y;
  switch (orientation) {
    case 2: *x = w - 1 - sx; break;
    case 3: *x = w - 1 - sx; *y = h - 1 - sy; break;
    case 4: *y = h - 1 - sy; break;
    case 5: *x = sy; *y = sx; break;
    case 6: *x = h - 1 - sy; *y = sx; break;
    case 7: *x = h - 1 - sy; *y = w - 1 - sx; break;
    case 8: *x = sy; *y = w - 1 - sx; break;
    default: break;
  }
}

// The rectangle `r` of a w x h image, once the image is turned by `orientation`.
PixelRect OrientRect(const PixelRect& r, int orientation, int w, int h) {
  int ax = r.x, ay = r.y, bx = r.x + r.width - 1, by = r.y + r.height - 1;
  OrientPoint(orientation, w, h, &ax, &ay);
  OrientPoint(orientation, w, h, &bx, &by);
  return PixelRect{std::min(ax, bx), std::min(ay, by), std::abs(bx - ax) + 1, std::abs(by - ay) + 1};
}

// Rotating by 90 degrees one way undoes the other; the rest undo themselves.
int InverseOrientation(int orientation) { return orientation == 6 ? 8 : orientation == 8 ? 6 : orientation; }

// `window` of the upright image, in the stored image.
PixelRect StoredWindow(const ImageHeader& header, const PixelRect& window) {
  return OrientRect(window, InverseOrientation(header.orientation), header.upright_width(), header.upright_height());
}

// As the JPEG decoder's scratch: beyond this it is released after use.
constexpr size_t kMaxRetainedStoredWindowBytes = size_t{64} << 20;

// An oriented JPEG's window as stored, before it is turned upright.
Image& ThreadStoredWindow() {
  thread_local Image stored;
  return stored;
}

}  // namespace

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

size_t ThreadDecoderScratchBytes() {
  return ThreadJpegScratchBytes() + ThreadJpegWindowScratchBytes() + CapacityBytes(ThreadStoredWindow().data);
}

void ReleaseDecoderScratch() {
  ReleaseJpegScratch();
  ReleaseJpegWindowScratch();
  ReleaseIfLarger(&ThreadStoredWindow().data, 0);
}

absl::Status DecodeImageWindow(absl::Span<const uint8_t> bytes, const ImageHeader& header,
                               const DecodeOptions& options, const PixelRect& window, int scale_denom, Image* out,
                               PixelRect* in_out) {
  if (!DecodesWindow(header, options, window, scale_denom)) {
    absl::Status s = DecodeImage(bytes, options, out);
    if (s.ok()) *in_out = window;
    return s;
  }
  if (header.orientation == 1) return DecodeJpegWindow(bytes, header, window, scale_denom, out, in_out);
  Image& stored = ThreadStoredWindow();
  PixelRect stored_rect;
  absl::Status s = DecodeJpegWindow(bytes, header, StoredWindow(header, window), 1, &stored, &stored_rect);
  if (s.ok()) {
    ApplyOrientation(stored, header.orientation, out);
    *in_out = OrientRect(stored_rect, header.orientation, stored.width, stored.height);
  }
  ReleaseIfLarger(&stored.data, kMaxRetainedStoredWindowBytes);
  return s;
}

size_t DecodedWindowBytes(const ImageHeader& header, const DecodeOptions& options, const PixelRect& window,
                          int scale_denom) {
  if (!DecodesWindow(header, options, window, scale_denom)) return header.decoded_bytes();
  if (header.orientation == 1) return JpegWindowBytes(header, window, scale_denom);
  // Upright, `out` holds as many pixels as the stored window; the stored
  // copy fits in the orientation buffer header.decoder_scratch_bytes counts.
  return JpegWindowBytes(header, StoredWindow(header, window), 1);
}

}  // namespace imagefeed
