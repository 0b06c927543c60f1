#ifndef IMAGEFEED_SERVER_TRANSFORM_AUGMENT_H_
#define IMAGEFEED_SERVER_TRANSFORM_AUGMENT_H_

#include <cstdint>

#include "server/transform/resize.h"

namespace imagefeed {

enum class ResizeMode { kStretch, kShorterSide };

// Geometric augmentation and resize policy of a stream.
struct AugmentOptions {
  ResizeMode resize_mode = ResizeMode::kStretch;
  // kShorterSide only: > 0 scales the shorter side to this first, then takes
  // the centred output (torchvision Resize(resize_size) + CenterCrop); must
  // be >= the output's height and width (the request validation checks it).
  int resize_size = 0;
  bool random_flip = false;
  bool random_resized_crop = false;
  // torchvision RandomResizedCrop defaults.
  double scale_min = 0.08;
  double scale_max = 1.0;
  double ratio_min = 3.0 / 4.0;
  double ratio_max = 4.0 / 3.0;
};

// The part of the source image that becomes the output, and whether the
// output is mirrored left-right. [x, x+width) x [y, y+height) is the window
// of source pixels the resize reads (a decoder may decode only it). When
// `box` is set (width > 0), the output samples that sub-pixel box of the
// window rather than the whole window (resize_size: the crop of a resized
// image, whose edges fall between source pixels).
struct CropPlan {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
  SampleBox box;
  bool flip = false;
};

// Decides the crop and flip of one sample from `sample_seed` alone (pure and
// deterministic, so the result never depends on scheduling or the server).
// Without augmentation: the whole image (stretch), or the centred region
// with the output's aspect ratio (shorter_side: torchvision Resize + CenterCrop),
// or with resize_size > 0 the source box of torchvision's Resize(resize_size)
// + CenterCrop(out_height, out_width) in a window widened by the filter's reach.
// random_resized_crop follows torchvision's RandomResizedCrop.get_params: 10
// attempts at an area fraction in [scale_min, scale_max] and a log-uniform
// aspect ratio in [ratio_min, ratio_max], then a centre-crop fallback.
// `out_width`/`out_height` may be 0 (native size): then only flips apply.
CropPlan PlanCrop(int src_width, int src_height, int out_width, int out_height, const AugmentOptions& options,
                  uint64_t sample_seed);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_TRANSFORM_AUGMENT_H_
