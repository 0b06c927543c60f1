#include "common/contact_sheet.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/batch_tensor.h"
#include "common/bitmap_font.h"

namespace imagefeed {
namespace {

constexpr int kMinTileWidth = 96;  // a label of ~14 characters fits
constexpr int kMaxTileSide = 256;  // larger images are shrunk
constexpr int kMaxZoom = 8;
constexpr int kMaxZoomedHeight = 512;
constexpr int kGap = 6;
constexpr uint8_t kBackground[3] = {40, 40, 40};
constexpr uint8_t kLabelBackground[3] = {12, 12, 12};
constexpr uint8_t kLabelColor[3] = {235, 235, 235};
constexpr uint8_t kIdColor[3] = {140, 140, 140};

uint8_t ToByte(double v) {
  if (!std::isfinite(v)) return 0;
  return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
}

void FillRect(Image* image, int x, int y, int w, int h, const uint8_t color[3]) {
  for (int py = std::max(0, y); py < std::min(image->height, y + h); ++py) {
    uint8_t* row = image->row(py);
    for (int px = std::max(0, x); px < std::min(image->width, x + w); ++px) {
      std::copy(color, color + 3, row + px * 3);
    }
  }
}

// Copies a denormalized HWC tile (1 or 3 channels) into the sheet at (x, y),
// zoomed or shrunk as `layout` says.
void BlitTile(const std::vector<uint8_t>& tile, int w, int h, int c, const SheetLayout& layout, int x, int y,
              Image* sheet) {
  const int s = layout.shrink;
  for (int ty = 0; ty < layout.tile_height; ++ty) {
    uint8_t* row = sheet->row(y + ty) + static_cast<size_t>(x) * 3;
    for (int tx = 0; tx < layout.tile_width; ++tx) {
      int sum[3] = {0, 0, 0};
      int count = 0;
      const int y0 = ty * s / layout.zoom, x0 = tx * s / layout.zoom;
      for (int sy = y0; sy < std::min(h, y0 + s); ++sy) {
        for (int sx = x0; sx < std::min(w, x0 + s); ++sx) {
          const uint8_t* p = &tile[(static_cast<size_t>(sy) * w + sx) * c];
          for (int k = 0; k < 3; ++k) sum[k] += p[c == 3 ? k : 0];
          ++count;
        }
      }
      for (int k = 0; k < 3; ++k) row[tx * 3 + k] = static_cast<uint8_t>(count ? (sum[k] + count / 2) / count : 0);
    }
  }
}

// Draws the label strip under cell `i`: class name left, "#id" right if
// both fit.
void DrawLabel(const SheetLayout& layout, int i, int64_t label, int64_t sample_id,
               const std::vector<std::string>& class_names, Image* sheet) {
  const int fs = layout.font_scale;
  const int x = layout.CellX(i), y = layout.CellY(i) + layout.tile_height;
  FillRect(sheet, x, y, layout.tile_width, layout.label_height, kLabelBackground);
  const int pad = (layout.label_height - kGlyphHeight * fs) / 2;
  const int avail = layout.tile_width - 2 * pad;
  const int max_chars = std::max(0, (avail + fs) / (kGlyphAdvance * fs));
  const std::string name = TileLabel(label, class_names, max_chars);
  DrawText(sheet, x + pad, y + pad, name, fs, kLabelColor);
  const std::string id = absl::StrCat("#", sample_id);
  if (TextWidth(name, fs) + kGlyphAdvance * fs + TextWidth(id, fs) <= avail) {
    DrawText(sheet, x + pad + avail - TextWidth(id, fs), y + pad, id, fs, kIdColor);
  }
}

}  // namespace

Denormalization DenormalizationFor(const v1::StreamBatchesRequest& request) {
  Denormalization d;
  if (request.dtype() == v1::DTYPE_UINT8 || request.normalize() == v1::NORMALIZATION_NONE) return d;
  if (request.normalize() == v1::NORMALIZATION_RESCALE || request.normalize() == v1::NORMALIZATION_UNSPECIFIED) {
    d.mode = Denormalization::Mode::kInverseAffine;
    d.scale = request.has_scale() ? request.scale() : 1.0 / 255.0;
    d.offset = request.has_offset() ? request.offset() : 0.0;
    if (d.scale != 0) return d;
  }
  d.mode = Denormalization::Mode::kStretch;
  return d;
}

std::vector<uint8_t> DenormalizeTile(const std::vector<double>& values, const Denormalization& d) {
  std::vector<uint8_t> out(values.size());
  Denormalization::Mode mode = d.mode;
  if (mode == Denormalization::Mode::kInverseAffine && d.scale == 0) mode = Denormalization::Mode::kStretch;
  double lo = INFINITY, hi = -INFINITY;
  if (mode == Denormalization::Mode::kStretch) {
    for (double v : values) {
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    switch (mode) {
      case Denormalization::Mode::kIdentity:
        out[i] = ToByte(v);
        break;
      case Denormalization::Mode::kInverseAffine:
        out[i] = ToByte((v - d.offset) / d.scale);
        break;
      case Denormalization::Mode::kStretch:
        out[i] = hi > lo ? ToByte((v - lo) / (hi - lo) * 255.0) : 0;
        break;
    }
  }
  return out;
}

SheetLayout LayoutContactSheet(int num_tiles, int image_width, int image_height, int columns) {
  SheetLayout l;
  const int side = std::max(image_width, image_height);
  if (image_width < kMinTileWidth) {
    l.zoom = (kMinTileWidth + image_width - 1) / image_width;
    l.zoom = std::max(1, std::min({l.zoom, kMaxZoom, kMaxZoomedHeight / image_height}));
  } else if (side > kMaxTileSide) {
    l.shrink = (side + kMaxTileSide - 1) / kMaxTileSide;
  }
  l.tile_width = std::max(1, image_width * l.zoom / l.shrink);
  l.tile_height = std::max(1, image_height * l.zoom / l.shrink);
  l.font_scale = l.tile_width >= 192 ? 2 : 1;
  l.label_height = (kGlyphHeight + 6) * l.font_scale;
  l.gap = kGap;
  l.columns = columns > 0 ? std::min(columns, num_tiles)
                          : static_cast<int>(std::ceil(std::sqrt(static_cast<double>(num_tiles))));
  l.rows = (num_tiles + l.columns - 1) / l.columns;
  l.width = l.gap + l.columns * (l.tile_width + l.gap);
  l.height = l.gap + l.rows * (l.tile_height + l.label_height + l.gap);
  return l;
}

std::string TileLabel(int64_t label, const std::vector<std::string>& class_names, int max_chars) {
  std::string name =
      label >= 0 && label < static_cast<int64_t>(class_names.size()) ? class_names[label] : absl::StrCat(label);
  if (static_cast<int>(name.size()) > max_chars) {
    name = max_chars >= 3 ? name.substr(0, max_chars - 2) + ".." : name.substr(0, std::max(0, max_chars));
  }
  return name;
}

absl::StatusOr<Image> MakeContactSheet(const v1::Batch& batch, const std::vector<std::string>& class_names,
                                       const Denormalization& d, int columns, int max_tiles) {
  absl::StatusOr<BatchTensor> t = ViewBatch(batch);
  if (!t.ok()) return t.status();
  if (t->n == 0 || t->h == 0 || t->w == 0) return absl::InvalidArgumentError("the batch has no pixels to show");
  if (t->c != 1 && t->c != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("a contact sheet shows 1- or 3-channel images; the batch has ", t->c, " channels"));
  }
  if (t->h > kMaxZoomedHeight * 64 || t->w > kMaxZoomedHeight * 64) {
    return absl::InvalidArgumentError(absl::StrCat("images of ", t->h, "x", t->w, " are too large for a sheet"));
  }
  const int n = static_cast<int>(std::min<int64_t>(t->n, std::max(1, max_tiles)));
  const int h = static_cast<int>(t->h), w = static_cast<int>(t->w), c = static_cast<int>(t->c);
  const SheetLayout layout = LayoutContactSheet(n, w, h, columns);
  Image sheet;
  sheet.Reset(layout.width, layout.height, 3, 8);
  FillRect(&sheet, 0, 0, layout.width, layout.height, kBackground);
  std::vector<double> values(static_cast<size_t>(h) * w * c);
  for (int i = 0; i < n; ++i) {
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        for (int k = 0; k < c; ++k) values[(static_cast<size_t>(y) * w + x) * c + k] = t->At(i, k, y, x);
      }
    }
    BlitTile(DenormalizeTile(values, d), w, h, c, layout, layout.CellX(i), layout.CellY(i), &sheet);
    const int64_t label = i < batch.labels_size() ? batch.labels(i) : -1;
    const int64_t id = i < batch.sample_ids_size() ? batch.sample_ids(i) : -1;
    DrawLabel(layout, i, label, id, class_names, &sheet);
  }
  return sheet;
}

}  // namespace imagefeed
