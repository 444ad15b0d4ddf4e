"""Parses a config.pbtxt with Triton's own ModelConfig message (model_config.proto beside this file).

usage: python3 parse_config.py GENERATED_PY_DIR CONFIG.pbtxt
GENERATED_PY_DIR holds model_config_pb2.py from `protoc --python_out`. Prints JSON:
{"config": ModelConfig as a dict (proto field names, enums by name), "text": text_format's own rendering}.
Fails (exit 1, message on stderr) where Triton's parser would reject the file.
"""
import json
import sys

sys.path.insert(0, sys.argv[1])
from google.protobuf import json_format, text_format  # noqa: E402
import model_config_pb2  # noqa: E402

config = model_config_pb2.ModelConfig()
with open(sys.argv[2], encoding="utf-8") as f:
    text_format.Parse(f.read(), config)
print(json.dumps({
    "config": json_format.MessageToDict(config, preserving_proto_field_name=True),
    "text": text_format.MessageToString(config),
}))
