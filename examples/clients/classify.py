# Classify a text with a tasnif server from Python.
#   pip install grpcio grpcio-tools
#   python -m grpc_tools.protoc -Iproto --python_out=. --grpc_python_out=. proto/tasnif/v1/tasnif.proto
#   python classify.py localhost:50051 "سيطر الجيش على المدينة"
import sys

import grpc
from tasnif.v1 import tasnif_pb2, tasnif_pb2_grpc

addr, text = sys.argv[1], sys.argv[2]
with grpc.insecure_channel(addr) as channel:
    stub = tasnif_pb2_grpc.TopicClassifierStub(channel)
    request = tasnif_pb2.ClassifyRequest(text=text, include=[tasnif_pb2.INCLUDE_SEGMENTS])
    r = stub.Classify(request, timeout=10)
    print(r.primary, " ".join(f"{s.label}:{s.probability:.3f}" for s in r.scores))
    for s in r.segments:
        print(s.start, s.end, s.label)
