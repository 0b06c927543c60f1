#include "server/decode/bmp_decoder.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/decode/decode_limits.h"

// Why a hand-written reader: no Debian 12 library decodes BMP without
// pulling in an image framework (ImageMagick, GDK-Pixbuf, SDL_image,
// FreeImage), each far larger than the format. Uncompressed BMP is a header
// and an array; every field is checked against the file size below before
// anything is read or allocated, and tests/fuzz/bmp_decoder_fuzzer.cc fuzzes it.

namespace imagefeed {
namespace {

constexpr size_t kFileHeaderBytes = 14;

// BITMAPINFOHEADER biCompression values.
constexpr uint32_t kBiRgb = 0;
constexpr uint32_t kBiRle8 = 1;
constexpr uint32_t kBiRle4 = 2;
constexpr uint32_t kBiBitfields = 3;
constexpr uint32_t kBiJpeg = 4;
constexpr uint32_t kBiPng = 5;
constexpr uint32_t kBiAlphaBitfields = 6;

uint32_t Le16(const uint8_t* p) { return uint32_t{p[0]} | uint32_t{p[1]} << 8; }
uint32_t Le32(const uint8_t* p) { return Le16(p) | Le16(p + 2) << 16; }

// One channel of a BI_BITFIELDS pixel: a contiguous run of bits.
struct BitField {
  uint32_t mask = 0;
  int shift = 0;
  uint32_t max = 0;  // mask >> shift

  uint8_t Extract(uint32_t pixel) const {
    if (max == 0) return 0;
    const uint64_t v = (pixel & mask) >> shift;
    return static_cast<uint8_t>((v * 255 + max / 2) / max);
  }
};

absl::StatusOr<BitField> MakeBitField(uint32_t mask, const char* channel) {
  BitField f;
  f.mask = mask;
  if (mask == 0) return f;
  while (((mask >> f.shift) & 1) == 0) ++f.shift;
  f.max = mask >> f.shift;
  if ((f.max & (f.max + 1)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("BMP ", channel, " bit mask 0x", absl::Hex(mask), " is not a contiguous run of bits"));
  }
  return f;
}

// Everything the header says, validated.
struct BmpLayout {
  int64_t width = 0;
  int64_t height = 0;  // positive
  bool top_down = false;
  int bpp = 0;
  bool bitfields = false;
  BitField red, green, blue;
  size_t palette_offset = 0;
  size_t palette_entries = 0;
  size_t palette_entry_bytes = 4;
  size_t pixel_offset = 0;
  size_t stride = 0;
};

const char* CompressionName(uint32_t c) {
  switch (c) {
    case kBiRle8: return "RLE8";
    case kBiRle4: return "RLE4";
    case kBiJpeg: return "JPEG";
    case kBiPng: return "PNG";
    default: return "unknown";
  }
}

absl::Status ReadMasks(const uint8_t* p, BmpLayout* layout) {
  ASSIGN_OR_RETURN(layout->red, MakeBitField(Le32(p), "red"));
  ASSIGN_OR_RETURN(layout->green, MakeBitField(Le32(p + 4), "green"));
  ASSIGN_OR_RETURN(layout->blue, MakeBitField(Le32(p + 8), "blue"));
  return absl::OkStatus();
}

// Default BI_RGB layouts as bit fields: 16-bit is 5-5-5, 32-bit is BGRX.
void SetDefaultMasks(BmpLayout* layout) {
  if (layout->bpp == 16) {
    layout->red = *MakeBitField(0x7C00, "red");
    layout->green = *MakeBitField(0x03E0, "green");
    layout->blue = *MakeBitField(0x001F, "blue");
  } else {
    layout->red = *MakeBitField(0x00FF0000, "red");
    layout->green = *MakeBitField(0x0000FF00, "green");
    layout->blue = *MakeBitField(0x000000FF, "blue");
  }
}

// Compression, bit depth, masks and palette placement (not yet their fit).
absl::Status ReadFormat(absl::Span<const uint8_t> bytes, uint32_t header_size, BmpLayout* layout) {
  const uint8_t* dib = bytes.data() + kFileHeaderBytes;
  const uint32_t compression = header_size == 12 ? kBiRgb : Le32(dib + 16);
  const bool palette = layout->bpp == 1 || layout->bpp == 4 || layout->bpp == 8;
  if (!palette && layout->bpp != 16 && layout->bpp != 24 && layout->bpp != 32) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported BMP bit depth ", layout->bpp,
                                                   " (supported: 1, 4, 8, 16, 24, 32)"));
  }
  if (compression == kBiBitfields || compression == kBiAlphaBitfields) {
    if (layout->bpp != 16 && layout->bpp != 32) {
      return absl::InvalidArgumentError(
          absl::StrCat("BMP uses bit fields at ", layout->bpp, " bits per pixel (only 16 or 32 allowed)"));
    }
    layout->bitfields = true;
  } else if (compression != kBiRgb) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported BMP compression ", CompressionName(compression),
                                                   " (", compression, "); re-save the file uncompressed"));
  }
  size_t after_header = kFileHeaderBytes + header_size;
  if (layout->bitfields) {
    if (header_size >= 52) {  // V2 and later carry the masks inside the header
      RETURN_IF_ERROR(ReadMasks(dib + 40, layout));
    } else {
      const size_t mask_bytes = compression == kBiAlphaBitfields ? 16 : 12;
      if (bytes.size() < after_header + mask_bytes) {
        return absl::InvalidArgumentError("BMP truncated inside its bit masks");
      }
      RETURN_IF_ERROR(ReadMasks(bytes.data() + after_header, layout));
      after_header += mask_bytes;
    }
  } else if (!palette) {
    SetDefaultMasks(layout);
  }
  if (palette) {
    layout->palette_entry_bytes = header_size == 12 ? 3 : 4;
    const uint32_t used = header_size == 12 ? 0 : Le32(dib + 32);
    const size_t max_entries = size_t{1} << layout->bpp;
    layout->palette_entries = used == 0 || used > max_entries ? max_entries : used;
    layout->palette_offset = after_header;
    after_header += layout->palette_entries * layout->palette_entry_bytes;
    // Files may declare more entries than fit before the pixels; keep those that do.
    if (after_header > layout->pixel_offset && layout->pixel_offset > layout->palette_offset) {
      layout->palette_entries = (layout->pixel_offset - layout->palette_offset) / layout->palette_entry_bytes;
      after_header = layout->palette_offset + layout->palette_entries * layout->palette_entry_bytes;
    }
    if (after_header > bytes.size()) return absl::InvalidArgumentError("BMP truncated inside its palette");
  }
  if (layout->pixel_offset < after_header) {
    return absl::InvalidArgumentError(absl::StrCat("BMP pixel data offset ", layout->pixel_offset,
                                                   " points inside its headers (which end at ", after_header, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<BmpLayout> ReadLayout(absl::Span<const uint8_t> bytes, const DecodeOptions& options) {
  if (bytes.size() < kFileHeaderBytes + 4 || bytes[0] != 'B' || bytes[1] != 'M') {
    return absl::InvalidArgumentError("not a BMP file (no 'BM' signature or truncated file header)");
  }
  const uint8_t* dib = bytes.data() + kFileHeaderBytes;
  const uint32_t header_size = Le32(dib);
  if (header_size != 12 && header_size != 40 && header_size != 52 && header_size != 56 &&
      header_size != 108 && header_size != 124) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported BMP header size ", header_size,
                                                   " (supported: 12, 40, 52, 56, 108, 124)"));
  }
  if (bytes.size() < kFileHeaderBytes + header_size) {
    return absl::InvalidArgumentError(absl::StrCat("BMP truncated inside its ", header_size, "-byte header"));
  }
  BmpLayout layout;
  layout.pixel_offset = Le32(bytes.data() + 10);
  int64_t height;
  if (header_size == 12) {
    layout.width = Le16(dib + 4);
    height = static_cast<int16_t>(Le16(dib + 6));
    layout.bpp = static_cast<int>(Le16(dib + 10));
  } else {
    layout.width = static_cast<int32_t>(Le32(dib + 4));
    height = static_cast<int32_t>(Le32(dib + 8));
    layout.bpp = static_cast<int>(Le16(dib + 14));
  }
  layout.top_down = height < 0;
  layout.height = height < 0 ? -height : height;
  RETURN_IF_ERROR(CheckDimensions("BMP", layout.width, layout.height, options.max_pixels));
  RETURN_IF_ERROR(ReadFormat(bytes, header_size, &layout));
  layout.stride = static_cast<size_t>((layout.width * layout.bpp + 31) / 32 * 4);  // < 2^37
  const size_t available = bytes.size() - std::min(bytes.size(), layout.pixel_offset);
  // The last row need not carry its padding; the rows before it do.
  const size_t needed = layout.stride * static_cast<size_t>(layout.height - 1) +
                        static_cast<size_t>((layout.width * layout.bpp + 7) / 8);
  if (needed > available) {
    return absl::InvalidArgumentError(absl::StrCat("BMP truncated: ", layout.width, "x", layout.height, " at ",
                                                   layout.bpp, " bits needs ", needed, " bytes of pixels from offset ",
                                                   layout.pixel_offset, ", the file has ", available));
  }
  return layout;
}

void DecodePaletteRow(const BmpLayout& layout, const uint8_t* palette, const uint8_t* src, uint8_t* dst) {
  const int per_byte = 8 / layout.bpp;
  const uint32_t index_mask = (1u << layout.bpp) - 1;
  for (int64_t x = 0; x < layout.width; ++x) {
    const int shift = 8 - layout.bpp * (1 + static_cast<int>(x % per_byte));
    const size_t index = (src[x / per_byte] >> shift) & index_mask;
    if (index < layout.palette_entries) {
      const uint8_t* bgr = palette + index * layout.palette_entry_bytes;
      dst[0] = bgr[2];
      dst[1] = bgr[1];
      dst[2] = bgr[0];
    } else {
      dst[0] = dst[1] = dst[2] = 0;
    }
    dst += 3;
  }
}

void DecodeFieldRow(const BmpLayout& layout, const uint8_t* src, uint8_t* dst) {
  for (int64_t x = 0; x < layout.width; ++x) {
    const uint32_t pixel = layout.bpp == 16 ? Le16(src + 2 * x) : Le32(src + 4 * x);
    dst[0] = layout.red.Extract(pixel);
    dst[1] = layout.green.Extract(pixel);
    dst[2] = layout.blue.Extract(pixel);
    dst += 3;
  }
}

void DecodeBgrRow(const BmpLayout& layout, const uint8_t* src, uint8_t* dst) {
  for (int64_t x = 0; x < layout.width; ++x) {
    dst[0] = src[2];
    dst[1] = src[1];
    dst[2] = src[0];
    src += 3;
    dst += 3;
  }
}

}  // namespace

absl::StatusOr<ImageHeader> PeekBmp(absl::Span<const uint8_t> bytes, const DecodeOptions& options) {
  ASSIGN_OR_RETURN(BmpLayout layout, ReadLayout(bytes, options));
  ImageHeader header;
  header.format = ImageFormat::kBmp;
  header.width = static_cast<int>(layout.width);
  header.height = static_cast<int>(layout.height);
  header.channels = 3;
  header.bit_depth = 8;
  header.decoder_scratch_bytes = 0;  // rows go straight into the Image
  return header;
}

absl::Status DecodeBmp(absl::Span<const uint8_t> bytes, const DecodeOptions& options, Image* out) {
  ASSIGN_OR_RETURN(BmpLayout layout, ReadLayout(bytes, options));
  out->Reset(static_cast<int>(layout.width), static_cast<int>(layout.height), 3, 8);
  const uint8_t* pixels = bytes.data() + layout.pixel_offset;
  const uint8_t* palette = bytes.data() + layout.palette_offset;
  for (int64_t y = 0; y < layout.height; ++y) {
    const uint8_t* src = pixels + layout.stride * static_cast<size_t>(y);
    uint8_t* dst = out->row(static_cast<int>(layout.top_down ? y : layout.height - 1 - y));
    if (layout.bpp <= 8) {
      DecodePaletteRow(layout, palette, src, dst);
    } else if (layout.bpp == 24) {
      DecodeBgrRow(layout, src, dst);
    } else {
      DecodeFieldRow(layout, src, dst);
    }
  }
  return absl::OkStatus();
}

}  // namespace imagefeed
