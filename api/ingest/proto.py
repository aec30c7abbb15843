"""Remote-write protobuf message classes, built at import time with the protobuf runtime.

No ``protoc`` step and no generated files: the few messages of remote-write 1.0
(``prometheus.WriteRequest``) and 2.0 (``io.prometheus.write.v2.Request``) are declared
here as descriptors (field numbers as in the Prometheus specs) and turned into compiled
(upb) message classes. The native decoder does not need them; the portable fallback
decoder, the tests and the benchmark's payload generator do.

>>> req = WriteRequest()
>>> ts = req.timeseries.add()
>>> ts.labels.add(name="__name__", value="up")
name: "__name__"
value: "up"
<BLANKLINE>
>>> WriteRequest.FromString(req.SerializeToString()).timeseries[0].labels[0].value
'up'
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto

_Field = tuple[str, int, int, int, str]  # name, number, type, label, type_name


def _field(name: str, number: int, ftype: int, *, repeated: bool = False, msg: str = "") -> _Field:
    label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    return (name, number, ftype, label, msg)


def _message(fdp: descriptor_pb2.FileDescriptorProto, name: str, fields: list[_Field]) -> None:
    m = fdp.message_type.add(name=name)
    for fname, number, ftype, label, type_name in fields:
        f = m.field.add(name=fname, number=number, type=ftype, label=label)  # type: ignore[arg-type]
        if type_name:
            f.type_name = type_name


def _v1_file() -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(
        name="smartdeploy/prometheus_remote_v1.proto", package="prometheus", syntax="proto3"
    )
    _message(fdp, "Label", [_field("name", 1, _F.TYPE_STRING), _field("value", 2, _F.TYPE_STRING)])
    _message(
        fdp, "Sample", [_field("value", 1, _F.TYPE_DOUBLE), _field("timestamp", 2, _F.TYPE_INT64)]
    )
    _message(
        fdp,
        "TimeSeries",
        [
            _field("labels", 1, _F.TYPE_MESSAGE, repeated=True, msg=".prometheus.Label"),
            _field("samples", 2, _F.TYPE_MESSAGE, repeated=True, msg=".prometheus.Sample"),
        ],
    )
    _message(
        fdp,
        "WriteRequest",
        [_field("timeseries", 1, _F.TYPE_MESSAGE, repeated=True, msg=".prometheus.TimeSeries")],
    )
    return fdp


def _v2_file() -> descriptor_pb2.FileDescriptorProto:
    pkg = "io.prometheus.write.v2"
    fdp = descriptor_pb2.FileDescriptorProto(
        name="smartdeploy/prometheus_remote_v2.proto", package=pkg, syntax="proto3"
    )
    _message(
        fdp, "Sample", [_field("value", 1, _F.TYPE_DOUBLE), _field("timestamp", 2, _F.TYPE_INT64)]
    )
    _message(
        fdp,
        "TimeSeries",
        [
            _field("labels_refs", 1, _F.TYPE_UINT32, repeated=True),
            _field("samples", 2, _F.TYPE_MESSAGE, repeated=True, msg=f".{pkg}.Sample"),
            _field("created_timestamp", 6, _F.TYPE_INT64),
        ],
    )
    _message(
        fdp,
        "Request",
        [
            _field("symbols", 4, _F.TYPE_STRING, repeated=True),
            _field("timeseries", 5, _F.TYPE_MESSAGE, repeated=True, msg=f".{pkg}.TimeSeries"),
        ],
    )
    return fdp


_pool = descriptor_pool.DescriptorPool()
_pool.Add(_v1_file())
_pool.Add(_v2_file())


def _cls(full_name: str) -> Any:
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(full_name))


WriteRequest: Any = _cls("prometheus.WriteRequest")
RequestV2: Any = _cls("io.prometheus.write.v2.Request")
