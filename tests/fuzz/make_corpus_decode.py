"""tests/fuzz/make_corpus_decode.py - writes the seed corpus of fuzz_decode
into tests/fuzz/corpus/decode/: valid framed records of each type, encoded by
Debian's python3-avro from the .avsc files, and broken variants of them.

  /usr/bin/python3 tests/fuzz/make_corpus_decode.py   (from the source root)
"""
import datetime
import io
import os
import struct

import avro.io
import avro.schema

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus", "decode")
T0 = datetime.datetime(2011, 6, 30, 8, 26, tzinfo=datetime.timezone.utc)

RECORDS = {
    ("ClickEvent", 1): [
        {"event_id": "e-1", "ts": T0, "sku": "85123A", "user_id": "17850", "session_id": "s-1",
         "type": "ADD_TO_CART", "price": 2.55, "promo": None},
        {"event_id": "e-2", "ts": T0, "sku": "caf\u00e9 \U0001f6d2", "user_id": "", "session_id": "s",
         "type": "SEARCH_CLICK", "price": -0.0, "promo": "SUMMER"},
    ],
    ("OrderEvent", 2): [
        {"order_id": "536365", "ts": T0, "user_id": "17850", "status": "PLACED",
         "lines": [{"sku": "85123A", "qty": 6, "unit_price": 2.55},
                   {"sku": "71053", "qty": 6, "unit_price": 3.39}], "promo_code": None},
        {"order_id": "C1", "ts": T0, "user_id": "u", "status": "CANCELLED", "lines": [],
         "promo_code": "X"},
    ],
    ("Forecast", 3): [
        {"sku": "22423", "bucket_start": T0, "bucket_width": 3600000, "issued_at": T0,
         "model_version": 7, "cold_start": False,
         "horizons": [{"offset": i, "mean": 1.5 * i, "p10": 0.0, "p50": 1.0 * i, "p90": 3.0 * i}
                      for i in range(1, 4)]},
    ],
    ("SurgeAlert", 4): [
        {"sku": "84029E", "state": "START", "detected_at": T0, "expected": 120.0,
         "baseline": 12.0, "ratio": 10.0,
         "signals": [{"name": "views_5m_z", "value": 6.5}, {"name": "cart_rate", "value": 0.2}]},
    ],
}


def framed(name, schema_id, rec):
    schema = avro.schema.parse(open(os.path.join(ROOT, "schemas", name + ".avsc")).read())
    body = io.BytesIO()
    avro.io.DatumWriter(schema).write(rec, avro.io.BinaryEncoder(body))
    return struct.pack(">bI", 0, schema_id) + body.getvalue()


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    for (name, schema_id), recs in RECORDS.items():
        for i, rec in enumerate(recs):
            msg = framed(name, schema_id, rec)
            seeds[f"{name.lower()}-{i}"] = msg
            # The same body under the id of the schema with extra fields.
            seeds[f"{name.lower()}-{i}-id{schema_id + 4}"] = msg[:4] + bytes([schema_id + 4]) + msg[5:]
    click = seeds["clickevent-0"]
    seeds["bad-truncated"] = click[:len(click) // 2]
    seeds["bad-magic"] = b"\x01" + click[1:]
    seeds["bad-unknown-id"] = click[:4] + b"\x63" + click[5:]
    seeds["bad-trailing"] = click + b"\x00"
    seeds["bad-varint"] = click[:5] + b"\xff" * 11
    seeds["bad-negative-length"] = click[:5] + b"\x01"
    seeds["bad-huge-length"] = click[:5] + b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f"
    order = seeds["orderevent-0"]
    at = order.index(b"\x04\x0c85123A")  # the lines block count (2) before the first sku
    seeds["bad-huge-count"] = order[:at] + b"\x80\x80\x80\x80\x80\x80\x10" + order[at + 1:]
    for name, data in sorted(seeds.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {OUT}")


main()
