#!/usr/bin/python3
"""An Open Inference Protocol (KServe v2) client that owes nothing to mmkit's code.

It speaks to a server the way tritonclient does, from the protocol's documents (KServe's
required_api.md and grpc_predict_v2.proto, Triton's binary tensor extension), on Debian's
python3-requests and python3-grpcio; the .proto is compiled by Debian's protoc at run time.

Usage:
  v2_client.py --http URL --grpc HOST:PORT --proto FILE --model NAME --input SPEC.json [--id ID]

SPEC.json: {"name": "...", "datatype": "FP32" | "FP16", "shape": [...], "file": "raw.bin",
            "outputs": ["..."]}: the input's little-endian bytes lie in "file".
Prints one JSON object: health, metadata, and every output of every way of asking, as lists
of floats, for the test to compare with a direct onnxruntime run.
"""

import argparse
import importlib
import json
import os
import struct
import subprocess
import sys
import tempfile

import grpc
import requests

HEADER_LENGTH = "Inference-Header-Content-Length"
# Little-endian struct codes of the datatypes this client sends and reads.
STRUCT_CODE = {"FP32": "f", "FP16": "e", "FP64": "d", "INT64": "q", "INT32": "i", "INT8": "b", "UINT8": "B", "BOOL": "?"}
# The typed InferTensorContents field of each datatype, for a server that answers without raw contents.
CONTENTS_FIELD = {"FP32": "fp32_contents", "FP64": "fp64_contents", "INT64": "int64_contents", "INT32": "int_contents", "INT8": "int_contents", "UINT8": "uint_contents", "BOOL": "bool_contents"}


def values_of(datatype, raw):
    code = STRUCT_CODE[datatype]
    return list(struct.unpack("<%d%s" % (len(raw) // struct.calcsize(code), code), raw))


def compile_proto(proto, out_dir):
    """protoc --python_out into out_dir; returns the generated module."""
    folder, name = os.path.split(os.path.abspath(proto))
    subprocess.run(["protoc", "--proto_path=" + folder, "--python_out=" + out_dir, name], check=True)
    sys.path.insert(0, out_dir)
    return importlib.import_module(name[: -len(".proto")] + "_pb2")


# --- REST ------------------------------------------------------------------------------------

def model_url(base, model):
    return "%s/v2/models/%s" % (base, model)


def rest_status(session, url):
    return session.get(url).status_code


def rest_json(session, url):
    r = session.get(url)
    return {"status": r.status_code, "body": r.json()}


def decode_rest_answer(r):
    """The JSON part, and each output's values whether it came as JSON "data" or binary bytes."""
    if r.status_code != 200:
        return {"status": r.status_code, "error": r.json().get("error")}
    body = r.content
    header_length = r.headers.get(HEADER_LENGTH)
    json_end = int(header_length) if header_length is not None else len(body)
    header = json.loads(body[:json_end].decode("utf-8"))
    offset = json_end
    outputs = {}
    for out in header["outputs"]:
        size = out.get("parameters", {}).get("binary_data_size")
        if size is not None:
            data = values_of(out["datatype"], body[offset : offset + size])
            offset += size
            how = "binary"
        else:
            data = out["data"]
            how = "json"
        outputs[out["name"]] = {"datatype": out["datatype"], "shape": out["shape"], "data": data, "as": how}
    return {
        "status": r.status_code,
        "model_name": header.get("model_name"),
        "model_version": header.get("model_version"),
        "id": header.get("id"),
        "binary_bytes_left": len(body) - offset,
        "outputs": outputs,
    }


def rest_infer_json(session, base, model, spec, raw, request_id):
    """All-JSON request: values in "data", outputs asked for as JSON (tritonclient with binary_data=False)."""
    request = {
        "id": request_id,
        "inputs": [{"name": spec["name"], "shape": spec["shape"], "datatype": spec["datatype"], "data": values_of(spec["datatype"], raw)}],
        "outputs": [{"name": n, "parameters": {"binary_data": False}} for n in spec["outputs"]],
    }
    r = session.post(model_url(base, model) + "/infer", data=json.dumps(request).encode("utf-8"), headers={"Content-Type": "application/json"})
    return decode_rest_answer(r)


def rest_infer_binary(session, base, model, spec, raw, request_id, name_outputs):
    """The binary extension, as tritonclient's default: input bytes after the JSON header; outputs
    asked for as binary, per output (binary_data) or, when none is named, with binary_data_output."""
    request = {
        "id": request_id,
        "inputs": [{"name": spec["name"], "shape": spec["shape"], "datatype": spec["datatype"], "parameters": {"binary_data_size": len(raw)}}],
    }
    if name_outputs:
        request["outputs"] = [{"name": n, "parameters": {"binary_data": True}} for n in spec["outputs"]]
    else:
        request["parameters"] = {"binary_data_output": True}
    header = json.dumps(request).encode("utf-8")
    r = session.post(
        model_url(base, model) + "/infer",
        data=header + raw,
        headers={HEADER_LENGTH: str(len(header)), "Content-Type": "application/octet-stream"},
    )
    return decode_rest_answer(r)


# --- gRPC ------------------------------------------------------------------------------------

def rpc(channel, pb, method):
    return channel.unary_unary(
        "/inference.GRPCInferenceService/" + method,
        request_serializer=getattr(pb, method + "Request").SerializeToString,
        response_deserializer=getattr(pb, method + "Response").FromString,
    )


def grpc_call(channel, pb, method, **fields):
    try:
        return {"ok": True, "response": rpc(channel, pb, method)(getattr(pb, method + "Request")(**fields), timeout=60)}
    except grpc.RpcError as e:
        return {"ok": False, "code": e.code().name, "details": e.details()}


def tensor_meta(tensors):
    return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in tensors]


def grpc_infer(channel, pb, model, spec, raw, request_id, also_typed=False):
    request = pb.ModelInferRequest(model_name=model, id=request_id)
    tensor = request.inputs.add()
    tensor.name = spec["name"]
    tensor.datatype = spec["datatype"]
    tensor.shape.extend(spec["shape"])
    request.raw_input_contents.append(raw)
    if also_typed:  # raw and typed contents together: the protocol forbids it
        getattr(tensor.contents, CONTENTS_FIELD[spec["datatype"]]).extend(values_of(spec["datatype"], raw))
    for n in spec["outputs"]:
        request.outputs.add().name = n
    try:
        res = rpc(channel, pb, "ModelInfer")(request, timeout=60)
    except grpc.RpcError as e:
        return {"ok": False, "code": e.code().name, "details": e.details()}
    outputs = {}
    for i, out in enumerate(res.outputs):
        if len(res.raw_output_contents) > 0:
            data = values_of(out.datatype, res.raw_output_contents[i])
        else:
            data = list(getattr(out.contents, CONTENTS_FIELD[out.datatype]))
        outputs[out.name] = {"datatype": out.datatype, "shape": list(out.shape), "data": data}
    return {"ok": True, "model_name": res.model_name, "model_version": res.model_version, "id": res.id, "outputs": outputs}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--http", required=True)
    p.add_argument("--grpc", required=True)
    p.add_argument("--proto", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--id", default="py-conformance-1")
    args = p.parse_args()
    with open(args.input) as f:
        spec = json.load(f)
    with open(spec["file"], "rb") as f:
        raw = f.read()

    report = {}
    with requests.Session() as s:
        base = args.http.rstrip("/")
        report["rest"] = {
            "live": rest_status(s, base + "/v2/health/live"),
            "ready": rest_status(s, base + "/v2/health/ready"),
            "server_metadata": rest_json(s, base + "/v2"),
            "model_metadata": rest_json(s, model_url(base, args.model)),
            "model_ready": rest_status(s, model_url(base, args.model) + "/ready"),
            "unknown_model_metadata": rest_json(s, model_url(base, "no-such-model")),
            "infer_json": rest_infer_json(s, base, args.model, spec, raw, args.id),
            "infer_binary": rest_infer_binary(s, base, args.model, spec, raw, args.id, name_outputs=False),
            "infer_binary_named": rest_infer_binary(s, base, args.model, spec, raw, args.id, name_outputs=True),
            "infer_unknown_model": rest_infer_binary(s, base, "no-such-model", spec, raw, args.id, name_outputs=False),
        }

    with tempfile.TemporaryDirectory(prefix="v2-proto-") as out_dir:
        pb = compile_proto(args.proto, out_dir)
        options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
        with grpc.insecure_channel(args.grpc, options=options) as channel:
            live = grpc_call(channel, pb, "ServerLive")
            ready = grpc_call(channel, pb, "ServerReady")
            model_ready = grpc_call(channel, pb, "ModelReady", name=args.model)
            server_meta = grpc_call(channel, pb, "ServerMetadata")
            model_meta = grpc_call(channel, pb, "ModelMetadata", name=args.model)
            unknown = grpc_call(channel, pb, "ModelMetadata", name="no-such-model")
            report["grpc"] = {
                "live": live["ok"] and live["response"].live,
                "ready": ready["ok"] and ready["response"].ready,
                "model_ready": model_ready["ok"] and model_ready["response"].ready,
                "server_metadata": server_meta["ok"]
                and {"name": server_meta["response"].name, "version": server_meta["response"].version, "extensions": list(server_meta["response"].extensions)},
                "model_metadata": model_meta["ok"]
                and {
                    "name": model_meta["response"].name,
                    "versions": list(model_meta["response"].versions),
                    "platform": model_meta["response"].platform,
                    "inputs": tensor_meta(model_meta["response"].inputs),
                    "outputs": tensor_meta(model_meta["response"].outputs),
                },
                "unknown_model_metadata": {"code": unknown.get("code"), "details": unknown.get("details")},
                "infer": grpc_infer(channel, pb, args.model, spec, raw, args.id),
                "infer_unknown_model": grpc_infer(channel, pb, "no-such-model", spec, raw, args.id),
                "infer_wrong_input": grpc_infer(channel, pb, args.model, dict(spec, name="pixels"), raw, args.id),
                "infer_raw_and_typed": grpc_infer(channel, pb, args.model, spec, raw, args.id, also_typed=True),
            }
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
