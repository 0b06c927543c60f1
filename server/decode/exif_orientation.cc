// Why a hand-written EXIF parser instead of Debian's libexif (0.6.24) or
// libexiv2: we need one SHORT tag from IFD0, on the hot path. libexif parses
// the whole block (every IFD, maker notes), allocates per entry, has a long
// CVE history of out-of-bounds reads in exactly that code, and would add a
// build and runtime dependency to every machine and CI. The ~50 lines below
// read only IFD0, check every offset against the segment's bounds and treat
// anything unexpected as "no orientation"; they are covered by
// exif_orientation_test, including truncated and hostile blocks.

#include "server/decode/exif_orientation.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace imagefeed {
namespace {

constexpr uint8_t kExifId[6] = {'E', 'x', 'i', 'f', 0, 0};
constexpr uint16_t kTiffMagic = 42;
constexpr uint16_t kOrientationTag = 0x0112;
constexpr uint16_t kTypeShort = 3;
constexpr size_t kIfdEntryBytes = 12;

// Reads TIFF integers; callers have checked `pos + 2` / `pos + 4` <= size.
uint16_t Read16(absl::Span<const uint8_t> b, size_t pos, bool big_endian) {
  return big_endian ? static_cast<uint16_t>(b[pos] << 8 | b[pos + 1])
                    : static_cast<uint16_t>(b[pos + 1] << 8 | b[pos]);
}

uint32_t Read32(absl::Span<const uint8_t> b, size_t pos, bool big_endian) {
  uint32_t hi = Read16(b, pos, big_endian);
  uint32_t lo = Read16(b, pos + 2, big_endian);
  return big_endian ? (hi << 16 | lo) : (lo << 16 | hi);
}

// Source coordinates of destination pixel (x, y) are
// (ax*x + bx*y + cx, ay*x + by*y + cy), with c in units of (src W-1, H-1).
struct Mapping {
  int ax, bx, cx, ay, by, cy;
};

Mapping MappingFor(int orientation) {
  switch (orientation) {
    case 2: return {-1, 0, 1, 0, 1, 0};   // mirror horizontal
    case 3: return {-1, 0, 1, 0, -1, 1};  // rotate 180
    case 4: return {1, 0, 0, 0, -1, 1};   // mirror vertical
    case 5: return {0, 1, 0, 1, 0, 0};    // transpose
    case 6: return {0, 1, 0, -1, 0, 1};   // rotate 90 CW
    case 7: return {0, -1, 1, -1, 0, 1};  // transverse
    case 8: return {0, -1, 1, 1, 0, 0};   // rotate 270 CW
    default: return {1, 0, 0, 0, 1, 0};
  }
}

// Copies `count` pixels of kPixelBytes from src + offset, offset += step.
// Offsets (not pointers) so that stepping past either end is never formed.
template <size_t kPixelBytes>
void CopyPixels(const uint8_t* src, ptrdiff_t offset, ptrdiff_t step, uint8_t* dst, int count) {
  for (int i = 0; i < count; ++i, offset += step, dst += kPixelBytes) {
    std::memcpy(dst, src + offset, kPixelBytes);
  }
}

void CopyPixelsAnySize(size_t pixel_bytes, const uint8_t* src, ptrdiff_t offset, ptrdiff_t step,
                       uint8_t* dst, int count) {
  switch (pixel_bytes) {
    case 1: return CopyPixels<1>(src, offset, step, dst, count);
    case 2: return CopyPixels<2>(src, offset, step, dst, count);
    case 3: return CopyPixels<3>(src, offset, step, dst, count);
    case 4: return CopyPixels<4>(src, offset, step, dst, count);
    case 6: return CopyPixels<6>(src, offset, step, dst, count);
    case 8: return CopyPixels<8>(src, offset, step, dst, count);
    default:
      for (int i = 0; i < count; ++i, offset += step, dst += pixel_bytes) {
        std::memcpy(dst, src + offset, pixel_bytes);
      }
  }
}

}  // namespace

int ParseExifOrientation(absl::Span<const uint8_t> app1_payload) {
  if (app1_payload.size() < sizeof(kExifId) ||
      std::memcmp(app1_payload.data(), kExifId, sizeof(kExifId)) != 0) {
    return 1;
  }
  // Offsets inside the block are relative to the TIFF header.
  absl::Span<const uint8_t> tiff = app1_payload.subspan(sizeof(kExifId));
  if (tiff.size() < 8) return 1;
  bool big_endian;
  if (tiff[0] == 'M' && tiff[1] == 'M') {
    big_endian = true;
  } else if (tiff[0] == 'I' && tiff[1] == 'I') {
    big_endian = false;
  } else {
    return 1;
  }
  if (Read16(tiff, 2, big_endian) != kTiffMagic) return 1;
  const size_t ifd0 = Read32(tiff, 4, big_endian);
  if (ifd0 < 8 || ifd0 > tiff.size() - 2) return 1;
  const size_t entry_count = Read16(tiff, ifd0, big_endian);
  for (size_t i = 0; i < entry_count; ++i) {
    const size_t entry = ifd0 + 2 + i * kIfdEntryBytes;
    if (entry + kIfdEntryBytes > tiff.size()) return 1;
    if (Read16(tiff, entry, big_endian) != kOrientationTag) continue;
    if (Read16(tiff, entry + 2, big_endian) != kTypeShort || Read32(tiff, entry + 4, big_endian) < 1) {
      return 1;
    }
    // A single SHORT sits left-justified in the 4-byte value field.
    const int value = Read16(tiff, entry + 8, big_endian);
    return value >= 1 && value <= 8 ? value : 1;
  }
  return 1;
}

void ApplyOrientation(const Image& src, int orientation, Image* dst) {
  const bool swap = OrientationSwapsAxes(orientation);
  dst->Reset(swap ? src.height : src.width, swap ? src.width : src.height, src.channels,
             src.bit_depth);
  if (orientation < 2 || orientation > 8) {
    std::copy(src.data.begin(), src.data.end(), dst->data.begin());
    return;
  }
  const Mapping m = MappingFor(orientation);
  const ptrdiff_t pixel_bytes = static_cast<ptrdiff_t>(src.bytes_per_sample()) * src.channels;
  const ptrdiff_t src_stride = static_cast<ptrdiff_t>(src.row_bytes());
  auto source_offset = [&](ptrdiff_t x, ptrdiff_t y) {
    ptrdiff_t sx = m.ax * x + m.bx * y + m.cx * (src.width - 1);
    ptrdiff_t sy = m.ay * x + m.by * y + m.cy * (src.height - 1);
    return sy * src_stride + sx * pixel_bytes;
  };
  const ptrdiff_t step = m.ay * src_stride + m.ax * pixel_bytes;
  // Tiles keep the strided reads of the 90-degree cases inside the cache.
  constexpr int kTile = 64;
  for (int y0 = 0; y0 < dst->height; y0 += kTile) {
    const int y1 = std::min(dst->height, y0 + kTile);
    for (int x0 = 0; x0 < dst->width; x0 += kTile) {
      const int count = std::min(dst->width - x0, kTile);
      for (int y = y0; y < y1; ++y) {
        CopyPixelsAnySize(pixel_bytes, src.data.data(), source_offset(x0, y), step,
                          dst->row(y) + x0 * pixel_bytes, count);
      }
    }
  }
}

}  // namespace imagefeed
