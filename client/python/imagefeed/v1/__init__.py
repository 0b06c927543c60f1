# Protocol stubs generated from proto/imagefeed/v1/imagefeed.proto by the build
# (imagefeed_pb2.py, imagefeed_pb2_grpc.py; see client/python/README.md).
