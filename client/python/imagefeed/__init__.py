"""Python client of imagefeed, a gRPC image data-loader service.

    import imagefeed
    client = imagefeed.Client("127.0.0.1:50051")
    for batch in client.batches("demo", batch_size=64, size=(224, 224)):
        batch.images, batch.labels   # numpy arrays

Several servers ("a:1,b:2", a list, or "dns:///name:port") fan in byte-identically to one,
with failover; every batch carries a cursor token (batch.cursor, stream.state_dict()) that
client.batches(..., resume=...) continues after, on any servers and world size.

imagefeed.torch.ImageFeedDataset adapts a stream to torch.utils.data (import it explicitly;
`import imagefeed` does not import torch).

Is the job data-bound? stream.stall_report() / client.stall_report() (or Client(...,
report_stalls=True) for one line per epoch) say how much of the loop's time went into
waiting for batches; imagefeed.measure_stalls(loader) measures any loop (a DataLoader
with worker processes).
"""

from imagefeed._batch import Batch
from imagefeed._client import Client, ImageFeedError, UnsupportedError, make_request
from imagefeed._stall import StallReport, measure_stalls
from imagefeed._stream import BatchStream, SkippedSamplesWarning

__version__ = "0.1.0"
__all__ = ["Batch", "BatchStream", "Client", "ImageFeedError", "SkippedSamplesWarning", "StallReport",
           "UnsupportedError", "make_request", "measure_stalls"]
