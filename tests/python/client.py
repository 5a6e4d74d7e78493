"""A Python grpcio client generated from proto/tasnif/v1/tasnif.proto (grpcio-tools),
calling a running tasnif server. Usage: client.py HOST:PORT SEED_FILE

Exits non-zero with a message on the first wrong answer."""
import importlib
import os
import sys
import tempfile

import grpc
from grpc_tools import protoc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def generate():
    out = tempfile.mkdtemp(prefix="tasnif_py_")
    proto_dir = os.path.join(ROOT, "proto")
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main([
        "protoc", f"-I{proto_dir}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}",
        os.path.join(proto_dir, "tasnif", "v1", "tasnif.proto"),
    ])
    if rc != 0:
        sys.exit(f"protoc failed with {rc}")
    sys.path.insert(0, out)
    return (importlib.import_module("tasnif.v1.tasnif_pb2"), importlib.import_module("tasnif.v1.tasnif_pb2_grpc"))


def channel_to(addr):
    """Plaintext, or TLS when TASNIF_TLS_CA names the CA (mutual TLS when
    TASNIF_TLS_CERT and TASNIF_TLS_KEY name a client certificate)."""
    ca = os.environ.get("TASNIF_TLS_CA")
    if not ca:
        return grpc.insecure_channel(addr)
    read = lambda name: open(os.environ[name], "rb").read() if os.environ.get(name) else None
    creds = grpc.ssl_channel_credentials(read("TASNIF_TLS_CA"), read("TASNIF_TLS_KEY"), read("TASNIF_TLS_CERT"))
    return grpc.secure_channel(addr, creds)


def check(cond, what):
    if not cond:
        sys.exit(f"FAILED: {what}")


def main():
    addr, seed = sys.argv[1], sys.argv[2]
    pb2, pb2_grpc = generate()
    with channel_to(addr) as channel:
        stub = pb2_grpc.TopicClassifierStub(channel)
        text = open(seed, encoding="utf-8").read()
        r = stub.Classify(pb2.ClassifyRequest(text=text, id="py-1", include=[pb2.INCLUDE_SEGMENTS]), timeout=30)
        check(r.id == "py-1", f"id echoed, got {r.id!r}")
        check(r.primary in ("diplomacy", "military", "negotiations", "other"), f"primary {r.primary!r}")
        check(abs(sum(s.probability for s in r.scores) - 1.0) < 1e-3, "scores sum to 1")
        check(len(r.segments) == r.segment_count and r.segment_count > 0, "segments returned")
        for s in r.segments:
            check(0 <= s.start < s.end <= len(text), f"segment offsets are code points ({s.start}, {s.end})")
        info = stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=30)
        check(info.version == r.model_version, "model version matches GetModelInfo")
        try:
            stub.Classify(pb2.ClassifyRequest(text="   "), timeout=30)
            check(False, "empty text must fail")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, f"empty text is INVALID_ARGUMENT, got {e.code()}")
        try:
            stub.Classify(pb2.ClassifyRequest(text=text * 40), timeout=0.001)
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, f"deadline is DEADLINE_EXCEEDED, got {e.code()}")
        batch = stub.ClassifyBatch(pb2.ClassifyBatchRequest(items=[pb2.ClassifyRequest(text=text, id=str(i)) for i in range(3)]), timeout=30)
        check([x.id for x in batch.results] == ["0", "1", "2"], "batch in order")
        results = list(stub.ClassifyStream(iter([pb2.ClassifyRequest(text=text, id=f"s{i}") for i in range(4)]), timeout=30))
        check([x.id for x in results] == ["s0", "s1", "s2", "s3"], "stream in order with ids")
    print("python grpcio client: all checks passed")


if __name__ == "__main__":
    main()
