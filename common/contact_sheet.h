#ifndef IMAGEFEED_COMMON_CONTACT_SHEET_H_
#define IMAGEFEED_COMMON_CONTACT_SHEET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/image.h"
#include "imagefeed/v1/imagefeed.pb.h"

namespace imagefeed {

// How a tile's values map back to 0..255 for display.
struct Denormalization {
  enum class Mode {
    kIdentity,       // values are 0..255 already (normalize=none, dtype=uint8)
    kInverseAffine,  // values are x*scale+offset (rescale): x = (v-offset)/scale
    kStretch,        // anything else: each tile's min..max stretched to 0..255
  };
  Mode mode = Mode::kIdentity;
  double scale = 1.0;
  double offset = 0.0;
};

// The display mapping for batches streamed with `request`.
Denormalization DenormalizationFor(const v1::StreamBatchesRequest& request);

// Maps one tile's values to 0..255 (rounded, clamped). kStretch maps a
// constant tile to 0; a zero rescale scale falls back to kStretch.
std::vector<uint8_t> DenormalizeTile(const std::vector<double>& values, const Denormalization& d);

// Geometry of a contact sheet: a grid of cells, each an image tile above a
// label strip, separated and surrounded by `gap` pixels.
struct SheetLayout {
  int columns = 0;
  int rows = 0;
  // Displayed tile size = image size * zoom / shrink (one of them is 1).
  int zoom = 1;
  int shrink = 1;
  int tile_width = 0;
  int tile_height = 0;
  int font_scale = 1;
  int label_height = 0;
  int gap = 0;
  int width = 0;  // of the whole sheet
  int height = 0;

  // Top-left corner of cell `i` (row-major).
  int CellX(int i) const { return gap + (i % columns) * (tile_width + gap); }
  int CellY(int i) const { return gap + (i / columns) * (tile_height + label_height + gap); }
};

// Lays out `num_tiles` (> 0) images of `image_width` x `image_height` (> 0):
// `columns` columns (0 = ceil(sqrt(n)), nearly square), images narrower
// than 96 px zoomed by an integer factor (nearest neighbour, at most 8) so
// labels fit, images larger than 256 px shrunk by an integer factor (box
// filter) so a sheet stays viewable; labels twice as big on tiles >= 192 px.
SheetLayout LayoutContactSheet(int num_tiles, int image_width, int image_height, int columns = 0);

// The label text of a tile: the class name (the label number if out of
// range), shortened with ".." to at most `max_chars` characters.
std::string TileLabel(int64_t label, const std::vector<std::string>& class_names, int max_chars);

// Renders the first min(N, max_tiles) samples of `batch` (NCHW or NHWC,
// float32 or uint8, 1 or 3 channels) as an 8-bit RGB contact sheet, each
// tile denormalized with `d` and labelled with its class name and sample id.
// INVALID_ARGUMENT for an empty batch, other channel counts or data that
// does not match the shape.
absl::StatusOr<Image> MakeContactSheet(const v1::Batch& batch, const std::vector<std::string>& class_names,
                                       const Denormalization& d, int columns = 0, int max_tiles = 256);

}  // namespace imagefeed

#endif  // IMAGEFEED_COMMON_CONTACT_SHEET_H_
