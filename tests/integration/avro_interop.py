"""tests/integration/avro_interop.py - checks our Avro against Debian's
python3-avro, a client nobody here wrote, with the .avsc files as they are.

  /usr/bin/python3 avro_interop.py HELPER SCHEMA_DIR WORK_DIR

HELPER is the helper_avro test program. For each record type:
  1. records we encode (framed) decode in python-avro, after the 5 framing
     bytes, to exactly the values we gave;
  2. records python-avro encodes (we add the framing) decode in C to exactly
     the values python wrote;
  3. an OCF we write is read by avro.datafile, and OCFs python writes (null
     and deflate codecs) are read by us, with the same exact comparison.
Doubles are compared bit for bit, strings byte for byte. Exits non-zero with
a message on the first mismatch.
"""
import datetime
import io
import json
import math
import struct
import subprocess
import sys

import avro.datafile
import avro.io
import avro.schema

HELPER, SCHEMA_DIR, WORK = sys.argv[1:4]

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
FILES = {"click": "ClickEvent", "order": "OrderEvent", "forecast": "Forecast", "surge": "SurgeAlert"}
SCHEMA_IDS = {"click": 1, "order": 2, "forecast": 3, "surge": 4}
# Fields whose Avro type carries logicalType timestamp-millis.
TIME_FIELDS = {"ts", "bucket_start", "issued_at", "detected_at"}

UNICODE = "caf\u00e9 \u20ac \U0001f6d2 \u65e5\u672c"
TRICKY = 'quote" back\\ tab\t nl\n'


def samples(kind):
    """Records as plain values: times in integer milliseconds."""
    if kind == "click":
        return [
            {"event_id": "e-1", "ts": 1309422360123, "sku": "85123A", "user_id": "17850",
             "session_id": "s-1", "type": "VIEW", "price": 2.55, "promo": None},
            {"event_id": UNICODE, "ts": -1, "sku": TRICKY, "user_id": "",
             "session_id": "s" * 63, "type": "SEARCH_CLICK", "price": -0.0, "promo": "SUMMER-10"},
            {"event_id": "e-3", "ts": 253402300799999, "sku": "x", "user_id": "u",
             "session_id": "s", "type": "REMOVE_FROM_CART", "price": 1.7976931348623157e308,
             "promo": ""},
            {"event_id": "e-4", "ts": -62135596800000, "sku": "y", "user_id": "u",
             "session_id": "s", "type": "WISHLIST", "price": 5e-324, "promo": None},
        ]
    if kind == "order":
        return [
            {"order_id": "536365", "ts": 1291191960000, "user_id": "17850", "status": "PLACED",
             "lines": [{"sku": "85123A", "qty": 6, "unit_price": 2.55},
                       {"sku": "71053", "qty": 2147483647, "unit_price": 3.39},
                       {"sku": UNICODE, "qty": -2147483648, "unit_price": 0.1}],
             "promo_code": None},
            {"order_id": "C536379", "ts": 0, "user_id": "", "status": "CANCELLED", "lines": [],
             "promo_code": TRICKY},
        ]
    if kind == "forecast":
        return [
            {"sku": "22423", "bucket_start": 1291190400000, "bucket_width": 3600000,
             "issued_at": 1291194000000, "model_version": 9223372036854775807,
             "horizons": [{"offset": i + 1, "mean": i / 3.0, "p10": 0.0, "p50": float(i),
                           "p90": 1e300 * i} for i in range(48)],
             "cold_start": True},
            {"sku": "x", "bucket_start": -3600000, "bucket_width": 60000, "issued_at": 1,
             "model_version": -9223372036854775808, "horizons": [], "cold_start": False},
        ]
    return [
        {"sku": "84029E", "state": "START", "detected_at": 1291194000000, "expected": 120.5,
         "baseline": 12.25, "ratio": 120.5 / 12.25,
         "signals": [{"name": "views_5m_z", "value": 6.5}, {"name": UNICODE, "value": -1e-310}]},
        {"sku": "84029E", "state": "END", "detected_at": 1291197600000, "expected": 0.0,
         "baseline": 0.0, "ratio": 0.0, "signals": []},
    ]


def to_avro(kind, rec):
    """python-avro wants datetimes for timestamp-millis fields."""
    out = dict(rec)
    for f in TIME_FIELDS & out.keys():
        out[f] = EPOCH + datetime.timedelta(milliseconds=out[f])
    return out


def from_avro(rec):
    out = dict(rec)
    for f in TIME_FIELDS & out.keys():
        out[f] = (out[f] - EPOCH) // datetime.timedelta(milliseconds=1)
    return out


def from_our_json(line):
    """Our JSON rendering back to plain values: F_ms is the time, "-0" is -0.0."""
    rec = json.loads(line, parse_int=lambda t: -0.0 if t == "-0" else int(t))
    for f in TIME_FIELDS & rec.keys():
        rec[f] = rec.pop(f + "_ms")
    return rec


def same(a, b, path="record"):
    """Exact equality; doubles bit for bit, ints by value."""
    if isinstance(a, dict):
        if not isinstance(b, dict) or a.keys() != b.keys():
            raise AssertionError(f"{path}: keys {sorted(a)} != {sorted(b)}")
        for k in a:
            same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            raise AssertionError(f"{path}: {a!r} != {b!r}")
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        if isinstance(a, bool) or isinstance(b, bool) or \
                struct.pack("<d", float(a)) != struct.pack("<d", float(b)):
            raise AssertionError(f"{path}: {a!r} != {b!r}")
    elif type(a) is not type(b) or a != b:
        raise AssertionError(f"{path}: {a!r} != {b!r}")


def helper(*args):
    return subprocess.run([HELPER, *args], check=True, capture_output=True, text=True,
                          timeout=60).stdout


def check_type(kind):
    schema = avro.schema.parse(open(f"{SCHEMA_DIR}/{FILES[kind]}.avsc").read())
    recs = samples(kind)
    jsonl = f"{WORK}/{kind}.jsonl"
    with open(jsonl, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")

    # 1. We encode, python decodes.
    frames = f"{WORK}/{kind}.c.frames"
    helper("encode", kind, jsonl, frames)
    data = open(frames, "rb").read()
    got, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        msg = data[pos + 4:pos + 4 + n]
        pos += 4 + n
        if msg[:5] != struct.pack(">bI", 0, SCHEMA_IDS[kind]):
            raise AssertionError(f"{kind}: framing {msg[:5].hex()}")
        body = io.BytesIO(msg[5:])
        got.append(from_avro(avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(body))))
        if body.tell() != n - 5:
            raise AssertionError(f"{kind}: python left {n - 5 - body.tell()} bytes unread")
    same(recs, got, f"{kind} C->python")

    # 2. Python encodes, we decode.
    frames = f"{WORK}/{kind}.py.frames"
    with open(frames, "wb") as f:
        for r in recs:
            body = io.BytesIO()
            avro.io.DatumWriter(schema).write(to_avro(kind, r), avro.io.BinaryEncoder(body))
            msg = struct.pack(">bI", 0, SCHEMA_IDS[kind]) + body.getvalue()
            f.write(struct.pack(">I", len(msg)) + msg)
    lines = helper("decode", kind, frames).splitlines()
    same(recs, [from_our_json(line) for line in lines], f"{kind} python->C")

    # 3. OCF both ways.
    ocf = f"{WORK}/{kind}.c.avro"
    helper("ocf-write", kind, jsonl, ocf)
    with avro.datafile.DataFileReader(open(ocf, "rb"), avro.io.DatumReader()) as reader:
        if reader.get_meta("avro.codec") != b"deflate":
            raise AssertionError(f"{kind}: our OCF codec is {reader.get_meta('avro.codec')}")
        same(recs, [from_avro(r) for r in reader], f"{kind} C OCF->python")
    for codec in ("null", "deflate"):
        ocf = f"{WORK}/{kind}.py.{codec}.avro"
        with avro.datafile.DataFileWriter(open(ocf, "wb"), avro.io.DatumWriter(), schema,
                                          codec=codec) as writer:
            for r in recs:
                writer.append(to_avro(kind, r))
        lines = helper("ocf-read", ocf).splitlines()
        if lines[0] != kind:
            raise AssertionError(f"{ocf}: we saw a {lines[0]} file")
        same(recs, [from_our_json(line) for line in lines[1:]], f"{kind} python OCF ({codec})->C")
    print(f"{kind}: {len(recs)} records agree both ways, framed and in OCF files")


for kind in FILES:
    check_type(kind)
