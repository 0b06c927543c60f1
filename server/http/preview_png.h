#ifndef IMAGEFEED_SERVER_HTTP_PREVIEW_PNG_H_
#define IMAGEFEED_SERVER_HTTP_PREVIEW_PNG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "imagefeed/v1/imagefeed.pb.h"

namespace imagefeed {

// A PNG contact sheet of `batch` (its data holding the samples its shape
// says), tiles labelled with `class_names`: uint8 batches shown as they are,
// float batches (normalized in ways the batch does not record) stretched
// tile by tile to 0..255. INVALID_ARGUMENT as MakeContactSheet.
absl::StatusOr<std::string> ContactSheetPng(const v1::Batch& batch, const std::vector<std::string>& class_names);

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_HTTP_PREVIEW_PNG_H_
