#ifndef IMAGEFEED_SERVER_DECODE_IMAGE_DECODER_H_
#define IMAGEFEED_SERVER_DECODE_IMAGE_DECODER_H_

// Format-independent decoding: sniff the format from the file's first bytes
// (never from its extension), peek the header, check the pixel cap, decode.

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/image.h"
#include "server/decode/exif_orientation.h"

namespace imagefeed {

// kTiff is recognized only to be refused by name ("unsupported format:
// TIFF"): torchvision indexes .tif files, so they must fail per sample.
enum class ImageFormat { kJpeg, kPng, kWebp, kBmp, kPnm, kTiff };

// "JPEG", "PNG", "WebP", "BMP", "PNM", "TIFF".
const char* ImageFormatName(ImageFormat format);

// What the header says about an image and its decoding, read without
// decoding a pixel: enough to bound the memory a decode will need.
struct ImageHeader {
  ImageFormat format = ImageFormat::kJpeg;
  int width = 0;   // as stored (before EXIF orientation)
  int height = 0;
  int channels = 3;     // of the decoded Image: 1 gray, 3 RGB
  int bit_depth = 8;    // of the decoded Image: 8 or 16
  int orientation = 1;  // EXIF orientation DecodeImage applies (1: none)
  // Upper bound of the heap bytes the decoder uses besides the decoded
  // Image: the libraries' working memory and the decoder's own scratch.
  size_t decoder_scratch_bytes = 0;

  // Dimensions of the decoded (upright) Image.
  int upright_width() const { return OrientationSwapsAxes(orientation) ? height : width; }
  int upright_height() const { return OrientationSwapsAxes(orientation) ? width : height; }
  size_t decoded_bytes() const {
    return static_cast<size_t>(width) * height * channels * (bit_depth == 16 ? 2 : 1);
  }
};

struct DecodeOptions {
  // Images with more pixels than this are rejected from the header, before
  // any pixel buffer is allocated.
  int64_t max_pixels = 100'000'000;
  // Apply the EXIF Orientation tag of JPEGs (rotate/flip to upright).
  bool apply_exif_orientation = true;
  // Lets DecodeImageWindow decode only the window of a JPEG, DCT-scaled;
  // false decodes every image whole (the reference path tests compare with).
  bool partial_jpeg = true;
  // Lets DecodePng inflate 8-bit, non-interlaced PNGs in one call to
  // libdeflate and unfilter the rows itself; false decodes every PNG with
  // libpng (the reference path tests compare with).
  bool whole_buffer_png = true;
  // Lets DecodeAndResize resize a whole, upright, chroma-subsampled YCbCr
  // JPEG from its planes (DecodeJpegYcc + ResizeYccToFloat), skipping the
  // decoder's chroma upsampling and colour conversion and half the vertical
  // pass; the output is close to, not equal to, resizing the RGB decode
  // (sample_processor_test states the tolerance). false resizes every image from its
  // RGB decode (the reference path tests compare with).
  bool jpeg_ycc_resize = true;
};

// A rectangle of an image: columns [x, x + width), rows [y, y + height).
struct PixelRect {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

// Returns the format from the magic bytes (JPEG FF D8 FF, PNG's signature,
// RIFF....WEBP, "BM", "P1".."P7" + whitespace, TIFF's II*\0 / MM\0* and
// BigTIFF's), or INVALID_ARGUMENT ("not a JPEG or PNG file, nor WebP, BMP or
// PGM/PPM (N bytes starting with ..)") for anything else.
absl::StatusOr<ImageFormat> SniffFormat(absl::Span<const uint8_t> bytes);

// Reads the header (dimensions, channels, bit depth, orientation, scratch
// needed) without decoding. INVALID_ARGUMENT for corrupt headers,
// zero dimensions, more than `options.max_pixels` pixels, or a format this
// server does not decode ("unsupported format: TIFF").
absl::StatusOr<ImageHeader> PeekImageHeader(absl::Span<const uint8_t> bytes,
                                            const DecodeOptions& options);

// Decodes a JPEG, PNG, WebP, BMP or PGM/PPM into `out` as gray (1 channel)
// or RGB (3 channels), 8-bit, or 16-bit for 16-bit PNGs and PGM/PPMs with
// maxval > 255; alpha is dropped, palettes expanded, low bit depths scaled
// to 8. Channels and depth always equal PeekImageHeader's. Pixels equal
// the reference decoders' bit for bit (libjpeg-turbo's accurate DCT and
// fancy upsampling; libwebp). TIFF is INVALID_ARGUMENT. Every libjpeg
// warning (e.g. truncated data) and libpng error is an INVALID_ARGUMENT
// error; `out`'s contents are then unspecified. Thread-safe (no shared state).
absl::Status DecodeImage(absl::Span<const uint8_t> bytes, const DecodeOptions& options, Image* out);

// Decodes the part of the upright image the caller needs: `window` (inside
// the upright image, from `header` = PeekImageHeader(bytes, options)), at
// 1/`scale_denom` (1, 2, 4 or 8) of its size where the format allows. With
// options.partial_jpeg a JPEG decodes only the iMCU rows and columns the
// window touches (an EXIF-oriented one: the window mapped to the stored
// image, then turned upright), DCT-scaled unless EXIF-oriented: see
// jpeg_window_decoder.h for the exactness. Everything else decodes whole
// at full size, as DecodeImage. On success `*in_out` is the rectangle of
// `out` that is `window` (scaled as decoded), for the resize to read.
absl::Status DecodeImageWindow(absl::Span<const uint8_t> bytes, const ImageHeader& header,
                               const DecodeOptions& options, const PixelRect& window, int scale_denom, Image* out,
                               PixelRect* in_out);

// Upper bound of the bytes of `out` DecodeImageWindow writes for these
// arguments (the whole image's for whole decodes); for reserving memory.
size_t DecodedWindowBytes(const ImageHeader& header, const DecodeOptions& options, const PixelRect& window,
                          int scale_denom);

// Heap bytes the calling thread's decoder scratch holds now (JPEG CMYK and
// orientation buffers; each is released by the decoder itself above 64 MiB).
size_t ThreadDecoderScratchBytes();

// Frees the calling thread's decoder scratch.
void ReleaseDecoderScratch();

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_DECODE_IMAGE_DECODER_H_
