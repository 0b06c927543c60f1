#include "server/decode/png_decoder.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/decode/decode_limits.h"

namespace imagefeed {
namespace {

constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
constexpr size_t kIhdrEnd = 8 + 8 + 13;  // signature, chunk length + type, IHDR data

// Ancillary chunks we never use, skipped instead of stored: libpng would
// keep up to 1000 of them, each decompressed up to 8 MB (pnglibconf.h's
// chunk limits), which no header could bound. Pixels do not depend on them.
constexpr png_byte kSkippedChunks[] = "iCCP\0iTXt\0sPLT\0tEXt\0zTXt\0eXIf";
constexpr int kSkippedChunkCount = 6;

// libpng's allocations besides its two row buffers (zlib's 32 KiB window
// and state, read buffers, structs, palette) are well below this.
constexpr size_t kLibpngFixedBytes = size_t{256} << 10;

// Upper bound of the heap bytes DecodePng uses besides `out`: libpng keeps
// the current and previous row at up to 8 bytes per pixel (RGBA, 16 bits).
size_t DecoderScratchBytes(int64_t width) { return 2 * (8 * static_cast<size_t>(width) + 64) + kLibpngFixedBytes; }

uint32_t ReadBigEndian32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

// Everything libpng's callbacks touch. Plain data: a longjmp out of a
// callback must not skip a destructor.
struct PngSource {
  const uint8_t* data;
  size_t size;
  size_t pos;
  char error[256];
};

void ReadFromMemory(png_structp png, png_bytep out, size_t length) {
  auto* source = static_cast<PngSource*>(png_get_io_ptr(png));
  if (length > source->size - source->pos) png_error(png, "unexpected end of data (truncated file)");
  std::memcpy(out, source->data + source->pos, length);
  source->pos += length;
}

void OnPngError(png_structp png, png_const_charp message) {
  auto* source = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(source->error, sizeof(source->error), "%s", message);
  png_longjmp(png, 1);
}

// libpng only warns about damage that leaves the pixels intact: bad CRCs or
// invalid values in ancillary chunks (which it then discards), benign errors
// such as surplus image data, known-bad iCCP profiles. Damage to the image
// itself is always an error (bad IHDR/IDAT CRC, zlib errors, missing data,
// truncation), so warnings are dropped, as Pillow and pngtopam do; rejecting
// them would lose real-world files over metadata. The PngSuite cannot decide
// this: no valid file warns, every corrupt one fails with an error (checked
// with warnings logged). png_decoder_test pins both sides. Not printed
// either: the server's stderr is not a log.
void OnPngWarning(png_structp, png_const_charp) {}

// What the transforms produce; filled in by ReadInfoStage.
struct PngLayout {
  png_uint_32 width;
  png_uint_32 height;
  int bit_depth;
  int channels;
  size_t rowbytes;
  int passes;
};

// Where the rows go; used by ReadRowsStage.
struct PngDestination {
  uint8_t* base;
  size_t stride;
  png_uint_32 height;
  int passes;
};

// The stages below call only libpng and touch only plain data: libpng
// longjmps out of them on error.
void ReadInfoStage(png_structp png, png_infop info, void* arg) {
  auto* layout = static_cast<PngLayout*>(arg);
  png_read_info(png, info);
  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);  // RGBA with tRNS
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  png_set_strip_alpha(png);  // no-op without alpha; tRNS colour keys are never expanded
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (bit_depth == 16) png_set_swap(png);  // PNG stores big-endian samples
#endif
  layout->passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  layout->width = png_get_image_width(png, info);
  layout->height = png_get_image_height(png, info);
  layout->bit_depth = png_get_bit_depth(png, info);
  layout->channels = png_get_channels(png, info);
  layout->rowbytes = png_get_rowbytes(png, info);
}

void ReadRowsStage(png_structp png, png_infop, void* arg) {
  auto* dst = static_cast<PngDestination*>(arg);
  // What png_read_image does, without its array of row pointers: Adam7
  // passes are merged into the full-size rows.
  for (int pass = 0; pass < dst->passes; ++pass) {
    for (png_uint_32 y = 0; y < dst->height; ++y) {
      png_read_row(png, dst->base + dst->stride * y, nullptr);
    }
  }
  png_read_end(png, nullptr);  // checks the last IDAT's CRC and the zlib trailer
}

// The PNG decoder's only setjmp. Returns false if libpng reported an error
// while `stage` ran. Creates no C++ objects, so the longjmp skips nothing.
bool RunGuarded(png_structp png, png_infop info, void (*stage)(png_structp, png_infop, void*),
                void* arg) {
  if (setjmp(png_jmpbuf(png))) return false;
  stage(png, info, arg);
  return true;
}

// Owns libpng's read and info structs.
class PngReader {
 public:
  explicit PngReader(PngSource* source)
      : png_(png_create_read_struct(PNG_LIBPNG_VER_STRING, source, OnPngError, OnPngWarning)),
        info_(png_ != nullptr ? png_create_info_struct(png_) : nullptr) {
    if (png_ != nullptr) png_set_read_fn(png_, source, ReadFromMemory);
  }
  ~PngReader() { png_destroy_read_struct(&png_, &info_, nullptr); }
  PngReader(const PngReader&) = delete;
  PngReader& operator=(const PngReader&) = delete;

  bool ok() const { return png_ != nullptr && info_ != nullptr; }
  png_structp png() const { return png_; }
  png_infop info() const { return info_; }

 private:
  png_structp png_;
  png_infop info_;
};

}  // namespace

absl::StatusOr<ImageHeader> PeekPng(absl::Span<const uint8_t> bytes, const DecodeOptions& options) {
  if (bytes.size() < sizeof(kPngSignature) ||
      std::memcmp(bytes.data(), kPngSignature, sizeof(kPngSignature)) != 0) {
    return absl::InvalidArgumentError("not a PNG file (bad signature)");
  }
  if (bytes.size() < kIhdrEnd) {
    return absl::InvalidArgumentError(
        absl::StrCat("PNG truncated inside its IHDR chunk (", bytes.size(), " bytes)"));
  }
  if (ReadBigEndian32(&bytes[8]) != 13 || std::memcmp(&bytes[12], "IHDR", 4) != 0) {
    return absl::InvalidArgumentError("PNG does not start with a 13-byte IHDR chunk");
  }
  const int64_t width = ReadBigEndian32(&bytes[16]);
  const int64_t height = ReadBigEndian32(&bytes[20]);
  RETURN_IF_ERROR(CheckDimensions("PNG", width, height, options.max_pixels));
  const int bit_depth = bytes[24];
  const int color_type = bytes[25];
  ImageHeader header;
  header.format = ImageFormat::kPng;
  header.width = static_cast<int>(width);
  header.height = static_cast<int>(height);
  // What DecodePng makes of it; invalid combinations fail in libpng later.
  header.channels = color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 1 : 3;
  header.bit_depth = bit_depth == 16 ? 16 : 8;
  header.decoder_scratch_bytes = DecoderScratchBytes(width);
  return header;
}

absl::Status DecodePng(absl::Span<const uint8_t> bytes, const DecodeOptions& options, Image* out) {
  ASSIGN_OR_RETURN(ImageHeader header, PeekPng(bytes, options));
  PngSource source{bytes.data(), bytes.size(), 0, "no error message"};
  PngReader reader(&source);
  if (!reader.ok()) return absl::ResourceExhaustedError("PNG decoder: cannot create libpng structs");
  // libpng's own side limit (default 10^6) would refuse valid wide images;
  // the pixel cap was checked above.
  png_set_user_limits(reader.png(), kMaxImageSide, kMaxImageSide);
  png_set_keep_unknown_chunks(reader.png(), PNG_HANDLE_CHUNK_NEVER, kSkippedChunks, kSkippedChunkCount);

  PngLayout layout{};
  if (!RunGuarded(reader.png(), reader.info(), ReadInfoStage, &layout)) {
    return absl::InvalidArgumentError(absl::StrCat("PNG header invalid: ", source.error));
  }
  const bool expected_layout = layout.width == static_cast<png_uint_32>(header.width) &&
                               layout.height == static_cast<png_uint_32>(header.height) &&
                               (layout.channels == 1 || layout.channels == 3) &&
                               (layout.bit_depth == 8 || layout.bit_depth == 16);
  if (!expected_layout) {
    return absl::InternalError(absl::StrCat("PNG decoder: unexpected layout after transforms: ",
                                            layout.width, "x", layout.height, "x", layout.channels,
                                            " at ", layout.bit_depth, " bits"));
  }
  out->Reset(header.width, header.height, layout.channels, layout.bit_depth);
  if (layout.rowbytes != out->row_bytes()) {
    return absl::InternalError(absl::StrCat("PNG decoder: libpng row of ", layout.rowbytes,
                                            " bytes, expected ", out->row_bytes()));
  }
  PngDestination destination{out->data.data(), out->row_bytes(), layout.height, layout.passes};
  if (!RunGuarded(reader.png(), reader.info(), ReadRowsStage, &destination)) {
    return absl::InvalidArgumentError(absl::StrCat("PNG image data invalid: ", source.error));
  }
  return absl::OkStatus();
}

}  // namespace imagefeed
