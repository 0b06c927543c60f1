#ifndef IMAGEFEED_SERVER_DECODE_PNM_DECODER_H_
#define IMAGEFEED_SERVER_DECODE_PNM_DECODER_H_

// Netpbm PGM/PPM decoding (P5/P6 binary, P2/P3 plain text), written here:
// the format is a text header and an array. PBM (P1/P4) and PAM (P7) are
// INVALID_ARGUMENT "unsupported PNM type". Thread-safe: no shared state.

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/image.h"
#include "server/decode/image_decoder.h"

namespace imagefeed {

// Parses the header (comments allowed between fields) and checks that the
// file can hold the raster, without allocating. PGM gives 1 channel, PPM 3;
// maxval <= 255 gives 8 bits, 256..65535 gives 16 bits.
absl::StatusOr<ImageHeader> PeekPnm(absl::Span<const uint8_t> bytes, const DecodeOptions& options);

// Decodes the first image of `bytes` into `out` (reusing its capacity).
// Samples are scaled to the full range of the output depth as
// round(v * 255 / maxval) or round(v * 65535 / maxval), so maxval 255 and
// 65535 are copied as stored; samples above maxval are clamped to it.
// A short raster or a non-numeric plain sample is INVALID_ARGUMENT.
absl::Status DecodePnm(absl::Span<const uint8_t> bytes, const DecodeOptions& options, Image* out);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_DECODE_PNM_DECODER_H_
