#include "server/http/preview_png.h"

#include "common/contact_sheet.h"
#include "common/image_encoders.h"

namespace imagefeed {

absl::StatusOr<std::string> ContactSheetPng(const v1::Batch& batch, const std::vector<std::string>& class_names) {
  Denormalization d;
  d.mode = batch.dtype() == v1::DTYPE_UINT8 ? Denormalization::Mode::kIdentity : Denormalization::Mode::kStretch;
  absl::StatusOr<Image> sheet = MakeContactSheet(batch, class_names, d);
  if (!sheet.ok()) return sheet.status();
  return EncodePng(*sheet);
}

}  // namespace imagefeed
