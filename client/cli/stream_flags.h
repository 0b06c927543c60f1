#ifndef IMAGEFEED_CLIENT_CLI_STREAM_FLAGS_H_
#define IMAGEFEED_CLIENT_CLI_STREAM_FLAGS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "client/fan_in_reader.h"
#include "common/flags.h"
#include "imagefeed/v1/imagefeed.pb.h"

namespace imagefeed {

// The request flags shared by every streaming command (fetch, epoch, dump,
// bench). The CLI only builds the request; the server validates it again.
struct StreamFlags {
  std::string dataset;
  int64_t batch_size = 32;
  std::string size;  // "HxW" or empty for each image's own size
  std::string resize_mode = "stretch";
  int64_t resize_size = 0;  // shorter_side: scale the shorter side to this, then centre-crop --size
  std::string normalize = "rescale";  // sent only if given (the server's default)
  double scale = 1.0 / 255.0;
  double offset = 0.0;
  std::string layout = "nchw";
  std::string dtype = "float32";
  bool shuffle = true;
  int64_t seed = 0;
  int64_t epoch = 0;
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t start = 0;
  bool drop_last = false;
  std::string on_error = "skip";  // the protocol's default
  bool ignore_exif_orientation = false;
  double validation_split = 0.0;
  std::string subset;  // "", "training" or "validation"
  int64_t split_seed = 0;
  bool random_flip = false;
  bool random_resized_crop = false;
  std::string crop_scale;  // "MIN,MAX" or empty for the server's default
  std::string crop_ratio;  // "MIN,MAX" or empty for the server's default
  std::string resume;       // a cursor token (ifc1....) or empty
  std::string even_shards;  // "", "none", "pad" or "drop"
  bool fill_skipped = false;  // sent only if given (the server's default)
  double failover_timeout = 60;   // seconds
  double progress_timeout = 300;  // seconds

  // Registers the flags above in `flags`.
  void Register(FlagSet* flags);
  // Builds the request. INVALID_ARGUMENT naming the flag for a missing
  // --dataset, a bad --size, --crop_scale or --crop_ratio, or a split without
  // a subset (and the reverse), a bad --resume token, --resume with --start,
  // or an --epoch other than the cursor's.
  absl::StatusOr<v1::StreamBatchesRequest> ToRequest(const FlagSet& flags) const;
  // --failover_timeout and --progress_timeout as client options.
  FanInOptions ToFanInOptions() const;
};

// The --normalize value for `mode` ("none", "rescale", ...); the inverse of
// the mapping ToRequest uses.
std::string NormalizationName(v1::Normalization mode);

}  // namespace imagefeed

#endif  // IMAGEFEED_CLIENT_CLI_STREAM_FLAGS_H_
