#ifndef IMAGEFEED_SERVER_TRANSFORM_RESIZE_H_
#define IMAGEFEED_SERVER_TRANSFORM_RESIZE_H_

#include <cstddef>
#include <vector>

#include "common/image.h"
#include "common/scratch_buffer.h"

namespace imagefeed {

// A float image, row-major HWC, values on the 8-bit scale [0, 255] (16-bit
// sources are divided by 257, so they keep their extra precision).
// Thread-compatible; reused as per-thread scratch (capacity is kept).
struct FloatImage {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<float> data;

  void Reset(int w, int h, int c) {
    width = w;
    height = h;
    channels = c;
    ResizeForOverwrite(&data, static_cast<size_t>(w) * h * c);
  }
};

// Converts `src` (8/16-bit, any channel count) to float and resizes it to
// out_width x out_height with bilinear interpolation (half-pixel centres).
// When downscaling, the triangle filter is widened by the scale factor, so
// every source pixel contributes (antialiasing, as PIL's BILINEAR and
// torchvision's antialias=True). Same size: an exact conversion. Channels
// are kept. Both output dimensions must be > 0. Thread-safe.
// The intermediate image of the two separable passes never holds more
// pixels than the larger of the source region and the output (the pass
// order is chosen for that), and filter weights of very long axes are
// computed on the fly, so no valid image can make the scratch explode.
void ResizeToFloat(const Image& src, int out_width, int out_height, FloatImage* dst);

// The same for the region [x, x+width) x [y, y+height) of `src` (a crop),
// which must lie inside it.
void ResizeRegionToFloat(const Image& src, int x, int y, int width, int height, int out_width, int out_height,
                         FloatImage* dst);

// The same, mirrored left-right when `flip`: equal to FlipHorizontal
// afterwards, but without the extra pass (the horizontal pass writes each
// output column to its mirrored place). 1- and 3-channel images run SIMD
// kernels (simd_kernels.h) whose results equal the reference's bit for bit.
void ResizeRegionToFloat(const Image& src, int x, int y, int width, int height, int out_width, int out_height,
                         bool flip, FloatImage* dst);

// The scalar implementation, then FlipHorizontal when `flip`: the reference
// the SIMD path is tested against, and the path it falls back to (2 or 4
// channels, rows wider than simd::kMaxRowWidth, axes too long to store
// their filter weights, 16-bit images kept at their size).
void ResizeRegionToFloatReference(const Image& src, int x, int y, int width, int height, int out_width,
                                  int out_height, bool flip, FloatImage* dst);

// A sub-pixel box in a region's pixel coordinates (PIL's Image.resize box):
// the output samples [x, x + width) x [y, y + height). Filter taps near its
// edges read the region's pixels outside the box, so resizing a large image
// and then cropping it equals resizing the box of the crop from a region that
// holds the box plus the filter's reach. width <= 0 means the whole region.
struct SampleBox {
  double x = 0;
  double y = 0;
  double width = 0;
  double height = 0;
};

// ResizeRegionToFloat sampling `box` of the region. Without a box, or with one
// covering the region exactly, the results are those of ResizeRegionToFloat.
void ResizeRegionBoxToFloat(const Image& src, int x, int y, int width, int height, const SampleBox& box,
                            int out_width, int out_height, FloatImage* dst);
// The same, mirrored left-right when `flip` (as ResizeRegionToFloat above).
void ResizeRegionBoxToFloat(const Image& src, int x, int y, int width, int height, const SampleBox& box,
                            int out_width, int out_height, bool flip, FloatImage* dst);

// Whether ResizeYccToFloat resizes a width x height YCbCr image's `box` to
// out_width x out_height (from the sizes alone, so a caller can decide
// before decoding): when the vertical pass runs first (the usual shrink of
// a photo) and the image is at most simd::kMaxRowWidth wide and high.
bool YccResizeApplies(int width, int height, const SampleBox& box, int out_width, int out_height);

// The RGB image of `src` (YCbCr planes as a JPEG stores them, chroma
// subsampled across: h_sub 2), resized to out_width x out_height floats on
// the 8-bit scale, sampling `box` (whole if empty), mirrored when `flip`:
// each plane's vertical pass on the plane as stored, then per strip of
// simd::kYccStripRows output rows the horizontal passes and JFIF's colour
// conversion on the output pixels, clamped to [0, 255]
// (simd::YccStripToRgb). Chroma is weighted as libjpeg's fancy upsampling
// followed by the luma filter would weigh it, without making the upsampled
// planes. Decoding to RGB first and resizing that (ResizeRegionBoxToFloat)
// rounds and clamps every source pixel and upsamples chroma in integers, so
// the two differ slightly (sample_processor_test states the tolerance;
// resize_test checks this function against its definition). Returns false, `dst` untouched, when
// YccResizeApplies is false, the planes' sizes do not match the image's and
// its subsampling or do not lie inside src.data, or the filter weights are
// too many to store.
// Scratch within ResizeScratchBytes(width, height, 3, out_width, out_height).
bool ResizeYccToFloat(const YccImage& src, const SampleBox& box, int out_width, int out_height, bool flip,
                      FloatImage* dst);

// Upper bound of the heap bytes ResizeRegion(Box)ToFloat allocates besides `dst`
// (intermediate image and filter coefficients, in the calling thread's
// scratch) for any region of at most max_width x max_height with `channels`,
// resized to out_width x out_height. Computed from the sizes alone, so a
// caller can reserve memory before decoding.
size_t ResizeScratchBytes(int max_width, int max_height, int channels, int out_width, int out_height);

// Heap bytes the calling thread's resize scratch holds now (capacities).
size_t ThreadResizeScratchBytes();

// Frees the calling thread's resize scratch. The next resize allocates it
// again; call it after an outlier, not per image.
void ReleaseResizeScratch();

// Mirrors `image` left-right in place.
void FlipHorizontal(FloatImage* image);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_TRANSFORM_RESIZE_H_
