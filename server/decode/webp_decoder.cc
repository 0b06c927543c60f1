#include "server/decode/webp_decoder.h"

#include <webp/decode.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/decode/decode_limits.h"

namespace imagefeed {
namespace {

// libwebp's working memory, from its sources (1.2.4 with Debian's
// CVE-2023-4863 fix, src/dec/), measured by webp_memory_test:
// - lossy (VP8): per macroblock column, the intra modes, top samples,
//   filter info and up to three rows of coefficients (VP8MBData, ~800 B
//   each), plus a YUV cache of (16 * 3 + 8) * 1.5 rows: below
//   kLossyBytesPerColumn per pixel column;
// - lossless (VP8L): the whole image as 32-bit ARGB plus 2 x 16 cache rows
//   (AllocateInternalBuffers32b), and the Huffman tables: per prefix-code
//   group kTableSize[color_cache_bits] <= 5002 four-byte entries
//   (ReadHuffmanCodes), plus its HTreeGroup;
// - alpha (in a lossy file): an 8-bit alpha plane and, when it is VP8L
//   compressed, its 8-bit pixels and Huffman tables.
// The number of groups is in no header: it is the largest value of the
// entropy image, one per block of at least 4x4 pixels, so at most
// min(65536, ceil(w/4) * ceil(h/4)). libwebp's encoder (what writes
// real-world WebP) keeps the entropy image at <= 2600 blocks
// (MAX_HUFF_IMAGE_SIZE), hence <= 2600 groups: that is what the estimate
// assumes. A crafted file with more groups can make libwebp allocate more
// than the estimate (up to ~1.3 GB); the README lists this.
constexpr size_t kLossyBytesPerColumn = 512;
constexpr size_t kHuffmanBytesPerGroup = 21 << 10;  // 5002 * 4 B of tables + the group struct
constexpr size_t kMaxEncoderGroups = 2600;
constexpr size_t kLibwebpFixedBytes = size_t{1} << 20;  // structs, transform sub-images, output rows

size_t HuffmanBytes(size_t w, size_t h) {
  const size_t blocks = ((w + 3) / 4) * ((h + 3) / 4);
  return std::min(blocks, kMaxEncoderGroups) * kHuffmanBytesPerGroup;
}

size_t DecoderScratchBytes(const WebPBitstreamFeatures& f) {
  const size_t w = static_cast<size_t>(f.width), h = static_cast<size_t>(f.height);
  const size_t alpha = 2 * w * h + 128 * w + HuffmanBytes(w, h);
  const size_t lossy = kLossyBytesPerColumn * (w + 16) + (f.has_alpha ? alpha : 0);
  const size_t lossless = 4 * w * h + 128 * w + HuffmanBytes(w, h);
  // format: 1 lossy, 2 lossless, 0 mixed/undefined (VP8X without a bitstream yet).
  const size_t library = f.format == 1 ? lossy : f.format == 2 ? lossless : lossy + lossless;
  return library + kLibwebpFixedBytes;
}

const char* StatusName(VP8StatusCode code) {
  switch (code) {
    case VP8_STATUS_OK: return "OK";
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error (corrupt file)";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "user abort";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "not enough data (truncated file)";
  }
  return "unknown status";
}

}  // namespace

absl::StatusOr<ImageHeader> PeekWebp(absl::Span<const uint8_t> bytes, const DecodeOptions& options) {
  WebPBitstreamFeatures features;
  const VP8StatusCode code = WebPGetFeatures(bytes.data(), bytes.size(), &features);
  if (code != VP8_STATUS_OK) {
    return absl::InvalidArgumentError(absl::StrCat("WebP header invalid: ", StatusName(code)));
  }
  if (features.has_animation) {
    return absl::InvalidArgumentError(
        "unsupported format: animated WebP (only still WebP images are decoded; extract a frame)");
  }
  RETURN_IF_ERROR(CheckDimensions("WebP", features.width, features.height, options.max_pixels));
  ImageHeader header;
  header.format = ImageFormat::kWebp;
  header.width = features.width;
  header.height = features.height;
  header.channels = 3;
  header.bit_depth = 8;
  header.decoder_scratch_bytes = DecoderScratchBytes(features);
  return header;
}

absl::Status DecodeWebp(absl::Span<const uint8_t> bytes, const DecodeOptions& options, Image* out) {
  ASSIGN_OR_RETURN(ImageHeader header, PeekWebp(bytes, options));
  WebPDecoderConfig config;
  if (!WebPInitDecoderConfig(&config)) {
    return absl::InternalError("WebP decoder: libwebp version mismatch (WebPInitDecoderConfig failed)");
  }
  out->Reset(header.width, header.height, 3, 8);
  config.output.colorspace = MODE_RGB;
  config.output.is_external_memory = 1;
  config.output.u.RGBA.rgba = out->data.data();
  config.output.u.RGBA.stride = static_cast<int>(out->row_bytes());
  config.output.u.RGBA.size = out->size_bytes();
  const VP8StatusCode code = WebPDecode(bytes.data(), bytes.size(), &config);
  WebPFreeDecBuffer(&config.output);  // frees nothing of ours: the memory is external
  if (code != VP8_STATUS_OK) {
    return absl::InvalidArgumentError(absl::StrCat("WebP image data invalid: ", StatusName(code)));
  }
  return absl::OkStatus();
}

}  // namespace imagefeed
