#include "server/decode/webp_decoder.h"

#include <webp/decode.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/decode/decode_limits.h"

namespace imagefeed {
namespace {

// libwebp's working memory, from its sources (1.2.4, src/dec/):
// - lossy (VP8): per macroblock column, the intra modes, top samples,
//   filter info and up to three rows of coefficients (VP8MBData, ~800 B
//   each), plus a YUV cache of (16 * 3 + 8) * 1.5 rows: well below
//   kLossyBytesPerColumn per pixel column;
// - lossless (VP8L): the whole image as 32-bit ARGB plus 2 x 16 cache rows
//   (AllocateInternalBuffers32b), plus Huffman tables;
// - alpha (in a lossy file): an 8-bit alpha plane and, when it is VP8L
//   compressed, its 8-bit pixels (AllocateInternalBuffers8b).
// kLibwebpFixedBytes covers structs, the transforms' sub-sampled images and
// the Huffman tables of up to ~200 prefix-code groups at their largest
// (about 20 KB each). A VP8L file's group count is not in any header
// (groups <= min(65536, w*h/16)), so a crafted file with more groups can
// exceed this estimate; libwebp still allocates no more than that.
constexpr size_t kLossyBytesPerColumn = 512;
constexpr size_t kLibwebpFixedBytes = size_t{4} << 20;

size_t DecoderScratchBytes(const WebPBitstreamFeatures& f) {
  const size_t w = static_cast<size_t>(f.width), h = static_cast<size_t>(f.height);
  const size_t lossy = kLossyBytesPerColumn * (w + 16) + (f.has_alpha ? 2 * w * h + 128 * w : 0);
  const size_t lossless = 4 * w * h + 128 * w;
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
