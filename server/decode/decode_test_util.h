#ifndef IMAGEFEED_SERVER_DECODE_DECODE_TEST_UTIL_H_
#define IMAGEFEED_SERVER_DECODE_DECODE_TEST_UTIL_H_

// Test-only fixture builders for the decode tests: EXIF segments, forged
// headers, and reference orientation transforms written independently of
// ApplyOrientation (as compositions of flips and a transpose).

#include <turbojpeg.h>
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/image.h"
#include "server/decode/image_decoder.h"

namespace imagefeed {
namespace decode_test {

inline absl::Span<const uint8_t> AsBytes(const std::string& s) {
  return absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// Runs `decode` (DecodeImage, DecodeBmp, ...) on `bytes` into a fresh Image.
template <typename DecodeFn>
absl::StatusOr<Image> DecodeToImage(DecodeFn decode, const std::string& bytes, const DecodeOptions& options = {}) {
  Image image;
  absl::Status status = decode(AsBytes(bytes), options, &image);
  if (!status.ok()) return status;
  return image;
}

inline void PutBigEndian16(std::string* s, size_t pos, uint32_t v) {
  (*s)[pos] = static_cast<char>(v >> 8);
  (*s)[pos + 1] = static_cast<char>(v);
}

inline void PutBigEndian32(std::string* s, size_t pos, uint32_t v) {
  PutBigEndian16(s, pos, v >> 16);
  PutBigEndian16(s, pos + 2, v & 0xFFFF);
}

// An APP1 payload "Exif\0\0" + TIFF header + IFD0 holding an ImageWidth
// entry and then Orientation = `orientation` (a SHORT).
inline std::string MakeExifPayload(int orientation, bool big_endian) {
  std::string tiff;
  auto put16 = [&](uint32_t v) {
    char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
    if (!big_endian) std::swap(b[0], b[1]);
    tiff.append(b, 2);
  };
  auto put32 = [&](uint32_t v) {
    if (big_endian) {
      put16(v >> 16);
      put16(v & 0xFFFF);
    } else {
      put16(v & 0xFFFF);
      put16(v >> 16);
    }
  };
  tiff += big_endian ? "MM" : "II";
  put16(42);
  put32(8);  // IFD0 offset
  put16(2);  // entries
  // ImageWidth (LONG 1234), then Orientation (SHORT, left-justified in the value field).
  put16(0x0100);
  put16(4);
  put32(1);
  put32(1234);
  put16(0x0112);
  put16(3);
  put32(1);
  put16(static_cast<uint32_t>(orientation));
  put16(0);
  put32(0);  // no next IFD
  return std::string("Exif\0\0", 6) + tiff;
}

// `jpeg` with an APP1 segment holding `payload` inserted right after SOI.
inline std::string WithApp1(const std::string& jpeg, const std::string& payload) {
  std::string segment("\xFF\xE1\0\0", 4);
  PutBigEndian16(&segment, 2, static_cast<uint32_t>(payload.size() + 2));
  return jpeg.substr(0, 2) + segment + payload + jpeg.substr(2);
}

// Offset of the first marker `marker` (its 0xFF byte) among the segments
// before the first scan, or std::string::npos.
inline size_t FindJpegMarker(const std::string& jpeg, uint8_t marker) {
  size_t pos = 2;
  while (pos + 4 <= jpeg.size() && static_cast<uint8_t>(jpeg[pos]) == 0xFF) {
    const uint8_t m = static_cast<uint8_t>(jpeg[pos + 1]);
    if (m == marker) return pos;
    if (m == 0xDA) break;
    pos += 2 + (static_cast<uint8_t>(jpeg[pos + 2]) << 8 | static_cast<uint8_t>(jpeg[pos + 3]));
  }
  return std::string::npos;
}

// `jpeg` (baseline) with its SOF0 claiming `width` x `height`.
inline std::string WithJpegSize(std::string jpeg, int width, int height) {
  const size_t sof = FindJpegMarker(jpeg, 0xC0);
  if (sof == std::string::npos) return "";
  PutBigEndian16(&jpeg, sof + 5, height);
  PutBigEndian16(&jpeg, sof + 7, width);
  return jpeg;
}

// Recomputes the CRC of the PNG chunk whose length field is at `pos`.
inline void FixPngCrc(std::string* png, size_t pos) {
  const uint32_t length = (static_cast<uint8_t>((*png)[pos]) << 24) |
                          (static_cast<uint8_t>((*png)[pos + 1]) << 16) |
                          (static_cast<uint8_t>((*png)[pos + 2]) << 8) |
                          static_cast<uint8_t>((*png)[pos + 3]);
  const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(png->data() + pos + 4), length + 4);
  PutBigEndian32(png, pos + 8 + length, static_cast<uint32_t>(crc));
}

// `png` with its IHDR claiming `width` x `height` (and a valid CRC).
inline std::string WithPngSize(std::string png, uint32_t width, uint32_t height) {
  PutBigEndian32(&png, 16, width);
  PutBigEndian32(&png, 20, height);
  FixPngCrc(&png, 8);
  return png;
}

inline Image Transformed(const Image& src, bool transpose, bool flip_h, bool flip_v) {
  Image dst;
  dst.Reset(transpose ? src.height : src.width, transpose ? src.width : src.height, src.channels,
            src.bit_depth);
  const size_t pixel = src.channels * src.bytes_per_sample();
  for (int y = 0; y < dst.height; ++y) {
    for (int x = 0; x < dst.width; ++x) {
      int sx = flip_h ? dst.width - 1 - x : x;  // flips apply after the transpose
      int sy = flip_v ? dst.height - 1 - y : y;
      if (transpose) std::swap(sx, sy);
      std::memcpy(dst.row(y) + x * pixel, src.row(sy) + sx * pixel, pixel);
    }
  }
  return dst;
}

// What a viewer shows for EXIF `orientation` (2 mirror, 3 rotate 180, 4 flip,
// 5 transpose, 6 rotate 90 CW, 7 transverse, 8 rotate 270 CW).
inline Image ReferenceOrient(const Image& src, int orientation) {
  switch (orientation) {
    case 2: return Transformed(src, false, true, false);
    case 3: return Transformed(src, false, true, true);
    case 4: return Transformed(src, false, false, true);
    case 5: return Transformed(src, true, false, false);
    case 6: return Transformed(src, true, true, false);
    case 7: return Transformed(src, true, true, true);
    case 8: return Transformed(src, true, false, true);
    default: return src;
  }
}

inline bool SameImage(const Image& a, const Image& b) {
  return a.width == b.width && a.height == b.height && a.channels == b.channels &&
         a.bit_depth == b.bit_depth && a.data == b.data;
}

// A YCCK JPEG (Adobe-inverted CMYK, as Photoshop writes it) of `cmyk`.
inline std::string EncodeCmyk(const std::vector<uint8_t>& cmyk, int width, int height) {
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  std::string out;
  if (tjCompress2(tj, cmyk.data(), width, 0, height, TJPF_CMYK, &buf, &size, TJSAMP_444, 95,
                  TJFLAG_ACCURATEDCT) == 0) {
    out.assign(reinterpret_cast<const char*>(buf), size);
  }
  tjFree(buf);
  tjDestroy(tj);
  return out;
}

}  // namespace decode_test
}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_DECODE_DECODE_TEST_UTIL_H_
